"""Petite 2.1/2.2: an in-image table of block moves and compressed sections, decoded into a rebuilt PE.

Recognised as ClamAV does: the entry point starts `mov eax, imm32` with imm32 = ImageBase + the RVA of the
last section (2.2) or of the one before it (2.1); a dword 0x163C988D at EP+0x80 marks level 0, which is
not supported. The sections are laid out as in memory (RVA - lowest RVA), then a table at the petite
section + 0x1B8 (2.2) or + 0x178 (2.1) is walked:
- a dword with bit 31 set: move (count & 0x7FFFFFFF) dwords ending at [+4] to end at [+8] (12 bytes);
- a non-zero dword: a section, 16 bytes {source rva, size, destination rva, -}; its first byte is copied,
  then a bit stream (8-bit, MSB first, interleaved with literal bytes XORed with the low byte of the
  bytes still to produce) of literals and gamma-coded back references;
- zero: the end.
The last section Petite unpacks first carries its own loader; its tail (0x355 bytes, 0x35 more when the
original had relocations) is cut when the loader's magic is found there. All reads and writes stay in
the image buffer, whose size is charged to the budget before it exists. The original entry point is
encrypted through the import table; it is not recovered here, the rebuilt image enters at its first
section.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import packer_embedded
from vigil.unpack.pe_format import PeView, build_pe

_LEVEL_ZERO = 0x163C988D
_LOADER_MAGIC = (0x645EC033, 0x1B8B188B)
_TABLE_AT = {2: 0x1B8, 1: 0x178}
_LOADER_SIZE = {2: (0x355, 0x35), 1: (0x323, 0x34)}
_MAX_BLOCKS = 4096


@dataclass(slots=True)
class _Section:
    rva: int
    size: int
    vsize: int


class _Bits:
    """Petite's bit reader: a byte register shifted left, refilled (with a sentinel) when it runs dry."""

    __slots__ = ("buf", "dl", "src")

    def __init__(self, buf: bytearray, src: int) -> None:
        self.buf = buf
        self.src = src
        self.dl = 0

    def bit(self) -> int:
        old = self.dl
        self.dl = (self.dl * 2) & 0xFF
        if not old & 0x7F:
            if not 0 <= self.src < len(self.buf) - 1:
                raise MalformedInput("Petite: bit stream leaves the image")
            old = self.buf[self.src]
            self.dl = (old * 2 + 1) & 0xFF
            self.src += 1
        return (old >> 7) & 1

    def gamma(self, value: int) -> int:
        while True:
            value = value * 2 + self.bit()
            if value > 0xFFFFFFFF:
                raise MalformedInput("Petite: gamma code overflow")
            if not self.bit():
                return value


def _thresholds(size: int) -> tuple[int, int, int]:
    if size < 0x10000:
        return 0xFFFFC060, 0xFFFFFC60, 5
    if size < 0x40000:
        return 0xFFFF8180, 0xFFFFF980, 7
    return 0xFFFF8300, 0xFFFFFB00, 8


def inflate(buf: bytearray, src: int, dst: int, size: int, tick: Callable[[], None]) -> int:
    """Decode one section in place (source and destination are image offsets); returns the end of output."""
    check1, check2, extra = _thresholds(size)
    if not (0 <= dst < len(buf) - 1 and 0 <= src < len(buf) - 1):
        raise MalformedInput("Petite: section outside the image")
    buf[dst] = buf[src]
    bits = _Bits(buf, src + 1)
    dst += 1
    size -= 1
    last = 0
    while size > 0:
        if not bits.bit():
            if not (dst < len(buf) - 1 and bits.src < len(buf) - 1):
                raise MalformedInput("Petite: literal outside the image")
            buf[dst] = buf[bits.src] ^ (size & 0xFF)
            bits.src += 1
            dst += 1
            size -= 1
            continue
        back = bits.gamma(1) - 3
        add = 0
        if back >= 0:
            for _ in range(extra):
                back = back * 2 + bits.bit()
            back = ~back
            unsigned = back & 0xFFFFFFFF
            add = 1 + (unsigned < check2) + (unsigned < check1)
            last = back
            length = 0
        else:
            length = back + 1
            back = last
        length = length * 4 + bits.bit() * 2 + bits.bit()
        if length == 0:
            length = bits.gamma(1) + 2
        length += add
        size -= length
        if dst + back < 0 or back >= 0 or dst + length >= len(buf):
            raise MalformedInput("Petite: back reference outside the image")
        for _ in range(length):
            buf[dst] = buf[dst + back]
            dst += 1
        tick()
    return dst


