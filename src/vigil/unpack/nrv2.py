"""UCL's NRV2B, NRV2D and NRV2E decoders (the algorithms UPX uses), pure Python, bounded by a byte budget.

The bit stream is read from 32-bit little-endian words, most significant bit first (UPX's i386 stubs
refill with `mov ebx,[esi]; adc ebx,ebx`). Literals and matches interleave; a match offset is built
from a gamma code plus one byte, and the offset 0xFFFFFFFF ends the stream. The three variants differ
only in how offset and length codes are split, so they share the literal/copy machinery here.
Everything that does not add up (a reference before the start, input that runs out, output past the
budget) stops the decoder: a truncated stream raises `Truncated` carrying what was decoded so far.
"""

from __future__ import annotations

from collections.abc import Callable

_END = 0xFFFFFFFF
_MAX_GAMMA = 1 << 32


class Truncated(ValueError):
    """The stream ended, lied or overran its budget; `partial` is the output decoded before that."""

    def __init__(self, message: str, partial: bytes) -> None:
        super().__init__(message)
        self.partial = partial


class OverBudget(Truncated):
    """The stream would produce more than the caller's budget."""


class _Bits:
    """MSB-first bits out of little-endian 32-bit words, interleaved with whole bytes."""

    __slots__ = ("data", "left", "pos", "word")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.word = 0
        self.left = 0

    def bit(self) -> int:
        if self.left == 0:
            if self.pos + 4 > len(self.data):
                raise IndexError("bit stream exhausted")
            self.word = int.from_bytes(self.data[self.pos : self.pos + 4], "little")
            self.pos += 4
            self.left = 32
        self.left -= 1
        return (self.word >> self.left) & 1

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def gamma(self, value: int = 1) -> int:
        """Elias-gamma style code shared by all variants (NRV2B offsets and lengths)."""
        while True:
            value = value * 2 + self.bit()
            if value >= _MAX_GAMMA:
                raise ValueError("gamma code overflow")
            if self.bit():
                return value


def _offset_2b(bits: _Bits) -> tuple[int, int | None]:
    """(raw offset code, length seed or None); NRV2B carries no length bit in the offset."""
    return bits.gamma(), None


def _offset_2de(bits: _Bits) -> tuple[int, int | None]:
    value = 1
    while True:
        value = value * 2 + bits.bit()
        if value >= _MAX_GAMMA:
            raise ValueError("offset code overflow")
        if bits.bit():
            return value, 0
        value = (value - 1) * 2 + bits.bit()


def _len_2b(bits: _Bits, seed: int) -> int:
    length = bits.bit() * 2 + bits.bit()
    if length == 0:
        length = bits.gamma() + 2
    return length


def _len_2d(bits: _Bits, seed: int) -> int:
    length = seed * 2 + bits.bit()
    if length == 0:
        length = bits.gamma() + 2
    return length


def _len_2e(bits: _Bits, seed: int) -> int:
    if seed:
        return 1 + bits.bit()
    if bits.bit():
        return 3 + bits.bit()
    return bits.gamma() + 3


class _Variant:
    def __init__(
        self,
        offset: Callable[[_Bits], tuple[int, int | None]],
        length: Callable[[_Bits, int], int],
        far: int,
        low_bit_length: bool,
    ) -> None:
        self.offset = offset
        self.length = length
        self.far = far  # offsets beyond this get one more byte of match length
        self.low_bit_length = low_bit_length  # 2D/2E: the offset byte's low bit seeds the length


_VARIANTS = {
    "nrv2b": _Variant(_offset_2b, _len_2b, 0xD00, False),
    "nrv2d": _Variant(_offset_2de, _len_2d, 0x500, True),
    "nrv2e": _Variant(_offset_2de, _len_2e, 0x500, True),
}
METHODS = tuple(_VARIANTS)


def _match(bits: _Bits, variant: _Variant, last: int) -> tuple[int, int, int] | None:
    """(offset, length, new last offset) of the next match, or None at the end marker."""
    code, seed = variant.offset(bits)
    if code == 2:
        offset = last
        seed = bits.bit() if variant.low_bit_length else 0
    else:
        raw = (code - 3) * 256 + bits.byte()
        if raw == _END:
            return None
        if raw > _END:
            raise ValueError("offset out of range")
        if variant.low_bit_length:
            seed = (raw ^ _END) & 1
            raw >>= 1
        offset = last = raw + 1
    length = variant.length(bits, seed or 0)
    return offset, length + (offset > variant.far) + 1, last


def decompress(
    method: str, data: bytes, budget: int, start: int = 0, tick: Callable[[], None] | None = None
) -> tuple[bytes, int]:
    """(output, input bytes consumed) of one complete stream; raises Truncated on anything else."""
    variant = _VARIANTS[method]
    bits = _Bits(data, start)
    out = bytearray()
    last = 1
    rounds = 0
    try:
        while True:
            while bits.bit():
                out.append(bits.byte())
            if len(out) > budget:
                raise OverBudget(f"{method}: output budget of {budget} bytes exceeded", bytes(out[:budget]))
            found = _match(bits, variant, last)
            if found is None:
                return bytes(out), bits.pos - start
            offset, length, last = found
            if offset > len(out):
                raise ValueError("match reaches before the start of the output")
            if len(out) + length > budget:
                raise OverBudget(f"{method}: output budget of {budget} bytes exceeded", bytes(out))
            _copy(out, offset, length)
            rounds += 1
            if tick is not None and rounds % 4096 == 0:
                tick()
    except OverBudget:
        raise
    except (IndexError, ValueError) as exc:
        raise Truncated(f"{method}: {exc}", bytes(out[:budget])) from None


def _copy(out: bytearray, offset: int, length: int) -> None:
    src = len(out) - offset
    if offset >= length:
        out += out[src : src + length]
        return
    for i in range(length):  # overlapping copy repeats the bytes it has just written
        out.append(out[src + i])
