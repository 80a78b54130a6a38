"""yC: the decryptor parser, ClamAV's rebuilt file byte for byte, the UPX layer below, hostile stubs."""

from __future__ import annotations

import contextlib
import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack import packer_yc
from vigil.unpack.pe_format import parse_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
#: MD5 of the file clamscan 1.4.6 writes for clam-yc.exe ("yC: Unpacked and rebuilt executable").
CLAMSCAN_REBUILT_MD5 = "8822fca1f7b0cb5506f15f8088956197"


def _sample() -> bytes:
    return (FILES / "clam-yc.exe").read_bytes()


def _children(data: bytes, ctx: ScanContext | None = None) -> list[bytes]:
    view = parse_pe(data)
    if view is None:
        return []
    layer = Layer(data, "t", FileType.MSEXE, 0)
    return [bytes(c.data) for c in packer_yc.pe_children(view, layer, ctx or ScanContext(ScanLimits()))]


def test_decryptor_parse_covers_the_instruction_set() -> None:
    code = bytes.fromhex("2c05 2ac1 3410 32c1 fec8 0410 02c1 c0c006 c0c805 d2c8 90 d2c0 90 f8 f9 eb00")
    ops = packer_yc.parse_decryptor((code + b"\xeb\x7f").ljust(0x34, b"\x90"))
    assert [name for name, _ in ops] == [
        "sub_imm", "sub_cl", "xor_imm", "xor_cl", "dec", "add_imm", "add_cl", "rol_imm", "ror_imm", "ror_cl",
        "rol_cl",
    ]  # fmt: skip
    buf = bytearray(b"\x81\x00\xff")
    packer_yc.decrypt(buf, 0, 3, [("xor_cl", 0), ("rol_imm", 1)], lambda: None)
    assert bytes(buf) == bytes(
        [((0x81 ^ 3) << 1 | (0x81 ^ 3) >> 7) & 0xFF, (2 << 1), ((0xFF ^ 1) << 1 | 1) & 0xFF]
    )


def test_decryptor_loops_and_unknown_opcodes_are_malformed() -> None:
    with pytest.raises(MalformedInput, match="loops"):
        packer_yc.parse_decryptor(b"\x90\xeb\xfd" + bytes(0x30))
    with pytest.raises(MalformedInput, match="opcode 0xcc"):
        packer_yc.parse_decryptor(b"\xcc" + bytes(0x31))
    with pytest.raises(MalformedInput, match="cut short"):
        packer_yc.parse_decryptor(b"\x90\x90")


@needs_files
def test_rebuilt_file_is_clamscans_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packer_yc, "_point_at_upx", lambda image, opt: image)
    (rebuilt,) = _children(_sample())
    assert hashlib.md5(rebuilt).hexdigest() == CLAMSCAN_REBUILT_MD5


@needs_files
def test_rebuilt_file_enters_at_the_upx_stub_and_unpacks() -> None:
    (rebuilt,) = _children(_sample())
    view = parse_pe(rebuilt)
    assert view is not None and len(view.sections) == 3
    assert view.entry_bytes.startswith(b"\x60\xbe")
    (upx,) = unpack(rebuilt, FileType.MSEXE)
    assert upx.name.startswith("upx-") and (FILES / "clam.exe").read_bytes()[0x200:0x220] in bytes(upx.data)


@needs_files
def test_detected_end_to_end_with_the_bundled_db() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="x", path=str(FILES / "clam-yc.exe")))
    assert report.name == "Vigil.Test.ClamExe"


@needs_files
def test_other_packers_are_not_taken_for_yc() -> None:
    for name in ("clam.exe", "clam-upx.exe", "clam-petite.exe", "clam-aspack.exe", "clam-pespin.exe"):
        assert _children((FILES / name).read_bytes()) == [], name


@needs_files
def test_lying_length_and_truncation() -> None:
    data = _sample()
    view = parse_pe(data)
    assert view is not None
    ep = view.rva_to_offset(view.entry_rva)
    assert ep is not None
    for extra, outcome in ((0x1000, "past the end"), (0x2000, None)):  # ECX past 0x2000 is not yC's stub
        lying = bytearray(data)
        struct.pack_into("<I", lying, ep + 0x14, struct.unpack_from("<I", data, ep + 0x14)[0] + extra)
        if outcome is None:
            assert _children(bytes(lying)) == []
        else:
            with pytest.raises(MalformedInput, match=outcome):
                _children(bytes(lying))
    for cut in range(0, len(data), len(data) // 10):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            _children(data[:cut])
    with pytest.raises(MalformedInput, match="past the end"):
        _children(data[: view.sections[-1].raw + 0x400])


@needs_files
def test_budget_is_charged() -> None:
    with pytest.raises(LimitExceeded):
        _children(_sample(), ScanContext(ScanLimits(max_filesize=4096, max_scansize=4096)))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0x93, max_value=0xA20), st.binary(min_size=1, max_size=64))
def test_fuzz_stub_bytes(at: int, noise: bytes) -> None:
    if not (FILES / "clam-yc.exe").exists():
        return
    data = bytearray(_sample())
    base = 0xC00 + at
    data[base : base + len(noise)] = noise
    with contextlib.suppress(MalformedInput, LimitExceeded):
        for image in _children(bytes(data)):
            assert image[:2] == b"MZ"
