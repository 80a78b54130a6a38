"""MS SZDD (COMPRESS.EXE / EXPAND.EXE, the `FILE.EX_` files of old installers): LZSS, one child.

Header: `SZDD\\x88\\xf0\\x27\\x33`, mode 'A', the file name's missing last character, the declared output
size (u32). Then flag bytes, each governing eight items read LSB first: a set bit is a literal byte, a
clear bit a 2-byte back-reference into a 4 KiB window that starts filled with spaces and is written
from position 4096-16. LZSS expands at most 9:1 per item (18 bytes from 2), so output is bounded by the
input; we still stop at the byte budget and never trust the declared size.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType

MAGIC = b"SZDD\x88\xf0\x27\x33"
_HEADER = struct.Struct("<8sBcI")  # magic, mode, missing character, declared size
_WINDOW = 4096
_START = _WINDOW - 16
_CHECK_EVERY = 1 << 12


class _Lzss:
    """Decoder state: the ring window, where the next byte goes in it, and the output so far."""

    def __init__(self) -> None:
        self.window = bytearray(b" " * _WINDOW)
        self.wpos = _START
        self.out = bytearray()

    def put(self, byte: int) -> None:
        self.window[self.wpos] = byte
        self.wpos = (self.wpos + 1) % _WINDOW
        self.out.append(byte)

    def copy(self, ref: int, length: int) -> None:
        for i in range(length):  # byte by byte: a reference may overlap the bytes it writes
            self.put(self.window[(ref + i) % _WINDOW])

    def group(self, data: bytes, pos: int) -> int:
        """Decode one flag byte's eight items starting at `pos`; returns where the next group starts."""
        flags = data[pos]
        pos += 1
        for bit in range(8):
            if flags >> bit & 1 and pos < len(data):
                self.put(data[pos])
                pos += 1
            elif pos + 1 < len(data):
                self.copy(data[pos] | (data[pos + 1] & 0xF0) << 4, (data[pos + 1] & 0x0F) + 3)
                pos += 2
            else:
                return len(data)
        return pos


def expand(data: bytes, budget: int, tick: Callable[[], None]) -> tuple[bytearray, bool]:
    """(output, ran-past-budget?): at most budget + 144 bytes; a final partial group is fine (as EXPAND).
    `tick` is called every few thousand groups so the scan's clock is checked while we work."""
    state = _Lzss()
    pos = 0
    groups = 0
    while pos < len(data) and len(state.out) <= budget:
        groups += 1
        if groups % _CHECK_EVERY == 0:
            tick()
        pos = state.group(data, pos)
    return state.out, len(state.out) > budget


def _child_name(layer_name: str, missing: bytes) -> str:
    base = re.split(r"[>/\\]", layer_name)[-1]
    if base.endswith("_") and missing not in (b"\0", b"_"):
        return base[:-1] + missing.decode("latin-1")
    if base.lower().endswith(".szdd") and len(base) > 5:
        return base[:-5]
    return base


class SzddUnpacker:
    name = "szdd"
    types = frozenset({FileType.MSSZDD})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        head = bytes(layer.data[: _HEADER.size])
        if len(head) < _HEADER.size or not head.startswith(MAGIC):
            raise MalformedInput(f"{layer.name}: not an SZDD file")
        _, mode, missing, declared = _HEADER.unpack(head)
        if mode != ord("A"):
            raise MalformedInput(f"{layer.name}: unknown SZDD mode {mode:#x}")
        ctx.charge_file()
        body = bytes(layer.data[_HEADER.size :])
        budget = ctx.remaining_bytes()
        out, over = expand(body, budget, ctx.check_time)
        if over:
            ctx.charge_bytes(len(out))  # raises the binding limit
        ctx.charge_bytes(len(out))
        yield Child(name=_child_name(layer.name, missing), data=bytes(out))
        if len(out) != declared:
            raise MalformedInput(f"{layer.name}: SZDD produced {len(out)} bytes, header says {declared}")
