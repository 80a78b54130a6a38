"""Body and logical-subsignature matching: hyperscan finds candidates, exact regexes confirm them.

Every `.ndb` pattern and every content subsignature of an `.ldb` becomes one entry. All entries, whatever
target type their signature asks for, go into one hyperscan block-mode database (split in chunks only
past `MAX_GROUP` entries) built from the patterns' *prefilter* expressions (a superset of the real syntax,
without lookarounds); hits whose target type the buffer does not admit are dropped. One database per
target type cost every view a scan per type: a text layer's two views took four scans of the same bytes,
an ELF's raw view three, and one scan of the union database takes about half as long as those scans
together. Hyperscan reports each candidate once per buffer (SINGLEMATCH); only candidates are verified
with the exact Python regex and the offset window, so the expensive check runs on the rare hits, not on
every byte.

Compiled databases are kept as serialised bytes so the whole matcher pickles and maps cheaply into
worker processes; each process deserialises a group on first use.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Callable, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import hyperscan

from vigil.exeinfo import ExecInfo
from vigil.signatures.hexpattern import HexPattern
from vigil.signatures.match.anchor import anchor_prefilter
from vigil.signatures.offsets import Offset

_HS_FLAGS = hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER


@dataclass(frozen=True, slots=True)
class ContentEntry:
    """One pattern to look for: `sig` indexes the owner list (bodies or logicals), `sub` the subsignature."""

    pattern: HexPattern
    offset: Offset
    target: int
    sig: int
    sub: int  # -1 for a body signature


@dataclass(frozen=True, slots=True)
class Group:
    entry_ids: Sequence[int]  # hyperscan id i -> entry_ids[i]
    blob: bytes | None  # serialised hyperscan database, None when nothing compiled
    always: Sequence[int]  # entries hyperscan could not take: verified on every buffer


#: The layer's entry point and sections, parsed when first asked for.
ExeFacts = Callable[[], ExecInfo | None]

#: Who owns each entry and which target type it asks for, as flat arrays: (signature index, subsignature
#: index or -1, target type), indexed by entry id.
Owners = tuple[Sequence[int], Sequence[int], Sequence[int]]


class ContentMatcher:
    """Candidates from the hyperscan groups, filtered by target type, then exact verification of positions.

    `entries` may be a lazy sequence (the compiled-database cache decodes an entry only when it is a
    candidate); who owns each entry and its target type are kept in flat arrays so grouping and
    filtering never decode them.
    """

    def __init__(
        self,
        entries: Sequence[ContentEntry],
        owners: Owners | None = None,
        groups: tuple[Group, ...] | None = None,
    ) -> None:
        self.entries = entries
        if owners is None:
            owners = (
                array("I", (e.sig for e in entries)),
                array("i", (e.sub for e in entries)),
                array("H", (e.target for e in entries)),
            )
        self.sigs, self.subs, self.targets = owners
        self.groups = groups if groups is not None else _build_groups(entries)
        self._runtime: dict[int, Any] = {}
        self._regex: dict[int, re.Pattern[bytes]] = {}
        self._by_logical: dict[int, dict[int, int]] | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"entries": self.entries, "sigs": self.sigs, "subs": self.subs, "targets": self.targets,
                "groups": self.groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.entries = state["entries"]
        self.sigs, self.subs, self.targets = state["sigs"], state["subs"], state["targets"]
        self.groups = state["groups"]
        self._runtime = {}
        self._regex = {}
        self._by_logical = None

    def __len__(self) -> int:
        return len(self.sigs)

    def owner(self, entry_id: int) -> tuple[int, int]:
        """(signature index, subsignature index or -1 for a body signature) of an entry."""
        return self.sigs[entry_id], self.subs[entry_id]

    def candidates(self, targets: Set[int], buf: bytes | memoryview) -> list[int]:
        """Entry ids of the given target types whose prefilter occurs in `buf` (or that hyperscan could
        not take, so every buffer verifies them)."""
        found: list[int] = []
        target_of = self.targets
        for index, group in enumerate(self.groups):
            found.extend(entry for entry in group.always if target_of[entry] in targets)
            if group.blob is not None and len(buf):
                hits = self._scan_group(index, group, buf)
                found.extend(entry for entry in hits if target_of[entry] in targets)
        return found

    def logical_entry_ids(self, sig: int) -> dict[int, int]:
        """Subsignature index -> entry id for one logical signature's content subsignatures."""
        if self._by_logical is None:  # built on first use: a body-only database never needs it
            self._by_logical = _index_logical(self.sigs, self.subs)
        return self._by_logical.get(sig, {})

    def first(self, entry_id: int, buf: bytes | memoryview, exe: ExeFacts) -> tuple[int, int] | None:
        """Earliest (start, end) of a verified match inside the entry's offset window."""
        window = _window(self.entries[entry_id].offset, len(buf), exe)
        if window is None:
            return None
        lo, hi = window
        match = self._compiled(entry_id).search(buf, lo)
        if match is None or match.start() > hi:
            return None
        return match.start(), match.end()

    def all(self, entry_id: int, buf: bytes | memoryview, exe: ExeFacts) -> list[tuple[int, int]]:
        """Every start position (overlapping matches count, as ClamAV's logical counts do)."""
        window = _window(self.entries[entry_id].offset, len(buf), exe)
        if window is None:
            return []
        lo, hi = window
        rx = self._compiled(entry_id)
        hits: list[tuple[int, int]] = []
        pos = lo
        while pos <= hi:
            match = rx.search(buf, pos)
            if match is None or match.start() > hi:
                break
            hits.append((match.start(), match.end()))
            pos = match.start() + 1
        return hits

    def _compiled(self, entry_id: int) -> re.Pattern[bytes]:
        rx = self._regex.get(entry_id)
        if rx is None:
            rx = re.compile(self.entries[entry_id].pattern.regex, re.DOTALL)
            self._regex[entry_id] = rx
        return rx

    def _scan_group(self, key: int, group: Group, buf: bytes | memoryview) -> list[int]:
        runtime = self._runtime.get(key)
        if runtime is None:
            assert group.blob is not None
            runtime = hyperscan.loadb(group.blob, hyperscan.HS_MODE_BLOCK)
            runtime.scratch = hyperscan.Scratch(runtime)
            self._runtime[key] = runtime
        hits: list[int] = []
        ids = group.entry_ids

        def on_match(hs_id: int, start: int, end: int, flags: int, context: object) -> None:
            hits.append(ids[hs_id])

        runtime.scan(cast(bytes, buf), match_event_handler=on_match)  # hyperscan reads any buffer
        return hits


