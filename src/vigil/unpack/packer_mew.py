"""MEW 11: the image is unpacked in place, section after section, by an aPLib-style LZ decoder.

Recognised as ClamAV does: a section with no raw data followed by one with data (the packer's), the entry
point a `jmp` whose target is file offset 0x154 or 0x158, where `mov esi, imm32` points into the packer
section. The two sections are laid out as one buffer (the empty one first); at `esi` are the original
entry point, the first destination and the compressed streams, each followed by the next destination
(zero ends the list). Every stream decodes into the same buffer, as the stub does in memory, and the
result is rebuilt as ClamAV's cli_rebuildpe does (one `.clamNN` section per stream, 4 KiB aligned).
Images whose streams are LZMA (a `call` at stub + 0x7B) are recognised and reported, not decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import packer_embedded
from vigil.unpack.packer_common import (
    MASK,
    ClamPe,
    RebuiltSection,
    align_up,
    clam_pe,
    contained,
    contained_in,
    rebuild_pe,
    u32,
)
from vigil.unpack.pe_format import PeView

_STUB_OFFSETS = (0x154, 0x158)
_MAX_STREAMS = 96


class _Bits:
    """The one-byte bit register shared by MEW's and FSG's decoders: refilled (with a sentinel bit)
    from the stream when it runs dry; the stream's last byte is never used as a bit byte."""

    __slots__ = ("buf", "end", "reg", "src", "start")

    def __init__(self, buf: bytearray, start: int, size: int) -> None:
        self.buf = buf
        self.start = start
        self.end = start + size
        self.src = start
        self.reg = 0x80

    def bit(self) -> int:
        old = self.reg
        self.reg = (old * 2) & 0xFF
        if not old & 0x7F:
            if not self.start <= self.src < self.end - 1:
                raise MalformedInput("MEW: bit stream leaves its section")
            old = self.buf[self.src]
            self.reg = (old * 2 + 1) & 0xFF
            self.src += 1
        return (old >> 7) & 1

    def gamma(self) -> int:
        value = 1
        while True:
            value = (value * 2 + self.bit()) & MASK
            if not self.bit():
                return value

    def byte(self) -> int:
        if not self.start <= self.src < self.end:
            raise MalformedInput("MEW: stream byte outside its section")
        self.src += 1
        return self.buf[self.src - 1]


@dataclass(slots=True)
class _State:
    dst: int
    old_back: int = 0
    lost_bit: int = 1


def _match(bits: _Bits, state: _State) -> tuple[int, int] | None:
    """(distance, length) of a back reference; (0, 1) is a literal zero; None ends the stream."""
    if not bits.bit():
        length = bits.gamma() - 1 - state.lost_bit
        if not length:
            back, length = state.old_back, bits.gamma()
        else:
            back = (bits.byte() + ((length - 1) << 8)) & MASK
            length = bits.gamma() + (back >= 0x7D00) + (back >= 0x500) + 2 * (back <= 0x7F)
            state.old_back = back
        state.lost_bit = 0
        return back, length
    if not bits.bit():
        code = bits.byte()
        back = code >> 1
        if not back:
            return None
        state.old_back, state.lost_bit = back, 0
        return back, (code & 1) + 2
    state.lost_bit = 1
    back = 0x10
    while back < 0x100:
        back = back * 2 + bits.bit()
    back &= 0xFF
    return (back, 1) if back else (0, 1)


def unpack_stream(
    buf: bytearray, src: int, ssize: int, dst: int, dsize: int, ctx: ScanContext
) -> tuple[int, int]:
    """Decode one stream at `src` into `dst` (both regions of `buf`); (end of input, end of output)."""
    if not (contained(len(buf), src, ssize) and contained(len(buf), dst, dsize)):
        raise MalformedInput("MEW: stream outside the image")
    bits = _Bits(buf, src, ssize)
    state = _State(dst + 1)
    end = dst + dsize
    buf[dst] = bits.byte()
    while True:
        if not bits.bit():
            if not dst <= state.dst < end:
                raise MalformedInput("MEW: literal outside the destination")
            buf[state.dst] = bits.byte()
            state.dst += 1
            state.lost_bit = 1
            continue
        match = _match(bits, state)
        if match is None:
            return bits.src, state.dst
        back, length = match
        if not back:
            if state.dst >= end:
                raise MalformedInput("MEW: literal outside the destination")
            buf[state.dst] = 0
            state.dst += 1
            continue
        at = state.dst
        if not (contained_in(dst, dsize, at, length) and contained_in(dst, dsize, at - back, length)):
            raise MalformedInput("MEW: back reference outside the destination")
        for _ in range(length):
            buf[at] = buf[at - back]
            at += 1
        state.dst = at
        ctx.check_time()


