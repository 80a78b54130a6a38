"""NSIS: ClamAV's clam-nsis.exe, installers built by makensis for each method, and hostile data blocks."""

from __future__ import annotations

import contextlib
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.pe_format import build_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")


def _installer(body: bytes) -> bytes:
    """A stub PE, padded to 512, then a firstheader and `body` (as NSIS lays them out)."""
    stub = build_pe(0x400000, [(b".text", 0x1000, b"\xc3" * 16)], 0x1000)
    first = struct.pack("<I16sII", 0, b"\xef\xbe\xad\xdeNullsoftInst", 64, 28 + len(body))
    return stub + first + body


def _lzma_raw(data: bytes) -> bytes:
    filt = {"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": 1 << 16}
    return b"\x5d" + struct.pack("<I", 1 << 16) + lzma.compress(data, lzma.FORMAT_RAW, filters=[filt])


def _block(payload: bytes) -> bytes:
    return struct.pack("<I", 0x80000000 | len(payload)) + payload


@needs_files
def test_clam_nsis_yields_header_then_clam_exe() -> None:
    children = unpack((FILES / "clam-nsis.exe").read_bytes(), FileType.MSEXE, "clam-nsis.exe")
    assert [c.name for c in children] == ["nsis-header", "nsis-file-0001"]
    assert bytes(children[1].data) == (FILES / "clam.exe").read_bytes()


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (Debian nsis) not installed")
@pytest.mark.parametrize("method", ["zlib", "lzma"])
@pytest.mark.parametrize("solid", [False, True])
def test_makensis_installers(tmp_path: Path, method: str, solid: bool) -> None:
    payload = b"vigil nsis payload " * 300
    (tmp_path / "payload.bin").write_bytes(payload)
    script = f'SetCompressor {"/SOLID " if solid else ""}{method}\nOutFile "out.exe"\n'
    script += "Section\nSetOutPath $TEMP\nFile payload.bin\nSectionEnd\n"
    (tmp_path / "t.nsi").write_text(script)
    subprocess.run(["makensis", "-V1", "t.nsi"], cwd=tmp_path, check=True, capture_output=True)
    children = unpack((tmp_path / "out.exe").read_bytes(), FileType.MSEXE)
    assert children[0].name == "nsis-header"
    assert [bytes(c.data) for c in children[1:]] == [payload]


def test_generated_nonsolid_lzma_and_stored_blocks() -> None:
    body = _block(_lzma_raw(b"HEADER" * 10)) + struct.pack("<I", 5) + b"plain" + b"CRC!"
    children = unpack(_installer(body), FileType.MSEXE)
    assert [(c.name, bytes(c.data)) for c in children] == [
        ("nsis-header", b"HEADER" * 10),
        ("nsis-file-0001", b"plain"),
    ]


def test_lying_block_size_is_malformed_after_what_was_readable() -> None:
    body = _block(_lzma_raw(b"HEADER")) + struct.pack("<I", 0x7FFF0000) + b"xx" * 10
    ctx = ScanContext(ScanLimits())
    children = unpack(_installer(body), FileType.MSEXE, ctx=ctx)
    assert [c.name for c in children] == ["nsis-header"]
    assert any("runs past the end" in issue for issue in ctx.issues)


def test_lzma_bomb_hits_the_limit() -> None:
    body = _block(_lzma_raw(bytes(50_000_000)))
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with pytest.raises(LimitExceeded):
        unpack(_installer(body), FileType.MSEXE, ctx=ctx)


@needs_files
def test_truncated_every_tenth_ends_cleanly() -> None:
    data = (FILES / "clam-nsis.exe").read_bytes()
    for cut in range(0, len(data), len(data) // 10):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data[:cut], FileType.MSEXE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_nsis_body(body: bytes) -> None:
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with contextlib.suppress(MalformedInput, LimitExceeded):
        unpack(_installer(body), FileType.MSEXE, ctx=ctx)
