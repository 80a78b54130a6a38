"""The syntax tree of a ClamAV hex pattern, and the pattern object the rest of Vigil sees.

Shared by the parser (`hexpattern`) and the regex/prefilter writer (`hexemit`).
"""

from __future__ import annotations

from dataclasses import dataclass


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
class Byte:
    value: int
    mask: int  # 0xff static, 0xf0/0x0f nibble, 0 any

    def matches(self, c: int) -> bool:
        return (c & self.mask) == (self.value & self.mask)


@dataclass(frozen=True, slots=True)
class Alt:
    members: tuple[tuple[Node, ...], ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Class:
    kind: str  # "B" | "L" | "W"
    negated: bool


Node = Byte | Alt | Class
Hook = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Part:
    """One Aho-Corasick subpattern: optional anchors, optional `[n-m]` hooks and a core sequence."""

    core: tuple[Node, ...]
    left: Class | None = None
    right: Class | None = None
    hook_left: Hook | None = None  # (byte, min, max) before the core
    hook_right: Hook | None = None  # (byte, min, max) after the core


@dataclass(frozen=True, slots=True)
class Gap:
    lo: int
    hi: int | None


# Bracket helpers shared by the hex-pattern parser and the file-type magic compiler (engine/magic_syntax).


def matching_paren(text: str, start: int) -> int:
    """Index of the `)` that closes the `(` at `start`."""
    depth = 0
    for pos in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[pos], 0)
        if depth == 0:
            return pos
    raise PatternError("unbalanced parenthesis")


def split_alternatives(inner: str) -> list[str]:
    """The members of an alternation body, split at its top-level `|`."""
    members, depth, start = [], 0, 0
    for pos, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            members.append(inner[start:pos])
            start = pos + 1
    members.append(inner[start:])
    return members
