"""The PE facts as ClamAV's cli_peheader computes them, which its packer unpackers are written against.

ClamAV aligns each section's addresses and sizes (rva and raw down, sizes up, to the section and file
alignments), clips raw sizes to the file, and reads the entry-point buffer straight from the file at the
entry point's file offset. The unpackers' recognisers and the sizes of the buffers they rebuild depend on
exactly these values, so the packer modules share this one model instead of the general `PeView`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigil.errors import MalformedInput

_EP_BUFFER = 4096
MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ClamSection:
    rva: int
    vsz: int
    raw: int
    rsz: int
    urva: int
    uvsz: int
    uraw: int
    ursz: int


@dataclass(frozen=True, slots=True)
class ClamPe:
    data: bytes
    e_lfanew: int
    image_base: int
    vep: int
    ep: int  # file offset of the entry point
    hdr_size: int
    sections: tuple[ClamSection, ...]

    @property
    def epbuff(self) -> bytes:
        return self.data[self.ep : self.ep + _EP_BUFFER]

    @property
    def min_rva(self) -> int:
        return min(s.rva for s in self.sections)

    @property
    def max_rva(self) -> int:
        return max(s.rva + s.rsz for s in self.sections)


def _down(value: int, align: int) -> int:
    return value // align * align if align else value


def _up(value: int, align: int) -> int:
    return -(-value // align) * align if align else value


def u32(data: bytes | bytearray, at: int) -> int:
    if not 0 <= at <= len(data) - 4:
        raise MalformedInput("packer: read outside the buffer")
    return int(struct.unpack_from("<I", data, at)[0])


def contained(size: int, at: int, length: int) -> bool:
    """ClamAV's CLI_ISCONTAINED for a buffer of `size` bytes at 0."""
    return 0 < length <= size and at >= 0 and at + length <= size


def rawaddr(pe: ClamPe, rva: int) -> int | None:
    """ClamAV's cli_rawaddr: the file offset of an RVA (the last section that holds it wins)."""
    if rva < pe.hdr_size:
        return rva if rva < len(pe.data) else None
    for s in reversed(pe.sections):
        if s.rsz and s.rva <= rva and s.rsz > rva - s.rva:
            return rva - s.rva + s.raw
    return None


