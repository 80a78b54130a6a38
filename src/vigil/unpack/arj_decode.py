"""ARJ's two decoders: methods 1-3 (LZ77 with static Huffman blocks, LHA-style) and method 4 (LZ77 with
unary-prefixed lengths and pointers). Both write into a 26,624-byte window.

Methods 1-3 share one format (they differ only in how hard the compressor searched). Each block starts
with a 16-bit symbol count and three code-length tables: the "t" code (19 symbols) that codes the
literal/length lengths, the literal/length code (510 symbols: 0-255 literals, 256+ lengths from 3), and
the position code (17 symbols: a position's bit count). Codes are canonical, bits are read MSB first.

The output never grows past `limit`: the caller passes the declared size capped at the scan's budget, so a
lying header cannot make us produce more than that, and running out of input is an error, not zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vigil.errors import MalformedInput

WINDOW = 26624
_THRESHOLD = 3
_NC = 255 + 256 + 2 - _THRESHOLD  # literal/length symbols
_NP = 17  # position symbols (DICBIT + 1)
_NT = 19  # symbols of the code-length code
_CBIT, _PBIT, _TBIT = 9, 5, 5
_MAX_LEN = 16
_TICK = 1 << 14


class BitReader:
    """MSB-first bits from a byte string. Peeking past the end yields zeros, but consuming them is an
    error: a stream that needs bytes it does not have is truncated."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.buf = 0
        self.count = 0

    def peek(self, n: int) -> int:
        while self.count < n:
            byte = self.data[self.pos] if self.pos < len(self.data) else 0
            self.pos += 1
            self.buf = (self.buf << 8) | byte
            self.count += 8
        return (self.buf >> (self.count - n)) & ((1 << n) - 1)

    def skip(self, n: int) -> None:
        self.peek(n)
        self.count -= n
        self.buf &= (1 << self.count) - 1
        if self.pos * 8 - self.count > len(self.data) * 8:
            raise MalformedInput("arj: compressed data ends early")

    def bits(self, n: int) -> int:
        if n == 0:
            return 0
        value = self.peek(n)
        self.skip(n)
        return value


class Huffman:
    """A canonical code as a lookup table indexed by the next `width` bits; a code with no lengths is the
    degenerate one-symbol code that takes no bits (ARJ writes those as a count of 0 and the symbol)."""

    def __init__(self, lengths: Sequence[int], constant: int | None = None) -> None:
        self.constant = constant
        self.width = max(lengths, default=0)
        self.table: list[int] = []
        if constant is not None:
            return
        if self.width == 0 or self.width > _MAX_LEN:
            raise MalformedInput("arj: empty or over-long Huffman code")
        self.table = _canonical_table(lengths, self.width)

    def decode(self, bits: BitReader) -> int:
        if self.constant is not None:
            return self.constant
        entry = self.table[bits.peek(self.width)]
        bits.skip(entry & 0x1F)
        return entry >> 5


def _canonical_table(lengths: Sequence[int], width: int) -> list[int]:
    """Codes in (length, symbol) order; an over-subscribed or incomplete code is malformed."""
    table = [0] * (1 << width)
    code = 0
    for length in range(1, width + 1):
        for symbol, sym_len in enumerate(lengths):
            if sym_len != length:
                continue
            span = 1 << (width - length)
            start = code << (width - length)
            if start + span > len(table):
                raise MalformedInput("arj: over-subscribed Huffman code")
            table[start : start + span] = [symbol << 5 | length] * span
            code += 1
        code <<= 1
    if code >> 1 != 1 << width:
        raise MalformedInput("arj: incomplete Huffman code")
    return table


def _constant(symbol: int, count: int) -> Huffman:
    if symbol >= count:
        raise MalformedInput("arj: one-symbol code names no symbol")
    return Huffman([], constant=symbol)


