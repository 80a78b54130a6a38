"""Evaluate one logical signature on one layer, once its content subsignatures' positions are known.

The content matcher finds hex subsignatures (it owns hyperscan); this module adds what only makes sense
per signature: the target description checks, PCRE subsignatures (run only when their trigger holds),
byte-compare subsignatures (after everything else, at the trigger's last match), and the logic itself.
Semantics were measured against clamscan 1.4.6; see tests/signatures/test_ldb_clamscan.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.exeinfo import ExecInfo
from vigil.signatures.formats.ldb import (
    ByteCompareSub,
    LogicalSig,
    PcreSub,
    TargetDescription,
    pcre_flags,
)
from vigil.signatures.logic import evaluate_logic, outcome
from vigil.types import FileType

Hit = tuple[int, int]


@dataclass(frozen=True)
class LayerFacts:
    file_type: FileType
    size: int
    ancestry: tuple[FileType, ...]  # outermost first, ending with the immediate parent; empty for a root
    exe: ExecInfo | None


# ------------------------------------------------------------------ target description


def _in(value: int | None, bounds: tuple[int, int] | None) -> bool:
    return bounds is None or (value is not None and bounds[0] <= value <= bounds[1])


def _container_ok(container: FileType | None, ancestry: tuple[FileType, ...]) -> bool:
    """`CL_TYPE_ANY` means "no container" (root files only), as clamscan 1.4.6 behaves."""
    if container is None:
        return True
    if container is FileType.ANY:
        return not ancestry
    return bool(ancestry) and ancestry[-1] is container


def _intermediates_ok(wanted: tuple[FileType, ...] | None, ancestry: tuple[FileType, ...]) -> bool:
    if wanted is None:
        return True
    if len(wanted) > len(ancestry):
        return False
    tail = ancestry[len(ancestry) - len(wanted) :]
    return all(w is FileType.ANY or w is a for w, a in zip(wanted, tail, strict=True))


def tdb_allows(tdb: TargetDescription, facts: LayerFacts) -> bool:
    """Cheap checks before any subsignature work; the target type itself is the caller's business.

    IconGroup needs `.idb` icon matching, which Vigil does not do, so such signatures never match.
    """
    exe = facts.exe
    sections = len(exe.sections) if exe is not None else None
    entry = exe.entry_offset if exe is not None else None
    return (
        _in(facts.size, tdb.file_size)
        and _in(entry, tdb.entry_point)
        and _in(sections, tdb.number_of_sections)
        and _container_ok(tdb.container, facts.ancestry)
        and _intermediates_ok(tdb.intermediates, facts.ancestry)
        and tdb.icon_group1 is None
        and tdb.icon_group2 is None
    )


# ------------------------------------------------------------------ PCRE


@functools.lru_cache(maxsize=4096)
def _compiled(regex: bytes, flags: str) -> re.Pattern[bytes]:
    return re.compile(regex, pcre_flags(flags))


def _scan(rx: re.Pattern[bytes], data: bytes, positions: range, end: int, every: bool) -> list[Hit]:
    """Anchored attempts at each allowed start; with `g`, keep going after each match."""
    hits: list[Hit] = []
    pos = positions.start
    while pos < positions.stop:
        found = rx.match(data, pos, end)
        if found is None:
            pos += 1
            continue
        hits.append(found.span())
        if not every:
            break
        pos = max(found.end(), pos + 1)
    return hits


def _roll(rx: re.Pattern[bytes], data: bytes, start: int, end: int, every: bool) -> list[Hit]:
    """Unanchored search from `start`; with `g`, every non-overlapping match."""
    if not every:
        found = rx.search(data, start, end)
        return [] if found is None else [found.span()]
    return [m.span() for m in rx.finditer(data, start, end)]


def pcre_hits(sub: PcreSub, data: bytes, counts: Sequence[int], facts: LayerFacts) -> list[Hit]:
    """Matches of a PCRE subsignature; nothing when its trigger does not hold.

    Without `r` an explicit offset anchors the match start inside the offset window; `r` searches from
    the window start instead; `e` makes the match end inside the window; `A` anchors at the start.
    """
    if sub.trigger is not None and not evaluate_logic(sub.trigger, counts):
        return []
    rx = _compiled(sub.regex, sub.flags)
    every = "g" in sub.flags
    if sub.offset is None or sub.offset.anywhere:
        if "A" in sub.flags:
            return _scan(rx, data, range(0, 1), len(data), every)
        return _roll(rx, data, 0, len(data), every)
    window = sub.offset.window(len(data), facts.exe)
    if window is None:
        return []
    low, high = window
    end = high if "e" in sub.flags else len(data)
    if "r" in sub.flags:
        return _roll(rx, data, low, end, every)
    return _scan(rx, data, range(low, high + 1), end, every)


# ------------------------------------------------------------------ byte compare

_TEXT_DIGITS = {"d": b"0123456789", "h": b"0123456789abcdefABCDEF"}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}


def _text_base(base: str, chunk: bytes) -> tuple[str, bytes]:
    """Auto (`a`) reads hex after a `0x` prefix and decimal otherwise; `h` also accepts the prefix."""
    if base in "ah" and chunk[:2] in (b"0x", b"0X"):
        return "h", chunk[2:]
    return ("d" if base == "a" else base), chunk


def _text_value(sub: ByteCompareSub, chunk: bytes) -> int | None:
    base, body = _text_base(sub.base, chunk)
    digits = _TEXT_DIGITS[base]
    used = 0
    while used < len(body) and body[used] in digits:
        used += 1
    if sub.exact and (used == 0 or used != len(body)):
        return None
    if used == 0:
        return 0
    value = int(body[:used], 16 if base == "h" else 10)
    if base == "h" and sub.endian == "l":
        width = (used + 1) // 2
        value = int.from_bytes(value.to_bytes(width, "big"), "little")
    return value


def _read_value(sub: ByteCompareSub, chunk: bytes) -> int | None:
    if sub.base == "i":
        if sub.endian is None:
            return None
        return int.from_bytes(chunk, "little" if sub.endian == "l" else "big")
    if sub.base in "ha" and sub.endian is None:
        return None  # loads in clamscan 1.4.6 but never matches
    return _text_value(sub, chunk)


def byte_compare_hits(sub: ByteCompareSub, data: bytes, trigger_hits: Sequence[Hit]) -> list[Hit]:
    """One hit when the comparison holds at the trigger's **last** match (clamscan ignores earlier ones)."""
    if not trigger_hits:
        return []
    anchor = max(start for start, _ in trigger_hits)
    pos = anchor - sub.offset if sub.backwards else anchor + sub.offset
    if pos < 0 or pos + sub.length > len(data):
        return []
    value = _read_value(sub, data[pos : pos + sub.length])
    if value is None or not all(_COMPARE[op](value, want) for op, want in sub.comparisons):
        return []
    return [(pos, pos + sub.length)]


# ------------------------------------------------------------------ the signature


def _all_hits(
    sig: LogicalSig, content_hits: Sequence[Sequence[Hit]], data: bytes, facts: LayerFacts
) -> list[list[Hit]]:
    hits = [list(content_hits[i]) if i < len(content_hits) else [] for i in range(len(sig.subsigs))]
    for index, sub in enumerate(sig.subsigs):
        if isinstance(sub, PcreSub):
            hits[index] = pcre_hits(sub, data, [len(h) for h in hits[:index]], facts)
    for index, sub in enumerate(sig.subsigs):
        if isinstance(sub, ByteCompareSub) and sub.trigger < len(hits):
            hits[index] = byte_compare_hits(sub, data, hits[sub.trigger])
    return hits


def evaluate(
    sig: LogicalSig, content_hits: Sequence[Sequence[Hit]], data: bytes, facts: LayerFacts
) -> list[Hit] | None:
    """None when the signature does not match, else the positions of the subsignatures that made it."""
    hits = _all_hits(sig, content_hits, data, facts)
    result = outcome(sig.logic, [len(h) for h in hits])
    if not result.ok:
        return None
    return sorted({hit for index in result.ids for hit in hits[index]})
