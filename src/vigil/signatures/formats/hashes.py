"""Hash-family databases: `.hdb/.hsb` (file), `.mdb/.msb` (PE section), `.imp` (imports), `.fp/.sfp`.

Every rule here reproduces an observable decision of clamscan 1.4.6's `cli_loadhash`, in its order,
because the order decides whether a bad line is an error or silently skipped:

1. 3 to 5 `:`-separated fields, else a load error;
2. MinFL/MaxFL are read like C `atoi` (`5x` is 5, `x` and the empty string are 0) and a signature outside
   the running level is skipped *before* anything else is checked (a bad size on a skipped line is fine);
3. the size must be a decimal in 1..0xfffffffe (`strtoul` rules: leading blanks and `+` allowed); `*`
   needs a MinFL of at least 73, except in `.imp`;
4. an `.ign`/`.ign2` entry drops the line (a bad hash on an ignored line is fine, a bad size is not);
5. the name must not be empty; the hash must be 32, 40 or 64 hex digits (that length picks the algorithm).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigil.signatures.records import (
    AllowHash,
    HashBatch,
    HashScope,
    HashSig,
    ParseContext,
    SigMeta,
    reported_name,
)
from vigil.types import HashAlgo, Origin

_WILDCARD_MIN_FLEVEL = 73
_MAX_SIZE = 0xFFFFFFFF  # exclusive, as clamscan compares `size >= 0xffffffff`
_HEX = frozenset("0123456789abcdefABCDEF")
_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+)")
_STRTOUL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(\d+)")
_UINT_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the fields sit in one hash format and what its `*` size rule is."""

    size_field: int
    hash_field: int
    star_needs_flevel: bool = True


_FILE = _Layout(size_field=1, hash_field=0)
_SECTION = _Layout(size_field=0, hash_field=1)
_IMPORT = _Layout(size_field=1, hash_field=0, star_needs_flevel=False)


def c_atoi(text: str) -> int:
    """C `atoi`: leading blanks, optional sign, digits; anything else reads as 0."""
    found = _ATOI.match(text)
    return int(found.group(1)) if found else 0


def _unsigned(value: int) -> int:
    """How clamscan's `(unsigned int)` casts compare a negative level with its own."""
    return value & _UINT_MASK


def _level_skips(fields: list[str], ctx: ParseContext) -> bool:
    if len(fields) > 3 and _unsigned(c_atoi(fields[3])) > ctx.flevel:
        return True
    return len(fields) > 4 and _unsigned(c_atoi(fields[4])) < ctx.flevel


def _size(fields: list[str], layout: _Layout) -> int | None:
    text = fields[layout.size_field]
    if text == "*":
        if layout.star_needs_flevel and (len(fields) < 4 or c_atoi(fields[3]) < _WILDCARD_MIN_FLEVEL):
            raise ValueError("Minimum FLEVEL field must be at least 73 for wildcard size hash signatures")
        return None
    found = _STRTOUL.fullmatch(text)
    value = int(found.group(2)) if found else 0
    if found and found.group(1) == "-" and value:
        value = _MAX_SIZE  # strtoul negates into a huge unsigned value
    if not 0 < value < _MAX_SIZE:
        raise ValueError("Invalid value for the size field")
    return value


def _digest(text: str) -> tuple[HashAlgo, bytes]:
    algo = HashAlgo.from_hex_length(len(text))
    if algo is None or not set(text) <= _HEX:
        raise ValueError(f"Malformed hash string {text!r}")
    return algo, bytes.fromhex(text)


def _fields(text: str) -> list[str]:
    fields = text.split(":")
    if not 3 <= len(fields) <= 5:
        raise ValueError(f"expected 3 to 5 ':'-separated fields, got {len(fields)}")
    return fields


def _entries(
    lines: Iterable[tuple[int, str]], ctx: ParseContext, layout: _Layout
) -> Iterator[tuple[int, str, list[str], int | None]]:
    """(lineno, text, fields, size) for every line that survives the level and ignore checks."""
    for lineno, text in lines:
        try:
            fields = _fields(text)
            if _level_skips(fields, ctx):
                continue
            size = _size(fields, layout)
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        if ctx.is_ignored(fields[2], text):
            continue
        if not fields[2]:
            raise ctx.error(lineno, "Empty virus name")
        yield lineno, text, fields, size


#: The shape of nearly every real `.hdb/.hsb` line: no levels, a plain size. Such a line passes every check
#: above, so it skips them (2M-line databases load in a fraction of the time).
_PLAIN_FILE_LINE = re.compile(r"([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}):([1-9][0-9]{0,9}):([^:]+)")
_ALGO_BY_LEN = {32: HashAlgo.MD5, 40: HashAlgo.SHA1, 64: HashAlgo.SHA256}


