"""WWPack32: the packer section lists compressed blocks that decode in place into the original image.

Recognised as ClamAV does: the entry point is the last section's start, its code begins `53 55 8B E8 33 DB
EB` and has `E8 00000000 58 2D 6D000000 50 60 33 C9 50 58 50 50` at +0x68. The image is laid out with the
headers and every section but the packer's at its RVA. At packer section + 0x2A1 is an array of 17-byte
records {delta, -, dwords, end, more}: the block of `dwords * 4` bytes ending 4 bytes past
`packer rva - delta + end` is the compressed stream, and it is decoded from its own start onwards (a
32-bit MSB-first bit reservoir, literals, 2-byte copies with 5..9-bit distances, and longer copies).
The headers are then patched as ClamAV's rebuild does: the packer section dropped, SizeOfImage reduced,
each section's raw pointer and size set to its virtual ones, the entry point read from the stub.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import packer_embedded
from vigil.unpack.packer_common import MASK, ClamPe, clam_pe, contained, u32
from vigil.unpack.pe_format import PeView

_STUB = b"\x53\x55\x8b\xe8\x33\xdb\xeb"
_STUB_68 = b"\xe8\x00\x00\x00\x00\x58\x2d\x6d\x00\x00\x00\x50\x60\x33\xc9\x50\x58\x50\x50"
_RECORDS = 0x2A1
_MAX_BLOCKS = 256


class _Bits:
    """A 32-bit reservoir refilled with little-endian dwords the moment it empties, as the stub does."""

    __slots__ = ("at", "count", "data", "value")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.value = 0
        self.count = 0
        self._reseed()

    def _next(self) -> int:
        if self.at + 4 > len(self.data):
            raise MalformedInput("WWPack: out of bits")
        word = int(struct.unpack_from("<I", self.data, self.at)[0])
        self.at += 4
        return word

    def _reseed(self) -> None:
        self.value = self._next()
        self.count = 32

    def byte(self) -> int:
        """A literal: the byte after the last dword read (literals and dwords share one cursor)."""
        if self.at >= len(self.data):
            raise MalformedInput("WWPack: literal past the block")
        self.at += 1
        return self.data[self.at - 1]

    def bits(self, n: int) -> int:
        out = self.value >> (32 - n)
        if self.count >= n:
            self.count -= n
            self.value = (self.value << n) & MASK
            if not self.count:
                self._reseed()
            return out
        self.value = self._next()
        self.count += 32 - n
        out |= self.value >> self.count
        self.value = (self.value << (32 - self.count)) & MASK
        return out


def _distance(bits: _Bits) -> int:
    code = bits.bits(3)
    if code == 6:
        return bits.bits(14) + 0x1FE1
    if code == 7:
        return bits.bits(15) + 0x5FE1
    width = {0: 5, 1: 6, 2: 7, 5: 12}.get(code)
    if width is None:  # 3 -> 8/9, 4 -> 10/11
        width = (8 if code == 3 else 10) + bits.bits(1)
    return bits.bits(width) + (1 << width) - 31


def _long_length(bits: _Bits) -> int:
    if not bits.bits(1):
        return bits.bits(1) + 5
    value = bits.bits(3)
    if value:
        return value + 6
    value = bits.bits(4)
    if value:
        return value + 13
    count, base = 4, 0x0D
    while True:
        if count == 7:
            count, base = 0x0E, 0
            break
        base = ((base + 2) << 1) - 1
        flag = bits.bits(1)
        count += 1
        if flag:
            break
    return bits.bits(count) + base


def _copy(out: bytearray, at: int, back: int, length: int) -> int:
    if at + length > len(out) or at - back < 0:
        raise MalformedInput("WWPack: copy outside the image")
    for _ in range(length):
        out[at] = out[at - back]
        at += 1
    return at


def decode_block(image: bytearray, at: int, stream: bytes, ctx: ScanContext) -> None:
    """Decode one block into `image` from offset `at` until the end code (distance 0x1FF)."""
    bits = _Bits(stream)
    while True:
        if not bits.bits(1):
            if at >= len(image):
                raise MalformedInput("WWPack: literal outside the image")
            image[at] = bits.byte()
            at += 1
            continue
        kind = bits.bits(2)
        if kind == 3:
            width = bits.bits(2)
            shifted, sub = width + 5, 31
            if width >= 2:
                shifted, sub = shifted + 1, sub + 0x80
            value = bits.bits(shifted)
            if value == 0x1FF:
                return
            at = _copy(image, at, (1 << shifted) - sub + value, 2)
            continue
        back = _distance(bits)
        length = _long_length(bits) if not kind else kind + 2
        at = _copy(image, at, back, length)
        ctx.check_time()


def is_wwpack(pe: ClamPe) -> bool:
    last = pe.sections[-1]
    ep = pe.epbuff
    return (
        len(pe.sections) > 1 and pe.vep == last.rva and ep[:7] == _STUB and ep[0x68 : 0x68 + 19] == _STUB_68
    )


def _layout(pe: ClamPe, ctx: ScanContext) -> bytearray | None:
    """Headers and every section but the packer's at its RVA, or None where ClamAV gives up."""
    head = min(s.raw for s in pe.sections)
    size = max(((s.rva + s.vsz) & MASK for s in pe.sections[:-1]), default=0)
    if not head or not size or head > size:
        return None
    ctx.charge_bytes(size)
    image = bytearray(size)
    if head > len(pe.data):
        raise MalformedInput("WWPack: headers past the end of the file")
    image[:head] = pe.data[:head]
    for s in pe.sections[:-1]:
        if not s.rsz:
            continue
        if not contained(size, s.rva, s.rsz):
            return None
        image[s.rva : s.rva + s.rsz] = pe.data[s.raw : s.raw + s.rsz]
    return image


