"""Microsoft Compiled HTML Help (CHM, "ITSF"): a directory of named files in two content sections.

The ITSF header points at the directory (an "ITSP" header, then fixed-size chunks) and at content
section 0 (stored bytes). Listing chunks ("PMGL") hold entries of ENCINTs (7 bits a byte, high bit
"more"): name length, UTF-8 name, section, offset, length. Section 1 ("MSCompressed") is one LZX stream
kept as the section-0 file `::DataSpace/Storage/MSCompressed/Content`; its window and reset interval
come from `.../ControlData` ("LZXC") and its decompressed length from the reset table.

Files are yielded in directory order with their directory names (`/clam.exe.txt`), as clamscan names
them; `::` system files and directories are not. Offsets and lengths are checked against the file and
the section, never trusted; section 1 is decompressed once, only as far as the furthest file needs and
the scan budget allows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType
from vigil.unpack.lzx import FRAME, LzxDecoder

MAGIC = b"ITSF"
_STORAGE = "::DataSpace/Storage/MSCompressed/"
CONTENT = _STORAGE + "Content"
CONTROL = _STORAGE + "ControlData"
RESET_TABLE = _STORAGE + "Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable"
_MAX_CHUNKS = 1 << 16
_LISTING_START = 0x14


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    section: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Directory:
    entries: tuple[Entry, ...]
    content_offset: int  # where section 0 starts in the file


def _u32(data: ByteView, pos: int) -> int:
    if pos + 4 > len(data):
        raise MalformedInput("chm: header runs past the end")
    return int(struct.unpack_from("<I", data, pos)[0])


def _u64(data: ByteView, pos: int) -> int:
    if pos + 8 > len(data):
        raise MalformedInput("chm: header runs past the end")
    return int(struct.unpack_from("<Q", data, pos)[0])


def _encint(chunk: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(9):
        if pos >= end:
            raise MalformedInput("chm: directory entry runs past its chunk")
        byte = chunk[pos]
        pos += 1
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            return value, pos
    raise MalformedInput("chm: encoded integer too long")


def _listing(chunk: bytes) -> Iterator[Entry]:
    end = len(chunk) - _u32(chunk, 4)  # the free space / quickref area is at the end
    if end < _LISTING_START or end > len(chunk):
        raise MalformedInput("chm: bad free-space length in a listing chunk")
    pos = _LISTING_START
    while pos < end:
        size, pos = _encint(chunk, pos, end)
        if size == 0 or pos + size > end:
            raise MalformedInput("chm: bad name length in a listing chunk")
        name = chunk[pos : pos + size].decode("utf-8", errors="replace")
        section, pos = _encint(chunk, pos + size, end)
        offset, pos = _encint(chunk, pos, end)
        length, pos = _encint(chunk, pos, end)
        yield Entry(name, section, offset, length)


def read_directory(data: ByteView) -> Directory:
    if bytes(data[:4]) != MAGIC:
        raise MalformedInput("chm: no ITSF header")
    version = _u32(data, 4)
    dir_offset, dir_length = _u64(data, 0x48), _u64(data, 0x50)
    content = _u64(data, 0x58) if version >= 3 else dir_offset + dir_length
    if bytes(data[dir_offset : dir_offset + 4]) != b"ITSP":
        raise MalformedInput("chm: no ITSP directory header")
    header_len, chunk_size = _u32(data, dir_offset + 8), _u32(data, dir_offset + 0x10)
    first, last = _u32(data, dir_offset + 0x20), _u32(data, dir_offset + 0x24)
    if chunk_size < _LISTING_START + 1 or last < first or last - first >= _MAX_CHUNKS:
        raise MalformedInput("chm: bad directory geometry")
    entries: list[Entry] = []
    base = dir_offset + header_len
    for number in range(first, last + 1):
        chunk = bytes(data[base + number * chunk_size : base + (number + 1) * chunk_size])
        if len(chunk) < chunk_size:
            raise MalformedInput("chm: directory runs past the end")
        if chunk[:4] == b"PMGL":
            entries.extend(_listing(chunk))
    return Directory(tuple(entries), content)


class _Sections:
    """File bytes by section: 0 is read in place, 1 is decompressed on first use."""

    def __init__(self, data: ByteView, directory: Directory, ctx: ScanContext) -> None:
        self.data = data
        self.directory = directory
        self.ctx = ctx
        self.by_name = {entry.name: entry for entry in directory.entries}
        self.section1: bytearray | None = None
        self.section1_problem: str | None = None

    def stored(self, entry: Entry) -> bytes:
        start = self.directory.content_offset + entry.offset
        return bytes(self.data[start : start + entry.length])

    def system(self, name: str) -> bytes:
        entry = self.by_name.get(name)
        if entry is None or entry.section != 0:
            raise MalformedInput(f"chm: no {name}")
        return self.stored(entry)

    def compressed(self) -> bytearray:
        if self.section1 is None:
            self.section1 = bytearray()
            try:
                self._decompress(self.section1)
            except MalformedInput as exc:
                self.section1_problem = str(exc)
        return self.section1

    def _decompress(self, out: bytearray) -> None:
        control = self.system(CONTROL)
        if len(control) < 20 or control[4:8] != b"LZXC":
            raise MalformedInput("chm: bad LZXC control data")
        version, reset, window = struct.unpack_from("<III", control, 8)
        if version == 2:
            reset, window = reset * FRAME, window * FRAME
        if window <= 0 or window & (window - 1) or reset <= 0 or reset % FRAME:
            raise MalformedInput("chm: bad LZX window or reset interval")
        table = self.system(RESET_TABLE)
        declared = _u64(table, 0x10) if len(table) >= 0x18 else 1 << 62
        needed = max((e.offset + e.length for e in self.directory.entries if e.section == 1), default=0)
        limit = min(declared, needed, self.ctx.remaining_bytes())
        stream = self.system(CONTENT)
        LzxDecoder(stream, window.bit_length() - 1, reset // FRAME, self.ctx.check_time).decode(limit, out)


class ChmUnpacker:
    name = "chm"
    types = frozenset({FileType.MSCHM})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        directory = read_directory(layer.data)
        sections = _Sections(layer.data, directory, ctx)
        problems: list[str] = []
        for entry in directory.entries:
            if entry.name.startswith("::") or entry.name.endswith("/") or entry.section > 1:
                continue
            ctx.charge_file()
            if entry.length > ctx.remaining_bytes():
                ctx.charge_bytes(entry.length)  # raises the binding limit
            if entry.section == 0:
                body = sections.stored(entry)
            else:
                body = bytes(sections.compressed()[entry.offset : entry.offset + entry.length])
            ctx.charge_bytes(len(body))
            # `.cdb` as clamscan checks CHM: size in container 0; its FILEPOS count was not pinned down
            yield Child(name=entry.name, data=body, info=MemberInfo(0, entry.length, False, None))
            if len(body) != entry.length:
                problems.append(f"{entry.name!r} is cut short")
        if sections.section1_problem is not None:
            problems.append(sections.section1_problem)
        if problems:
            raise MalformedInput(f"{layer.name}: " + "; ".join(problems))

