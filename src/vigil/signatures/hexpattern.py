"""ClamAV body-signature hex patterns, compiled to a Python regex and a hyperscan prefilter.

The parser follows the shape of ClamAV's loader because its load errors are observable: a pattern is
first split into *parts* at `*` and at `{…}` ranges (a leading run of small fixed `{n}`, 0 < n < 128, is
expanded into `??`s first and does not split), then each part is checked the way the Aho-Corasick trie
checks a subpattern (a run of two static bytes, at most two `[n-m]` single-byte hooks). Matching
semantics that differ from the manual were measured against clamscan 1.4.6 (see the tests).
"""

from __future__ import annotations

import re

from vigil.signatures.hexemit import build
from vigil.signatures.hexnodes import (
    Alt,
    Byte,
    Class,
    Gap,
    HexPattern,
    Hook,
    Modifiers,
    Node,
    Part,
    PatternError,
    matching_paren,
    split_alternatives,
)

__all__ = ["HexPattern", "Modifiers", "PatternError", "parse_hex"]

_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_ALL_HEX = re.compile(r"[0-9a-fA-F]*")
_WHITESPACE = re.compile(r"\s")
_BRACKET_MAX = 32
_SMALL_FIXED_GAP = 128


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


def _parse_gap(inner: str) -> Gap:
    """`{n}`, `{-n}`, `{n-}`, `{n-m}`. ClamAV stores "no maximum" as 0, so `{0}`, `{}`, `{-}` and `{-0}`
    all behave as `*` (measured: `6865{0}6c6c6f` hits `he_____llo`)."""
    lo_text, dash, hi_text = inner.partition("-")
    for piece in (lo_text, hi_text):
        if piece and not piece.isdigit():
            raise PatternError(f"bad gap {{{inner}}}")
    lo = int(lo_text) if lo_text else 0
    hi = int(hi_text or 0) if dash else lo
    return Gap(lo, hi or None)


def _split_parts(text: str) -> list[str | Gap]:
    pieces: list[str | Gap] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "*{":
            pieces.append("".join(current))
            current = []
            if ch == "*":
                pieces.append(Gap(0, None))
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


_CLASS_TOKENS = {f"{neg}({kind})": Class(kind, bool(neg)) for kind in "BLW" for neg in ("", "!")}


def _class_at(text: str, i: int) -> tuple[Class, int] | None:
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


def _parse_byte(text: str, i: int) -> Byte:
    known = _BYTE_NODES.get(text[i : i + 2])
    if known is not None:
        return known
    if i + 1 >= len(text):
        raise PatternError("odd number of hex digits")
    (hi, hmask), (lo, lmask) = _hex_digit(text[i]), _hex_digit(text[i + 1])
    return Byte((hi << 4) | lo, (hmask << 4) | lmask)


#: Every valid two-character byte token, parsed once (a 50k-signature database has ~400k of them).
_BYTE_NODES = {
    hi + lo: Byte(
        (int(hi, 16) if hi != "?" else 0) << 4 | (int(lo, 16) if lo != "?" else 0),
        (0xF0 if hi != "?" else 0) | (0x0F if lo != "?" else 0),
    )
    for hi in "0123456789abcdefABCDEF?"
    for lo in "0123456789abcdefABCDEF?"
}


def _is_fixed_static(members: tuple[tuple[Node, ...], ...]) -> bool:
    lengths = {len(m) for m in members}
    static = all(isinstance(n, Byte) and n.mask == 0xFF for m in members for n in m)
    return static and len(lengths) == 1 and 0 not in lengths


def _parse_alt(text: str, i: int, negated: bool) -> tuple[Alt, int]:
    end = matching_paren(text, i)
    inner = text[i + 1 : end]
    if not inner:
        raise PatternError("empty alternative block")
    members = tuple(_parse_seq(m, nested=True) for m in split_alternatives(inner))
    if negated and not _is_fixed_static(members):
        raise PatternError("can't apply negation to generic alternatives")
    return Alt(members, negated), end + 1


def _parse_seq(text: str, *, nested: bool = False) -> tuple[Node, ...]:
    nodes: list[Node] = []
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


def _split_hooks(text: str) -> tuple[str, Hook | None, Hook | None]:
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


def _longest_static_run(nodes: tuple[Node, ...]) -> int:
    best = run = 0
    for node in nodes:
        run = run + 1 if isinstance(node, Byte) and node.mask == 0xFF else 0
        best = max(best, run)
    return best


def _is_static(node: Node) -> bool:
    return isinstance(node, Byte) and node.mask == 0xFF


def _is_complex(node: Node) -> bool:
    """Multi-byte or generic alternatives and (B)/(L)/(W) classes; one-byte sets are simple."""
    if isinstance(node, Class):
        return True
    return isinstance(node, Alt) and any(len(m) != 1 or not _is_static(m[0]) for m in node.members)


def _check_prefix(core: tuple[Node, ...]) -> None:
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


def _parse_part(text: str) -> Part:
    core_text, hook_left, hook_right = _split_hooks(text)
    core = list(_parse_seq(core_text))
    left = core.pop(0) if core and isinstance(core[0], Class) else None
    right = core.pop() if core and isinstance(core[-1], Class) else None
    if not core or _longest_static_run(tuple(core)) < 2:
        raise PatternError("pattern needs a run of 2 static bytes")
    _check_prefix(tuple(core))
    assert left is None or isinstance(left, Class)
    assert right is None or isinstance(right, Class)
    return Part(tuple(core), left, right, hook_left, hook_right)


# ---------------------------------------------------------------- public entry


_PLAIN = Modifiers()


def parse_hex(text: str, *, strict: bool = True, modifiers: Modifiers = _PLAIN) -> HexPattern:
    """Parse a ClamAV hex signature; `strict` adds the `.ndb` Boyer-Moore rule (static sigs need 3 bytes)."""
    if not text or _WHITESPACE.search(text):
        raise PatternError("empty pattern or whitespace in pattern")
    if modifiers == _PLAIN and len(text) >= 6 and len(text) % 2 == 0 and _is_plain_static(text):
        return _static_pattern(text)
    pieces = _split_parts(_expand_small_gaps(text))
    parts = [p if isinstance(p, Gap) else _parse_part(p) for p in pieces]
    if strict and _is_plain_static(text) and len(text) < 6:
        raise PatternError("static pattern too short (needs 3 bytes)")
    return build(text, parts, modifiers)




def _static_pattern(text: str) -> HexPattern:
    """Fast path for wildcard-free patterns of 3+ bytes (most of any real database): no syntax tree."""
    literal = ("\\x" + bytes.fromhex(text).hex(":").replace(":", "\\x")).encode("ascii")
    return HexPattern(source=text, regex=literal, prefilter=literal, min_length=len(text) // 2)


def _is_plain_static(text: str) -> bool:
    return _ALL_HEX.fullmatch(text) is not None
