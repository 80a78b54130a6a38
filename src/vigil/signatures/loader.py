"""Database files and directories → signature records, with clamscan 1.4.6's load rules.

Observed with clamscan and reproduced here:
- `-d` paths load in the order given. A directory loads its ignore lists (`.ign`, `.ign2`) first, in
  *reverse* name order, then every other database file in name order; it is not recursed into, files
  with other suffixes are not looked at, and a directory with no database file is an error.
- An ignore list applies to what loads after it: within a directory that is every other file, but
  `-d a.hdb -d x.ign2` does not ignore anything in `a.hdb`.
- `-d FILE` with an unknown suffix is skipped with a warning; suffixes compare case-insensitively.
- Lines end at `\\n`, trailing `\\r`s are dropped, a line starting with `#` is a comment; a blank line
  and an empty file are load errors (an empty ignore list is fine).
- PUA databases (suffix ending in `u`) are not even read without --detect-pua.
Any error fails the whole load (clamscan exits 2 with no results).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures.formats import (
    CONTAINER_SUFFIXES,
    FORMATS,
    IGNORE_SUFFIXES,
    KNOWN_SUFFIXES,
    PUA_SUFFIXES,
    YARA_SUFFIXES,
    suffix_of,
)
from vigil.signatures.formats.ignore import IgnoreList
from vigil.signatures.records import HashBatch, HashSig, ParseContext, YaraSource

__all__ = ["LoadedSignatures", "Source", "load_paths", "suffix_of"]


@dataclass(frozen=True, slots=True)
class Source:
    """One database file's bytes, wherever they came from (a path or a container member)."""

    name: str
    suffix: str
    data: bytes
    official: bool


@dataclass(slots=True)
class LoadedSignatures:
    """Everything the given databases contain, in load order (later records win ties, as in clamscan)."""

    records: list[object] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every source loaded: cache key and `--explain`
    digest: str = ""  # SHA-256 over every source's name and bytes: the database version and cache key
    warnings: list[str] = field(default_factory=list)
    official_version: int = 0
    official_time: int = 0
    signature_count: int = 0  # records that can raise a detection (hash, body, logical, container, YARA)
    official_count: int = 0  # of those, how many came from signed containers or the bundled set

    def by_type(self) -> dict[type, list[object]]:
        """Records grouped by class, hash batches expanded into one HashSig per line."""
        grouped: dict[type, list[object]] = {}
        for record in self.records:
            if isinstance(record, HashBatch):
                grouped.setdefault(HashSig, []).extend(record.sigs())
            else:
                grouped.setdefault(type(record), []).append(record)
        return grouped


def load_paths(
    paths: Sequence[str],
    *,
    detect_pua: bool = False,
    official: bool = False,
    on_content: Callable[[list[object]], None] | None = None,
    skip_file_hashes: bool = False,
) -> LoadedSignatures:
    """Load files and directories as clamscan's `-d` options would, in order.

    `on_content` is called once every non-hash database has been parsed, with the records so far, so
    the caller can start compiling body signatures while the (usually huge) hash files are parsed. For
    that, a single path's whole-file hash databases are parsed after its other files: the order within
    each kind, which is all that matching depends on, is unchanged. With `skip_file_hashes` those files
    are read and counted in the digest but not parsed (`signatures.hashload` does it elsewhere).

    Raises SignatureError (a malformed line or file, named) or DatabaseError (a missing or unreadable
    path, a directory without databases, a bad container).
    """
    loaded = LoadedSignatures()
    ignores = IgnoreList()
    sha = hashlib.sha256()
    sources = [source for path in paths for source in _path_sources(path, official, loaded)]
    digest_order = list(sources)
    if len(paths) == 1 and on_content is not None:
        sources.sort(key=lambda source: source.suffix in FILE_HASH_SUFFIXES)  # stable
    notify = on_content
    for source in sources:
        if notify is not None and source.suffix in FILE_HASH_SUFFIXES:
            notify(list(loaded.records))
            notify = None
        if not (skip_file_hashes and source.suffix in FILE_HASH_SUFFIXES):
            _load_source(source, ignores, detect_pua, loaded)
    if notify is not None:
        notify(list(loaded.records))
    for source in digest_order:
        sha.update(source.name.encode("utf-8", "surrogateescape") + b"\0")
        sha.update(hashlib.sha256(source.data).digest())
        loaded.files.append(source.name)
    loaded.digest = sha.hexdigest()
    return loaded


#: Whole-file hash databases: parsed last when a caller wants the body signatures early.
FILE_HASH_SUFFIXES = frozenset({".hdb", ".hsb", ".hdu", ".hsu"})


