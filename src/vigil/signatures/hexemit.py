"""Writing a parsed hex pattern as an exact Python regex and a hyperscan prefilter.

The regex carries everything (lookarounds for `(B)`/`(L)`/`(W)` classes, negated alternatives, `[n-m]`
hooks); the prefilter drops what hyperscan cannot take and matches a superset, so every real match is a
hyperscan candidate. Byte classes are written only with `\\xNN` escapes so both engines read them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vigil.signatures.hexnodes import Alt, Byte, Class, Gap, HexPattern, Hook, Modifiers, Node, Part

_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PREFILTER_REPEAT_MAX = 1000


# ---------------------------------------------------------------- emitting regex and prefilter

_B_LEFT = b" -./<@_"
_B_RIGHT = b"\n\r \"'-/=>_"
_ALL = frozenset(range(256))
_CLASS_BYTES = {"B": frozenset(_B_LEFT + _B_RIGHT), "L": frozenset(b"\n"), "W": _ALL - frozenset(_ALNUM)}


def _esc(c: int) -> str:
    return f"\\x{c:02x}"


@cache
def _charclass(members: frozenset[int]) -> str:
    """A class of byte values written only with \\xNN escapes, so hyperscan and `re` read it alike."""
    if members == _ALL:
        return "."
    if not members:
        return "(?!)"
    if len(members) == 1:
        return _esc(next(iter(members)))
    ordered, runs = sorted(members), []
    start = prev = ordered[0]
    for c in [*ordered[1:], -2]:
        if c != prev + 1:
            runs.append(_esc(start) if start == prev else f"{_esc(start)}-{_esc(prev)}")
            start = c
        prev = c
    return "[" + "".join(runs) + "]"


def _not(members: bytes) -> str:
    return _charclass(_ALL - frozenset(members))


# Lookarounds for (B)/(L)/(W) at the edges of a part, measured against clamscan: (regex left, regex right).
_EDGE_ANCHORS = {
    ("B", False): (f"(?<!{_not(_B_LEFT)})", f"(?!{_not(_B_RIGHT)})"),
    ("B", True): (f"(?<={_not(_B_LEFT)})", f"(?={_not(_B_RIGHT)})"),
    ("L", False): ("(?<![^\\x0a])", "(?=\\x0a|\\x0d\\x0a|\\Z)"),
    ("L", True): ("(?<=[^\\x0a])", "(?=[^\\x0a])(?!\\x0d\\x0a)"),
    ("W", False): (f"(?<!{_charclass(frozenset(_ALNUM))})", f"(?!{_charclass(frozenset(_ALNUM))})"),
    ("W", True): (f"(?<={_charclass(frozenset(_ALNUM))})", f"(?={_charclass(frozenset(_ALNUM))})"),
}


@cache
def _byte_set(value: int, mask: int, nocase: bool) -> frozenset[int]:
    """Bytes a (possibly nibble-wildcarded) pattern byte accepts; cached, as 50k-signature databases
    repeat the same few hundred (value, mask) pairs millions of times."""
    if mask == 0xFF and not nocase:
        return frozenset((value,))
    found = {c for c in range(256) if (c & mask) == (value & mask)}
    if nocase:
        found |= {ord(chr(c).swapcase()) for c in found if chr(c).isascii() and chr(c).isalpha()}
    return frozenset(found)


@cache
def _byte_text(value: int, mask: int, nocase: bool, wide: bool) -> str:
    if mask == 0:
        return "."
    return _charclass(_byte_set(value, mask, nocase)) + ("\\x00" if wide else "")


@dataclass(frozen=True, slots=True)
class _Emit:
    """How to render nodes: `pre` drops lookarounds (hyperscan prefilter); `wide`/`nocase` from modifiers."""

    pre: bool
    wide: bool
    nocase: bool

    def byte_set(self, node: Byte) -> frozenset[int]:
        return _byte_set(node.value, node.mask, self.nocase)

    def byte(self, node: Byte) -> str:
        return _byte_text(node.value, node.mask, self.nocase, self.wide)

    def alt(self, node: Alt, edge: str) -> str:
        width = len(node.members[0]) * (2 if self.wide else 1)
        if node.negated and width == (2 if self.wide else 1):
            excluded = frozenset().union(*(self.byte_set(m[0]) for m in node.members))  # type: ignore[arg-type]
            return _charclass(_ALL - excluded) + ("\\x00" if self.wide else "")
        members = [self.seq(m) for m in node.members]
        if node.negated:
            return ("" if self.pre else "(?!" + "|".join(members) + ")") + f".{{{width}}}"
        return "(?:" + "|".join(_empty_member(m, edge, self.pre) for m in members) + ")"

    def middle_class(self, node: Class) -> str:
        members = _CLASS_BYTES[node.kind]
        return _charclass(_ALL - members if node.negated else members)

    def node(self, node: Node, edge: str = "") -> str:
        if isinstance(node, Byte):
            return self.byte(node)
        if isinstance(node, Alt):
            return self.alt(node, edge)
        return self.middle_class(node)

    def seq(self, nodes: tuple[Node, ...], first: bool = False, last: bool = False) -> str:
        out = []
        for i, node in enumerate(nodes):
            edge = "first" if first and i == 0 else "last" if last and i == len(nodes) - 1 else ""
            out.append(self.node(node, edge))
        return "".join(out)

    def anchor(self, node: Class | None, side: int) -> str:
        return "" if node is None or self.pre else _EDGE_ANCHORS[(node.kind, node.negated)][side]

    def hook(self, hook: Hook | None, before: bool) -> str:
        if hook is None:
            return ""
        byte, gap = self.byte(Byte(hook[0], 0xFF)), f".{{{hook[1]},{hook[2]}}}"
        return byte + gap if before else gap + byte

    def part(self, part: Part, first: bool, last: bool) -> str:
        core = self.seq(part.core, first and part.hook_left is None, last and part.hook_right is None)
        return "".join(
            (
                self.anchor(part.left, 0),
                self.hook(part.hook_left, True),
                core,
                self.hook(part.hook_right, False),
                self.anchor(part.right, 1),
            )
        )

    def gap(self, gap: Gap) -> str:
        if self.pre:
            if gap.lo > _PREFILTER_REPEAT_MAX:
                return ".*"
            if gap.hi is None or gap.hi > _PREFILTER_REPEAT_MAX or gap.hi < gap.lo:
                return f".{{{gap.lo},}}"
            return f".{{{gap.lo},{gap.hi}}}"
        if gap.hi is not None and gap.hi < gap.lo:
            return "(?!)"
        return f".{{{gap.lo},{'' if gap.hi is None else gap.hi}}}?"

    def pattern(self, parts: list[Part | Gap]) -> str:
        last = len(parts) - 1
        return "".join(
            self.gap(p) if isinstance(p, Gap) else self.part(p, i == 0, i == last)
            for i, p in enumerate(parts)
        )


def _empty_member(member: str, edge: str, pre: bool) -> str:
    """clamscan lets an empty alternative match only at the pattern's end; at its start the block never
    matches and in the middle the empty member is ignored (all measured)."""
    if member or pre or edge == "last":
        return member
    return "(?!)"


def _node_min(node: Node, wide: bool) -> int:
    if isinstance(node, Byte):
        return 2 if wide and node.mask else 1
    if isinstance(node, Alt):
        return min(sum(_node_min(n, wide) for n in m) for m in node.members)
    return 1


def _min_length(parts: list[Part | Gap], wide: bool) -> int:
    total = 0
    for p in parts:
        if isinstance(p, Gap):
            total += p.lo
            continue
        total += sum(_node_min(n, wide) for n in p.core)
        total += sum(h[1] + (2 if wide else 1) for h in (p.hook_left, p.hook_right) if h is not None)
    return total


def build(source: str, parts: list[Part | Gap], mods: Modifiers) -> HexPattern:
    rendered: list[str] = []
    for pre in (False, True):
        variants = [_Emit(pre, wide, mods.nocase).pattern(parts) for wide in _widths(mods)]
        body = variants[0] if len(variants) == 1 else "(?:" + "|".join(variants) + ")"
        if mods.fullword and not pre:
            edge = _EDGE_ANCHORS[("W", False)]
            body = edge[0] + body + edge[1]
        rendered.append(body)
    min_len = min(_min_length(parts, wide) for wide in _widths(mods))
    return HexPattern(source, rendered[0].encode("ascii"), rendered[1].encode("ascii"), min_len)


def _widths(mods: Modifiers) -> tuple[bool, ...]:
    if mods.wide and mods.ascii:
        return (False, True)
    return (mods.wide,)
