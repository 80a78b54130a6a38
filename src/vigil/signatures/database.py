"""SignatureDB: every matcher, compiled once, immutable, cheap to share with worker processes.

Built from parsed records by `build_database`, or restored from the on-disk cache by `signatures.store`
with the same shape: bulky parts (hash columns, record blobs, hyperscan databases) are then memory
mapped and records are decoded only when a signature is a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.signatures.formats.ldb import ContentSub, LogicalSig
from vigil.signatures.formats.ndb import BodySig
from vigil.signatures.logic import evaluate_logic
from vigil.signatures.match.content import ContentEntry, ContentMatcher
from vigil.signatures.match.hashes import AllowList, HashIndexes
from vigil.signatures.names import NameTable
from vigil.signatures.records import AllowHash, HashSig, YaraSource
from vigil.types import HashAlgo

if TYPE_CHECKING:
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
    containers: tuple[object, ...] = ()
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

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A mapped database travels to another process as its cache path, not as its bytes."""
        if self.store_path is not None:
            from vigil.signatures.store import load_path

            return (load_path, (self.store_path,))
        return object.__reduce_ex__(self, protocol)

    @property
    def signature_count(self) -> int:
        yara_rules = self.yara.rule_count if self.yara is not None else 0
        return len(self.hashes) + len(self.bodies) + len(self.logicals) + yara_rules


def _body_entries(bodies: Sequence[BodySig]) -> Iterable[ContentEntry]:
    for index, body in enumerate(bodies):
        yield ContentEntry(body.pattern, body.offset, body.target, index, -1)


def _logical_entries(logicals: Sequence[LogicalSig]) -> Iterable[ContentEntry]:
    for index, sig in enumerate(logicals):
        for sub_index, sub in enumerate(sig.subsigs):
            if isinstance(sub, ContentSub):
                yield ContentEntry(sub.pattern, sub.offset, sig.tdb.target, index, sub_index)


def build_database(records: Iterable[object], sources: Sequence[str]) -> SignatureDB:
    """Group parsed records by kind and build each matcher once."""
    buckets: dict[str, list[object]] = {}
    for record in records:
        buckets.setdefault(type(record).__name__, []).append(record)
    bodies = tuple(b for b in buckets.pop("BodySig", []) if isinstance(b, BodySig))
    logicals = tuple(s for s in buckets.pop("LogicalSig", []) if isinstance(s, LogicalSig))
    entries = [*_body_entries(bodies), *_logical_entries(logicals)]
    # hyperscan compiles with the GIL released: let it run while this thread builds the hash columns
    with ThreadPoolExecutor(max_workers=1) as compiler:
        content = compiler.submit(ContentMatcher, entries)
        names = NameTable()
        files: dict[str, int] = {}
        hashes = HashIndexes.build(
            (h for h in buckets.pop("HashSig", []) if isinstance(h, HashSig)), names, files
        )
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
            containers=tuple(buckets.pop("ContainerSig", [])),
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
