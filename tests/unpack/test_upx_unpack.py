"""UPX: the NRV2 decoders, the rebuilt PE of ClamAV's clam-upx.exe, and hostile streams."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack import nrv2
from vigil.unpack.pe_format import parse_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
CLAM_CODE = bytes.fromhex(
    "bb7110400033c050508bf3535350b02940300466ac79f9ba3100780dad50ff66700e1fbe3100e9e5ffb409cd21"
)


class _BitWriter:
    """NRV2B's container: 32-bit little-endian words filled MSB first, bytes interleaved in order."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.word_at = -1
        self.used = 32

    def bit(self, value: int) -> None:
        if self.used == 32:
            self.word_at = len(self.out)
            self.out += bytes(4)
            self.used = 0
        word = int.from_bytes(self.out[self.word_at : self.word_at + 4], "little")
        word |= value << (31 - self.used)
        self.out[self.word_at : self.word_at + 4] = word.to_bytes(4, "little")
        self.used += 1

    def gamma(self, value: int) -> None:
        bits = bin(value)[3:]
        for index, b in enumerate(bits):
            self.bit(int(b))
            self.bit(1 if index == len(bits) - 1 else 0)


def nrv2b_encode(data: bytes, repeat_last: int = 0) -> bytes:
    """Literals, then (optionally) one match repeating the last byte `repeat_last` times, then the end."""
    w = _BitWriter()
    for byte in data:
        w.bit(1)
        w.out.append(byte)
    if repeat_last >= 3:
        w.bit(0)
        w.gamma(3)  # offset code 3 -> offset byte follows
        w.out.append(0)  # offset (3-3)*256 + 0 + 1 = 1
        w.bit(0)
        w.bit(0)  # length code 0 -> gamma follows
        w.gamma(repeat_last - 3)  # copies gamma + 2 + 1 bytes
    w.bit(0)
    w.gamma(0x1000002)
    w.out.append(0xFF)
    return bytes(w.out)


def test_nrv2b_round_trip_literals_and_overlapping_match() -> None:
    packed = nrv2b_encode(b"hello", repeat_last=10)
    out, used = nrv2.decompress("nrv2b", packed, 1 << 16)
    assert out == b"hello" + b"o" * 10
    assert used == len(packed)


def test_nrv2b_budget_stops_a_bomb() -> None:
    packed = nrv2b_encode(b"A", repeat_last=1_000_000)
    with pytest.raises(nrv2.OverBudget) as info:
        nrv2.decompress("nrv2b", packed, 4096)
    assert len(info.value.partial) <= 4096


def test_nrv2b_truncated_stream_keeps_partial_output() -> None:
    packed = nrv2b_encode(b"abcdefgh" * 8)
    with pytest.raises(nrv2.Truncated) as info:
        nrv2.decompress("nrv2b", packed[: len(packed) // 2], 1 << 16)
    assert info.value.partial and b"abcdefgh".startswith(info.value.partial[:8])


def _upx_elf(blocks: list[tuple[int, bytes, int]]) -> bytes:
    head = b"\x7fELF" + bytes(0x60)
    info = b"\0\0\0\0UPX!" + bytes(4) + bytes(12)  # l_info (checksum, magic, ...) and p_info
    body = b"".join(
        struct.pack("<IIBBBB", usize, len(packed), method, 0, 0, 0) + packed
        for usize, packed, method in blocks
    )
    return head + info + body + bytes(12)


def test_upx_elf_blocks_are_decoded_in_order() -> None:
    first, second = b"\x7fELF" + b"F" * 200, b"stored block"
    data = _upx_elf([(len(first), nrv2b_encode(b"\x7fELF", repeat_last=200), 2), (len(second), second, 2)])
    (child,) = unpack(data, FileType.ELF, "packed.elf")
    assert bytes(child.data) == first + second


def test_upx_magic_past_the_header_page_is_an_ordinary_elf() -> None:
    """Only the stub's header page holds UPX's l_info; the string deeper in is program data."""
    packed = _upx_elf([(8, b"stored!!", 2)])
    assert unpack(packed, FileType.ELF, "packed.elf")
    late = packed[:4] + bytes(0x1000) + packed[4:]
    assert unpack(late, FileType.ELF, "late.elf") == []


def test_upx_elf_lying_block_size_is_malformed() -> None:
    data = _upx_elf([(10, b"x" * 10, 2)]).replace(struct.pack("<II", 10, 10), struct.pack("<II", 10, 99999))
    with pytest.raises(MalformedInput):
        unpack(data, FileType.ELF)


@needs_files
def test_clam_upx_rebuilds_a_pe_with_clam_code() -> None:
    (child,) = unpack((FILES / "clam-upx.exe").read_bytes(), FileType.MSEXE, "clam-upx.exe")
    assert child.name == "upx-nrv2b.exe"
    # clam.exe itself sits in the unpacked image; the image's own scan carves it as an embedded PE
    (embedded,) = unpack(bytes(child.data), FileType.MSEXE, "upx-nrv2b.exe")
    assert bytes(embedded.data) == (FILES / "clam.exe").read_bytes()
    image = bytes(child.data)
    assert CLAM_CODE in image
    view = parse_pe(image)
    assert view is not None and view.sections[0].rva == 0x1000
    assert view.section_at(view.entry_rva) is not None


@needs_files
def test_clam_upx_truncated_every_tenth_ends_cleanly() -> None:
    data = (FILES / "clam-upx.exe").read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 10)):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data[:cut], FileType.MSEXE)


@needs_files
def test_clam_upx_under_a_small_budget_reports_the_limit() -> None:
    ctx = ScanContext(ScanLimits(max_filesize=2048, max_scansize=2048))
    data = (FILES / "clam-upx.exe").read_bytes()
    with pytest.raises(LimitExceeded):
        unpack(data, FileType.MSEXE, ctx=ctx)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(nrv2.METHODS), st.binary(max_size=400))
def test_fuzz_nrv2(method: str, data: bytes) -> None:
    try:
        out, used = nrv2.decompress(method, data, 1 << 16)
    except nrv2.Truncated as exc:
        assert len(exc.partial) <= 1 << 16
    else:
        assert used <= len(data) and len(out) <= 1 << 16
