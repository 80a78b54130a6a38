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
