"""`.ftm` file-type magic: `MAGICTYPE:OFFSET:MAGIC:NAME:RTYPE:TYPE[:MinFL[:MaxFL]]`.

Rules are kept as text; `engine.filetype` compiles them (type 0: raw bytes at an offset, type 1: body
signature syntax, type 4: partition magic). clamscan 1.4.6's checks, in its order: 6 to 8 fields; MinFL
and MaxFL must be digits (the level check skips the line before anything else is looked at); both type
names must be known; MAGICTYPE must be digits; other magic types are skipped silently; types 0 and 4 need
a decimal offset and an even-length hex magic; a type-1 magic must compile as a body pattern. A file that
defines no rule at all (only comments, or only skipped lines) is a load error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigil.signatures.records import ParseContext
from vigil.types import FileType

_RAW, _BODY, _PARTITION = 0, 1, 4
_MIN_FIELDS, _MAX_FIELDS = 6, 8
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class MagicRule:
    magictype: int  # 0 raw bytes at `offset`, 1 body-signature syntax, 4 partition magic
    offset: str  # decimal for types 0 and 4; any body-signature offset (`*`, `n,m`...) for type 1
    magic: str  # hex text (body-signature text for type 1)
    name: str
    rtype: FileType  # the type the data must already have (usually ANY)
    ftype: FileType  # the type it becomes
    origin_line: int = 0


def _is_number(text: str) -> bool:
    """ClamAV's `cli_isnumber`: every character a digit (the empty string passes)."""
    return all(ch in "0123456789" for ch in text)


def _level_skips(fields: list[str], ctx: ParseContext) -> bool:
    for text in fields[6:8]:
        if not _is_number(text):
            raise ValueError(f"invalid functionality level {text!r}")
    if len(fields) > _MIN_FIELDS and int(fields[6] or 0) > ctx.flevel:
        return True
    return len(fields) == _MAX_FIELDS and int(fields[7] or 0) < ctx.flevel


def _file_type(name: str) -> FileType:
    found = FileType.from_clamav_name(name)
    if found is None:
        raise ValueError(f"unknown file type {name!r}")
    return found


def _check_raw(offset: str, magic: str) -> None:
    if not _is_number(offset):
        raise ValueError("Invalid offset")
    if len(magic) % 2 or not set(magic) <= _HEX:
        raise ValueError("Can't decode the hex string")


def _check_body(magic: str) -> None:
    from vigil.signatures.hexpattern import PatternError, parse_hex

    try:
        parse_hex(magic, strict=False)
    except PatternError as exc:
        raise ValueError(f"bad magic pattern: {exc}") from exc


def _rule(fields: list[str], lineno: int) -> MagicRule | None:
    rtype, ftype = _file_type(fields[4]), _file_type(fields[5])
    if not _is_number(fields[0]):
        raise ValueError("Invalid value for the first field")
    magictype = int(fields[0] or 0)
    if magictype == _BODY:
        _check_body(fields[2])
    elif magictype in (_RAW, _PARTITION):
        _check_raw(fields[1], fields[2])
    else:
        return None  # clamscan: "Unsupported mode", skipped
    return MagicRule(magictype, fields[1], fields[2], fields[3], rtype, ftype, lineno)


def parse_ftm(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[MagicRule]:
    count, last = 0, 0
    for lineno, text in lines:
        last = lineno
        fields = text.split(":")
        try:
            if not _MIN_FIELDS <= len(fields) <= _MAX_FIELDS:
                raise ValueError(f"expected 6 to 8 ':'-separated fields, got {len(fields)}")
            if _level_skips(fields, ctx):
                continue
            rule = _rule(fields, lineno)
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if rule is not None:
            count += 1
            yield rule
    if not count:
        raise ctx.error(last, "Empty external filetype database")
