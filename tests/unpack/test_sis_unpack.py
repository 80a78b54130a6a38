"""Symbian SIS: ClamAV's clam.sis, hand-built EPOC 5/6 packages, lying pointers, bombs, fuzz."""

from __future__ import annotations

import struct
import time
import zlib
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
from vigil.unpack.sis import UID2_ER5, UID2_ER6, UID3, SisUnpacker

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
HEADER = 68


def sis(files: list[tuple[str, list[bytes]]], *, release6: bool = True, compress: bool = True,
        nlangs: int = 1, prefix_records: bytes = b"", lie: dict[str, int] | None = None) -> bytes:
    """A package whose records come first (after the header), then names, then file data."""
    lie = lie or {}
    extra = 32 if release6 else 0
    records_at = HEADER + extra + 2 * nlangs
    record_size = 4 * (7 + 2 * nlangs + (nlangs + 2 if release6 else 0))
    blobs = b""
    records = prefix_records
    data_at = records_at + len(prefix_records) + record_size * len(files)
    names_at = data_at
    for name, _ in files:
        blobs += name.encode("utf-16-le")
    pos = names_at + len(blobs)
    for index, (name, langs) in enumerate(files):
        stored = [zlib.compress(x) if compress else x for x in langs]
        name_ptr = names_at + sum(len(n.encode("utf-16-le")) for n, _ in files[:index])
        records += struct.pack("<7I", 1 if len(langs) > 1 else 0, 0, 0, 2 * len(name), name_ptr, 0, 0)
        lengths = [lie.get("length", len(x)) for x in stored]
        pointers = [lie.get("pointer", pos + sum(len(x) for x in stored[:k])) for k in range(len(stored))]
        records += struct.pack(f"<{2 * len(stored)}I", *lengths, *pointers)
        if release6:
            records += struct.pack(f"<{len(langs) + 2}I", *(lie.get("original", len(x)) for x in langs), 0, 0)
        pos += sum(len(x) for x in stored)
        blobs += b"".join(stored)
    options = 0x0001 | (0 if compress else 0x0008)
    head = struct.pack(
        "<4I8HI4H6I", 0x01000000, UID2_ER6 if release6 else UID2_ER5, UID3, 0, 0, nlangs,
        lie.get("nfiles", len(files) + (1 if prefix_records else 0)), 0, 0, 0, 0, 0, 200, options, 0, 1, 0, 0,
        HEADER + extra, records_at, 0, 0, 0,
    )
    return head + b"\0" * extra + b"\x01\x00" * nlangs + records + blobs


def run(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    out: list[Child] = []
    try:
        layer = Layer(data, "t.sis", FileType.SIS, 0)
        out.extend(SisUnpacker().children(layer, ctx or ScanContext(ScanLimits())))
    except (MalformedInput, LimitExceeded) as exc:
        return out, exc
    return out, None


@needs_files
def test_clam_sis_yields_clam_exe_and_is_detected() -> None:
    data = (FILES / "clam.sis").read_bytes()
    assert identify(data) is FileType.SIS
    (child,) = unpack(data, FileType.SIS, "clam.sis")
    name = r"C:\Users\zolw\AppData\Local\Temp\MKS0\clam.exe"  # the source name, as clamscan shows it
    assert rows([child]) == [row(name, (FILES / "clam.exe").read_bytes())]
    report = Engine(load_database()).scan(ScanTarget(display="clam.sis", path=str(FILES / "clam.sis")))
    assert report.name == "Vigil.Test.ClamExe"


@pytest.mark.parametrize("release6", [True, False])
@pytest.mark.parametrize("compress", [True, False])
def test_generated_packages(release6: bool, compress: bool) -> None:
    files = [("a.exe", [b"first file " * 40]), ("b.dll", [bytes(range(256))])]
    data = sis(files, release6=release6, compress=compress)
    assert identify(data) is FileType.SIS
    expected = [row("a.exe", b"first file " * 40), row("b.dll", bytes(range(256)))]
    assert rows(unpack(data, FileType.SIS)) == expected


def test_per_language_files_and_skipped_records() -> None:
    # an options record (1 option x 2 languages + 16-byte mask), an "if" with a 6-byte expression, an "else"
    prefix = struct.pack("<II", 2, 1) + b"\0" * 16 + b"\0" * 16 + struct.pack("<II", 3, 6) + b"expr!!"
    prefix += struct.pack("<I", 5)
    data = sis([("m.txt", [b"english", b"french"])], nlangs=2, prefix_records=prefix, lie={"nfiles": 4})
    assert rows(unpack(data, FileType.SIS)) == [row("m.txt#0", b"english"), row("m.txt#1", b"french")]


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    data = sis([("a", [b"A" * 500]), ("b", [b"B" * 500])], compress=False)
    children, stopped = run(data[: len(data) * tenth // 10])
    assert isinstance(stopped, MalformedInput)
    assert all(bytes(c.data) in (b"A" * 500, b"B" * 500) or len(c.data) < 500 for c in children)


def test_pointer_past_the_end_is_malformed() -> None:
    children, stopped = run(sis([("a", [b"data"])], lie={"pointer": 1 << 31}))
    assert children == [] and isinstance(stopped, MalformedInput)


def test_huge_file_count_stops_at_the_end_of_the_records() -> None:
    started = time.monotonic()
    children, stopped = run(sis([("a", [b"data"])], lie={"nfiles": 65535}))
    assert [bytes(c.data) for c in children] == [b"data"]
    assert isinstance(stopped, MalformedInput)
    assert time.monotonic() - started < 1


def test_zlib_bomb_stops_at_the_budget_even_when_the_size_lies() -> None:
    bomb = b"\0" * (20 << 20)
    data = sis([("bomb", [bomb])], lie={"original": 10})
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    started = time.monotonic()
    children, stopped = run(data, ctx)
    assert children == [] and isinstance(stopped, LimitExceeded) and stopped.limit == "MaxFileSize"
    assert ctx.scanned_bytes == 0
    assert time.monotonic() - started < 2


def test_declared_size_over_budget_is_refused_first() -> None:
    ctx = ScanContext(ScanLimits(max_scansize=1000, max_filesize=0))
    children, stopped = run(sis([("a", [b"small"])], lie={"original": 1 << 30}), ctx)
    assert children == [] and isinstance(stopped, LimitExceeded) and stopped.limit == "MaxScanSize"


def test_wrong_uids_are_malformed() -> None:
    with pytest.raises(MalformedInput):
        unpack(b"\0" * 8 + struct.pack("<I", UID3) + b"\0" * 100, FileType.SIS)


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=300), cut=st.integers(0, 400))
def test_sis_fuzz_smoke(tail: bytes, cut: int) -> None:
    good = sis([("a", [b"payload"])])
    children, stopped = run(good[:cut] + tail)
    assert stopped is None or isinstance(stopped, MalformedInput | LimitExceeded)  # a lying size: loud
    assert len(children) <= 1
