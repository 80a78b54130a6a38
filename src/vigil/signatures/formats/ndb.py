"""`.ndb`/`.ndu` body signatures: `NAME:TARGET:OFFSET:HEX[:MinFL[:MaxFL]]`.

Names may contain spaces but never `:`, so a plain split is exact. Whether `.ndu` loads at all (PUA) is
the caller's decision; this parser only turns lines into records or raises SignatureError.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigil.signatures.hexpattern import HexPattern, PatternError, parse_hex
from vigil.signatures.offsets import Offset, OffsetError, parse_offset
from vigil.signatures.records import ParseContext, SigMeta

#: Target types clamscan knows; higher ones load without error and are skipped.
MAX_TARGET = 14
#: Only target 0 puts pure-static patterns in the Boyer-Moore matcher with its 3-byte minimum; the other
#: targets' matchers take 2-byte static patterns (measured with clamscan 1.4.6).
_BM_TARGET = 0


@dataclass(frozen=True, slots=True)
class BodySig:
    meta: SigMeta
    target: int
    offset: Offset
    pattern: HexPattern


def _int_field(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"invalid {what} {text!r}")
    return int(text)


def _flevels(fields: list[str]) -> tuple[int | None, int | None]:
    levels = [_int_field(f, "functionality level") if f else None for f in fields]
    padded = [*levels, None, None]
    return padded[0], padded[1]


def _parse_line(lineno: int, text: str, ctx: ParseContext) -> BodySig | None:
    fields = text.split(":")
    if not 4 <= len(fields) <= 6:
        raise ValueError(f"expected 4 to 6 ':'-separated fields, got {len(fields)}")
    name, target_text, offset_text, hex_text = fields[:4]
    if not name:
        raise ValueError("empty signature name")
    target = _int_field(target_text, "target type")
    if not ctx.flevel_ok(*_flevels(fields[4:])) or target > MAX_TARGET:
        return None
    offset = parse_offset(offset_text, target)
    pattern = parse_hex(hex_text, strict=target == _BM_TARGET)
    meta = ctx.meta(name, lineno, text)
    return None if meta is None else BodySig(meta, target, offset, pattern)


def parse_ndb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[BodySig]:
    """Yield one BodySig per loadable line; any malformed line raises `ctx.error` (the whole load fails)."""
    for lineno, text in lines:
        try:
            sig = _parse_line(lineno, text, ctx)
        except (PatternError, OffsetError, ValueError) as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if sig is not None:
            yield sig
