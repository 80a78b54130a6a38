"""Zip compression methods Python's zlib cannot read: implode (6) and deflate64 (9).

Implode (PKZIP 1.x) is decoded here in pure Python: Shannon-Fano trees, a 4 or 8 KiB window, no end
marker, so the member's declared size says when to stop; we stop earlier at the byte budget and never
allocate from a header. Deflate64 uses the `inflate64` C extension, so it runs in an isolated worker
(`vigil.unpack.isolated`) fed a kilobyte at a time: one kilobyte of deflate64 expands to at most ~30 MB,
so the worker's memory stays bounded while it checks the budget after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import ScanContext
from vigil.unpack.isolated import default_pool
from vigil.unpack.isolated_worker import KIND_FILE, Channel, JobMalformed

_LITERAL_TREE, _BIG_WINDOW = 0x4, 0x2
_INPUT_STEP = 1024
_CHECK_EVERY = 1 << 16

#: (decoded bytes, complete?) from a member's raw bytes, its general-purpose flags and declared size.
Decoder = Callable[[bytes, int, int, ScanContext], tuple[bytes, bool]]


class _Bits:
    """LSB-first bit reader; reading past the end yields zero bits and sets `overrun`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._buf = 0
        self._count = 0
        self.overrun = False

    def peek(self, n: int) -> int:
        while self._count < n:
            if self._pos < len(self._data):
                self._buf |= self._data[self._pos] << self._count
                self._pos += 1
            else:
                self.overrun = True
            self._count += 8
        return self._buf & ((1 << n) - 1)

    def skip(self, n: int) -> None:
        self._buf >>= n
        self._count -= n

    def read(self, n: int) -> int:
        value = self.peek(n)
        self.skip(n)
        return value


class _Tree:
    """A Shannon-Fano code as a lookup table indexed by the next `width` bits of the stream."""

    def __init__(self, lengths: list[int]) -> None:
        self.width = max(lengths)
        self.table: list[tuple[int, int]] = [(-1, 0)] * (1 << self.width)
        order = sorted(range(len(lengths)), key=lambda v: (lengths[v], v))
        code, increment, last = 0, 0, 0
        for value in reversed(order):  # PKWARE's construction: longest codes first, counting up from 0
            code += increment
            if lengths[value] != last:
                last = lengths[value]
                increment = 1 << (16 - last)
            self._place(value, (code >> (16 - last)) & ((1 << last) - 1), last)
        if code + increment != 1 << 16:
            raise MalformedInput("implode: Shannon-Fano lengths do not form a complete code")

    def _place(self, value: int, code: int, length: int) -> None:
        reversed_code = int(f"{code:0{length}b}"[::-1], 2)
        for high in range(1 << (self.width - length)):
            self.table[reversed_code | (high << length)] = (value, length)

    def decode(self, bits: _Bits) -> int:
        value, length = self.table[bits.peek(self.width)]
        bits.skip(length)
        return value


def _read_tree(data: bytes, pos: int, size: int) -> tuple[_Tree, int]:
    """A tree description: count-1, then bytes of (run-1 << 4 | bit length-1)."""
    if pos >= len(data):
        raise MalformedInput("implode: truncated tree")
    count = data[pos] + 1
    raw = data[pos + 1 : pos + 1 + count]
    if len(raw) < count:
        raise MalformedInput("implode: truncated tree")
    lengths: list[int] = []
    for byte in raw:
        lengths += [(byte & 0xF) + 1] * ((byte >> 4) + 1)
    if len(lengths) != size:
        raise MalformedInput(f"implode: tree has {len(lengths)} codes, expected {size}")
    return _Tree(lengths), pos + 1 + count


def explode(raw: bytes, flags: int, usize: int, ctx: ScanContext) -> tuple[bytes, bool]:
    """Decode an imploded member, stopping at its declared size or the budget, whichever is first."""
    budget = ctx.remaining_bytes()
    pos = 0
    literal = None
    if flags & _LITERAL_TREE:
        literal, pos = _read_tree(raw, pos, 256)
    length_tree, pos = _read_tree(raw, pos, 64)
    distance_tree, pos = _read_tree(raw, pos, 64)
    out = bytearray()
    target = min(usize, budget + 1)
    for _ in _steps(_Bits(raw[pos:]), out, target, flags, (literal, length_tree, distance_tree)):
        ctx.check_time()
    if len(out) > budget:
        ctx.charge_bytes(len(out))  # raises the binding limit
    return bytes(out[:usize]), len(out) >= usize


def _steps(
    bits: _Bits, out: bytearray, target: int, flags: int, trees: tuple[_Tree | None, _Tree, _Tree]
) -> Iterator[None]:
    """The explode loop; yields every so often so the caller can check the clock."""
    literal, length_tree, distance_tree = trees
    low_bits = 7 if flags & _BIG_WINDOW else 6
    min_match = 3 if literal is not None else 2
    while len(out) < target and not bits.overrun:
        if bits.read(1):
            out.append(literal.decode(bits) if literal is not None else bits.read(8))
        else:
            low = bits.read(low_bits)
            distance = ((distance_tree.decode(bits) << low_bits) | low) + 1
            length = length_tree.decode(bits)
            if length == 63:
                length += bits.read(8)
            _copy_match(out, distance, min(length + min_match, target - len(out)))
        if len(out) & (_CHECK_EVERY - 1) < 2:
            yield


def _copy_match(out: bytearray, distance: int, length: int) -> None:
    """Copy from `distance` back; positions before the start of the member read as zeros (as PKZIP)."""
    start = len(out) - distance
    if start < 0:
        zeros = min(-start, length)
        out += bytes(zeros)
        length -= zeros
        start = len(out) - distance
    while length > 0:
        chunk = bytes(out[start : start + min(length, distance)])
        out += chunk
        length -= len(chunk)


def deflate64_job(data: bytes, params: str, chan: Channel) -> None:
    """Worker side: inflate64 in 1 KiB input steps, at most budget + 1 bytes out."""
    import inflate64  # imported in the worker: the C extension never runs in the scanning process

    budget = chan.offer("deflate64", -1, KIND_FILE, False)
    if budget is None:
        return
    inflater = inflate64.Inflater()
    out = bytearray()
    try:
        for pos in range(0, len(data), _INPUT_STEP):
            out += inflater.inflate(data[pos : pos + _INPUT_STEP])
            if len(out) > budget:
                chan.member(b"", complete=False, over_budget=True)
                return
            if inflater.eof:
                break
    except ValueError as exc:
        chan.member(out, complete=False, over_budget=False)
        raise JobMalformed(f"deflate64: {exc}") from None
    chan.member(out, complete=inflater.eof, over_budget=False)


def inflate_deflate64(raw: bytes, flags: int, usize: int, ctx: ScanContext) -> tuple[bytes, bool]:
    """Decode a deflate64 member in an isolated worker; a damaged stream yields what came out of it."""
    children = default_pool().run("deflate64", "", raw, ctx, "", charge=False)
    body = b""
    try:
        for child in children:
            body = bytes(child.data)
    except MalformedInput:
        return body, False
    return body, True


#: Zip compression method -> decoder, for the methods zip.py does not decode with the standard library.
DECODERS: dict[int, Decoder] = {6: explode, 9: inflate_deflate64}


def _load_inflate64() -> None:
    import inflate64  # noqa: F401 - loaded before the worker locks down


WORKER_SETUP = _load_inflate64
