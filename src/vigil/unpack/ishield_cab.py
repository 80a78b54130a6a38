"""InstallShield `ISc(` cabinets: the files listed in data1.hdr, inflated out of dataN.cab.

A cabinet-based InstallShield setup (`clam_IScab_int.exe`) carries data1.hdr (the catalogue) and one
or more dataN.cab volumes (the streams). Both begin with the same 20-byte header {magic "ISc(",
version, 0, data_off, data_sz}; in data1.hdr the object table at `data_off` gives the directory table
offset (+12), the file count (+40) and the directory table size (+44). File records of 87 bytes follow
the directory table: flags u16 (4 = stored in a cabinet, 0 = external), size u64, compressed size u64,
stream offset u64 (from the start of its cabinet), md5[16], ..., name offset u32 (+58, relative to the
directory table), directory id u16 (+62), ..., dup flags u8 (+84; bit 0 = a duplicate of an earlier
record), cabinet number u16 (+85).

A stream is a run of chunks: u16 little-endian length, then that many bytes of raw deflate, each chunk
its own deflate stream. As ClamAV does, a zero-length chunk is skipped and a file whose chunks do not
inflate is dropped while the other files are still extracted.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, ScanContext

MAGIC = b"ISc("
_HEADER = struct.Struct("<4sIIII")
_OBJECTS_SIZE = 0x4A
_ITEM = struct.Struct("<HQQQ32xIH20xBH")  # flags size csize offset [md5 ..] name dir [..] dup cab
_FLAG_INTERNAL = 4
_MAX_FILES = 65536
_CAB_NAME = re.compile(r"data([0-9]{1,5})\.cab", re.IGNORECASE)
_HDR_NAME = "data1.hdr"


class _Record(NamedTuple):
    name: str
    flags: int
    size: int
    csize: int
    offset: int
    dup: int
    cab: int


def with_cabinets(children: Iterable[Child], ctx: ScanContext) -> Iterator[Child]:
    """Pass `children` through; then, if data1.hdr and a dataN.cab were among them, the cabinet's files."""
    header: ByteView | None = None
    cabinets: dict[int, ByteView] = {}
    for child in children:
        yield child
        base = child.name.replace("\\", "/").rsplit("/", 1)[-1]
        if base.lower() == _HDR_NAME and header is None:
            header = child.data
            continue
        number = _CAB_NAME.fullmatch(base)
        if number is not None and 0 < int(number.group(1)) < 65536:
            cabinets.setdefault(int(number.group(1)), child.data)
    if header is not None and cabinets:
        yield from cabinet_files(bytes(header), cabinets, ctx)


def _cstring(data: bytes, at: int) -> str:
    if not 0 <= at < len(data):
        return ""
    end = data.find(b"\0", at, at + 0x400)
    return data[at : end if end >= 0 else at].decode("latin-1")


def records(header: bytes) -> Iterator[_Record]:
    """The file records of data1.hdr; a header that does not hold together raises MalformedInput."""
    if len(header) < _HEADER.size or header[:4] != MAGIC:
        raise MalformedInput("InstallShield cabinet: data1.hdr lacks the ISc( header")
    data_off = _HEADER.unpack_from(header)[3]
    if data_off + _OBJECTS_SIZE > len(header):
        raise MalformedInput(f"InstallShield cabinet: object table at {data_off} is past the header's end")
    dirs_off, files_cnt, dir_size = (
        struct.unpack_from("<I", header, data_off + rel)[0] for rel in (12, 40, 44)
    )
    table = data_off + dirs_off
    at = table + dir_size
    if files_cnt > _MAX_FILES or at + files_cnt * _ITEM.size > len(header):
        raise MalformedInput(f"InstallShield cabinet: {files_cnt} file records do not fit in data1.hdr")
    for index in range(files_cnt):
        flags, size, csize, offset, name_off, dir_id, dup, cab = _ITEM.unpack_from(header, at)
        directory = ""
        if table + 4 * dir_id + 4 <= len(header):
            directory = _cstring(header, table + struct.unpack_from("<I", header, table + 4 * dir_id)[0])
        name = _cstring(header, table + name_off) or f"file{index}"
        path = f"{directory}/{name}".replace("\\", "/").lstrip("/")
        yield _Record(path, flags, size, csize, offset, dup, cab)
        at += _ITEM.size


def cabinet_files(header: bytes, cabinets: dict[int, ByteView], ctx: ScanContext) -> Iterator[Child]:
    """The inflated files stored in the cabinets (external, empty and duplicate records are skipped)."""
    for record in records(header):
        ctx.check_time()
        if record.flags != _FLAG_INTERNAL or record.dup & 1 or record.size == 0:
            continue
        cabinet = cabinets.get(record.cab)
        if cabinet is None or record.offset + record.csize > len(cabinet):
            ctx.note_issue(f"InstallShield cabinet: {record.name}: stream outside data{record.cab}.cab")
            continue
        ctx.charge_file()
        stream = bytes(cabinet[record.offset : record.offset + record.csize])
        try:
            data = inflate_chunks(stream, ctx)
        except MalformedInput as exc:
            ctx.note_issue(f"InstallShield cabinet: {record.name}: {exc}")
            continue
        yield Child(name=record.name, data=data)


def inflate_chunks(stream: bytes, ctx: ScanContext) -> bytes:
    """Concatenated output of the stream's length-prefixed raw-deflate chunks, charged to the budget."""
    out = bytearray()
    pos = 0
    while pos < len(stream):
        if pos + 2 > len(stream):
            raise MalformedInput("chunk length cut short")
        (size,) = struct.unpack_from("<H", stream, pos)
        pos += 2
        if size > len(stream) - pos:
            raise MalformedInput(f"{size}-byte chunk at {pos} runs past the stream")
        if size:
            out += _inflate(stream[pos : pos + size], ctx)
            pos += size
    return bytes(out)


def _inflate(chunk: bytes, ctx: ScanContext) -> bytes:
    budget = ctx.remaining_bytes()
    decoder = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = decoder.decompress(chunk, budget + 1)
    except zlib.error as exc:
        raise MalformedInput(f"deflate: {exc}") from None
    ctx.charge_bytes(len(out))  # raises LimitExceeded when the chunk would pass the budget
    if decoder.unconsumed_tail:
        ctx.charge_bytes(budget + 1)
    return out
