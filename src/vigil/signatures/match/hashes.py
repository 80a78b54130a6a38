"""Exact-hash lookups for `.hdb/.hsb` (whole layer), `.mdb/.msb` (PE section) and `.imp` (imports).

Keyed by (algorithm, digest); each entry keeps the size (None for `*`) and the signature, in load order,
because with the same hash listed twice ClamAV reports the later line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.signatures.records import AllowHash, HashScope, HashSig, SigMeta
from vigil.types import HashAlgo

_Key = tuple[HashAlgo, bytes]


@dataclass(slots=True)
class HashIndex:
    """All hash signatures of one scope; `lookup` returns hits latest-line first."""

    entries: dict[_Key, list[tuple[int | None, SigMeta]]] = field(default_factory=dict)
    algos: frozenset[HashAlgo] = frozenset()

    @classmethod
    def build(cls, sigs: Iterable[HashSig]) -> HashIndex:
        entries: dict[_Key, list[tuple[int | None, SigMeta]]] = {}
        for sig in sigs:
            entries.setdefault((sig.algo, sig.digest), []).append((sig.size, sig.meta))
        return cls(entries, frozenset(algo for algo, _ in entries))

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def lookup(self, algo: HashAlgo, digest: bytes, size: int) -> list[SigMeta]:
        hits = self.entries.get((algo, digest), ())
        return [meta for sig_size, meta in reversed(hits) if sig_size is None or sig_size == size]


@dataclass(slots=True)
class HashIndexes:
    """The three scopes together, as the compiled database holds them."""

    file: HashIndex
    section: HashIndex
    imports: HashIndex

    @classmethod
    def build(cls, sigs: Iterable[HashSig]) -> HashIndexes:
        by_scope: dict[HashScope, list[HashSig]] = {scope: [] for scope in HashScope}
        for sig in sigs:
            by_scope[sig.scope].append(sig)
        return cls(
            HashIndex.build(by_scope[HashScope.FILE]),
            HashIndex.build(by_scope[HashScope.PE_SECTION]),
            HashIndex.build(by_scope[HashScope.PE_IMPORT]),
        )

    def __len__(self) -> int:
        return len(self.file) + len(self.section) + len(self.imports)


@dataclass(slots=True)
class AllowList:
    """`.fp/.sfp` entries: a listed layer and everything beneath it is never reported."""

    entries: dict[_Key, list[int | None]] = field(default_factory=dict)

    @classmethod
    def build(cls, allows: Iterable[AllowHash]) -> AllowList:
        entries: dict[_Key, list[int | None]] = {}
        for allow in allows:
            entries.setdefault((allow.algo, allow.digest), []).append(allow.size)
        return cls(entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def allows(self, algo: HashAlgo, digest: bytes, size: int) -> bool:
        sizes = self.entries.get((algo, digest), ())
        return any(s is None or s == size for s in sizes)
