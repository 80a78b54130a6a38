"""ClamAV body-signature hex patterns, compiled to a Python regex and a hyperscan prefilter.

The parser follows the shape of ClamAV's loader because its load errors are observable: a pattern is
first split into *parts* at `*` and at `{…}` ranges (a leading run of small fixed `{n}`, 0 < n < 128, is
expanded into `??`s first and does not split), then each part is checked the way the Aho-Corasick trie
checks a subpattern (a run of two static bytes, at most two `[n-m]` single-byte hooks). Matching
semantics that differ from the manual were measured against clamscan 1.4.6 (see the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_ALL_HEX = re.compile(r"[0-9a-fA-F]*")
_WHITESPACE = re.compile(r"\s")
_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BRACKET_MAX = 32
_SMALL_FIXED_GAP = 128
_PREFILTER_REPEAT_MAX = 1000


class PatternError(ValueError):
    """A hex pattern clamscan would refuse to load."""


@dataclass(frozen=True, slots=True)
class Modifiers:
    nocase: bool = False
    wide: bool = False
    ascii: bool = False
    fullword: bool = False


@dataclass(frozen=True, slots=True)
class HexPattern:
    source: str
    regex: bytes
    prefilter: bytes
    min_length: int


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class _Byte:
    value: int
    mask: int  # 0xff static, 0xf0/0x0f nibble, 0 any

    def matches(self, c: int) -> bool:
        return (c & self.mask) == (self.value & self.mask)


@dataclass(frozen=True, slots=True)
class _Alt:
    members: tuple[tuple[_Node, ...], ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class _Class:
    kind: str  # "B" | "L" | "W"
    negated: bool


_Node = _Byte | _Alt | _Class
_Hook = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Part:
    """One Aho-Corasick subpattern: optional anchors, optional `[n-m]` hooks and a core sequence."""

    core: tuple[_Node, ...]
    left: _Class | None = None
    right: _Class | None = None
    hook_left: _Hook | None = None  # (byte, min, max) before the core
    hook_right: _Hook | None = None  # (byte, min, max) after the core


@dataclass(frozen=True, slots=True)
class _Gap:
    lo: int
    hi: int | None


# ---------------------------------------------------------------- splitting into parts


def _expand_small_gaps(text: str) -> str:
    """ClamAV rewrites `{n}` (0 < n < 128) as n `??` while the first `{` in the pattern is of that form."""
    while (start := text.find("{")) >= 0:
        end = text.find("}", start)
        inner = text[start + 1 : end] if end > 0 else ""
        if end < 0 or not inner.isdigit() or not 0 < int(inner) < _SMALL_FIXED_GAP:
            return text
        text = text[:start] + "??" * int(inner) + text[end + 1 :]
    return text


def _parse_gap(inner: str) -> _Gap:
    """`{n}`, `{-n}`, `{n-}`, `{n-m}`. ClamAV stores "no maximum" as 0, so `{0}`, `{}`, `{-}` and `{-0}`
    all behave as `*` (measured: `6865{0}6c6c6f` hits `he_____llo`)."""
    lo_text, dash, hi_text = inner.partition("-")
    for piece in (lo_text, hi_text):
        if piece and not piece.isdigit():
            raise PatternError(f"bad gap {{{inner}}}")
    lo = int(lo_text) if lo_text else 0
    hi = int(hi_text or 0) if dash else lo
    return _Gap(lo, hi or None)


def _split_parts(text: str) -> list[str | _Gap]:
    pieces: list[str | _Gap] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "*{":
            pieces.append("".join(current))
            current = []
            if ch == "*":
                pieces.append(_Gap(0, None))
                i += 1
                continue
            end = text.find("}", i)
            if end < 0:
                raise PatternError("unterminated {")
            pieces.append(_parse_gap(text[i + 1 : end]))
            i = end + 1
            continue
        current.append(ch)
        i += 1
    pieces.append("".join(current))
    for index, piece in enumerate(pieces[::2]):
        if not piece:
            raise PatternError(f"can't extract part {index + 1} of partial signature")
    return pieces


# ---------------------------------------------------------------- one part


_CLASS_TOKENS = {f"{neg}({kind})": _Class(kind, bool(neg)) for kind in "BLW" for neg in ("", "!")}


def _class_at(text: str, i: int) -> tuple[_Class, int] | None:
    for token in (text[i : i + 4], text[i : i + 3]):
        if token in _CLASS_TOKENS:
            return _CLASS_TOKENS[token], i + len(token)
    return None


def _hex_digit(ch: str) -> tuple[int, int]:
    if ch == "?":
        return 0, 0
    if ch not in _HEXDIGITS:
        raise PatternError(f"malformed hex string near {ch!r}")
    return int(ch, 16), 0xF


def _parse_byte(text: str, i: int) -> _Byte:
    known = _BYTE_NODES.get(text[i : i + 2])
    if known is not None:
        return known
    if i + 1 >= len(text):
        raise PatternError("odd number of hex digits")
    (hi, hmask), (lo, lmask) = _hex_digit(text[i]), _hex_digit(text[i + 1])
    return _Byte((hi << 4) | lo, (hmask << 4) | lmask)


#: Every valid two-character byte token, parsed once (a 50k-signature database has ~400k of them).
_BYTE_NODES = {
    hi + lo: _Byte(
        (int(hi, 16) if hi != "?" else 0) << 4 | (int(lo, 16) if lo != "?" else 0),
        (0xF0 if hi != "?" else 0) | (0x0F if lo != "?" else 0),
    )
    for hi in "0123456789abcdefABCDEF?"
    for lo in "0123456789abcdefABCDEF?"
}


def _matching_paren(text: str, i: int) -> int:
    depth = 0
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return j
    raise PatternError("unbalanced parenthesis")


def _split_members(inner: str) -> list[str]:
    members, depth, start = [], 0, 0
    for j, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            members.append(inner[start:j])
            start = j + 1
    members.append(inner[start:])
    return members


def _is_fixed_static(members: tuple[tuple[_Node, ...], ...]) -> bool:
    lengths = {len(m) for m in members}
    static = all(isinstance(n, _Byte) and n.mask == 0xFF for m in members for n in m)
    return static and len(lengths) == 1 and 0 not in lengths


def _parse_alt(text: str, i: int, negated: bool) -> tuple[_Alt, int]:
    end = _matching_paren(text, i)
    inner = text[i + 1 : end]
    if not inner:
        raise PatternError("empty alternative block")
    members = tuple(_parse_seq(m, nested=True) for m in _split_members(inner))
    if negated and not _is_fixed_static(members):
        raise PatternError("can't apply negation to generic alternatives")
    return _Alt(members, negated), end + 1


def _parse_seq(text: str, *, nested: bool = False) -> tuple[_Node, ...]:
    nodes: list[_Node] = []
    i = 0
    while i < len(text):
        if text[i] not in "(!":  # the common case: a byte (classes and alternatives start with these)
            nodes.append(_parse_byte(text, i))
            i += 2
            continue
        cls = None if nested else _class_at(text, i)
        if cls is not None:
            nodes.append(cls[0])
            i = cls[1]
        elif text[i] == "(" or text.startswith("!(", i):
            negated = text[i] == "!"
            alt, i = _parse_alt(text, i + negated, negated)
            nodes.append(alt)
        else:
            nodes.append(_parse_byte(text, i))
            i += 2
    return tuple(nodes)


def _parse_hook(text: str) -> tuple[int, int]:
    lo_text, dash, hi_text = text.partition("-")
    if not lo_text.isdigit() or (dash and not hi_text.isdigit()):
        raise PatternError(f"bad range [{text}]")
    lo, hi = int(lo_text), int(hi_text if dash else lo_text)
    if lo > hi or hi > _BRACKET_MAX:
        raise PatternError(f"invalid range or distance too big in [{text}] (max {_BRACKET_MAX})")
    return lo, hi


def _split_hooks(text: str) -> tuple[str, _Hook | None, _Hook | None]:
    """Peel off `X[n-m]CORE` / `CORE[n-m]Y` single-byte hooks; ClamAV allows at most one on each side."""
    chunks = re.split(r"\[([^\]]*)\]", text)
    sides, ranges = chunks[::2], [_parse_hook(r) for r in chunks[1::2]]
    if not ranges:
        return text, None, None
    if any("[" in c or "]" in c for c in sides) or len(ranges) > 2:
        raise PatternError("can't handle [] ranges in this position")
    if len(ranges) == 2:
        if len(sides[0]) != 2 or len(sides[2]) != 2:
            raise PatternError("[n-m] needs a single byte on one side")
        return sides[1], (_static_byte(sides[0]), *ranges[0]), (_static_byte(sides[2]), *ranges[1])
    if len(sides[0]) == 2 and len(sides[1]) > 2:
        return sides[1], (_static_byte(sides[0]), *ranges[0]), None
    if len(sides[1]) == 2 and len(sides[0]) > 2:
        return sides[0], None, (_static_byte(sides[1]), *ranges[0])
    raise PatternError("[n-m] needs a single byte on one side and a longer pattern on the other")


def _static_byte(text: str) -> int:
    node = _parse_byte(text, 0)
    if node.mask != 0xFF:
        raise PatternError("[n-m] needs a static byte")
    return node.value


def _longest_static_run(nodes: tuple[_Node, ...]) -> int:
    best = run = 0
    for node in nodes:
        run = run + 1 if isinstance(node, _Byte) and node.mask == 0xFF else 0
        best = max(best, run)
    return best


def _is_static(node: _Node) -> bool:
    return isinstance(node, _Byte) and node.mask == 0xFF


def _is_complex(node: _Node) -> bool:
    """Multi-byte or generic alternatives and (B)/(L)/(W) classes; one-byte sets are simple."""
    if isinstance(node, _Class):
        return True
    return isinstance(node, _Alt) and any(len(m) != 1 or not _is_static(m[0]) for m in node.members)


def _check_prefix(core: tuple[_Node, ...]) -> None:
    """clamscan anchors a wildcarded pattern on its first 3-byte (else longest) static run; the nodes
    before it form a prefix, and it refuses a complex node in the prefix's second slot after a simple
    first one (measured: `41(4243|4344)444546` and `41(B)4445` fail, `(4142|4243)(B)4445` loads)."""
    if all(_is_static(n) for n in core[:3]):
        return
    best, anchor = 0, 0
    for i in range(len(core)):
        run = 0
        while run < 3 and i + run < len(core) and _is_static(core[i + run]):
            run += 1
        if run > best:
            best, anchor = run, i
        if best >= 3:
            break
    if anchor >= 2 and _is_complex(core[1]) and not _is_complex(core[0]):
        raise PatternError("unsupported special in the pattern's prefix")


def _parse_part(text: str) -> _Part:
    core_text, hook_left, hook_right = _split_hooks(text)
    core = list(_parse_seq(core_text))
    left = core.pop(0) if core and isinstance(core[0], _Class) else None
    right = core.pop() if core and isinstance(core[-1], _Class) else None
    if not core or _longest_static_run(tuple(core)) < 2:
        raise PatternError("pattern needs a run of 2 static bytes")
    _check_prefix(tuple(core))
    assert left is None or isinstance(left, _Class)
    assert right is None or isinstance(right, _Class)
    return _Part(tuple(core), left, right, hook_left, hook_right)


# ---------------------------------------------------------------- public entry


def parse_hex(text: str, *, strict: bool = True, modifiers: Modifiers = Modifiers()) -> HexPattern:
    """Parse a ClamAV hex signature; `strict` adds the `.ndb` Boyer-Moore rule (static sigs need 3 bytes)."""
    if not text or _WHITESPACE.search(text):
        raise PatternError("empty pattern or whitespace in pattern")
    if modifiers == _PLAIN and len(text) >= 6 and len(text) % 2 == 0 and _is_plain_static(text):
        return _static_pattern(text)
    pieces = _split_parts(_expand_small_gaps(text))
    parts = [p if isinstance(p, _Gap) else _parse_part(p) for p in pieces]
    if strict and _is_plain_static(text) and len(text) < 6:
        raise PatternError("static pattern too short (needs 3 bytes)")
    return _build(text, parts, modifiers)


_PLAIN = Modifiers()


def _static_pattern(text: str) -> HexPattern:
    """Fast path for wildcard-free patterns of 3+ bytes (most of any real database): no syntax tree."""
    literal = ("\\x" + bytes.fromhex(text).hex(":").replace(":", "\\x")).encode("ascii")
    return HexPattern(source=text, regex=literal, prefilter=literal, min_length=len(text) // 2)


def _is_plain_static(text: str) -> bool:
    return _ALL_HEX.fullmatch(text) is not None


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

    def byte_set(self, node: _Byte) -> frozenset[int]:
        return _byte_set(node.value, node.mask, self.nocase)

    def byte(self, node: _Byte) -> str:
        return _byte_text(node.value, node.mask, self.nocase, self.wide)

    def alt(self, node: _Alt, edge: str) -> str:
        width = len(node.members[0]) * (2 if self.wide else 1)
        if node.negated and width == (2 if self.wide else 1):
            excluded = frozenset().union(*(self.byte_set(m[0]) for m in node.members))  # type: ignore[arg-type]
            return _charclass(_ALL - excluded) + ("\\x00" if self.wide else "")
        members = [self.seq(m) for m in node.members]
        if node.negated:
            return ("" if self.pre else "(?!" + "|".join(members) + ")") + f".{{{width}}}"
        return "(?:" + "|".join(_empty_member(m, edge, self.pre) for m in members) + ")"

    def middle_class(self, node: _Class) -> str:
        members = _CLASS_BYTES[node.kind]
        return _charclass(_ALL - members if node.negated else members)

    def node(self, node: _Node, edge: str = "") -> str:
        if isinstance(node, _Byte):
            return self.byte(node)
        if isinstance(node, _Alt):
            return self.alt(node, edge)
        return self.middle_class(node)

    def seq(self, nodes: tuple[_Node, ...], first: bool = False, last: bool = False) -> str:
        out = []
        for i, node in enumerate(nodes):
            edge = "first" if first and i == 0 else "last" if last and i == len(nodes) - 1 else ""
            out.append(self.node(node, edge))
        return "".join(out)

    def anchor(self, node: _Class | None, side: int) -> str:
        return "" if node is None or self.pre else _EDGE_ANCHORS[(node.kind, node.negated)][side]

    def hook(self, hook: _Hook | None, before: bool) -> str:
        if hook is None:
            return ""
        byte, gap = self.byte(_Byte(hook[0], 0xFF)), f".{{{hook[1]},{hook[2]}}}"
        return byte + gap if before else gap + byte

    def part(self, part: _Part, first: bool, last: bool) -> str:
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

    def gap(self, gap: _Gap) -> str:
        if self.pre:
            if gap.lo > _PREFILTER_REPEAT_MAX:
                return ".*"
            if gap.hi is None or gap.hi > _PREFILTER_REPEAT_MAX or gap.hi < gap.lo:
                return f".{{{gap.lo},}}"
            return f".{{{gap.lo},{gap.hi}}}"
        if gap.hi is not None and gap.hi < gap.lo:
            return "(?!)"
        return f".{{{gap.lo},{'' if gap.hi is None else gap.hi}}}?"

    def pattern(self, parts: list[_Part | _Gap]) -> str:
        last = len(parts) - 1
        return "".join(
            self.gap(p) if isinstance(p, _Gap) else self.part(p, i == 0, i == last)
            for i, p in enumerate(parts)
        )


def _empty_member(member: str, edge: str, pre: bool) -> str:
    """clamscan lets an empty alternative match only at the pattern's end; at its start the block never
    matches and in the middle the empty member is ignored (all measured)."""
    if member or pre or edge == "last":
        return member
    return "(?!)"


def _node_min(node: _Node, wide: bool) -> int:
    if isinstance(node, _Byte):
        return 2 if wide and node.mask else 1
    if isinstance(node, _Alt):
        return min(sum(_node_min(n, wide) for n in m) for m in node.members)
    return 1


def _min_length(parts: list[_Part | _Gap], wide: bool) -> int:
    total = 0
    for p in parts:
        if isinstance(p, _Gap):
            total += p.lo
            continue
        total += sum(_node_min(n, wide) for n in p.core)
        total += sum(h[1] + (2 if wide else 1) for h in (p.hook_left, p.hook_right) if h is not None)
    return total


def _build(source: str, parts: list[_Part | _Gap], mods: Modifiers) -> HexPattern:
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
