"""ARJ archives (and ARJ self-extractors): a main header, then one local header per member, each followed
by the member's compressed bytes.

Every header is `60 EA`, a 16-bit basic-header size (0 ends the archive, at most 2600), the basic header,
its CRC-32, then extended headers (16-bit size, data, CRC-32) until a size of 0. The basic header starts
with a fixed part whose first byte is its own length; the name and comment follow as C strings. A header
whose CRC does not match ends the walk as malformed: the sizes in it cannot be trusted.

Members use method 0 (stored), 1-3 (LZ77 + Huffman) or 4 (LZ77 + unary codes), see `arj_decode`.
Encrypted ("garbled") members are skipped with an issue note: clamscan 1.4.6 raises no encrypted-archive
alert for ARJ (checked with `arj -g` archives), so neither do we. Directories, volume labels and chapter
marks carry no data.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType
from vigil.unpack.arj_decode import decode_fastest, decode_huffman

MAGIC = b"\x60\xea"
MAX_BASIC = 2600
_FIXED = struct.Struct("<BBBBBBBBIIIIHHH")  # the 30-byte fixed part of a basic header
_GARBLED = 0x01
_DATA_TYPES = frozenset({0, 1})  # binary, 7-bit text; 2 main, 3 directory, 4 label, 5 chapter
_SFX_SCAN = 1 << 20  # how far into a self-extractor we look for the main header

Decoder = Callable[[bytes, int, Callable[[], None], bytearray], None]


def _stored(data: bytes, limit: int, _tick: Callable[[], None], out: bytearray) -> None:
    out += data[:limit]
    if len(data) < limit:
        raise MalformedInput("arj: stored data ends early")


DECODERS: dict[int, Decoder] = {
    0: _stored,
    1: decode_huffman,
    2: decode_huffman,
    3: decode_huffman,
    4: decode_fastest,
}


@dataclass(frozen=True, slots=True)
class Header:
    flags: int
    method: int
    file_type: int
    csize: int
    usize: int
    crc: int
    name: str
    data_start: int  # offset of the member's data (just past the extended headers)


def _u16(data: ByteView, pos: int) -> int:
    if pos + 2 > len(data):
        raise MalformedInput("arj: header runs past the end")
    return int.from_bytes(data[pos : pos + 2], "little")


def _skip_extended(data: ByteView, pos: int) -> int:
    """Extended headers are unused by every ARJ we know of; step over them, checking only bounds."""
    while True:
        size = _u16(data, pos)
        pos += 2
        if size == 0:
            return pos
        pos += size + 4
        if pos > len(data):
            raise MalformedInput("arj: extended header runs past the end")


def read_header(data: ByteView, pos: int) -> Header | None:
    """The header at `pos`; None at the end-of-archive marker."""
    if bytes(data[pos : pos + 2]) != MAGIC:
        raise MalformedInput(f"arj: no header at offset {pos}")
    size = _u16(data, pos + 2)
    if size == 0:
        return None
    if size > MAX_BASIC or pos + 8 + size > len(data):
        raise MalformedInput(f"arj: bad basic header size {size} at offset {pos}")
    basic = bytes(data[pos + 4 : pos + 4 + size])
    if zlib.crc32(basic) != int.from_bytes(data[pos + 4 + size : pos + 8 + size], "little"):
        raise MalformedInput(f"arj: header CRC mismatch at offset {pos}")
    first = basic[0]
    if first < _FIXED.size or first > size:
        raise MalformedInput(f"arj: bad first header size {first} at offset {pos}")
    fields = _FIXED.unpack(basic[: _FIXED.size])
    name = basic[first:].split(b"\0", 1)[0].decode("latin-1").replace("\\", "/")
    data_start = _skip_extended(data, pos + 8 + size)
    return Header(fields[4], fields[5], fields[6], fields[9], fields[10], fields[11], name, data_start)


def find_main_header(data: ByteView) -> int:
    """0 for a plain archive; in a self-extractor, the first `60 EA` whose header checks out as a main
    (comment-type) header."""
    if bytes(data[:2]) == MAGIC:
        return 0
    view = bytes(data[:_SFX_SCAN])
    pos = view.find(MAGIC)
    while pos >= 0:
        try:
            header = read_header(data, pos)
        except MalformedInput:
            header = None
        if header is not None and header.file_type == 2:
            return pos
        pos = view.find(MAGIC, pos + 1)
    raise MalformedInput("arj: no main header")


def _member(data: ByteView, header: Header, ctx: ScanContext) -> tuple[bytes, str | None]:
    """(bytes, what went wrong or None). The output is bounded by the declared size, checked against the
    budget first, so a lying size is either refused by the budget or cuts the member short."""
    ctx.charge_file()
    if header.usize > ctx.remaining_bytes():
        ctx.charge_bytes(header.usize)  # raises the binding limit
    body = bytes(data[header.data_start : header.data_start + header.csize])
    out = bytearray()
    problem = None
    try:
        DECODERS[header.method](body, header.usize, ctx.check_time, out)
    except MalformedInput as exc:
        problem = str(exc)
    if problem is None and zlib.crc32(out) != header.crc:
        problem = f"arj: CRC mismatch in {header.name!r}"
    if header.data_start + header.csize > len(data):
        problem = f"arj: {header.name!r} is truncated"
    ctx.charge_bytes(len(out))
    return bytes(out), problem


class ArjUnpacker:
    name = "arj"
    types = frozenset({FileType.ARJ, FileType.ARJSFX})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = layer.data
        main = read_header(data, find_main_header(data))
        if main is None:
            raise MalformedInput(f"{layer.name}: empty ARJ main header")
        pos = main.data_start
        problems: list[str] = []
        position = 0
        while pos < len(data):
            header = read_header(data, pos)
            if header is None:
                break
            pos = header.data_start + header.csize
            if header.file_type not in _DATA_TYPES:
                continue
            position += 1  # `.cdb` FILEPOS as clamscan counts it: 1-based over members with data
            info = MemberInfo(header.csize, header.usize, bool(header.flags & _GARBLED), position)
            if header.flags & _GARBLED or header.method not in DECODERS:
                ctx.note_issue(f"{layer.name}: cannot extract {header.name!r} (method {header.method}, "
                               f"flags {header.flags:#x})")
                yield Child(header.name, b"", info=info, listed_only=True)
                continue
            body, problem = _member(data, header, ctx)
            yield Child(name=header.name, data=body, info=info)
            if problem is not None:
                problems.append(problem)
                if pos > len(data):
                    break
        else:
            problems.append("arj: no end-of-archive marker")
        if problems:
            raise MalformedInput(f"{layer.name}: " + "; ".join(problems))
