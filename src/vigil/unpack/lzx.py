"""LZX as CHM (and CAB) use it: LZ77 over a 2**15..2**21 window with canonical Huffman codes, written as
16-bit little-endian words read MSB first.

Output comes in 32 KiB frames; after each frame the input realigns to a 16-bit boundary, and every
`reset_interval` frames the decoder forgets its code lengths and repeated offsets (CHM resets every
64 KiB so readers can seek). A block is verbatim (1), aligned-offset (2) or uncompressed (3); code lengths
are sent as deltas against the previous block's through a 20-symbol pretree. An optional E8 call
translation (absolute to relative CALL targets) is undone per frame on the way out, never in the window.

We decode from the start of the stream: no seeking, so the reset table is not needed for correctness.
Output stops at `limit` (the caller's section length capped by the scan budget); a stream that needs
input it does not have, or refers before its start, is malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vigil.errors import MalformedInput

FRAME = 32768
_SLOTS = {15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50}
_EXTRA = [0, 0, 0, 0] + [min((i - 2) >> 1, 17) for i in range(4, 50)]
_BASE = [sum(1 << e for e in _EXTRA[:i]) for i in range(50)]
_PRETREE, _ALIGNED, _LENGTHS = 20, 8, 249
_VERBATIM, _ALIGNED_BLOCK, _UNCOMPRESSED = 1, 2, 3
_MAX_LEN = 16
_SLACK_BITS = 32  # a final code may be read with a peek that reaches past the last word


class _Bits:
    """16-bit LE words, MSB first; raw byte access for uncompressed blocks."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0  # next byte to load
        self.buf = 0
        self.count = 0

    def peek(self, n: int) -> int:
        while self.count < n:
            word = self.data[self.pos : self.pos + 2]
            self.pos += 2
            self.buf = (self.buf << 16) | int.from_bytes(word.ljust(2, b"\0"), "little")
            self.count += 16
        return (self.buf >> (self.count - n)) & ((1 << n) - 1)

    def skip(self, n: int) -> None:
        self.peek(n)
        self.count -= n
        self.buf &= (1 << self.count) - 1
        if self.consumed() > len(self.data) * 8 + _SLACK_BITS:
            raise MalformedInput("lzx: compressed data ends early")

    def bits(self, n: int) -> int:
        if n == 0:
            return 0
        value = self.peek(n)
        self.skip(n)
        return value

    def consumed(self) -> int:
        return self.pos * 8 - self.count

    def align16(self) -> None:
        self.skip(self.count % 16)

    def raw(self, size: int) -> bytes:
        """Bytes at the current byte position; the bit buffer must be empty (after `to_bytes`)."""
        if self.pos + size > len(self.data):
            raise MalformedInput("lzx: uncompressed block runs past the end")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def to_bytes(self) -> None:
        """Uncompressed blocks start after 1-16 bits of padding to the next 16-bit boundary."""
        self.pos = (self.consumed() // 16 + 1) * 2
        self.buf = self.count = 0


class _Code:
    """A canonical Huffman code as a lookup table over the next `width` bits; None when all lengths are
    zero (allowed for a code the block never uses)."""

    def __init__(self, lengths: Sequence[int]) -> None:
        self.width = max(lengths, default=0)
        self.table: list[int] | None = None
        if self.width == 0:
            return
        if self.width > _MAX_LEN:
            raise MalformedInput("lzx: code length over 16")
        table = [0] * (1 << self.width)
        code = 0
        for length in range(1, self.width + 1):
            span = 1 << (self.width - length)
            for symbol, sym_len in enumerate(lengths):
                if sym_len == length:
                    start = code * span
                    if start + span > len(table):
                        raise MalformedInput("lzx: over-subscribed Huffman code")
                    table[start : start + span] = [symbol << 5 | length] * span
                    code += 1
            code <<= 1
        if code >> 1 != 1 << self.width:
            raise MalformedInput("lzx: incomplete Huffman code")
        self.table = table

    def decode(self, bits: _Bits) -> int:
        if self.table is None:
            raise MalformedInput("lzx: symbol from an empty code")
        entry = self.table[bits.peek(self.width)]
        bits.skip(entry & 0x1F)
        return entry >> 5


class LzxDecoder:
    def __init__(self, data: bytes, window_bits: int, reset_frames: int, tick: Callable[[], None]) -> None:
        if window_bits not in _SLOTS:
            raise MalformedInput(f"lzx: unsupported window of 2**{window_bits}")
        self.bits = _Bits(data)
        self.window_size = 1 << window_bits
        self.main_size = 256 + _SLOTS[window_bits] * 8
        self.reset_frames = reset_frames
        self.tick = tick
        self.window = bytearray()  # everything decoded, untranslated (matches read from here)
        self.intel_size = 0
        self.intel_started = False
        self._reset()

    def _reset(self) -> None:
        self.r = [1, 1, 1]
        self.main_lens = [0] * self.main_size
        self.length_lens = [0] * _LENGTHS
        self.header_read = False
        self.remaining = 0
        self.block_type = 0
        self.block_length = 0

    def decode(self, limit: int, out: bytearray) -> None:
        """Append up to `limit` bytes to `out`; what was decoded stays in `out` if we raise."""
        frame = 0
        while len(self.window) < limit:
            self.tick()
            if self.reset_frames and frame % self.reset_frames == 0:
                self._reset()
            if not self.header_read:
                self.intel_size = (self.bits.bits(16) << 16 | self.bits.bits(16)) if self.bits.bits(1) else 0
                self.header_read = True
            start = len(self.window)
            end = min(start + FRAME, limit)
            self._frame(end, final=end == limit)
            out += self._translated(frame, start, end)
            self.bits.align16()
            frame += 1

    def _frame(self, end: int, final: bool) -> None:
        while len(self.window) < end:
            if self.remaining == 0:
                self._block_header()
            before = len(self.window)
            if self.block_type == _UNCOMPRESSED:
                take = min(self.remaining, end - before)
                self.window += self.bits.raw(take)
            else:
                self._symbols(end, before + self.remaining)
            self.remaining -= len(self.window) - before
            if final and len(self.window) >= end:
                del self.window[end:]  # the caller wants no more: a match cut here is fine
                return
            if self.remaining < 0:
                raise MalformedInput("lzx: match runs past the end of its block")
        if len(self.window) > end:
            raise MalformedInput("lzx: match runs past the end of a frame")

    def _block_header(self) -> None:
        if self.block_type == _UNCOMPRESSED and self.block_length & 1:
            self.bits.raw(1)  # an odd-length uncompressed block is padded to 16 bits
        self.block_type = self.bits.bits(3)
        self.block_length = self.bits.bits(16) << 8 | self.bits.bits(8)
        self.remaining = self.block_length
        if self.block_type == _UNCOMPRESSED:
            self.intel_started = True
            self.bits.to_bytes()
            raw = self.bits.raw(12)
            self.r = [int.from_bytes(raw[i : i + 4], "little") for i in (0, 4, 8)]
            return
        if self.block_type not in (_VERBATIM, _ALIGNED_BLOCK):
            raise MalformedInput(f"lzx: bad block type {self.block_type}")
        if self.block_type == _ALIGNED_BLOCK:
            self.aligned = _Code([self.bits.bits(3) for _ in range(_ALIGNED)])
        self._read_lengths(self.main_lens, 0, 256)
        self._read_lengths(self.main_lens, 256, self.main_size)
        self.main = _Code(self.main_lens)
        if self.main.table is None:
            raise MalformedInput("lzx: empty main code")
        self.intel_started = self.intel_started or self.main_lens[0xE8] != 0
        self._read_lengths(self.length_lens, 0, _LENGTHS)
        self.lengths = _Code(self.length_lens)

    def _read_lengths(self, lens: list[int], first: int, last: int) -> None:
        """Delta-coded lengths through the pretree: 17/18 are runs of zeros, 19 a run of one delta."""
        pretree = _Code([self.bits.bits(4) for _ in range(_PRETREE)])
        x = first
        while x < last:
            z = pretree.decode(self.bits)
            if z in (17, 18):
                run = self.bits.bits(4) + 4 if z == 17 else self.bits.bits(5) + 20
                lens[x : x + run] = [0] * len(lens[x : x + run])
                x += run
                continue
            run = 1
            if z == 19:
                run = self.bits.bits(1) + 4
                z = pretree.decode(self.bits)
                if z > 16:
                    raise MalformedInput("lzx: bad pretree symbol after a repeat")
            value = (lens[min(x, last - 1)] - z) % 17
            lens[x : x + run] = [value] * len(lens[x : x + run])
            x += run

    def _symbols(self, end: int, block_end: int) -> None:
        bits, window = self.bits, self.window
        stop = min(end, block_end)
        while len(window) < stop:
            element = self.main.decode(bits)
            if element < 256:
                window.append(element)
                continue
            element -= 256
            length = element & 7
            if length == 7:
                length += self.lengths.decode(bits)
            self._copy(self._offset(element >> 3), length + 2)

    def _offset(self, slot: int) -> int:
        r = self.r
        if slot == 0:
            return r[0]
        if slot in (1, 2):
            offset = r[slot]
            r[slot] = r[0]
            r[0] = offset
            return offset
        extra = _EXTRA[slot]
        offset = _BASE[slot] - 2
        if self.block_type == _ALIGNED_BLOCK and extra >= 3:
            offset += (self.bits.bits(extra - 3) << 3) + self.aligned.decode(self.bits)
        else:
            offset += self.bits.bits(extra)
        r[2], r[1], r[0] = r[1], r[0], offset
        return offset

    def _copy(self, distance: int, length: int) -> None:
        window = self.window
        if distance <= 0 or distance > len(window) or distance > self.window_size:
            raise MalformedInput("lzx: match refers outside the window")
        start = len(window) - distance
        if distance >= length:
            window += window[start : start + length]
        else:
            window += (window[start:] * (length // distance + 1))[:length]

    def _translated(self, frame: int, start: int, end: int) -> bytes:
        chunk = bytearray(self.window[start:end])
        if not (self.intel_started and self.intel_size and frame < 32768 and len(chunk) > 10):
            return bytes(chunk)
        size = self.intel_size
        i = 0
        while i < len(chunk) - 10:
            if chunk[i] != 0xE8:
                i += 1
                continue
            absolute = int.from_bytes(chunk[i + 1 : i + 5], "little", signed=True)
            position = start + i
            if -position <= absolute < size:
                relative = absolute - position if absolute >= 0 else absolute + size
                chunk[i + 1 : i + 5] = (relative & 0xFFFFFFFF).to_bytes(4, "little")
            i += 5
        return bytes(chunk)
