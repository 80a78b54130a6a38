"""Exact-hash lookups for `.hdb/.hsb` (whole layer), `.mdb/.msb` (PE section) and `.imp` (imports).

Millions of hashes must load in well under a second and be shared by worker processes, so each
algorithm's entries live in flat arrays, not Python objects: digests sorted in one fixed-width blob
with a 65,536-bucket index on their first two bytes, and parallel arrays for the size, the name and
the origin. The arrays are written to and mapped from the compiled-database cache as they are.
Equal digests keep load order, because with the same hash listed twice ClamAV reports the later line.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from vigil.signatures.names import NameTable
from vigil.signatures.records import AllowHash, HashBatch, HashScope, HashSig, SigMeta
from vigil.types import HashAlgo, Origin

_BUCKETS = 1 << 16
_ANY_SIZE = -1
Column = Sequence[int]  # an array while building, a memoryview over the cache file once mapped


@dataclass(slots=True)
class HashColumns:
    """All entries of one algorithm, sorted by digest; `digests` holds `width`-byte keys back to back."""

    width: int
    digests: bytes | memoryview
    buckets: Column  # 'I' x 65537: start of each first-two-bytes bucket
    sizes: Column  # 'q', -1 for `*`
    names: Column  # 'I' ids into the NameTable
    files: Column  # 'I' ids into the origin file list
    lines: Column  # 'I'
    size_set: Column  # 'q': the distinct sizes, sorted (-1 first when some entry is `*`)

    def __len__(self) -> int:
        return len(self.sizes)

    def has_size(self, size: int) -> bool:
        """Whether any entry could match a layer of `size`. A layer no entry can match need not be hashed
        with this algorithm at all (ClamAV checks the same before computing an MD5): MD5 costs more than
        SHA-256 on CPUs with SHA extensions, and most large layers have no signature of their size."""
        sizes = self.size_set
        if not sizes:
            return False
        if sizes[0] == _ANY_SIZE:
            return True
        at = bisect_left(sizes, size)
        return at < len(sizes) and sizes[at] == size

    def find(self, digest: bytes) -> range:
        """Index range of the entries equal to `digest` (empty when absent).

        A bucket holds a few dozen sorted keys even for millions of hashes: one copy of it and a C
        substring search beat a Python binary search of per-probe slices."""
        width = self.width
        if len(digest) != width:
            return range(0)
        bucket = int.from_bytes(digest[:2], "big")
        lo, hi = self.buckets[bucket], self.buckets[bucket + 1]
        keys = bytes(self.digests[lo * width : hi * width])
        at = keys.find(digest)
        while at >= 0 and at % width:  # a hit straddling two keys is not a key
            at = keys.find(digest, at + 1)
        if at < 0:
            return range(0)
        first = lo + at // width
        end = first + 1
        while end < hi and keys[(end - lo) * width : (end - lo + 1) * width] == digest:
            end += 1
        return range(first, end)


@dataclass(slots=True)
class _Rows:
    """One algorithm's entries in load order, as parallel lists (no per-entry tuples); digests as
    lowercase hex, whose string order is the digests' byte order."""

    hexes: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    names: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def _columns(rows: _Rows, width: int) -> HashColumns:
    hexes = rows.hexes
    order = sorted(range(len(hexes)), key=hexes.__getitem__)  # stable: equal digests keep load order
    pick = _picker(order)
    ordered = pick(hexes)
    # each bucket (first two digest bytes) starts where bisect puts its smallest possible key
    buckets = array("I", (bisect_left(ordered, f"{prefix:04x}") for prefix in range(_BUCKETS)))
    buckets.append(len(ordered))
    return HashColumns(
        width=width,
        digests=bytes.fromhex("".join(ordered)),
        buckets=buckets,
        sizes=array("q", pick(rows.sizes)),
        names=array("I", _reordered(rows.names, order, pick)),
        files=array("I", _reordered(rows.files, order, pick)),
        lines=array("I", _reordered(rows.lines, order, pick)),
        size_set=array("q", sorted(set(rows.sizes))),
    )


def _reordered(
    values: list[int], order: list[int], pick: Callable[[list[Any]], list[Any]]
) -> Sequence[int]:
    """`pick(values)`, computed from `order` alone when `values` is constant or counts up by one (the
    file, name and line columns of one plain hash file), which is cheaper than gathering."""
    if not values:
        return []
    first = values[0]
    if values.count(first) == len(values):
        return [first] * len(values)
    if values[-1] - first == len(values) - 1 and values == list(range(first, first + len(values))):
        return _plus(order, first)
    return pick(values)


def _plus(order: list[int], base: int) -> array[int]:
    """`[base + i for i in order]` as a uint32 array, added lane-wise in one big-integer sum (no lane
    can carry: every value fits in 32 bits)."""
    lanes = array("I", order)
    if base:
        bases = array("I", [base]) * len(lanes)
        total = int.from_bytes(lanes.tobytes(), "little") + int.from_bytes(bases.tobytes(), "little")
        lanes = array("I")
        lanes.frombytes(total.to_bytes(4 * len(order), "little"))
    return lanes


def _picker(order: list[int]) -> Callable[[list[Any]], list[Any]]:
    """`values` reordered by `order`, in C (itemgetter) rather than a Python loop per entry."""
    if len(order) < 2:
        return lambda values: [values[i] for i in order]
    getter = itemgetter(*order)
    return lambda values: list(getter(values))


_WIDTH = {HashAlgo.MD5: 16, HashAlgo.SHA1: 20, HashAlgo.SHA256: 32}