def _load_source(source: Source, ignores: IgnoreList, detect_pua: bool, loaded: LoadedSignatures) -> None:
    if source.suffix in PUA_SUFFIXES and not detect_pua:
        return
    if source.suffix in IGNORE_SUFFIXES:
        ignores.load(source.name, _raw_lines(source))
        return
    for record in _records(source, ignores, detect_pua):
        loaded.records.append(record)
        count = len(record) if isinstance(record, HashBatch) else int(
            hasattr(record, "meta") or isinstance(record, YaraSource)
        )
        loaded.signature_count += count
        loaded.official_count += count * source.official


def _records(source: Source, ignores: IgnoreList, detect_pua: bool) -> Iterator[object]:
    if source.suffix in YARA_SUFFIXES:
        yield _yara(source)
        return
    parser = FORMATS.get(source.suffix)
    if parser is None:
        return
    ctx = ParseContext(source.name, official=source.official, detect_pua=detect_pua)
    if ignores:
        ctx.is_ignored = ignores.is_ignored
    elif source.suffix in FILE_HASH_SUFFIXES:
        from vigil.signatures.formats.hashes import plain_file_batches

        batches = plain_file_batches(source.data, ctx)
        if batches is not None:
            yield from batches
            return
    yield from parser(_lines(source), ctx)


def _yara(source: Source) -> YaraSource:
    from vigil.signatures.formats.yara import read_yara_source

    if os.path.isfile(source.name):
        return read_yara_source(source.name, source.official)
    return YaraSource(source.name, source.data.decode("utf-8", "surrogateescape"), source.official)


def _raw_lines(source: Source) -> Iterator[tuple[int, str]]:
    """Numbered lines split at `\\n` only, `\\r` and comments kept (the ignore loader needs them)."""
    pieces = source.data.decode("utf-8", "surrogateescape").split("\n")
    if pieces[-1] == "":
        pieces.pop()
    yield from enumerate(pieces, start=1)


def _lines(source: Source) -> Iterator[tuple[int, str]]:
    """Numbered lines without endings; comments dropped; a blank line or an empty file is an error."""
    if not source.data:
        raise SignatureError(source.name, 0, "Malformed database (empty file)")
    for lineno, raw in _raw_lines(source):
        if raw.startswith("#"):
            continue
        line = raw.rstrip("\r")
        if not line:
            raise SignatureError(source.name, lineno, "Malformed database (blank line)")
        yield lineno, line


def _path_sources(path: str, official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    if os.path.isdir(path):
        yield from _dir_sources(path, official, loaded)
    elif not os.path.exists(path):
        raise DatabaseError(f"{path}: No such file or directory")
    elif suffix_of(path) not in KNOWN_SUFFIXES:
        loaded.warnings.append(f"cli_load: unknown extension - skipping {path}")
    else:
        yield from _file_sources(path, official, loaded)


def _dir_sources(path: str, official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    try:
        names = sorted(n for n in os.listdir(path) if suffix_of(n) in KNOWN_SUFFIXES)
    except OSError as exc:
        raise DatabaseError(f"{path}: {exc.strerror}") from exc
    if not names:
        raise DatabaseError(f"{path}: No supported database files found")
    ignore_first = [n for n in reversed(names) if suffix_of(n) in IGNORE_SUFFIXES]
    ordered = ignore_first + [n for n in names if suffix_of(n) not in IGNORE_SUFFIXES]
    for name in ordered:
        yield from _file_sources(os.path.join(path, name), official, loaded)


def _file_sources(path: str, official: bool, loaded: LoadedSignatures) -> Iterator[Source]:
    suffix = suffix_of(path)
    if suffix in CONTAINER_SUFFIXES:
        yield from _container_sources(path, loaded)
        return
    if not os.path.isfile(path):
        raise DatabaseError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DatabaseError(f"{path}: {exc.strerror}") from exc
    yield Source(path, suffix, data, official)


def _container_sources(path: str, loaded: LoadedSignatures) -> Iterator[Source]:
    """A container's members, ignore lists first, each named `container:member`."""
    from vigil.signatures.formats.cvd import read_container

    container = read_container(path)
    loaded.official_version = max(loaded.official_version, container.header.version)
    loaded.official_time = max(loaded.official_time, container.header.stime)
    members = sorted(container.members, key=lambda member: suffix_of(member[0]) not in IGNORE_SUFFIXES)
    for name, data in members:
        if suffix_of(name) in KNOWN_SUFFIXES:
            yield Source(f"{path}:{name}", suffix_of(name), data, container.official)