@dataclass(frozen=True, slots=True)
class _Layout:
    offdiff: int
    ssize: int
    dsize: int
    lzma: bool


def _layout(pe: ClamPe) -> tuple[int, _Layout] | None:
    """(index of the empty section, facts) when the stub is MEW's, else None."""
    empty = next(
        (i for i, s in enumerate(pe.sections[:-1]) if not s.rsz and s.vsz and pe.sections[i + 1].rsz
         and pe.sections[i + 1].vsz),
        None,
    )  # fmt: skip
    ep = pe.epbuff
    if empty is None or len(ep) < 16 or ep[0] != 0xE9:
        return None
    stub = (pe.vep + u32(ep, 1) + 5) & MASK
    tbuff = pe.data[stub : stub + 0xB0]
    if stub not in _STUB_OFFSETS or len(tbuff) < 0xB0:
        return None
    packer = pe.sections[empty + 1]
    offdiff = (u32(tbuff, 1) - pe.image_base) & MASK
    if offdiff <= packer.rva or offdiff >= (packer.rva + packer.raw - 4) & MASK:
        return None
    offdiff -= packer.rva
    ssize, dsize = packer.vsz, pe.sections[empty].vsz
    if offdiff >= ssize + dsize or packer.rsz < offdiff + 12 or packer.rsz > ssize:
        return None
    return empty, _Layout(offdiff, ssize, dsize, tbuff[0x7B] == 0xE8)


def unpack(pe: ClamPe, ctx: ScanContext) -> bytes | None:
    """ClamAV's rebuilt MEW image, or None where ClamAV would not unpack the file."""
    found = _layout(pe)
    if found is None:
        return None
    empty, lay = found
    if lay.lzma:
        raise MalformedInput("MEW: LZMA-compressed streams are not supported")
    packer = pe.sections[empty + 1]
    ctx.charge_bytes(lay.ssize + lay.dsize)
    buf = bytearray(lay.ssize + lay.dsize)
    buf[lay.dsize : lay.dsize + packer.rsz] = pe.data[packer.raw : packer.raw + packer.rsz]
    vadd = pe.sections[0].rva
    vma = pe.image_base + vadd
    head = lay.dsize + lay.offdiff
    entry = u32(buf, head + 4)
    sections = _streams(
        buf, head + 12, lay.ssize - 12 - lay.offdiff, u32(buf, head + 8) - vma, vma, lay.dsize, ctx
    )
    rebuilt = [RebuiltSection(raw, raw + vadd, size, size) for raw, size in sections]
    return rebuild_pe(buf, rebuilt, pe.image_base, entry - pe.image_base, 0x1000)


def _streams(
    buf: bytearray, src: int, ssize: int, dst: int, vma: int, dsize: int, ctx: ScanContext
) -> list[tuple[int, int]]:
    """Decode the chain of streams; (raw, size) of each section in the buffer."""
    total = len(buf)
    sections: list[tuple[int, int]] = []
    start = 0
    for _ in range(_MAX_STREAMS):
        dst &= MASK
        end_src, end_dst = unpack_stream(buf, src, ssize & MASK, dst, (total - dst) & MASK, ctx)
        target = u32(buf, end_src)
        ssize -= end_src + 4 - src
        src = end_src + 4
        dst = target - vma
        top = align_up(end_dst, 0x1000)
        if sections and top < start:
            raise MalformedInput("MEW: sections out of order")
        sections.append((start, top - start))
        if top > dsize:
            raise MalformedInput("MEW: section past the destination")
        start = top
        if not target:
            return sections
    raise MalformedInput("MEW: too many streams")


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The rebuilt image of a MEW-packed PE (plus what it embeds); nothing for other files."""
    pe = clam_pe(view.data)
    if pe is None:
        return
    image = unpack(pe, ctx)
    if image is None:
        return
    ctx.charge_file()
    yield Child(name="mew.exe", data=image, type_hint=FileType.MSEXE)
    yield from packer_embedded.embedded_children(image, ctx)
