"""MEW 11: the LZ decoder on hand-made streams, ClamAV's rebuilt file byte for byte, hostile headers."""

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
from vigil.unpack import packer_mew

SAMPLE = FILES / "clam-mew.exe"
#: MD5 of the file clamscan 1.4.6 writes for clam-mew.exe ("MEW: Unpacked and rebuilt executable").
CLAMSCAN_REBUILT_MD5 = "eb55c7b07f6c22b7c09ea52a8eeaddec"
CLAMSCAN_ZIP_AT = 17004  # "ZIP-SFX signature found at 17004" in the rebuilt file
STUB = 0x154  # the file offset the entry jump lands on


class _Encoder:
    """Bit bytes (MSB first) reserved in the stream when the previous one is used up, as the decoder reads."""

    def __init__(self, first: int) -> None:
        self.out = bytearray([first])
        self.control = -1
        self.used = 8

    def bit(self, value: int) -> None:
        if self.used == 8:
            self.control = len(self.out)
            self.out.append(0)
            self.used = 0
        self.out[self.control] |= value << (7 - self.used)
        self.used += 1

    def literal(self, byte: int) -> None:
        self.bit(0)
        self.out.append(byte)

    def short_match(self, back: int, length: int) -> None:
        """Bits 1 1 0 and one byte: a distance of 1..127 and a length of 2 or 3."""
        for value in (1, 1, 0):
            self.bit(value)
        self.out.append(back << 1 | (length - 2))

    def finish(self) -> bytes:
        for value in (1, 1, 0):
            self.bit(value)
        self.out.append(0)  # distance zero ends the stream
        return bytes(self.out) + b"\0"


def _decode(stream: bytes, room: int = 64) -> bytes:
    buf = bytearray(stream) + bytearray(room)
    _, end = packer_mew.unpack_stream(buf, 0, len(stream), len(stream), room, ScanContext(ScanLimits()))
    return bytes(buf[len(stream) : end])


def test_literals_and_short_matches() -> None:
    enc = _Encoder(ord("a"))
    enc.literal(ord("b"))
    enc.short_match(2, 3)  # "aba"
    enc.short_match(1, 2)  # "aa"
    assert _decode(enc.finish()) == b"ababaaa"


def test_references_before_the_destination_are_malformed() -> None:
    enc = _Encoder(ord("a"))
    enc.short_match(5, 2)
    with pytest.raises(MalformedInput, match="back reference"):
        _decode(enc.finish())


def test_output_is_bounded_by_the_destination() -> None:
    enc = _Encoder(ord("a"))
    for _ in range(10):
        enc.short_match(1, 3)
    with pytest.raises(MalformedInput, match="outside"):
        _decode(enc.finish(), room=8)


@needs_files
def test_rebuilt_image_is_clamscans_byte_for_byte() -> None:
    (name, image), (zip_name, carved) = children(packer_mew.pe_children, SAMPLE.read_bytes())
    assert name == "mew.exe" and md5(image) == CLAMSCAN_REBUILT_MD5
    assert zip_name == f"embedded@{CLAMSCAN_ZIP_AT}.zip" and carved == image[CLAMSCAN_ZIP_AT:]


@needs_files
def test_detected_end_to_end_with_the_bundled_db() -> None:
    assert detected_name(SAMPLE) == "Vigil.Test.ClamExe"


@needs_files
def test_other_files_are_not_taken_for_mew() -> None:
    assert_only_claims(packer_mew.pe_children, SAMPLE.name)


@needs_files
def test_truncation_and_lying_pointers() -> None:
    data = SAMPLE.read_bytes()
    assert_survives_cuts(packer_mew.pe_children, data)
    esi = STUB + 1
    for at, value in ((esi, 0), (esi, 0xFFFFFFFF), (esi, 0x00406FFF)):
        lying = bytearray(data)
        struct.pack_into("<I", lying, at, value)
        assert children(packer_mew.pe_children, bytes(lying)) == []  # no longer MEW's layout
    head = 0x200 + 0x1C  # the packer section's raw data + offdiff: entry point, destination, streams
    for field, value in ((8, 0), (8, 0xFFFFFFFF), (8, 0x00401FFF), (12, 0xFFFFFFFF)):
        lying = bytearray(data)
        struct.pack_into("<I", lying, head + field, value)
        with contextlib.suppress(MalformedInput):
            for name, image in children(packer_mew.pe_children, bytes(lying)):
                assert len(image) <= 0x10000, name


@needs_files
def test_huge_virtual_size_is_charged_before_allocating() -> None:
    data = bytearray(SAMPLE.read_bytes())
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    table = pe + 24 + struct.unpack_from("<H", data, pe + 20)[0]
    struct.pack_into("<I", data, table + 8, 0x7FFF0000)  # the empty section's VirtualSize
    with pytest.raises(LimitExceeded):
        children(packer_mew.pe_children, bytes(data), ScanContext(ScanLimits(max_scansize=1 << 20)))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_fuzz_unpack_stream(stream: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        assert len(_decode(stream, 300)) <= 300


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0x154, max_value=0x600), st.binary(min_size=1, max_size=32))
def test_fuzz_packed_file(at: int, noise: bytes) -> None:
    if not SAMPLE.exists():
        return
    data = bytearray(SAMPLE.read_bytes())
    data[at : at + len(noise)] = noise
    with contextlib.suppress(MalformedInput, LimitExceeded):
        children(packer_mew.pe_children, bytes(data))