def _read_pt_len(bits: BitReader, count: int, nbit: int, special: int) -> Huffman:
    n = bits.bits(nbit)
    if n == 0:
        return _constant(bits.bits(nbit), count)
    if n > count:
        raise MalformedInput("arj: too many code lengths")
    lengths = [0] * count
    i = 0
    while i < n:
        length = bits.bits(3)
        if length == 7:
            while bits.bits(1):
                length += 1
                if length > _MAX_LEN:
                    raise MalformedInput("arj: code length over 16")
        lengths[i] = length
        i += 1
        if i == special:
            i += bits.bits(2)  # that many zero lengths
    return Huffman(lengths)


def _zero_run(bits: BitReader, c: int) -> int:
    """Symbols 0-2 of the "t" code are runs of zero lengths: 1, 3-18 or 20-531."""
    if c == 0:
        return 1
    if c == 1:
        return bits.bits(4) + 3
    return bits.bits(_CBIT) + 20


def _read_c_len(bits: BitReader, pt: Huffman) -> Huffman:
    n = bits.bits(_CBIT)
    if n == 0:
        return _constant(bits.bits(_CBIT), _NC)
    if n > _NC:
        raise MalformedInput("arj: too many literal/length code lengths")
    lengths = [0] * _NC
    i = 0
    while i < n:
        c = pt.decode(bits)
        if c > 2:
            lengths[i] = c - 2
            i += 1
            continue
        i += _zero_run(bits, c)
    if i > _NC:
        raise MalformedInput("arj: zero run past the code")
    return Huffman(lengths)


def _copy(out: bytearray, distance: int, length: int) -> None:
    if distance > len(out) or distance > WINDOW:
        raise MalformedInput("arj: back-reference before the start of the file")
    start = len(out) - distance
    if distance >= length:
        out += out[start : start + length]
        return
    pattern = out[start:]  # an overlapping copy repeats the last `distance` bytes
    out += (pattern * (length // distance + 1))[:length]


def decode_huffman(data: bytes, limit: int, tick: Callable[[], None], out: bytearray) -> None:
    """Methods 1-3: at most `limit` bytes into `out` (which keeps what was decoded if we raise)."""
    bits = BitReader(data)
    remaining = 0
    c_code = p_code = Huffman([], constant=0)
    steps = 0
    while len(out) < limit:
        if remaining == 0:
            remaining = bits.bits(16) or 0x10000
            t_code = _read_pt_len(bits, _NT, _TBIT, 3)
            c_code = _read_c_len(bits, t_code)
            p_code = _read_pt_len(bits, _NP, _PBIT, -1)
        remaining -= 1
        steps += 1
        if steps % _TICK == 0:
            tick()
        c = c_code.decode(bits)
        if c < 256:
            out.append(c)
            continue
        p = p_code.decode(bits)
        if p > 1:
            p = (1 << (p - 1)) + bits.bits(p - 1)
        _copy(out, p + 1, c - 256 + _THRESHOLD)
    del out[limit:]


def _unary_width(bits: BitReader, start: int, stop: int) -> tuple[int, int]:
    """Method 4's prefix: each 1 bit widens the field by one and adds 2**width to the base."""
    width, base = start, 0
    while width < stop and bits.bits(1):
        base += 1 << width
        width += 1
    return width, base


def decode_fastest(data: bytes, limit: int, tick: Callable[[], None], out: bytearray) -> None:
    """Method 4: a length prefix (0 = literal), then a pointer of 9-12 bits plus its base."""
    bits = BitReader(data)
    steps = 0
    while len(out) < limit:
        steps += 1
        if steps % _TICK == 0:
            tick()
        width, base = _unary_width(bits, 0, 7)
        length = bits.bits(width) + base
        if length == 0:
            out.append(bits.bits(8))
            continue
        width, base = _unary_width(bits, 9, 13)
        _copy(out, bits.bits(width) + base + 1, length - 1 + _THRESHOLD)
    del out[limit:]
