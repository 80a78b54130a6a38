"""AutoIt EA05/EA06: ClamAV's compiled scripts, generated records, and hostile streams."""

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
from vigil.unpack import autoit_crypto as crypto
from vigil.unpack.pe_format import build_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
MAGIC16 = bytes.fromhex("a3484bbe986c4aa9994c530a86d6487d")


def _enc(data: bytes, seed: int) -> bytes:
    return crypto.xor(data, crypto.lame_keystream(seed, len(data)))


def _ea06_record(
    kind: str, path: str, payload: bytes, compressed: bool = False, crc: int | None = None
) -> bytes:
    kind16, path16 = kind.encode("utf-16-le"), path.encode("utf-16-le")
    out = _enc(b"FILE", 0x18EE)
    out += struct.pack("<I", len(kind) ^ 0xADBC) + _enc(kind16, 0xB33F + len(kind))
    out += struct.pack("<I", len(path) ^ 0xF820) + _enc(path16, 0xF479 + len(path))
    check = zlib.adler32(payload) if crc is None else crc
    out += bytes([1 if compressed else 0])
    out += struct.pack("<III", len(payload) ^ 0x87BC, len(payload) ^ 0x87BC, check ^ 0xA685) + bytes(16)
    return out + _enc(payload, 0x2477)


def _exe(records: bytes) -> bytes:
    stub = build_pe(0x400000, [(b".text", 0x1000, b"\xc3" * 16)], 0x1000)
    return stub + MAGIC16 + b"AU3!EA06" + bytes(16) + records


def _ea06_literals(data: bytes) -> bytes:
    """EA06 compression with literals only: flag bit 1, then eight bits, MSB first."""
    bits = "".join("1" + format(b, "08b") for b in data)
    bits += "0" * (-len(bits) % 8)
    return b"EA06" + struct.pack(">I", len(data)) + int(bits, 2).to_bytes(len(bits) // 8, "big")


@needs_files
@pytest.mark.parametrize("name", ["clam.ea05.exe", "clam.ea06.exe"])
def test_clamav_scripts_yield_script_and_clam_exe(name: str) -> None:
    children = unpack((FILES / name).read_bytes(), FileType.MSEXE, name)
    names = [c.name for c in children]
    assert "script.au3" in names and "clam.exe" in names
    clam = next(c for c in children if c.name == "clam.exe")
    assert bytes(clam.data) == (FILES / "clam.exe").read_bytes()


@needs_files
def test_ea05_script_is_utf16_text() -> None:
    children = unpack((FILES / "clam.ea05.exe").read_bytes(), FileType.MSEXE)
    script = bytes(next(c for c in children if c.name == "script.au3").data)
    assert script.startswith(b"\xff\xfe") and "AUT2EXE" in script.decode("utf-16")


def test_generated_records_stored_and_compressed() -> None:
    records = _ea06_record(r"C:\dir\one.txt", r"C:\dir\one.txt", b"first file")
    records += _ea06_record(r"two.bin", "x", _ea06_literals(b"second"), compressed=True)
    children = unpack(_exe(records), FileType.MSEXE)
    assert [(c.name, bytes(c.data)) for c in children] == [("one.txt", b"first file"), ("x", b"second")]


def test_checksum_mismatch_is_malformed() -> None:
    ctx = ScanContext(ScanLimits())
    assert unpack(_exe(_ea06_record("a", "a", b"data", crc=1)), FileType.MSEXE, ctx=ctx) == []
    assert any("checksum" in issue for issue in ctx.issues)


def test_declared_size_bomb_hits_the_limit() -> None:
    bomb = b"EA06" + struct.pack(">I", 0x7FFFFFFF) + bytes(64)
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with pytest.raises(LimitExceeded):
        unpack(_exe(_ea06_record("b", "b", bomb, compressed=True)), FileType.MSEXE, ctx=ctx)


def test_lying_name_length_is_malformed() -> None:
    record = _enc(b"FILE", 0x18EE) + struct.pack("<I", 0x7FFFFFF0 ^ 0xADBC)
    ctx = ScanContext(ScanLimits())
    assert unpack(_exe(record), FileType.MSEXE, ctx=ctx) == []
    assert ctx.issues


@needs_files
@pytest.mark.parametrize("name", ["clam.ea05.exe", "clam.ea06.exe"])
def test_truncated_every_tenth_ends_cleanly(name: str) -> None:
    data = (FILES / name).read_bytes()
    tail = len(data) - 5000  # the script block: tenths of it, then tenths of the whole file
    for cut in [tail + k * 500 for k in range(10)] + [len(data) * k // 10 for k in range(10)]:
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data[:cut], FileType.MSEXE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_autoit_decompress(body: bytes, ea06: bool) -> None:
    data = (b"EA06" if ea06 else b"EA05") + struct.pack(">I", len(body) * 4) + body
    try:
        out = crypto.decompress(data, ea06, 1 << 16, lambda: None)
    except (ValueError, IndexError):
        return
    assert len(out) == len(body) * 4
