"""NSIS installers: the data blocks after the stub's firstheader, decompressed, as children.

The firstheader (`flags, 0xDEADBEEF, "NullsoftInst", header size, archive size`, 28 bytes) sits on a
512-byte boundary after the stub. What follows is either *solid* (one compressed stream holding
`u32 size + data` records) or *non-solid* (records of `u32 size` whose bit 31 says "compressed", each
compressed on its own). The first record is the install script header; the rest are the installed
files, named here by their position (file names live in the header's string table; ClamAV numbers
them too). Methods: LZMA (5 property bytes, 0x5D for NSIS's defaults), NSIS's bzip2 variant (records
start with '1'; not decoded here) and raw deflate.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.unpack.pe_format import PeView

_SIGNATURE = b"\xef\xbe\xad\xdeNullsoftInst"
_FIRST = struct.Struct("<I16sII")
_COMPRESSED = 0x80000000
_MAX_RECORDS = 100_000

Decoder = Callable[[bytes, int], bytes]


def _lzma(data: bytes, budget: int) -> bytes:
    if len(data) < 5 or data[0] >= 9 * 5 * 5:
        raise MalformedInput("NSIS: bad LZMA properties")
    props, dict_size = data[0], struct.unpack_from("<I", data, 1)[0]
    lc, lp, pb = props % 9, props // 9 % 5, props // 45
    filt = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": max(dict_size, 4096)}
    decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
    try:
        return decoder.decompress(data[5:], max_length=budget + 1)
    except lzma.LZMAError as exc:
        raise MalformedInput(f"NSIS: LZMA: {exc}") from None


def _deflate(data: bytes, budget: int) -> bytes:
    decoder = zlib.decompressobj(-15)
    try:
        return decoder.decompress(data, budget + 1)
    except zlib.error as exc:
        raise MalformedInput(f"NSIS: deflate: {exc}") from None


def _bzip2(data: bytes, budget: int) -> bytes:
    raise MalformedInput("NSIS: bzip2-compressed installers are not decoded")


def _method(data: bytes) -> tuple[str, Decoder]:
    if data[:1] == b"\x5d" and len(data) >= 5:
        return "lzma", _lzma
    if data[:1] == b"1":
        return "bzip2", _bzip2
    return "deflate", _deflate


def find_firstheader(view: PeView) -> int | None:
    """Offset of the firstheader: searched on 512-byte boundaries from the overlay on, as NSIS does."""
    data = view.data
    pos = -(-view.overlay_start // 512) * 512
    while pos + _FIRST.size <= len(data):
        if data[pos + 4 : pos + 20] == _SIGNATURE:
            return pos
        pos += 512
    return None


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    start = find_firstheader(view)
    if start is None:
        return
    _flags, _sig, _header_size, archive_size = _FIRST.unpack_from(view.data, start)
    end = min(len(view.data), start + archive_size) if archive_size >= _FIRST.size else len(view.data)
    body = view.data[start + _FIRST.size : end]
    if not body:
        raise MalformedInput("NSIS: no data after the firstheader")
    records = _nonsolid(body, ctx) if _first_block_decodes(body, ctx) else _solid(body, ctx)
    for index, payload in enumerate(records):
        yield Child(name="nsis-header" if index == 0 else f"nsis-file-{index:04d}", data=payload)


def _first_block_decodes(body: bytes, ctx: ScanContext) -> bool:
    """Non-solid when the first record is a plausible block whose own method decodes it; solid streams
    begin with method bytes that make no such record (LZMA 5D 00 00 80 00 reads as a 93-byte block)."""
    if len(body) < 4:
        return False
    (word,) = struct.unpack_from("<I", body)
    size = word & ~_COMPRESSED
    if not 0 < size <= len(body) - 4:
        return False
    if not word & _COMPRESSED:
        return True
    block = body[4 : 4 + size]
    try:
        return len(_method(block)[1](block, min(ctx.remaining_bytes(), 1 << 16))) > 0
    except MalformedInput:
        return False


def _nonsolid(body: bytes, ctx: ScanContext) -> Iterator[bytes]:
    pos = 0
    for _ in range(_MAX_RECORDS):
        if pos + 4 >= len(body):
            return  # the end, or the CRC32 that closes the archive
        (word,) = struct.unpack_from("<I", body, pos)
        size = word & ~_COMPRESSED
        pos += 4
        if size > len(body) - pos:
            raise MalformedInput(f"NSIS: {size}-byte block at {pos} runs past the end")
        block = body[pos : pos + size]
        pos += size
        ctx.charge_file()
        if word & _COMPRESSED:
            block = _decode(block, ctx)
        ctx.charge_bytes(len(block))
        yield block
    raise MalformedInput("NSIS: too many blocks")


def _decode(block: bytes, ctx: ScanContext) -> bytes:
    _, decoder = _method(block)
    budget = ctx.remaining_bytes()
    out = decoder(block, budget)
    if len(out) > budget:
        ctx.charge_bytes(len(out))  # raises the binding limit
    return out


def _solid(body: bytes, ctx: ScanContext) -> Iterator[bytes]:
    stream = _decode(body, ctx)
    pos = 0
    for _ in range(_MAX_RECORDS):
        if pos + 4 > len(stream):
            return
        (size,) = struct.unpack_from("<I", stream, pos)
        pos += 4
        size &= ~_COMPRESSED
        ctx.charge_file()
        chunk = stream[pos : pos + size]
        pos += size
        ctx.charge_bytes(len(chunk))
        yield chunk
        if len(chunk) < size:
            raise MalformedInput("NSIS: solid stream ends inside a record")
    raise MalformedInput("NSIS: too many records")
