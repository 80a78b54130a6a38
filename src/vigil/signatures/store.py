"""The compiled-database cache: build once, then map it in well under a second.

A cache entry is a directory named by a fingerprint of everything that decides the compiled result:
the store format, Vigil's version, the load options, and each database source's identity (device,
inode, size, mtime and ctime of every file, and the listing of every directory given). Inside: flat
arrays for hash columns and record offsets, JSON-lines blobs for records (decoded one at a time, only
when a signature is a candidate), the serialised hyperscan databases and yara-x rules, and a manifest
with every file's size and CRC. A manifest that does not match the files, a wrong format or a failed
decode is a stale or corrupt entry: it is rebuilt, never trusted.

Entries are written to a temporary directory and renamed into place, so readers never see half an entry
and concurrent builders of the same key simply keep the first one.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tempfile
import zlib
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import vigil
from vigil.errors import DatabaseError
from vigil.signatures import codec
from vigil.signatures.database import SignatureDB, needed_digests
from vigil.signatures.formats.ndb import BodySig
from vigil.signatures.match.content import ContentEntry, ContentMatcher, Group
from vigil.signatures.match.hashes import AllowList, HashColumns, HashIndex, HashIndexes
from vigil.signatures.names import NameTable
from vigil.signatures.storekey import FORMAT, cache_root, prune
from vigil.types import HashAlgo

_CRC_LIMIT = 1 << 20  # files up to this size are CRC-checked on every load; larger ones by size


def load_cached(
    key: str, build: Callable[[], SignatureDB], root: Path | None = None, recipe: dict[str, Any] | None = None
) -> SignatureDB:
    """The entry for `key` if it is sound, else `build()` and store the result for next time (with the
    `recipe` the key was computed from, so a later build can tell when this entry is dead and prune it)."""
    entry = (root or cache_root()) / key
    if entry.is_dir():
        try:
            return load(entry)
        except DatabaseError:
            shutil.rmtree(entry, ignore_errors=True)
    db = build()
    try:
        save(db, entry, recipe)
    except OSError:
        return db  # a read-only or full cache directory costs speed, never the scan
    prune(entry.parent, keep=key)
    return db


# --------------------------------------------------------------------------------------- saving


class _Writer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, dict[str, int]] = {}

    def write(self, name: str, data: bytes | array) -> None:  # type: ignore[type-arg]
        raw = data.tobytes() if isinstance(data, array) else bytes(data)
        (self.directory / name).write_bytes(raw)
        self.files[name] = {"size": len(raw), "crc": zlib.crc32(raw) if len(raw) <= _CRC_LIMIT else -1}

    def records(
        self, name: str, values: Sequence[object], ready: tuple[bytes, list[int]] | None = None
    ) -> None:
        blob, offsets = ready if ready is not None else codec.dumps_lines(values)
        self.write(f"{name}.blob", blob)
        self.write(f"{name}.off", array("Q", offsets))


def encode_content(records: Sequence[object]) -> dict[str, tuple[bytes, list[int]]]:
    """The body and logical signature lists as `save` writes them, encoded ahead of time from parsed
    records (in the order `build_database` keeps them)."""
    from vigil.signatures.database import content_records, logical_entries

    bodies, logicals = content_records(records)
    return {
        "bodies": codec.dumps_lines(list(bodies)),
        "logicals": codec.dumps_lines(list(logicals)),
        "entries": codec.dumps_lines(list(logical_entries(logicals))),
    }


def save(db: SignatureDB, entry: Path, recipe: dict[str, Any] | None = None) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=entry.parent))
    try:
        writer = _Writer(staging)
        manifest = _write_all(db, writer)
        manifest["files"] = writer.files
        if recipe is not None:
            manifest["recipe"] = recipe
        (staging / "manifest.json").write_text(json.dumps(manifest))
        os.rename(staging, entry)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not entry.is_dir():
            raise


def _write_all(db: SignatureDB, writer: _Writer) -> dict[str, Any]:
    names = db.hashes.file.names
    writer.write("names.blob", bytes(names.blob))
    writer.write("names.off", array("Q", names.offsets))
    for scope, index in db.hashes.scopes().items():
        for algo, columns in index.columns.items():
            _write_columns(writer, f"h.{scope}.{algo.value}", columns)
    ready, db.encoded = db.encoded, {}
    if len(ready.get("bodies", (b"", [0]))[1]) - 1 != len(db.bodies):
        ready = {}  # encoded from other records than this database holds: encode again
    writer.records("bodies", list(db.bodies), ready.get("bodies"))
    writer.records("logicals", list(db.logicals), ready.get("logicals"))
    logical_entries = list(db.content.entries[len(db.bodies) :])  # body entries are rebuilt from bodies
    writer.records("entries", logical_entries, ready.get("entries"))
    writer.write("entries.sig", array("I", db.content.sigs))
    writer.write("entries.sub", array("i", db.content.subs))
    writer.write("entries.target", array("H", db.content.targets))
    for chunk, group in enumerate(db.content.groups):
        writer.write(f"g.{chunk}.ids", array("I", group.entry_ids))
        writer.write(f"g.{chunk}.always", array("I", group.always))
        writer.write(f"g.{chunk}.hs", group.blob or b"")
    writer.records("allow", db.allow.records())
    writer.records("magic", list(db.magic))
    writer.records("containers", list(db.containers))
    if db.yara is not None:
        writer.write("yara.bin", db.yara.serialize())
    return {
        "format": FORMAT,
        "vigil": vigil.__version__,
        "hash_files": list(db.hashes.file.files),
        "scopes": {s: [a.value for a in i.columns] for s, i in db.hashes.scopes().items()},
        "groups": len(db.content.groups),
        "sources": list(db.sources),
        "version": db.version,
        "content_version": db.content_version,
        "hashes_version": db.hashes_version,
        "official_version": db.official_version,
        "official_time": db.official_time,
        "logical_unconditional": {str(t): list(ids) for t, ids in db.logical_unconditional.items()},
        "exec_offsets": db.exec_offsets,
        "warnings": list(db.warnings),
        "signature_count": db.signature_count,
    }


def _write_columns(writer: _Writer, prefix: str, columns: HashColumns) -> None:
    writer.write(f"{prefix}.dig", bytes(columns.digests))
    for part, code in _TYPECODES.items():
        writer.write(f"{prefix}.{part}", array(code, getattr(columns, part)))


_TYPECODES = {"buckets": "I", "sizes": "q", "names": "I", "files": "I", "lines": "I", "size_set": "q"}
_WIDTHS = {"md5": 16, "sha1": 20, "sha256": 32}


# -------------------------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"{directory}: unreadable cache manifest") from exc
        if self.manifest.get("format") != FORMAT or self.manifest.get("vigil") != vigil.__version__:
            raise DatabaseError(f"{directory}: cache from another Vigil version")
        self.files: dict[str, dict[str, int]] = self.manifest["files"]

    def raw(self, name: str) -> bytes | memoryview:
        expected = self.files.get(name)
        if expected is None:
            raise DatabaseError(f"{self.directory}: {name} missing from the cache manifest")
        path = self.directory / name
        try:
            size = path.stat().st_size
            if size != expected["size"]:
                raise DatabaseError(f"{self.directory}: {name} has the wrong size")
            if size <= _CRC_LIMIT:
                data = path.read_bytes()
                if zlib.crc32(data) != expected["crc"]:
                    raise DatabaseError(f"{self.directory}: {name} fails its CRC")
                return data
            with open(path, "rb") as handle:
                return memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
        except OSError as exc:
            raise DatabaseError(f"{self.directory}: {name}: {exc.strerror}") from exc

    def array(self, name: str, typecode: str) -> Sequence[int]:
        data = self.raw(name)
        if isinstance(data, bytes):
            values = array(typecode)
            values.frombytes(data)
            return values
        return cast(Sequence[int], data.cast(typecode))  # type: ignore[call-overload]

    def records(self, name: str) -> LazyRecords:
        return LazyRecords(self.raw(f"{name}.blob"), self.array(f"{name}.off", "Q"))


class LazyRecords(Sequence[Any]):
    """Records decoded on first access: a 50k-signature body list costs nothing until a hit."""

    def __init__(self, blob: bytes | memoryview, offsets: Sequence[int]) -> None:
        self.blob = blob
        self.offsets = offsets
        self._cache: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        value = self._cache.get(index)
        if value is None:
            value = codec.loads_one(self.blob, self.offsets[index], self.offsets[index + 1])
            self._cache[index] = value
        return value


class BodyFirstEntries(Sequence[ContentEntry]):
    """The matcher's entries: one per body signature (rebuilt from it on access), then the stored ones
    of the logical signatures' content subsignatures."""

    def __init__(self, bodies: Sequence[BodySig], logical: Sequence[ContentEntry]) -> None:
        self.bodies = bodies
        self.logical = logical

    def __len__(self) -> int:
        return len(self.bodies) + len(self.logical)

    def __getitem__(self, index: int) -> ContentEntry:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index < len(self.bodies):
            body = self.bodies[index]
            return ContentEntry(body.pattern, body.offset, body.target, index, -1)
        entry: ContentEntry = self.logical[index - len(self.bodies)]
        return entry