def clam_pe(data: bytes) -> ClamPe | None:
    """The PE32 facts of `data`, or None where cli_peheader would refuse the file."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if pe + 24 + 96 > len(data) or data[pe : pe + 4] != b"PE\0\0":
        return None
    count, opt_size = struct.unpack_from("<H12xH", data, pe + 6)
    opt = pe + 24
    if struct.unpack_from("<H", data, opt)[0] != 0x10B or not 0 < count <= 96:
        return None
    vep, base, salign, falign = struct.unpack_from("<I8xIII", data, opt + 16)
    hdr_size = struct.unpack_from("<I", data, opt + 60)[0]
    table = opt + opt_size
    if table + 40 * count > len(data):
        return None
    headers = [struct.unpack_from("<8xIIII", data, table + 40 * i) for i in range(count)]
    if falign != 0x200 and any(r and falign and p % falign and not p % 0x200 for _, _, r, p in headers):
        falign = 0x200
    sections = tuple(_section(data, h, salign, falign) for h in headers)
    clam = ClamPe(data, pe, base, vep, 0, _up(hdr_size, salign), sections)
    ep = rawaddr(clam, vep)
    if ep is None:
        return None
    return ClamPe(data, pe, base, vep, ep, clam.hdr_size, sections)


def _section(data: bytes, header: tuple[int, int, int, int], salign: int, falign: int) -> ClamSection:
    uvsz, urva, ursz, uraw = header
    rsz, raw = _up(ursz, falign), _down(uraw, falign)
    size = len(data)
    if rsz:
        if raw >= size or uraw >= size:
            rsz = ursz = 0
        else:
            rsz = min(rsz, size - raw)
            ursz = min(ursz, size - uraw)
    vsz = _up(uvsz, salign)
    if not vsz and rsz:
        vsz = _up(ursz, salign)
    return ClamSection(_down(urva, salign), vsz, raw, rsz, urva, uvsz, uraw, ursz)


def contained_in(base: int, size: int, at: int, length: int) -> bool:
    """CLI_ISCONTAINED for a region [base, base + size) of one address space."""
    return 0 < length <= size and at >= base and at + length <= base + size


def align_up(value: int, align: int) -> int:
    return _up(value, align)


#: The 0x148 bytes that start every PE ClamAV rebuilds (cli_rebuildpe): a DOS stub saying so, a PE header
#: named CLAM and an optional header whose entry point, image base, sizes and section count are patched.
_REBUILD_HEADERS = bytes.fromhex(
    "4d5a90000200000004000f00ffff0000b00000000000000040001a000000000000000000000000000000000000000000"
    "000000000000000000000000d00000000e1fb409ba0d00cd21b44ccd21546869732066696c6520776173206372656174"
    "656420627920436c616d415620666f7220696e7465726e616c2075736520616e642073686f756c64206e6f7420626520"
    "72756e2e0d0a436c616d4156202d20412047504c207669727573207363616e6e6572202d20687474703a2f2f7777772e"
    "636c616d61762e6e65740d0a24000000504500004c01ffff434c414d0000000000000000e000838f0b01000000100000"
    "0010000000000000ffffffff0010000000100000ffffffff0010000000020000010000000000000003000a0000000000"
    "00100000000400000000000002000000000010000010000000001000001000000000000010000000"
)


@dataclass(frozen=True, slots=True)
class RebuiltSection:
    raw: int  # offset of its data in the unpacked buffer
    rva: int
    vsz: int
    rsz: int


def rebuild_pe(
    buffer: bytes | bytearray, sections: list[RebuiltSection], base: int, ep: int, align: int = 0
) -> bytes:
    """The PE file ClamAV's cli_rebuildpe_align writes for `sections` of an unpacked buffer."""
    if not sections or len(sections) > 96:
        raise MalformedInput("packer: no sections to rebuild")

    def size(value: int) -> int:
        return _up(value, align) if align else value

    rawbase = _up(0x148 + 0x80 + 0x28 * len(sections), 0x200)
    ghost = sections[0].rva > _up(rawbase, 0x1000)
    if ghost:
        rawbase = _up(0x148 + 0x80 + 0x28 * (len(sections) + 1), 0x200)
    out = bytearray(_REBUILD_HEADERS) + bytes(rawbase - 0x148)
    image_size = _up(rawbase, 0x1000)
    struct.pack_into("<H", out, 0xD6, len(sections) + ghost)
    struct.pack_into("<I", out, 0xF8, ep & MASK)
    struct.pack_into("<I", out, 0x104, base & MASK)
    struct.pack_into("<I", out, 0x124, rawbase)
    entry = 0x148 + 0x80
    if ghost:
        out[entry : entry + 5] = b"empty"
        struct.pack_into("<II", out, entry + 8, sections[0].rva - image_size, image_size)
        struct.pack_into("<I", out, entry + 0x24, MASK)
        entry += 40
        image_size += _up(sections[0].rva - image_size, 0x1000)
    for index, s in enumerate(sections):
        if not 0 <= s.raw <= s.raw + s.rsz <= len(buffer):
            raise MalformedInput("packer: rebuilt section outside the unpacked buffer")
        out[entry : entry + 8] = f".clam{index + 1:02d}".encode()[:7] + b"\0"
        struct.pack_into("<IIII", out, entry + 8, size(s.vsz), size(s.rva), size(s.rsz), len(out))
        struct.pack_into("<I", out, entry + 0x24, MASK)
        entry += 40
        data = bytes(buffer[s.raw : s.raw + s.rsz])
        out += data + bytes(_up(size(s.rsz), 0x200) - len(data))
        image_size += _up(size(s.vsz), 0x1000)
    struct.pack_into("<I", out, 0x120, image_size & MASK)
    return bytes(out)