def unpack(pe: ClamPe, ctx: ScanContext) -> bytes | None:
    """ClamAV's rebuilt WWPack image, or None where ClamAV would not unpack the file."""
    image = _layout(pe, ctx)
    last = pe.sections[-1]
    if image is None or not last.rsz:
        return None
    packer = pe.data[last.raw : last.raw + last.rsz]
    at = _RECORDS
    for _ in range(_MAX_BLOCKS):
        if not contained(len(packer), at, 17):
            break
        base = (last.rva - u32(packer, at)) & MASK
        size = (u32(packer, at + 8) * 4) & MASK
        start = (base + u32(packer, at + 12) + 4 - size) & MASK
        if not size or not contained(len(image), start, size):
            break
        stream = bytes(image[start : start + size])
        image[start : start + size] = b"\xff" * size
        decode_block(image, start, stream, ctx)
        if not packer[at + 16]:
            break
        at += 17
    _patch_headers(image, pe, packer)
    return bytes(image)


def _patch_headers(image: bytearray, pe: ClamPe, packer: bytes) -> None:
    last, kept = pe.sections[-1], pe.sections[:-1]
    nt = pe.e_lfanew
    if nt + 0x54 > len(image):
        raise MalformedInput("WWPack: headers outside the image")
    struct.pack_into("<H", image, nt + 6, len(kept))
    if contained(len(packer), 0x295, 4):
        struct.pack_into("<I", image, nt + 0x28, (u32(packer, 0x295) + last.rva + 0x299) & MASK)
    struct.pack_into("<I", image, nt + 0x50, (u32(image, nt + 0x50) - last.vsz) & MASK)
    table = (u32(image, nt + 0x14) & 0xFFFF) + nt + 0x18
    for s in kept:
        if not contained(len(image), table, 0x28):
            raise MalformedInput("WWPack: section table outside the image")
        struct.pack_into("<IIII", image, table + 8, s.vsz, s.rva, s.vsz, s.rva)
        table += 0x28
    if not contained(len(image), table, 0x28):
        raise MalformedInput("WWPack: section table outside the image")
    image[table : table + 0x28] = bytes(0x28)


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The rebuilt image of a WWPack32-packed PE (plus what it embeds); nothing for other files."""
    pe = clam_pe(view.data)
    if pe is None or not is_wwpack(pe):
        return
    ctx.charge_file()
    image = unpack(pe, ctx)
    if image is None:
        return
    yield Child(name="wwpack.exe", data=image, type_hint=FileType.MSEXE)
    yield from packer_embedded.embedded_children(image, ctx)