@dataclass(slots=True)
class HashIndex:
    """One scope's hash signatures, per algorithm; `lookup` returns hits latest line first."""

    columns: dict[HashAlgo, HashColumns] = field(default_factory=dict)
    names: NameTable = field(default_factory=NameTable)
    files: Sequence[str] = ()

    @classmethod
    def build(cls, sigs: Iterable[HashSig | HashBatch], names: NameTable, files: dict[str, int]) -> HashIndex:
        rows: dict[HashAlgo, _Rows] = {}
        for sig in sigs:
            algo_rows = rows.setdefault(sig.algo, _Rows())
            if isinstance(sig, HashBatch):
                _add_batch(algo_rows, sig, names, files.setdefault(sig.file, len(files)))
                continue
            origin = sig.meta.origin
            algo_rows.hexes.append(sig.digest.hex())
            algo_rows.sizes.append(_ANY_SIZE if sig.size is None else sig.size)
            algo_rows.names.append(names.add(sig.meta.reported))
            algo_rows.files.append(files.setdefault(origin.file, len(files)))
            algo_rows.lines.append(origin.line)
        columns = {algo: _columns(algo_rows, _WIDTH[algo]) for algo, algo_rows in rows.items()}
        return cls(columns, names, ())

    @property
    def algos(self) -> tuple[HashAlgo, ...]:
        return tuple(self.columns)

    def __len__(self) -> int:
        return sum(len(c) for c in self.columns.values())

    def __bool__(self) -> bool:
        return any(len(c) for c in self.columns.values())

    def has_size(self, algo: HashAlgo, size: int) -> bool:
        columns = self.columns.get(algo)
        return columns is not None and columns.has_size(size)

    def lookup(self, algo: HashAlgo, digest: bytes, size: int) -> list[SigMeta]:
        """At most two hits, as ClamAV's hash tables hold one entry per key: the exact-size entry, then
        the `*`-size one; among duplicates of a key the later database line."""
        columns = self.columns.get(algo)
        if columns is None:
            return []
        exact: SigMeta | None = None
        wild: SigMeta | None = None
        for index in reversed(columns.find(digest)):
            wanted = columns.sizes[index]
            if wanted == size and exact is None:
                exact = self._meta(columns, index)
            elif wanted == _ANY_SIZE and wild is None:
                wild = self._meta(columns, index)
        return [meta for meta in (exact, wild) if meta is not None]

    def _meta(self, columns: HashColumns, index: int) -> SigMeta:
        name = self.names[columns.names[index]]
        return SigMeta(name, name, Origin(self.files[columns.files[index]], columns.lines[index]))


def _add_batch(rows: _Rows, batch: HashBatch, names: NameTable, file_id: int) -> None:
    rows.hexes += batch.hexes
    rows.sizes += batch.sizes
    rows.names += names.append_many(batch.reported())
    rows.files += [file_id] * len(batch)
    rows.lines += batch.lines


#: The order ClamAV checks hash tables in, which decides the reported name.
ALGO_ORDER: tuple[HashAlgo, ...] = (HashAlgo.MD5, HashAlgo.SHA1, HashAlgo.SHA256)


@dataclass(slots=True)
class HashIndexes:
    """The three scopes together, as the compiled database holds them."""

    file: HashIndex
    section: HashIndex
    imports: HashIndex

    @classmethod
    def build(
        cls, sigs: Iterable[HashSig | HashBatch], names: NameTable, files: dict[str, int]
    ) -> HashIndexes:
        by_scope: dict[HashScope, list[HashSig | HashBatch]] = {scope: [] for scope in HashScope}
        for sig in sigs:
            by_scope[HashScope.FILE if isinstance(sig, HashBatch) else sig.scope].append(sig)
        return cls(
            HashIndex.build(by_scope[HashScope.FILE], names, files),
            HashIndex.build(by_scope[HashScope.PE_SECTION], names, files),
            HashIndex.build(by_scope[HashScope.PE_IMPORT], names, files),
        )

    def scopes(self) -> dict[str, HashIndex]:
        return {"file": self.file, "section": self.section, "imports": self.imports}

    def set_files(self, files: Sequence[str]) -> None:
        for index in self.scopes().values():
            index.files = files

    def __len__(self) -> int:
        return len(self.file) + len(self.section) + len(self.imports)


@dataclass(slots=True)
class AllowList:
    """`.fp/.sfp` entries: a listed layer and everything beneath it is never reported."""

    entries: dict[tuple[HashAlgo, bytes], list[int | None]] = field(default_factory=dict)
    algos: frozenset[HashAlgo] = field(init=False, default=frozenset())
    #: per algorithm, the sizes its entries name (None: some entry takes any size)
    sizes: dict[HashAlgo, frozenset[int | None]] = field(init=False, default_factory=dict)

    @classmethod
    def build(cls, allows: Iterable[AllowHash]) -> AllowList:
        entries: dict[tuple[HashAlgo, bytes], list[int | None]] = {}
        for allow in allows:
            entries.setdefault((allow.algo, allow.digest), []).append(allow.size)
        return cls(entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __post_init__(self) -> None:
        self.algos = frozenset(algo for algo, _ in self.entries)
        sizes: dict[HashAlgo, set[int | None]] = {}
        for (algo, _), listed in self.entries.items():
            sizes.setdefault(algo, set()).update(listed)
        self.sizes = {algo: frozenset(found) for algo, found in sizes.items()}

    def has_size(self, algo: HashAlgo, size: int) -> bool:
        listed = self.sizes.get(algo, frozenset())
        return size in listed or None in listed

    def allows(self, algo: HashAlgo, digest: bytes, size: int) -> bool:
        sizes = self.entries.get((algo, digest), ())
        return any(s is None or s == size for s in sizes)

    def records(self) -> list[AllowHash]:
        return [
            AllowHash(algo, digest, size, Origin("", 0))
            for (algo, digest), sizes in self.entries.items()
            for size in sizes
        ]
