"""A small, defensive PE reader and writer for the executable unpackers.

The unpackers need only a few facts (image base, entry point, section table, where the overlay starts)
and must never trust them: every field is clipped to the file, so a lying header yields an empty
section rather than an exception. The writer builds the minimal PE that ClamAV's rebuilt images are:
headers and one raw section per unpacked region, so the engine types the result as MSEXE and applies
PE signatures (`EP+n`, `Sx+n`, target type 1) to the restored code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigil.layer import ByteView

_FILE_ALIGN = 0x200
_SECTION_ALIGN = 0x1000


@dataclass(frozen=True, slots=True)
class PeSection:
    name: bytes
    rva: int
    vsize: int
    raw: int
    rsize: int  # clipped to the file


@dataclass(frozen=True, slots=True)
class PeView:
    """The parsed facts of one PE file; `data` is the whole file."""

    data: bytes
    image_base: int
    entry_rva: int
    sections: tuple[PeSection, ...]
    headers_end: int
    is_pe32plus: bool

    @property
    def overlay_start(self) -> int:
        """First byte after the last section's raw data (ClamAV's overlay rule); the file size if none."""
        ends = [s.raw + s.rsize for s in self.sections if s.rsize]
        return max(ends, default=self.headers_end)

    def section_at(self, rva: int) -> PeSection | None:
        for section in self.sections:
            if section.rva <= rva < section.rva + max(section.vsize, section.rsize):
                return section
        return None

    def rva_to_offset(self, rva: int) -> int | None:
        section = self.section_at(rva)
        if section is None or rva - section.rva >= section.rsize:
            return None
        return section.raw + rva - section.rva

    def read_rva(self, rva: int, size: int) -> bytes:
        """Up to `size` bytes of file data at `rva` (fewer if the section ends first)."""
        offset = self.rva_to_offset(rva)
        if offset is None:
            return b""
        section = self.section_at(rva)
        assert section is not None
        end = min(offset + size, section.raw + section.rsize)
        return self.data[offset:end]

    @property
    def entry_bytes(self) -> bytes:
        return self.read_rva(self.entry_rva, 0x400)


def parse_pe(data: ByteView) -> PeView | None:
    """The PE facts of `data`, or None when it is not a PE file at all."""
    raw = bytes(data)
    if len(raw) < 0x40 or raw[:2] != b"MZ":
        return None
    (pe_off,) = struct.unpack_from("<I", raw, 0x3C)
    if pe_off + 24 > len(raw) or raw[pe_off : pe_off + 4] != b"PE\0\0":
        return None
    nsections, opt_size = struct.unpack_from("<H12xH", raw, pe_off + 6)
    opt = pe_off + 24
    if opt + 2 > len(raw):
        return None
    (magic,) = struct.unpack_from("<H", raw, opt)
    plus = magic == 0x20B
    if opt + (24 if plus else 28) + 8 > len(raw):
        return None
    (entry,) = struct.unpack_from("<I", raw, opt + 16)
    base = struct.unpack_from("<Q", raw, opt + 24)[0] if plus else struct.unpack_from("<I", raw, opt + 28)[0]
    table = opt + opt_size
    sections = tuple(_sections(raw, table, min(nsections, 96)))
    return PeView(raw, base, entry, sections, min(len(raw), table + 40 * len(sections)), plus)


def _sections(raw: bytes, table: int, count: int) -> list[PeSection]:
    found = []
    for index in range(count):
        at = table + 40 * index
        if at + 40 > len(raw):
            break
        name, vsize, rva, rsize, ptr = struct.unpack_from("<8sIIII", raw, at)
        ptr = ptr // _FILE_ALIGN * _FILE_ALIGN  # the loader rounds the raw pointer down (clam.exe has 1)
        rsize = max(0, min(rsize, len(raw) - ptr)) if ptr < len(raw) else 0
        found.append(PeSection(name.rstrip(b"\0"), rva, vsize, ptr, rsize))
    return found


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def build_pe(image_base: int, regions: list[tuple[bytes, int, bytes]], entry_rva: int) -> bytes:
    """A minimal PE32 whose sections are `(name, rva, data)`: the shape of an unpacker's rebuilt image."""
    header_size = _FILE_ALIGN
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    regions = sorted(regions, key=lambda r: r[1])
    end = max((r[1] + max(len(r[2]), 1) for r in regions), default=_SECTION_ALIGN)
    image_size = _align(end, _SECTION_ALIGN)
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x14C, len(regions), 0, 0, 0, 0xE0, 0x010F)
    opt = bytearray(0xE0)
    struct.pack_into("<HBBIIIIII", opt, 0, 0x10B, 1, 0, 0, 0, 0, entry_rva, 0, 0)
    struct.pack_into(
        "<IIIHHHHHHIIIIHH",
        opt,
        28,
        image_base,
        _SECTION_ALIGN,
        _FILE_ALIGN,
        4,
        0,
        0,
        0,
        4,
        0,
        0,
        image_size,
        header_size,
        0,
        2,
        0,
    )
    struct.pack_into("<IIIII", opt, 72, 0x100000, 0x1000, 0x100000, 0x1000, 0)
    struct.pack_into("<I", opt, 92, 16)
    table = bytearray()
    body = bytearray()
    raw_at = header_size
    for name, rva, data in regions:
        raw_size = _align(len(data), _FILE_ALIGN)
        table += struct.pack(
            "<8sIIIIIIHHI", name[:8], max(len(data), 1), rva, raw_size, raw_at, 0, 0, 0, 0, 0xE0000060
        )
        body += data + bytes(raw_size - len(data))
        raw_at += raw_size
    headers = bytes(dos) + coff + bytes(opt) + bytes(table)
    if len(headers) > header_size:
        raise ValueError("too many sections for one header page")
    return headers + bytes(header_size - len(headers)) + bytes(body)