def load(entry: Path) -> SignatureDB:
    reader = _Reader(entry)
    meta = reader.manifest
    bodies = reader.records("bodies")
    names = NameTable(blob=reader.raw("names.blob"), offsets=reader.array("names.off", "Q"))
    hashes = HashIndexes(*(_index(reader, scope, meta, names) for scope in ("file", "section", "imports")))
    hashes.set_files(meta["hash_files"])
    owners = (reader.array("entries.sig", "I"), reader.array("entries.sub", "i"),
              reader.array("entries.target", "H"))
    content = ContentMatcher(
        BodyFirstEntries(bodies, reader.records("entries")),
        owners,
        tuple(_group(reader, str(chunk)) for chunk in range(meta["groups"])),
    )
    db = SignatureDB(
        hashes=hashes,
        allow=AllowList.build(reader.records("allow")),
        bodies=bodies,
        logicals=reader.records("logicals"),
        content=content,
        yara=_yara(reader),
        magic=tuple(reader.records("magic")),
        containers=tuple(reader.records("containers")),
        sources=tuple(meta["sources"]),
        version=meta["version"],
        content_version=meta["content_version"],
        hashes_version=meta["hashes_version"],
        official_version=meta["official_version"],
        official_time=meta["official_time"],
        logical_unconditional={int(t): tuple(ids) for t, ids in meta["logical_unconditional"].items()},
        exec_offsets=meta["exec_offsets"],
        warnings=tuple(meta["warnings"]),
        store_path=str(entry),
    )
    db.digest_algos = needed_digests(db)
    return db


def load_path(entry: str) -> SignatureDB:
    return load(Path(entry))


def _index(reader: _Reader, scope: str, meta: dict[str, Any], names: NameTable) -> HashIndex:
    columns = {}
    for algo in meta["scopes"][scope]:
        prefix = f"h.{scope}.{algo}"
        parts = {part: reader.array(f"{prefix}.{part}", code) for part, code in _TYPECODES.items()}
        columns[HashAlgo(algo)] = HashColumns(
            width=_WIDTHS[algo], digests=reader.raw(f"{prefix}.dig"), **parts
        )
    return HashIndex(columns, names, ())


def _group(reader: _Reader, key: str) -> Group:
    ids, always = reader.array(f"g.{key}.ids", "I"), reader.array(f"g.{key}.always", "I")
    return Group(ids, bytes(reader.raw(f"g.{key}.hs")) or None, always)


def _yara(reader: _Reader) -> Any:
    if "yara.bin" not in reader.files:
        return None
    from vigil.signatures.match.yara import YaraMatcher

    return YaraMatcher.deserialize(bytes(reader.raw("yara.bin")))
