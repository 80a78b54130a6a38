"""WWPack32: the block decoder on hand-made streams, ClamAV's rebuilt file byte for byte, hostile records."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packer_helpers import (
    FILES,
    assert_only_claims,
    assert_survives_cuts,
    children,
    detected_name,
    md5,
    needs_files,
)

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import ScanLimits
from vigil.unpack import packer_wwpack

SAMPLE = FILES / "clam-wwpack.exe"
#: MD5 of the file clamscan 1.4.6 writes for clam-wwpack.exe ("WWPack: Unpacked and rebuilt executable").
CLAMSCAN_REBUILT_MD5 = "7b8cd3dd6a198ec191afce0206665d2d"
CLAMSCAN_ZIP_AT = 20076  # "ZIP-SFX signature found at 20076" in the rebuilt file
RECORDS = 0xC00 + 0x2A1  # the .WWP32 section's raw data + the record array


class _Encoder:
    """Bits fill little-endian dwords MSB first; a new dword is reserved the moment one fills, and literal
    bytes go wherever the stream is at that point, as the decoder reads them."""

    def __init__(self) -> None:
        self.out = bytearray(4)
        self.word_at = 0
        self.value = 0
        self.used = 0

    def bits(self, value: int, width: int) -> None:
        for shift in range(width - 1, -1, -1):
            self.value = self.value << 1 | (value >> shift) & 1
            self.used += 1
            if self.used == 32:
                struct.pack_into("<I", self.out, self.word_at, self.value)
                self.word_at, self.value, self.used = len(self.out), 0, 0
                self.out += bytes(4)

    def literal(self, byte: int) -> None:
        self.bits(0, 1)
        self.out.append(byte)

    def finish(self) -> bytes:
        self.bits(0b111, 3)  # a two-byte copy with a 9-bit distance ...
        self.bits(0b11, 2)
        self.bits(0x1FF, 9)  # ... whose all-ones value ends the block
        struct.pack_into("<I", self.out, self.word_at, self.value << (32 - self.used))
        return bytes(self.out) + bytes(4)


def _decode(stream: bytes, room: int = 64) -> bytes:
    image = bytearray(room)
    packer_wwpack.decode_block(image, 0, stream, ScanContext(ScanLimits()))
    return bytes(image).rstrip(b"\0")


def test_literals_and_a_two_byte_copy() -> None:
    enc = _Encoder()
    for byte in b"ab":
        enc.literal(byte)
    enc.bits(0b111, 3)  # a two-byte copy ...
    enc.bits(0b00, 2)  # ... with a 5-bit distance: 1 + value
    enc.bits(1, 5)
    assert _decode(enc.finish()) == b"abab"


def test_block_copy_overlaps_its_own_output() -> None:
    enc = _Encoder()
    for byte in b"xyz":
        enc.literal(byte)
    enc.bits(0b110, 3)  # a block copy of 2 + 2 bytes ...
    enc.bits(0b000, 3)  # ... with a 5-bit distance: value + 32 - 31
    enc.bits(2, 5)
    assert _decode(enc.finish()) == b"xyzxyzx"


def test_copy_from_before_the_start_is_malformed() -> None:
    enc = _Encoder()
    enc.literal(0x41)
    enc.bits(0b101, 3)
    enc.bits(0b000, 3)
    enc.bits(30, 5)  # distance 31 with one byte written
    with pytest.raises(MalformedInput, match="outside"):
        _decode(enc.finish())


def test_running_out_of_bits_is_malformed() -> None:
    enc = _Encoder()
    enc.literal(0x41)
    with pytest.raises(MalformedInput, match=r"out of bits|past the block"):
        _decode(bytes(enc.out[:4]))


@needs_files
def test_rebuilt_image_is_clamscans_byte_for_byte() -> None:
    (name, image), (zip_name, carved) = children(packer_wwpack.pe_children, SAMPLE.read_bytes())
    assert name == "wwpack.exe" and md5(image) == CLAMSCAN_REBUILT_MD5
    assert zip_name == f"embedded@{CLAMSCAN_ZIP_AT}.zip" and carved == image[CLAMSCAN_ZIP_AT:]


@needs_files
def test_detected_end_to_end_with_the_bundled_db() -> None:
    assert detected_name(SAMPLE) == "Vigil.Test.ClamExe"


@needs_files
def test_other_files_are_not_taken_for_wwpack() -> None:
    assert_only_claims(packer_wwpack.pe_children, SAMPLE.name)


@needs_files
def test_truncation_and_lying_records() -> None:
    data = SAMPLE.read_bytes()
    assert_survives_cuts(packer_wwpack.pe_children, data)
    lies = ((0, 0x7FFFFFFF), (0, 0xFFFFFFFF), (8, 0x3FFFFFFF), (8, 0), (12, 0xFFFFFFF0), (16, 1))
    for field, value in lies:
        lying = bytearray(data)
        struct.pack_into("<I" if field < 16 else "<B", lying, RECORDS + field, value)
        with contextlib.suppress(MalformedInput):
            kids = children(packer_wwpack.pe_children, bytes(lying))
            assert all(len(image) == 0x5000 for name, image in kids if name == "wwpack.exe")


@needs_files
def test_huge_virtual_size_is_charged_before_allocating() -> None:
    data = bytearray(SAMPLE.read_bytes())
    struct.pack_into("<I", data, 0xC8 + 24 + 0xE0 + 3 * 40 + 8, 0x7FFF0000)  # .clam's VirtualSize
    with pytest.raises(LimitExceeded):
        children(packer_wwpack.pe_children, bytes(data), ScanContext(ScanLimits(max_scansize=1 << 20)))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_fuzz_decode_block(stream: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        assert len(_decode(stream, 512)) <= 512


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0xC00, max_value=0xFFF), st.binary(min_size=1, max_size=32))
def test_fuzz_packer_section(at: int, noise: bytes) -> None:
    if not SAMPLE.exists():
        return
    data = bytearray(SAMPLE.read_bytes())
    data[at : at + len(noise)] = noise
    with contextlib.suppress(MalformedInput, LimitExceeded):
        children(packer_wwpack.pe_children, bytes(data))