def _window(offset: Offset, size: int, exe: ExeFacts) -> tuple[int, int] | None:
    """The offset's window; the executable facts are asked for only when it depends on them: most
    offsets do not, and parsing a PE or ELF for nothing cost a scan of the bench corpus 0.16 s."""
    return offset.window(size, exe() if offset.needs_exe else None)


def _index_logical(sigs: Sequence[int], subs: Sequence[int]) -> dict[int, dict[int, int]]:
    index: dict[int, dict[int, int]] = {}
    for entry_id, sub in enumerate(subs):
        if sub >= 0:
            index.setdefault(sigs[entry_id], {})[sub] = entry_id
    return index


#: Entries per hyperscan database. Past this the entries are split in chunks, compiled in parallel (a
#: database compiles on one thread, in time that grows a little faster than its size); every extra chunk
#: costs each view one more scan, so chunks stay large.
MAX_GROUP = 100_000
_PARALLEL_MIN = 4_000


def _build_groups(entries: Sequence[ContentEntry]) -> tuple[Group, ...]:
    count = len(entries)
    parts = -(-count // MAX_GROUP)
    size = -(-count // parts) if parts else 0
    jobs = [list(range(start, min(start + size, count))) for start in range(0, count, size or 1)]
    expressions = [[anchor_prefilter(entries[i].pattern.prefilter) for i in ids] for ids in jobs]
    return tuple(
        Group(tuple(ids[i] for i in usable), blob, tuple(ids[i] for i in rejected))
        for ids, (blob, usable, rejected) in zip(jobs, _compile_all(expressions), strict=True)
    )


_Compiled = tuple[bytes | None, list[int], list[int]]


def _compile_all(chunks: list[list[bytes]]) -> list[_Compiled]:
    cores = os.cpu_count() or 1
    if len(chunks) < 2 or sum(map(len, chunks)) < _PARALLEL_MIN or cores < 2:
        return [compile_chunk(chunk) for chunk in chunks]
    # hyperscan releases the GIL while it compiles, so threads use every core without a process pool
    with ThreadPoolExecutor(max_workers=min(len(chunks), cores)) as pool:
        return list(pool.map(compile_chunk, chunks))


def compile_chunk(expressions: list[bytes]) -> _Compiled:
    """(serialised database, indexes compiled, indexes hyperscan rejects) for one chunk of prefilters.

    An empty prefilter, or one hyperscan refuses, goes to the always-verify list instead.
    """
    usable = [i for i, expression in enumerate(expressions) if expression]
    rejected = [i for i, expression in enumerate(expressions) if not expression]
    try:
        blob = _compile(expressions, usable) if usable else None
    except hyperscan.error:
        usable, bad = _compilable(expressions, usable)
        rejected += bad
        blob = _compile(expressions, usable) if usable else None
    return blob, usable, rejected


def _compile(expressions: Sequence[bytes], ids: Sequence[int]) -> bytes:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[expressions[i] for i in ids],
        ids=list(range(len(ids))),
        flags=[_HS_FLAGS] * len(ids),
    )
    blob: bytes = hyperscan.dumpb(db)
    return blob


def _compilable(expressions: Sequence[bytes], ids: list[int]) -> tuple[list[int], list[int]]:
    """Split ids into those hyperscan compiles and those it rejects, by bisection."""
    try:
        _compile(expressions, ids)
    except hyperscan.error:
        if len(ids) == 1:
            return [], list(ids)
        half = len(ids) // 2
        left_ok, left_bad = _compilable(expressions, ids[:half])
        right_ok, right_bad = _compilable(expressions, ids[half:])
        return left_ok + right_ok, left_bad + right_bad
    return list(ids), []
