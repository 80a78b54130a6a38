"""MS SZDD (COMPRESS.EXE): ClamAV's test file, hand-built streams, budgets and damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.engine.filetype import identify
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.szdd import MAGIC, SzddUnpacker

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")


def szdd(body: bytes, declared: int, missing: bytes = b"E") -> bytes:
    return MAGIC + struct.pack("<BcI", ord("A"), missing, declared) + body


def literals(data: bytes) -> bytes:
    """An SZDD body of literals only: a 0xFF flag byte before every eight bytes."""
    return b"".join(b"\xff" + data[i : i + 8] for i in range(0, len(data), 8))


@needs_files
def test_clamav_file_yields_clam_exe_and_is_detected() -> None:
    data = (FILES / "clam.exe.szdd").read_bytes()
    assert identify(data, load_database().magic) is FileType.MSSZDD  # type: ignore[arg-type]
    (child,) = unpack(data, FileType.MSSZDD, "clam.exe.szdd")
    assert (child.name, bytes(child.data)) == ("clam.exe", (FILES / "clam.exe").read_bytes())
    report = Engine(load_database()).scan(ScanTarget(display="x", path=str(FILES / "clam.exe.szdd")))
    assert report.name == "Vigil.Test.ClamExe"


def test_literals_and_an_overlapping_back_reference() -> None:
    # "abc" as literals at window 4080..4082, then a reference to 4080 of length 9: overlap repeats "abc".
    body = bytes([0b0111]) + b"abc" + bytes([4080 & 0xFF, (4080 >> 4) & 0xF0 | (9 - 3)])
    assert rows(unpack(szdd(body, 12), FileType.MSSZDD, "X.TX_")) == [row("X.TXE", b"abc" * 4)]


def test_reference_into_the_initial_window_reads_spaces() -> None:
    body = bytes([0]) + bytes([0x00, 0x0F])  # position 0, length 18: the window starts as spaces
    assert bytes(unpack(szdd(body, 18), FileType.MSSZDD)[0].data) == b" " * 18


def test_generated_literal_stream_round_trips() -> None:
    payload = bytes(range(256)) * 4 + b"odd"
    (child,) = unpack(szdd(literals(payload), len(payload)), FileType.MSSZDD, "f.szdd")
    assert (child.name, bytes(child.data)) == ("f", payload)


def test_wrong_declared_size_still_yields_the_child_then_reports() -> None:
    layer = Layer(szdd(literals(b"12345678"), 999), "t", FileType.MSSZDD, 0)
    children: list[Child] = []
    with pytest.raises(MalformedInput, match="header says 999"):
        children.extend(SzddUnpacker().children(layer, ScanContext(ScanLimits())))
    assert [bytes(c.data) for c in children] == [b"12345678"]


def test_expansion_stops_at_the_budget() -> None:
    bomb = szdd((b"\x00" + b"\x00\x0f" * 8) * 100_000, 100)  # 18:2 per item, 14 MB from 1.7 MB
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    with pytest.raises(LimitExceeded) as info:
        unpack(bomb, FileType.MSSZDD, ctx=ctx)
    assert info.value.limit == "MaxFileSize"
    assert ctx.scanned_bytes == 0


@pytest.mark.parametrize("head", [b"SZDD", MAGIC + b"B\0\0\0\0\0"])
def test_bad_headers_are_malformed(head: bytes) -> None:
    with pytest.raises(MalformedInput):
        unpack(head, FileType.MSSZDD)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=400), declared=st.integers(0, 5000))
def test_szdd_fuzz_smoke(body: bytes, declared: int) -> None:
    try:
        (child,) = unpack(szdd(body, declared), FileType.MSSZDD)
    except MalformedInput:
        return
    assert len(child.data) == declared
