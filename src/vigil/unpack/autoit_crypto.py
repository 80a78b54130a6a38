"""The keystreams and the LZ decoder of compiled AutoIt scripts (EA05 and EA06).

EA05 XORs with bytes of MT19937 (`init_genrand(seed)`, each output shifted right by one, low byte).
EA06 XORs with a lagged-Fibonacci generator ("LAME"): 17 words seeded by `s = 1 - s * 0x53A9B4FB`,
each step `w[i] = rol(w[i], 9) + rol(w[j], 13)` with both indices walking down mod 17 from (0, 10),
nine steps of warm-up, and one key byte = top byte of every second step. Both compress with the same
LZ77 scheme: literal flag bit (1 for EA06, 0 for EA05), else a 15-bit distance and a length whose code
grows in 2/3/5/8-bit steps, MSB-first over the bytes, after a `EA0x` + big-endian size header.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

_MASK = 0xFFFFFFFF
_LAME_MUL = 0x53A9B4FB


def _mt_state(seed: int) -> list[int]:
    state = [seed & _MASK]
    for i in range(1, 624):
        last = state[-1]
        state.append((0x6C078965 * (last ^ (last >> 30)) + i) & _MASK)
    return state


def mt_keystream(seed: int, size: int) -> bytes:
    """`size` key bytes of EA05's generator; CPython's C Mersenne Twister does the work."""
    if size <= 0:
        return b""
    rng = random.Random()  # noqa: S311 - reproduces the format's fixed keystream, not a secret
    rng.setstate((3, (*_mt_state(seed), 624), None))
    words = rng.getrandbits(32 * size).to_bytes(4 * size, "little")
    low, high = words[0::4], words[1::4]  # (word >> 1) & 0xFF mixes the two low bytes
    mixed = (int.from_bytes(low, "big") >> 1) & int.from_bytes(b"\x7f" * size, "big")
    shifted = bytes(((b << 7) & 0x80) for b in high)
    return (mixed | int.from_bytes(shifted, "big")).to_bytes(size, "big")


def _rol(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & _MASK


def lame_keystream(seed: int, size: int) -> bytes:
    words = []
    for _ in range(17):
        seed = (1 - seed * _LAME_MUL) & _MASK
        words.append(seed)
    i, j = 0, 10
    out = bytearray()
    for step in range(9 + 2 * size):
        rolled = (_rol(words[i], 9) + _rol(words[j], 13)) & _MASK
        words[i] = rolled
        i = i - 1 if i else 16
        j = j - 1 if j else 16
        if step >= 9 and (step - 9) % 2 == 1:
            out.append(rolled >> 24)
    return bytes(out)


def xor(data: bytes, key: bytes) -> bytes:
    return (int.from_bytes(data, "little") ^ int.from_bytes(key[: len(data)], "little")).to_bytes(
        len(data), "little"
    )


class _MsbBits:
    __slots__ = ("buf", "count", "data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.buf = 0
        self.count = 0

    def take(self, n: int) -> int:
        while self.count < n:
            if self.pos >= len(self.data):
                raise IndexError("compressed stream exhausted")
            self.buf = (self.buf << 8) | self.data[self.pos]
            self.pos += 1
            self.count += 8
        self.count -= n
        value = self.buf >> self.count
        self.buf &= (1 << self.count) - 1
        return value


_LENGTH_STEPS = ((2, 0), (3, 3), (5, 10), (8, 41))


def _length(bits: _MsbBits) -> int:
    extra = 0
    for width, base in _LENGTH_STEPS:
        code = bits.take(width)
        extra = base
        if code != (1 << width) - 1:
            return code + extra + 3
    extra = 296
    while (code := bits.take(8)) == 255:
        extra += 255
    return code + extra + 3


def decompress(data: bytes, ea06: bool, budget: int, tick: Callable[[], None]) -> bytes:
    """The decompressed bytes; ValueError/IndexError on a stream that lies (caller maps them)."""
    if len(data) < 8 or data[:4] not in (b"EA05", b"EA06", b"JB00"):
        raise ValueError("no EA05/EA06 compression header")
    (size,) = struct.unpack_from(">I", data, 4)
    if size > budget:
        raise OverflowError(f"declared {size} bytes exceeds the budget")
    bits = _MsbBits(data[8:])
    out = bytearray()
    literal = 1 if ea06 else 0
    rounds = 0
    while len(out) < size:
        if bits.take(1) == literal:
            out.append(bits.take(8))
            continue
        distance = bits.take(15)
        length = _length(bits)
        if distance == 0 or distance > len(out):
            raise ValueError("back-reference before the start")
        start = len(out) - distance
        for k in range(min(length, size - len(out))):
            out.append(out[start + k])
        rounds += 1
        if rounds % 4096 == 0:
            tick()
    return bytes(out)
