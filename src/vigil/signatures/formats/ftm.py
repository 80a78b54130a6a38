"""`.ftm` file-type magic: `MAGICTYPE:OFFSET:MAGIC:NAME:RTYPE:TYPE[:MinFL[:MaxFL]]`.

Rules are kept as text; `engine.filetype` compiles them (type 0: raw bytes at an offset, type 1: body
signature syntax, type 4: partition magic).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigil.signatures.records import ParseContext
from vigil.types import FileType

_MAGIC_TYPES = frozenset({0, 1, 4})


@dataclass(frozen=True, slots=True)
class MagicRule:
    magictype: int
    offset: str
    magic: str
    name: str
    rtype: str
    ftype: str


def _level(text: str) -> int | None:
    if text and not text.isdigit():
        raise ValueError(f"invalid functionality level {text!r}")
    return int(text) if text else None


def _rule(fields: list[str]) -> MagicRule:
    if not 6 <= len(fields) <= 8:
        raise ValueError(f"expected 6 to 8 ':'-separated fields, got {len(fields)}")
    if not fields[0].isdigit() or int(fields[0]) not in _MAGIC_TYPES:
        raise ValueError(f"unknown magic type {fields[0]!r}")
    for type_name in fields[4:6]:
        if FileType.from_clamav_name(type_name) is None:
            raise ValueError(f"unknown file type {type_name!r}")
    return MagicRule(int(fields[0]), fields[1], fields[2], fields[3], fields[4], fields[5])


def parse_ftm(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[MagicRule]:
    for lineno, text in lines:
        fields = text.split(":")
        try:
            rule = _rule(fields)
            levels = [_level(f) for f in fields[6:8]] + [None, None]
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if ctx.flevel_ok(levels[0], levels[1]):
            yield rule
