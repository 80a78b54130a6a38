"""SignatureDB: every matcher, compiled once, immutable, cheap to share with worker processes.

Built from parsed records by `build_database`, or restored from the on-disk cache by `signatures.store`
with the same shape: bulky parts (hash columns, record blobs, hyperscan databases) are then memory
mapped and records are decoded only when a signature is a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.signatures.formats.cdb import ContainerSig
from vigil.signatures.formats.ldb import ContentSub, LogicalSig
from vigil.signatures.formats.ndb import BodySig
from vigil.signatures.logic import evaluate_logic
from vigil.signatures.match.content import ContentEntry, ContentMatcher
from vigil.signatures.match.hashes import AllowList, HashIndexes
from vigil.signatures.names import NameTable
from vigil.signatures.records import AllowHash, HashBatch, HashSig, YaraSource
from vigil.types import HashAlgo

if TYPE_CHECKING:
    from vigil.signatures.hashload import FileHashes
    from vigil.signatures.match.yara import YaraMatcher

_EXEC_OFFSET_KINDS = frozenset({"ep", "sec", "sec_any", "last_sec"})


@dataclass(slots=True)
class SignatureDB:
    hashes: HashIndexes
    allow: AllowList
    bodies: Sequence[BodySig]
    logicals: Sequence[LogicalSig]
    content: ContentMatcher
    yara: YaraMatcher | None = None
    magic: tuple[object, ...] = ()
    containers: tuple[ContainerSig, ...] = ()
    sources: tuple[str, ...] = ()
    version: str = ""
    #: digest of every source but whole-file hash databases, and of those alone: the scan cache keeps
    #: clean verdicts across a hash-only update and re-checks them against the new hashes.
    content_version: str = ""
    hashes_version: str = ""
    official_version: int = 0  # daily/main CVD version when a container was loaded (clamd VERSION)
    official_time: int = 0  # its build time (Unix seconds)
    #: target type -> logical signatures whose logic holds with no content match (e.g. `0=0`):
    #: they cannot wait for a hyperscan candidate and are evaluated on every layer of that target.
    logical_unconditional: dict[int, tuple[int, ...]] = field(default_factory=dict)
    exec_offsets: bool = False  # some signature needs PE/ELF structure (EP/section offsets, TDB EP)
    warnings: tuple[str, ...] = ()
    store_path: str | None = None  # the compiled-cache entry this DB was mapped from, if any
    #: whole-layer digests a scan must compute: those some hash or allow-list entry uses
    digest_algos: frozenset[HashAlgo] = frozenset(HashAlgo)
    #: record lists already encoded for the compiled cache (name -> blob, offsets), made while a helper
    #: process was still indexing the hash files; `store.save` uses and drops them
    encoded: dict[str, tuple[bytes, list[int]]] = field(default_factory=dict, repr=False)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A mapped database travels to another process as its cache path, not as its bytes."""
        if self.store_path is not None:
            from vigil.signatures.store import load_path

            return (load_path, (self.store_path,))
        return object.__reduce_ex__(self, protocol)

    def digests_for(self, size: int) -> frozenset[HashAlgo]:
        """The whole-layer digests worth computing for a layer of `size`: those of an algorithm some
        hash or allow-list entry of that size (or of any size) uses. SHA-256 is added by the hasher."""
        return frozenset(
            algo for algo in self.digest_algos
            if self.hashes.file.has_size(algo, size) or self.allow.has_size(algo, size)
        )

    @property
    def signature_count(self) -> int:
        yara_rules = self.yara.rule_count if self.yara is not None else 0
        return len(self.hashes) + len(self.bodies) + len(self.logicals) + len(self.containers) + yara_rules


def _body_entries(bodies: Sequence[BodySig]) -> Iterable[ContentEntry]:
    for index, body in enumerate(bodies):
        yield ContentEntry(body.pattern, body.offset, body.target, index, -1)


def logical_entries(logicals: Sequence[LogicalSig]) -> Iterable[ContentEntry]:
    for index, sig in enumerate(logicals):
        for sub_index, sub in enumerate(sig.subsigs):
            if isinstance(sub, ContentSub):
                yield ContentEntry(sub.pattern, sub.offset, sig.tdb.target, index, sub_index)


def content_records(records: Iterable[object]) -> tuple[tuple[BodySig, ...], tuple[LogicalSig, ...]]:
    """The body and the logical signatures among `records`, in load order (their indexes are ids)."""
    listed = list(records)
    bodies = tuple(r for r in listed if isinstance(r, BodySig))
    return bodies, tuple(r for r in listed if isinstance(r, LogicalSig))


