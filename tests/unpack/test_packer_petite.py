"""Petite: the section decoder on hand-made streams, clam-petite.exe against clamscan, hostile tables."""

from __future__ import annotations

import contextlib
import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack import packer_petite
from vigil.unpack.pe_format import parse_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
#: clamscan --debug on clam-petite.exe: "Petite: Sections dump" and the ZIP it finds in the rebuilt file.
CLAMSCAN_SECTIONS = [(0x1000, 0xF7), (0x2000, 0x123), (0x4000, 0xFFC)]
CLAMSCAN_ZIP = ("6fe66b446596841bf4a3e9a761a64804", 404)


class _Encoder:
    """Petite's stream: control bytes (MSB first) reserved in the output when the previous one is used up."""

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


def encode(data: bytes, repeat: int = 0) -> bytes:
    """Literals, then one match of offset 1 and length `repeat` (2..4), as Petite's decoder reads them."""
    enc = _Encoder(data[0])
    remaining = len(data) + repeat - 1
    for byte in data[1:]:
        enc.bit(0)
        enc.out.append(byte ^ (remaining & 0xFF))
        remaining -= 1
    if repeat:
        for value in (1, 1, 0, 0, 0, 0, 0, 0):  # match; gamma 3 (back 0); five offset bits -> offset 1
            enc.bit(value)
        length = repeat - 1  # the offset adds one
        enc.bit(length >> 1)
        enc.bit(length & 1)
    return bytes(enc.out) + b"\0\0"


def _decode(stream: bytes, size: int) -> bytes:
    buf = bytearray(stream) + bytearray(size + 4)
    end = packer_petite.inflate(buf, 0, len(stream), size, lambda: None)
    return bytes(buf[len(stream) : end])


def test_inflate_literals_and_an_overlapping_match() -> None:
    assert _decode(encode(b"hello world"), 11) == b"hello world"
    assert _decode(encode(b"abc", repeat=4), 7) == b"abccccc"


def test_inflate_rejects_references_before_the_start() -> None:
    enc = _Encoder(0x41)
    for value in (1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1):  # a gamma far beyond the output
        enc.bit(value)
    with pytest.raises(MalformedInput):
        _decode(bytes(enc.out) + bytes(8), 40)


def test_inflate_stops_at_the_image_end() -> None:
    stream = encode(b"hello world")
    buf = bytearray(stream) + bytearray(4)  # room for four of the eleven bytes
    with pytest.raises(MalformedInput, match="image"):
        packer_petite.inflate(buf, 0, len(stream), 11, lambda: None)


def _children(data: bytes, ctx: ScanContext | None = None) -> list[tuple[str, bytes]]:
    view = parse_pe(data)
    if view is None:
        return []
    layer = Layer(data, "t", FileType.MSEXE, 0)
    return [
        (c.name, bytes(c.data))
        for c in packer_petite.pe_children(view, layer, ctx or ScanContext(ScanLimits()))
    ]


@needs_files
def test_clam_petite_sections_and_zip_match_clamscan() -> None:
    data = (FILES / "clam-petite.exe").read_bytes()
    (name, image), (zip_name, carved) = _children(data)
    assert name == "petite-2.2.exe" and zip_name.endswith(".zip")
    view = parse_pe(image)
    assert view is not None
    assert [(s.rva, s.vsize) for s in view.sections] == CLAMSCAN_SECTIONS
    assert (hashlib.md5(carved).hexdigest(), len(carved)) == CLAMSCAN_ZIP


@needs_files
def test_detected_end_to_end_with_the_bundled_db() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="x", path=str(FILES / "clam-petite.exe")))
    assert report.name == "Vigil.Test.ClamExe"


@needs_files
def test_other_files_are_not_taken_for_petite() -> None:
    for name in ("clam.exe", "clam-upx.exe", "clam-yc.exe", "clam-aspack.exe", "clam-wwpack.exe"):
        assert _children((FILES / name).read_bytes()) == [], name


@needs_files
def test_truncation_and_lying_tables() -> None:
    data = (FILES / "clam-petite.exe").read_bytes()
    for cut in range(0, len(data), len(data) // 10):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            _children(data[:cut])
    table = 0x400 + 0x1B8  # the .petite section's raw data + the 2.2 table offset
    for value in (0x7FFFFFFF | 0x80000000, 0xFFFFFFFF, 0x00400000, 0x10):
        lying = bytearray(data)
        struct.pack_into("<I", lying, table, value)
        with contextlib.suppress(MalformedInput):
            _children(bytes(lying))
    for field in (4, 8):
        lying = bytearray(data)
        struct.pack_into("<I", lying, table + field, 0xFFFFFFF0)
        with pytest.raises(MalformedInput):
            _children(bytes(lying))


@needs_files
def test_huge_virtual_size_is_charged_before_allocating() -> None:
    data = bytearray((FILES / "clam-petite.exe").read_bytes())
    view = parse_pe(bytes(data))
    assert view is not None
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    struct.pack_into("<I", data, pe + 24 + 0xE0 + 3 * 40 + 8, 0x7FFFFFF0)  # the petite section's VirtualSize
    with pytest.raises(LimitExceeded):
        _children(bytes(data), ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20)))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=1, max_value=400))
def test_fuzz_inflate(stream: bytes, size: int) -> None:
    with contextlib.suppress(MalformedInput):
        out = _decode(stream, size)
        assert len(out) <= size + 0x200


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0x400, max_value=0x7FF), st.binary(min_size=1, max_size=32))
def test_fuzz_petite_section(at: int, noise: bytes) -> None:
    if not (FILES / "clam-petite.exe").exists():
        return
    data = bytearray((FILES / "clam-petite.exe").read_bytes())
    data[at : at + len(noise)] = noise
    with contextlib.suppress(MalformedInput, LimitExceeded):
        _children(bytes(data))
