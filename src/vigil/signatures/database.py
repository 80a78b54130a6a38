"""SignatureDB: every matcher, compiled once, immutable, picklable for worker processes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vigil.signatures.formats.ldb import ContentSub, LogicalSig
from vigil.signatures.formats.ndb import BodySig
from vigil.signatures.logic import evaluate_logic
from vigil.signatures.match.content import ContentEntry, ContentMatcher
from vigil.signatures.match.hashes import AllowList, HashIndexes
from vigil.signatures.records import AllowHash, HashSig, YaraSource

if TYPE_CHECKING:
    from vigil.signatures.match.yara import YaraMatcher


@dataclass(slots=True)
class SignatureDB:
    hashes: HashIndexes
    allow: AllowList
    bodies: tuple[BodySig, ...]
    logicals: tuple[LogicalSig, ...]
    content: ContentMatcher
    yara: YaraMatcher | None = None
    magic: tuple[object, ...] = ()
    containers: tuple[object, ...] = ()
    sources: tuple[str, ...] = ()
    version: str = ""
    official_version: int = 0  # daily/main CVD version when a container was loaded (clamd VERSION)
    official_time: int = 0  # its build time (Unix seconds)
    extra: dict[str, object] = field(default_factory=dict)
    #: target type -> logical signatures whose logic holds with no content match (e.g. `0=0`):
    #: they cannot wait for a hyperscan candidate and are evaluated on every layer of that target.
    logical_unconditional: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def signature_count(self) -> int:
        yara_rules = self.yara.rule_count if self.yara is not None else 0
        return len(self.hashes) + len(self.bodies) + len(self.logicals) + yara_rules

    @property
    def needs_exec_info(self) -> bool:
        """Whether any signature refers to PE/ELF structure, so plain scans can skip parsing it."""
        return bool(self.hashes.section or self.hashes.imports) or self.extra.get("exec_offsets") is True


def _body_entries(bodies: Sequence[BodySig]) -> Iterable[ContentEntry]:
    for index, body in enumerate(bodies):
        yield ContentEntry(body.pattern, body.offset, body.target, index, -1)


def _logical_entries(logicals: Sequence[LogicalSig]) -> Iterable[ContentEntry]:
    for index, sig in enumerate(logicals):
        for sub_index, sub in enumerate(sig.subsigs):
            if isinstance(sub, ContentSub):
                yield ContentEntry(sub.pattern, sub.offset, sig.tdb.target, index, sub_index)


_EXEC_OFFSET_KINDS = frozenset({"ep", "sec", "sec_any", "last_sec"})


def build_database(records: Iterable[object], sources: Sequence[str]) -> SignatureDB:
    """Group parsed records by kind and build each matcher once."""
    buckets: dict[type, list[object]] = {}
    for record in records:
        buckets.setdefault(type(record), []).append(record)

    def take(kind: type) -> list[object]:
        return buckets.pop(kind, [])

    bodies = tuple(b for b in take(BodySig) if isinstance(b, BodySig))
    logicals = tuple(s for s in take(LogicalSig) if isinstance(s, LogicalSig))
    hash_sigs = [h for h in take(HashSig) if isinstance(h, HashSig)]
    allows = [a for a in take(AllowHash) if isinstance(a, AllowHash)]
    yara_sources = [y for y in take(YaraSource) if isinstance(y, YaraSource)]
    entries = [*_body_entries(bodies), *_logical_entries(logicals)]
    db = SignatureDB(
        hashes=HashIndexes.build(hash_sigs),
        allow=AllowList.build(allows),
        bodies=bodies,
        logicals=logicals,
        content=ContentMatcher(entries),
        yara=_build_yara(yara_sources),
        magic=tuple(r for kind, rs in buckets.items() if kind.__name__ == "MagicRule" for r in rs),
        containers=tuple(r for kind, rs in buckets.items() if kind.__name__ == "ContainerSig" for r in rs),
        sources=tuple(sources),
    )
    db.extra["exec_offsets"] = any(e.offset.kind in _EXEC_OFFSET_KINDS for e in entries) or any(
        s.tdb.entry_point is not None or s.tdb.number_of_sections is not None for s in logicals
    )
    db.version = _version_of(sources)
    db.logical_unconditional = _unconditional(logicals)
    return db


def _unconditional(logicals: Sequence[LogicalSig]) -> dict[int, tuple[int, ...]]:
    by_target: dict[int, list[int]] = {}
    for index, sig in enumerate(logicals):
        if evaluate_logic(sig.logic, [0] * len(sig.subsigs)):
            by_target.setdefault(sig.tdb.target, []).append(index)
    return {target: tuple(ids) for target, ids in by_target.items()}


def _build_yara(sources: Sequence[YaraSource]) -> YaraMatcher | None:
    if not sources:
        return None
    from vigil.signatures.match.yara import YaraMatcher

    return YaraMatcher.build(sources)


def _version_of(sources: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join(sources).encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:16]
