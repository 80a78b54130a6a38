"""Hostile OLE2: cyclic FAT/miniFAT chains, a DIFAT loop, directory cycles, lying sizes, truncation, bombs."""

from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ole2_helpers import SECTOR, build_cfb, ovba_compress, vba_project

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanSettings, ScanTarget, Verdict

BIG = os.urandom(20_000)


def _collect(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    """Children yielded before the unpacker stopped, and what stopped it (None: clean end)."""
    from vigil.layer import Layer
    from vigil.unpack.ole2 import Ole2Unpacker

    got: list[Child] = []
    try:
        got.extend(
            Ole2Unpacker().children(
                Layer(data, "t.doc", FileType.MSOLE2, 0), ctx or ScanContext(ScanLimits())
            )
        )
    except (MalformedInput, LimitExceeded) as exc:
        return got, exc
    return got, None


def test_cyclic_fat_chain_stops_at_the_cycle_and_reports_it() -> None:
    image = build_cfb({"Big": BIG, "Other": b"o" * 5000})
    start = image.starts["Big"]
    image.set_fat(start + 3, start)  # sector 4 of the stream points back to its first
    got, exc = _collect(bytes(image.data))
    sizes = {c.name: len(c.data) for c in got}
    assert sizes == {"Big": 4 * SECTOR, "Other": 5000}
    assert isinstance(exc, MalformedInput) and "cyclic chain" in str(exc)


def test_self_looping_difat_ends_and_keeps_streams() -> None:
    image = build_cfb({"Big": BIG})
    loop_sector = len(image.data) // SECTOR - 1
    image.data += struct.pack(f"<{SECTOR // 4}I", *([0xFFFFFFFF] * (SECTOR // 4 - 1)), loop_sector)
    struct.pack_into("<II", image.data, 68, loop_sector, 1_000_000)
    got, exc = _collect(bytes(image.data))
    assert [(c.name, bytes(c.data)) for c in got] == [("Big", BIG)]
    assert isinstance(exc, MalformedInput) and "DIFAT" in str(exc)


def test_directory_tree_cycle_visits_each_entry_once() -> None:
    image = build_cfb({"A": b"a" * 100, "B": b"b" * 100})
    image.set_dirent(2, 72, "<I", 1)  # B's right sibling is A again
    image.set_dirent(1, 68, "<I", 1)  # and A is its own left sibling
    got, exc = _collect(bytes(image.data))
    assert sorted(c.name for c in got) == ["A", "B"]
    assert isinstance(exc, MalformedInput) and "reached twice" in str(exc)


def test_lying_stream_size_yields_what_the_chain_holds() -> None:
    image = build_cfb({"Big": BIG})
    image.set_dirent(1, 120, "<Q", 0xFFFFFFF0)
    got, exc = _collect(bytes(image.data))
    assert bytes(got[0].data) == BIG.ljust(40 * SECTOR, b"\0")
    assert isinstance(exc, MalformedInput)


def test_cyclic_minifat_chain() -> None:
    image = build_cfb({"Small": b"s" * 1000})
    minifat_sector = struct.unpack_from("<I", image.data, 60)[0]
    struct.pack_into("<I", image.data, (minifat_sector + 1) * SECTOR + 2 * 4, 0)  # mini sector 2 -> 0
    got, exc = _collect(bytes(image.data))
    assert len(got[0].data) == 3 * 64
    assert isinstance(exc, MalformedInput) and "cyclic" in str(exc)


def test_vba_decompression_bomb_hits_the_budget() -> None:
    chunk = ovba_compress(b"A" * 4096)[1:]
    bomb = b"\x01" + chunk * 5000  # ~20 MB of source from a few kB
    project = vba_project("VBA", {"Module1": b"x"})
    project["VBA/Module1"] = b"\x00" * 37 + bomb
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    start = time.monotonic()
    _got, exc = _collect(bytes(build_cfb(project).data), ctx)
    assert isinstance(exc, LimitExceeded) and exc.limit == "MaxFileSize"
    assert time.monotonic() - start < 5


def test_engine_reports_limits_and_issues_not_errors() -> None:
    image = build_cfb({"Big": BIG})
    image.set_fat(image.starts["Big"] + 1, image.starts["Big"])
    report = Engine(load_database()).scan(ScanTarget(display="cyc.doc", data=bytes(image.data)))
    assert report.verdict is Verdict.CLEAN and report.errors == ()
    assert any("cyclic chain" in issue for issue in report.issues)
    settings = ScanSettings(limits=ScanLimits(max_filesize=10_000))
    report = Engine(load_database(), settings).scan(
        ScanTarget(display="big.doc", data=bytes(build_cfb({"Big": BIG}).data))
    )
    assert report.limits_hit == ("MaxFileSize",)
    assert report.name == "Heuristics.Limits.Exceeded.MaxFileSize"


_SAMPLE = bytes(
    build_cfb(
        {"WordDocument": BIG[:6000], "s": b"small" * 30, **vba_project("VBA", {"M": b"Sub A()\r\n" * 9})}
    ).data
)


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    got, exc = _collect(_SAMPLE[: len(_SAMPLE) * tenth // 10])
    assert exc is None or isinstance(exc, MalformedInput)
    assert all(len(c.data) <= len(_SAMPLE) * 4 for c in got)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_mutated_compound_files(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_SAMPLE)
    for pos, value in edits:
        data[pos] = value
    _collect(bytes(data), ScanContext(ScanLimits(max_scansize=8 << 20, max_scantime_ms=5000)))
