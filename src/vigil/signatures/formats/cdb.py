"""`.cdb` container metadata signatures.

`NAME:CONTAINERTYPE:CONTAINERSIZE:FILENAMEREGEX:SIZEINCONTAINER:REALSIZE:ISENCRYPTED:FILEPOS:RES1:RES2`
plus optional `MinFL:MaxFL`. The checks follow clamscan 1.4.6's `cli_loadcdb`: 10 to 12 fields; levels
must be digits and skip the line first; the container type is `*` or a known `CL_TYPE_` name; sizes and
FILEPOS are `*`, digits, or `x-y` read like `sscanf("%u-%u")`; ISENCRYPTED is `*`, `0` or `1`.
RES1 is kept as written: clamscan's loader never parses it, so the CRC it documents never constrains a
match. The filename regex is a POSIX ERE; it is checked here and compiled with Python `re` on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vigil.signatures.records import ParseContext, SigMeta
from vigil.types import FileType

_MIN_FIELDS, _MAX_FIELDS = 10, 12
_RANGE = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+)-[ \t\n\v\f\r]*([+-]?\d+)")
_UINT_MASK = 0xFFFFFFFF

Range = tuple[int, int] | None  # inclusive bounds; None: any


@dataclass(frozen=True, slots=True)
class ContainerSig:
    meta: SigMeta
    container: FileType  # ANY for `*`
    container_size: Range
    name_regex: str | None  # None for `*`
    size_in_container: Range  # compressed size
    real_size: Range
    encrypted: bool | None  # None for `*`
    filepos: Range  # 1-based member position
    res1: str | None
    res2: str | None
    _compiled: list[re.Pattern[str]] = field(default_factory=list, compare=False, repr=False)

    def name_matches(self, member_name: str) -> bool:
        """Whether a member name satisfies the regex (unanchored search, as `regexec` does)."""
        if self.name_regex is None:
            return True
        if not self._compiled:
            self._compiled.append(re.compile(self.name_regex))
        return self._compiled[0].search(member_name) is not None


def _is_number(text: str) -> bool:
    return all(ch in "0123456789" for ch in text)


def _level_skips(fields: list[str], ctx: ParseContext) -> bool:
    for text in fields[10:12]:
        if not _is_number(text):
            raise ValueError(f"invalid functionality level {text!r}")
    if len(fields) > _MIN_FIELDS and int(fields[10] or 0) > ctx.flevel:
        return True
    return len(fields) == _MAX_FIELDS and int(fields[11] or 0) < ctx.flevel


def _range(text: str) -> Range:
    if text == "*":
        return None
    if "-" in text:
        found = _RANGE.match(text)
        if found is None:
            raise ValueError(f"Invalid value {text!r}")
        return int(found.group(1)) & _UINT_MASK, int(found.group(2)) & _UINT_MASK
    if not _is_number(text):
        raise ValueError(f"Invalid value {text!r}")
    value = int(text or 0)
    return value, value


def _container(text: str) -> FileType:
    if text == "*":
        return FileType.ANY
    found = FileType.from_clamav_name(text)
    if found is None:
        raise ValueError(f"Unknown container type {text}")
    return found


def _encrypted(text: str) -> bool | None:
    if text == "*":
        return None
    if text not in ("0", "1"):
        raise ValueError("Invalid encryption flag value")
    return text == "1"


def _regex(text: str) -> str | None:
    if text == "*":
        return None
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"Can't compile regular expression {text}") from exc
    return text


def _build(fields: list[str], meta: SigMeta) -> ContainerSig:
    container = _container(fields[1])
    regex = _regex(fields[3])
    sizes = _range(fields[2]), _range(fields[4]), _range(fields[5]), _range(fields[7])
    return ContainerSig(
        meta=meta,
        container=container,
        container_size=sizes[0],
        name_regex=regex,
        size_in_container=sizes[1],
        real_size=sizes[2],
        encrypted=_encrypted(fields[6]),
        filepos=sizes[3],
        res1=None if fields[8] == "*" else fields[8],
        res2=None if fields[9] == "*" else fields[9],
    )


def _parse_line(text: str, ctx: ParseContext, lineno: int) -> ContainerSig | None:
    fields = text.split(":")
    if not _MIN_FIELDS <= len(fields) <= _MAX_FIELDS:
        raise ValueError(f"expected 10 to 12 ':'-separated fields, got {len(fields)}")
    if _level_skips(fields, ctx):
        return None
    if not fields[0]:
        raise ValueError("Empty virus name")
    # clamscan checks the ignore list against the bare name as the "line" (its tokenizer has already
    # cut the line at the first ':'), so a NAME:MD5 entry pins the MD5 of the name alone.
    meta = ctx.meta(fields[0], lineno, fields[0])
    return None if meta is None else _build(fields, meta)


def parse_cdb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[ContainerSig]:
    for lineno, text in lines:
        try:
            sig = _parse_line(text, ctx, lineno)
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if sig is not None:
            yield sig