def content_entries(bodies: Sequence[BodySig], logicals: Sequence[LogicalSig]) -> list[ContentEntry]:
    """What the content matcher compiles: every body pattern, then every logical content subsignature."""
    return [*_body_entries(bodies), *logical_entries(logicals)]


_Started = tuple[tuple[BodySig, ...], tuple[LogicalSig, ...], "Future[ContentMatcher]"]


class EarlyContent:
    """Compiles the body and logical signatures on a thread as soon as the loader has parsed them.

    Hyperscan compiles with the GIL released, so the (often much larger) hash files are parsed and
    indexed meanwhile; pass this as the loader's `on_content` and then to `build_database`.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._started: _Started | None = None

    def __call__(self, records: Sequence[object]) -> None:
        bodies, logicals = content_records(records)
        compiling = self._pool.submit(ContentMatcher, content_entries(bodies, logicals))
        self._started = (bodies, logicals, compiling)

    def take(
        self, bodies: Sequence[BodySig], logicals: Sequence[LogicalSig]
    ) -> Future[ContentMatcher] | None:
        """The compile started for exactly these signatures, if one was."""
        self._pool.shutdown(wait=False)
        if self._started is None:
            return None
        early_bodies, early_logicals, future = self._started
        if _same(early_bodies, bodies) and _same(early_logicals, logicals):
            return future
        return None


def _same(left: Sequence[object], right: Sequence[object]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


def build_database(
    records: Iterable[object],
    sources: Sequence[str],
    early: EarlyContent | None = None,
    file_hashes: FileHashes | None = None,
) -> SignatureDB:
    """Group parsed records by kind and build each matcher once; `file_hashes` is the whole-file hash
    index when a helper process built it (then `records` hold none of those)."""
    buckets: dict[str, list[object]] = {}
    for record in records:
        kind = "HashSig" if isinstance(record, HashBatch) else type(record).__name__  # one list: load order
        buckets.setdefault(kind, []).append(record)
    bodies, logicals = content_records([*buckets.pop("BodySig", []), *buckets.pop("LogicalSig", [])])
    entries = content_entries(bodies, logicals)
    started = early.take(bodies, logicals) if early is not None else None
    # hyperscan compiles with the GIL released: let it run while this thread builds the hash columns
    with ThreadPoolExecutor(max_workers=1) as compiler:
        content = started if started is not None else compiler.submit(ContentMatcher, entries)
        names = file_hashes.names if file_hashes is not None else NameTable()
        files = {name: i for i, name in enumerate(file_hashes.files)} if file_hashes is not None else {}
        hashes = HashIndexes.build(
            (h for h in buckets.pop("HashSig", []) if isinstance(h, HashSig | HashBatch)), names, files
        )
        if file_hashes is not None:
            hashes.file = file_hashes.index
        names.freeze()
        hashes.set_files(list(files))
        skipped: list[str] = []
        yara = _build_yara([y for y in buckets.pop("YaraSource", []) if isinstance(y, YaraSource)], skipped)
        db = SignatureDB(
            hashes=hashes,
            allow=AllowList.build(a for a in buckets.pop("AllowHash", []) if isinstance(a, AllowHash)),
            bodies=bodies,
            logicals=logicals,
            content=content.result(),
            yara=yara,
            magic=tuple(buckets.pop("MagicRule", [])),
            containers=tuple(c for c in buckets.pop("ContainerSig", []) if isinstance(c, ContainerSig)),
            sources=tuple(sources),
            logical_unconditional=unconditional_logicals(logicals),
            exec_offsets=_needs_exec(entries, logicals),
        )
    db.warnings = tuple(skipped)
    db.digest_algos = needed_digests(db)
    return db


def needed_digests(db: SignatureDB) -> frozenset[HashAlgo]:
    return frozenset(db.hashes.file.columns) | db.allow.algos


def _needs_exec(entries: Sequence[ContentEntry], logicals: Sequence[LogicalSig]) -> bool:
    return any(e.offset.kind in _EXEC_OFFSET_KINDS for e in entries) or any(
        s.tdb.entry_point is not None or s.tdb.number_of_sections is not None for s in logicals
    )


def unconditional_logicals(logicals: Sequence[LogicalSig]) -> dict[int, tuple[int, ...]]:
    by_target: dict[int, list[int]] = {}
    for index, sig in enumerate(logicals):
        if evaluate_logic(sig.logic, [0] * len(sig.subsigs)):
            by_target.setdefault(sig.tdb.target, []).append(index)
    return {target: tuple(ids) for target, ids in by_target.items()}


def _build_yara(sources: Sequence[YaraSource], skipped: list[str]) -> YaraMatcher | None:
    if not sources:
        return None
    from vigil.signatures.match.yara import YaraMatcher

    return YaraMatcher.build(sources, skipped)
