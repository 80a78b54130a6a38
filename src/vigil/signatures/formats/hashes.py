"""Hash-family databases: `.hdb/.hsb` (file), `.mdb/.msb` (PE section), `.imp` (imports), `.fp/.sfp`.

The algorithm always comes from the digest's length, never from the suffix (a SHA-256 in `.hdb` works in
clamscan). A `*` size needs a functionality level of at least 73; size 0 is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vigil.signatures.records import AllowHash, HashScope, HashSig, ParseContext
from vigil.types import HashAlgo, Origin

_WILDCARD_MIN_FLEVEL = 73
_HEX = frozenset("0123456789abcdefABCDEF")


def _digest(text: str) -> tuple[HashAlgo, bytes]:
    algo = HashAlgo.from_hex_length(len(text))
    if algo is None or not set(text) <= _HEX:
        raise ValueError(f"invalid hash {text!r}")
    return algo, bytes.fromhex(text)


def _levels(fields: list[str]) -> tuple[int | None, int | None]:
    values: list[int | None] = []
    for field in fields[:2]:
        if field and not field.isdigit():
            raise ValueError(f"invalid functionality level {field!r}")
        values.append(int(field) if field else None)
    values += [None, None]
    return values[0], values[1]


def _size(text: str, min_fl: int | None) -> int | None:
    if text == "*":
        if min_fl is None or min_fl < _WILDCARD_MIN_FLEVEL:
            raise ValueError("a '*' size needs a functionality level of at least 73")
        return None
    if not text.isdigit() or int(text) == 0:
        raise ValueError("Invalid value for the size field")
    return int(text)


def _split(text: str) -> list[str]:
    fields = text.split(":")
    if not 3 <= len(fields) <= 5:
        raise ValueError(f"expected 3 to 5 ':'-separated fields, got {len(fields)}")
    if not fields[2]:
        raise ValueError("empty signature name")
    return fields


def _parse(
    lines: Iterable[tuple[int, str]], ctx: ParseContext, scope: HashScope, size_first: bool
) -> Iterator[HashSig]:
    for lineno, text in lines:
        try:
            fields = _split(text)
            size_text, hash_text = (fields[0], fields[1]) if size_first else (fields[1], fields[0])
            algo, digest = _digest(hash_text)
            min_fl, max_fl = _levels(fields[3:])
            size = _size(size_text, min_fl)
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if not ctx.flevel_ok(min_fl, max_fl):
            continue
        meta = ctx.meta(fields[2], lineno, text)
        if meta is not None:
            yield HashSig(meta, algo, digest, size, scope)


def parse_hdb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.hdb .hsb .hdu .hsu`: `HASH:SIZE:NAME[:MinFL[:MaxFL]]`."""
    return _parse(lines, ctx, HashScope.FILE, size_first=False)


def parse_mdb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.mdb .msb .mdu .msu`: `SECTIONSIZE:HASH:NAME[:MinFL]` (size first, unlike .hdb)."""
    return _parse(lines, ctx, HashScope.PE_SECTION, size_first=True)


def parse_imp(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.imp`: `IMPHASH:IMPSIZE:NAME[:MinFL]`."""
    return _parse(lines, ctx, HashScope.PE_IMPORT, size_first=False)


def parse_fp(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[AllowHash]:
    """`.fp .sfp`: `.hdb` lines whose name is ignored; they allow-list a layer and its subtree."""
    for lineno, text in lines:
        try:
            fields = _split(text)
            algo, digest = _digest(fields[0])
            min_fl, max_fl = _levels(fields[3:])
            size = _size(fields[1], min_fl)
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if ctx.flevel_ok(min_fl, max_fl):
            yield AllowHash(algo, digest, size, Origin(ctx.file, lineno))
