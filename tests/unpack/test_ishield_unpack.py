"""InstallShield: the SFX file list and the obfuscated MSI stream, from ClamAV's files and generated."""

from __future__ import annotations

import contextlib
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.ishield import deobfuscate
from vigil.unpack.pe_format import build_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")


def _stub() -> bytes:
    return build_pe(0x400000, [(b".text", 0x1000, b"\xc3" * 16)], 0x1000)


def _sfx(entries: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for name, data in entries:
        out += f"{name}\0Disk1\\{name}\0".encode() + f"0.0.0.0\0{len(data)}\0".encode() + data
    return _stub() + out


def _obfuscate(plain: bytes, name: bytes) -> bytes:
    """The inverse of `deobfuscate`: XOR key, invert, swap nibbles."""
    key = bytes(c ^ b"\x13\x35\x86\x07"[i % 4] for i, c in enumerate(name))
    out = bytearray()
    for i, byte in enumerate(plain):
        value = ~(byte ^ key[(i % 1024) % len(key)]) & 0xFF
        out.append(((value >> 4) | (value << 4)) & 0xFF)
    return bytes(out)


def _msi_stream(files: list[tuple[bytes, bytes]]) -> bytes:
    out = b"InstallShield\0" + struct.pack("<H", len(files)) + bytes(30)
    for name, data in files:
        out += name.ljust(0x104, b"\0") + struct.pack("<IIQ", 6, 0, len(data)) + bytes(0x34 - 16) + data
    return _stub() + b"NB10" + bytes(12) + out


@needs_files
def test_msi_setup_yields_the_msi_and_ini_files() -> None:
    children = unpack((FILES / "clam_ISmsi_int.exe").read_bytes(), FileType.MSEXE)
    names = [c.name for c in children]
    assert names == ["0x0409.ini", "EvalMarker.dat", "clam.msi", "Setup.ini"]
    msi = bytes(children[2].data)
    assert msi.startswith(b"\xd0\xcf\x11\xe0") and len(msi) == 658432
    assert bytes(children[0].data).startswith(b"\xff\xfe[")


@needs_files
def test_cab_setup_lists_its_disk_files() -> None:
    children = unpack((FILES / "clam_IScab_ext.exe").read_bytes(), FileType.MSEXE)
    assert children[0].name == "Disk1/clam.exe"
    assert bytes(children[0].data) == (FILES / "clam.exe").read_bytes()
    assert [c.name for c in children][1:4] == ["Disk1/data1.cab", "Disk1/data1.hdr", "Disk1/data2.cab"]


def test_deobfuscate_inverts_the_obfuscation_across_chunks() -> None:
    plain = bytes(range(256)) * 9
    name = b"setup.msi"  # a key length that does not divide 1024
    assert deobfuscate(_obfuscate(plain, name), name) == plain


def test_generated_msi_stream_is_inflated() -> None:
    inner = b"hello installshield " * 50
    blob = _obfuscate(zlib.compress(inner), b"a.txt")
    (child,) = unpack(_msi_stream([(b"a.txt", blob)]), FileType.MSEXE)
    assert (child.name, bytes(child.data)) == ("a.txt", inner)


def test_generated_sfx_list_and_lying_size() -> None:
    data = _sfx([("a.txt", b"alpha"), ("b.bin", b"beta")])
    assert [(c.name, bytes(c.data)) for c in unpack(data, FileType.MSEXE)] == [
        ("Disk1/a.txt", b"alpha"),
        ("Disk1/b.bin", b"beta"),
    ]
    ctx = ScanContext(ScanLimits())
    lying = data.replace(b"0.0.0.0\x004\x00beta", b"0.0.0.0\x0099999\x00beta")
    assert [c.name for c in unpack(lying, FileType.MSEXE, ctx=ctx)] == ["Disk1/a.txt"]
    assert any("runs past the end" in issue for issue in ctx.issues)


def test_msi_zlib_bomb_hits_the_limit() -> None:
    blob = _obfuscate(zlib.compress(bytes(20_000_000), 9), b"bomb")
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with pytest.raises(LimitExceeded):
        unpack(_msi_stream([(b"bomb", blob)]), FileType.MSEXE, ctx=ctx)


@needs_files
@pytest.mark.parametrize("name", ["clam_ISmsi_ext.exe", "clam_IScab_ext.exe"])
def test_truncated_every_tenth_ends_cleanly(name: str) -> None:
    data = (FILES / name).read_bytes()
    for cut in range(0, len(data), len(data) // 10):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data[:cut], FileType.MSEXE)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_ishield_overlay(tail: bytes) -> None:
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    for data in (_stub() + b"a\0b\0" + b"1.0\0" + tail, _stub() + b"InstallShield\0" + tail):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data, FileType.MSEXE, ctx=ctx)