def _u32(buf: bytearray, at: int) -> int:
    if not 0 <= at <= len(buf) - 4:
        raise MalformedInput("Petite: table entry outside the image")
    return int(struct.unpack_from("<I", buf, at)[0])


def _strip_loader(buf: bytearray, end: int, section: _Section, version: int) -> None:
    grown, skew = _LOADER_SIZE[version]

    def magic_at(at: int) -> bool:
        return at >= 0 and at + 8 <= len(buf) and struct.unpack_from("<II", buf, at) == _LOADER_MAGIC

    plain = section.size > grown and magic_at(end - grown + 5 + 0x4F)
    skewed = section.size > grown + skew and magic_at(end - grown + 5 + 0x4F - skew)
    if plain or skewed:
        section.size -= grown + (skew if skewed else 0)


def unpack_image(view: PeView, version: int, ctx: ScanContext) -> tuple[bytearray, int, list[_Section]]:
    """(image, lowest rva, unpacked sections) after walking Petite's table."""
    sections = view.sections if version == 2 else view.sections[:-1]
    low = min(s.rva for s in view.sections)
    high = max(s.rva + max(s.vsize, s.rsize) for s in view.sections)
    ctx.charge_bytes(high - low)
    buf = bytearray(high - low)
    for s in view.sections:
        if s.raw and s.rsize:
            buf[s.rva - low : s.rva - low + s.rsize] = view.data[s.raw : s.raw + s.rsize]
    at = sections[-1].rva - low + _TABLE_AT[version]
    found: list[_Section] = []
    bottom = 0
    first = True
    for _ in range(_MAX_BLOCKS):
        head = _u32(buf, at)
        if head == 0:
            if not found:
                raise MalformedInput("Petite: the table lists no section")
            return buf, low, found
        if head & 0x80000000:
            count = (head & 0x7FFFFFFF) * 4
            bottom = _u32(buf, at + 8) + 4
            src, dst = _u32(buf, at + 4) - low - count + 4, _u32(buf, at + 8) - low - count + 4
            if min(src, dst) < 0 or max(src, dst) + count >= len(buf):
                raise MalformedInput("Petite: block move outside the image")
            buf[dst : dst + count] = buf[src : src + count]
            at += 12
            first = True
            continue
        size, rva = _u32(buf, at + 4), _u32(buf, at + 8)
        at += 16
        section = _Section(rva, size, bottom - rva if bottom > rva else size)
        found.append(section)
        if not size:
            continue
        if first:
            _widen_to_section(section, view)
        end = inflate(buf, head - low, rva - low, size, ctx.check_time)
        _strip_loader(buf, end, section, version)
        first = False
    raise MalformedInput("Petite: too many table entries")


def _widen_to_section(section: _Section, view: PeView) -> None:
    """Petite's first section may start inside an original section: widen it to that section's start."""
    for s in view.sections:
        if s.rva < section.rva < s.rva + s.vsize:
            section.size += section.rva - s.rva
            section.rva = s.rva
            return


def version_of(view: PeView) -> int | None:
    ep = view.entry_bytes
    if len(ep) < 200 or ep[0] != 0xB8 or len(view.sections) < 2:
        return None
    target = struct.unpack_from("<I", ep, 1)[0] - view.image_base
    version = 2 if target == view.sections[-1].rva else 1 if target == view.sections[-2].rva else None
    if version is None or struct.unpack_from("<I", ep, 0x80)[0] == _LEVEL_ZERO:
        return None
    return version


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The rebuilt image of a Petite-packed PE (plus what it embeds); nothing for other files."""
    version = version_of(view)
    if version is None:
        return
    ctx.charge_file()
    buf, low, sections = unpack_image(view, version, ctx)
    sections.sort(key=lambda s: s.rva)
    regions = [
        (f".SECT{i}".encode(), s.rva, bytes(buf[s.rva - low : s.rva - low + s.size]))
        for i, s in enumerate(sections)
    ]
    image = build_pe(view.image_base, regions, sections[0].rva)
    yield Child(name=f"petite-2.{version}.exe", data=image, type_hint=FileType.MSEXE)
    yield from packer_embedded.embedded_children(image, ctx)
