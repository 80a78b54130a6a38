"""ARJ against hostile input: hand-built archives that lie, truncate, bomb, and a fuzz smoke run."""

from __future__ import annotations

import contextlib
import struct
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import row, rows, unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.arj import ArjUnpacker
from vigil.unpack.arj_decode import decode_fastest, decode_huffman


def header(name: str, *, method: int = 0, ftype: int = 0, csize: int = 0, usize: int = 0, crc: int = 0,
           flags: int = 0, crc_ok: bool = True) -> bytes:
    fixed = struct.pack(
        "<BBBBBBBBIIIIHHH", 30, 11, 1, 2, flags, method, ftype, 0, 0, csize, usize, crc, 0, 0, 0
    )
    basic = fixed + name.encode() + b"\0" + b"\0"
    check = zlib.crc32(basic) ^ (0 if crc_ok else 1)
    return b"\x60\xea" + struct.pack("<H", len(basic)) + basic + struct.pack("<IH", check, 0)


def member(name: str, payload: bytes, body: bytes | None = None, method: int = 0, **lie: int) -> bytes:
    body = payload if body is None else body
    fields = {"csize": len(body), "usize": len(payload), "crc": zlib.crc32(payload)} | lie
    return header(name, method=method, csize=fields["csize"], usize=fields["usize"], crc=fields["crc"]) + body


def arj_bytes(files: list[tuple[str, bytes]], end: bool = True) -> bytes:
    """A stored-only archive: main header, members, end marker."""
    out = header("t.arj", ftype=2) + b"".join(member(name, data) for name, data in files)
    return out + (b"\x60\xea\0\0" if end else b"")