def parse_hdb_columns(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig | HashBatch]:
    """`parse_hdb` for the loader: plain lines gathered into HashBatch columns (per algorithm, flushed
    before any other line so load order, which decides between equal hashes, is kept)."""
    fullmatch, ignored = _PLAIN_FILE_LINE.fullmatch, ctx.is_ignored
    batches: dict[int, HashBatch] = {}
    for lineno, text in lines:
        found = fullmatch(text)
        if found is None or int(found.group(2)) >= _MAX_SIZE:
            yield from _flush(batches)
            yield from _checked_sigs(((lineno, text),), ctx, _FILE, HashScope.FILE)  # in place: order matters
            continue
        hex_digest, size, name = found.groups()
        if ignored(name, text):
            continue
        width = len(hex_digest)
        batch = batches.get(width)
        if batch is None:
            batch = batches[width] = HashBatch(ctx.file, _ALGO_BY_LEN[width], ctx.official)
        batch.hexes.append(hex_digest.lower())
        batch.sizes.append(int(size))
        batch.names.append(name)
        batch.lines.append(lineno)
    yield from _flush(batches)


#: A whole `.hdb/.hsb` of plain lines with lowercase digests, checked in one regex pass that builds no
#: objects; its fields then come from one split (the per-line parser costs ~3 us a line).
_PLAIN_FILE_TEXT = re.compile(r"(?:[0-9a-f]{32,64}:[1-9][0-9]{0,9}:[^:\r\n]+\n)*")
_LINE_END_CRS = re.compile(r"\r+(?=\n|\Z)")


def plain_file_batches(data: bytes, ctx: ParseContext) -> list[HashBatch] | None:
    """The batches `parse_hdb_columns` would give for a file made only of plain lines (no comments,
    levels, `*` sizes, uppercase digests or ignore entries to honour), or None: then the caller parses
    line by line, which also names the line of any error."""
    text = data.decode("utf-8", "surrogateescape")
    if "\r" in text:
        text = _LINE_END_CRS.sub("", text)
    if not text.endswith("\n"):
        text += "\n"
    if text == "\n" or _PLAIN_FILE_TEXT.fullmatch(text) is None:
        return None
    fields = text.replace(":", "\n").split("\n")  # every line has exactly two colons: three fields
    hexes, names = fields[0:-1:3], fields[2::3]
    sizes = list(map(int, fields[1::3]))
    widths = set(map(len, hexes))
    if max(sizes) >= _MAX_SIZE or not widths <= _ALGO_BY_LEN.keys():
        return None
    if len(widths) == 1:
        lines = list(range(1, len(hexes) + 1))
        return [HashBatch(ctx.file, _ALGO_BY_LEN[len(hexes[0])], ctx.official, hexes, sizes, names, lines)]
    by_width: dict[int, list[int]] = {}
    for index, hex_digest in enumerate(hexes):
        by_width.setdefault(len(hex_digest), []).append(index)
    return [
        HashBatch(ctx.file, _ALGO_BY_LEN[width], ctx.official, [hexes[i] for i in picked],
                  [sizes[i] for i in picked], [names[i] for i in picked], [i + 1 for i in picked])
        for width, picked in by_width.items()
    ]


def _flush(batches: dict[int, HashBatch]) -> Iterator[HashBatch]:
    yield from batches.values()
    batches.clear()




def _checked_sigs(
    lines: Iterable[tuple[int, str]], ctx: ParseContext, layout: _Layout, scope: HashScope
) -> Iterator[HashSig]:
    for lineno, _text, fields, size in _entries(lines, ctx, layout):
        try:
            algo, digest = _digest(fields[layout.hash_field])
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        meta = SigMeta(fields[2], reported_name(fields[2], ctx.official), Origin(ctx.file, lineno))
        yield HashSig(meta, algo, digest, size, scope)


def parse_hdb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.hdb .hsb .hdu .hsu`: `HASH:SIZE:NAME[:MinFL[:MaxFL]]`, one HashSig per line (the loader takes
    `parse_hdb_columns`, the same parse without the per-line objects)."""
    for record in parse_hdb_columns(lines, ctx):
        yield from record.sigs() if isinstance(record, HashBatch) else (record,)


def parse_mdb(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.mdb .msb .mdu .msu`: `SECTIONSIZE:HASH:NAME[:MinFL[:MaxFL]]` (size first, unlike .hdb)."""
    return _checked_sigs(lines, ctx, _SECTION, HashScope.PE_SECTION)


def parse_imp(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[HashSig]:
    """`.imp`: `IMPHASH:IMPSIZE:NAME[:MinFL[:MaxFL]]`; `*` needs no level (the format postdates 73)."""
    return _checked_sigs(lines, ctx, _IMPORT, HashScope.PE_IMPORT)


def parse_fp(lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[AllowHash]:
    """`.fp .sfp`: `.hdb` lines that allow-list a layer and its subtree.

    The name plays no part in matching, yet clamscan still requires one and an ignore entry for it drops
    the allow entry, so it goes through the same checks as a detection line.
    """
    for lineno, _text, fields, size in _entries(lines, ctx, _FILE):
        try:
            algo, digest = _digest(fields[0])
        except ValueError as exc:
            raise ctx.error(lineno, str(exc)) from exc
        yield AllowHash(algo, digest, size, Origin(ctx.file, lineno))