class Bits:
    """MSB-first bit writer for method 4 streams."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, width: int) -> None:
        self.bits += [(value >> (width - 1 - i)) & 1 for i in range(width)]

    def bytes(self) -> bytes:
        padded = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, padded[i : i + 8])), 2) for i in range(0, len(padded), 8))


def fastest_run(byte: int, matches: int) -> bytes:
    """Method 4: one literal, then `matches` copies of 256 bytes at distance 1 (85:1)."""
    bits = Bits()
    bits.put(0, 1)
    bits.put(byte, 8)
    for _ in range(matches):
        bits.put(0b1111111, 7)  # length prefix: width 7, base 127
        bits.put(127, 7)  # 127 + 127 = 254 -> a match of 254 - 1 + 3 = 256 bytes
        bits.put(0, 1)  # pointer prefix: width 9, base 0
        bits.put(0, 9)  # distance 1
    return bits.bytes()


def run(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    """Children produced before the unpacker stopped, and how it stopped."""
    out: list[Child] = []
    try:
        layer = Layer(data, "t.arj", FileType.ARJ, 0)
        out.extend(ArjUnpacker().children(layer, ctx or ScanContext(ScanLimits())))
    except (MalformedInput, LimitExceeded) as exc:
        return out, exc
    return out, None


def test_hand_built_stored_archive() -> None:
    files = [("a.txt", b"hello arj"), ("dir\\b.bin", bytes(range(256)))]
    expected = [row("a.txt", b"hello arj"), row("dir/b.bin", bytes(range(256)))]
    assert rows(unpack(arj_bytes(files), FileType.ARJ)) == expected


def test_method4_run_decodes_to_the_repeated_byte() -> None:
    out = bytearray()
    decode_fastest(fastest_run(0x41, 4), 1 + 4 * 256, lambda: None, out)
    assert out == b"A" * (1 + 4 * 256)


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    data = arj_bytes([("a", b"A" * 300), ("b", b"B" * 300)])
    data = data[: len(data) * tenth // 10]
    started = time.monotonic()
    children, stopped = run(data)
    assert isinstance(stopped, MalformedInput)
    assert all(bytes(c.data) in (b"A" * 300, b"B" * 300) or len(c.data) < 300 for c in children)
    assert time.monotonic() - started < 1


def test_bad_header_crc_stops_the_walk_after_good_members() -> None:
    lying = header("b", csize=5, usize=5, crc_ok=False) + b"x" * 5
    data = header("t.arj", ftype=2) + member("a", b"first") + lying
    children, stopped = run(data)
    assert [c.name for c in children] == ["a"]
    assert isinstance(stopped, MalformedInput) and "CRC" in str(stopped)


def test_lying_compressed_size_is_cut_at_the_end_of_the_file() -> None:
    data = header("t.arj", ftype=2) + member("a", b"short", csize=1 << 30)
    children, stopped = run(data)
    assert [bytes(c.data) for c in children] == [b"short"]
    assert isinstance(stopped, MalformedInput)


def test_lying_small_original_size_bounds_the_output() -> None:
    body = fastest_run(0, 10_000)  # 2.5 MB of zeros if believed
    data = header("t.arj", ftype=2) + member("bomb", b"\0" * 100, body=body, method=4) + b"\x60\xea\0\0"
    children, stopped = run(data)
    assert [len(c.data) for c in children] == [100]
    assert stopped is None  # the first 100 bytes are what the header promised, and the CRC matches


def test_huge_declared_size_is_refused_before_decoding() -> None:
    data = header("t.arj", ftype=2) + member("bomb", b"", body=fastest_run(0, 50), method=4, usize=1 << 31)
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    children, stopped = run(data, ctx)
    assert children == []
    assert isinstance(stopped, LimitExceeded) and stopped.limit == "MaxFileSize"
    assert ctx.scanned_bytes == 0


def test_bomb_within_the_declared_size_is_fast_and_charged() -> None:
    size = 1 + 40_000 * 256  # 10 MB from 120 KB
    data = header("t.arj", ftype=2) + member("bomb", b"\0" * size, body=fastest_run(0, 40_000), method=4)
    started = time.monotonic()
    ctx = ScanContext(ScanLimits(max_scansize=4 << 20, max_filesize=0))
    children, stopped = run(data, ctx)
    assert children == [] and isinstance(stopped, LimitExceeded) and stopped.limit == "MaxScanSize"
    ctx = ScanContext(ScanLimits())
    children, stopped = run(data + b"\x60\xea\0\0", ctx)
    assert [len(c.data) for c in children] == [size] and stopped is None
    assert ctx.scanned_bytes == size
    assert time.monotonic() - started < 5


def test_back_reference_before_the_start_is_malformed() -> None:
    bits = Bits()
    bits.put(0b10, 2)  # length prefix width 1
    bits.put(0, 1)  # length 1 -> 3 bytes
    bits.put(0, 1)
    bits.put(5, 9)  # distance 6 with no output yet
    out = bytearray()
    with pytest.raises(MalformedInput):
        decode_fastest(bits.bytes(), 3, lambda: None, out)


def test_no_main_header_is_malformed() -> None:
    with pytest.raises(MalformedInput):
        unpack(b"\x60\xea\xff\xff" + b"\0" * 100, FileType.ARJ)
    with pytest.raises(MalformedInput):
        unpack(b"MZ" + b"\0" * 100, FileType.ARJSFX)


def test_sfx_main_header_is_found_after_a_stub() -> None:
    data = b"MZ" + b"\x60\xea junk" * 10 + arj_bytes([("a.txt", b"in the sfx")])
    assert rows(unpack(data, FileType.ARJSFX)) == [row("a.txt", b"in the sfx")]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), method=st.integers(1, 4), usize=st.integers(0, 5000))
def test_decoder_fuzz_smoke(body: bytes, method: int, usize: int) -> None:
    data = header("t.arj", ftype=2) + member("f", b"", body=body, method=method, usize=usize, crc=0)
    children, stopped = run(data)
    assert all(len(c.data) <= usize for c in children)
    assert stopped is None or isinstance(stopped, MalformedInput)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), cut=st.integers(0, 400))
def test_archive_fuzz_smoke(data: bytes, cut: int) -> None:
    good = arj_bytes([("a", b"payload")])
    children, stopped = run(good[:cut] + data)
    assert stopped is None or isinstance(stopped, MalformedInput)
    assert len(children) <= 1 + len(data) // 40  # a member needs at least a header
    out = bytearray()
    with contextlib.suppress(MalformedInput):
        decode_huffman(data, 2000, lambda: None, out)
    assert len(out) <= 2000
