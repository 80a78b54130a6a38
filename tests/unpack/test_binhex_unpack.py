"""BinHex 4.0: ClamAV's clam.exe.binhex, round trips through an independent encoder, RLE bombs, lying
lengths, truncation and a fuzz smoke run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mail_builders import EICAR, HQX_ALPHABET, binhex, binhex_header, hqx_wrap
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.encodings import MAX_RLE_MARKERS, BinHexUnpacker

CLAM = Path("/usr/share/clamav-testfiles/clam.exe.binhex")


def _drain(data: bytes, ctx: ScanContext | None = None) -> list[bytes]:
    """Children read until the unpacker stops; MalformedInput after them is allowed."""
    out: list[bytes] = []
    try:
        for child in BinHexUnpacker().children(Layer(data, "x.hqx", FileType.BINHEX, 0), ctx or _ctx()):
            out.append(bytes(child.data))
    except MalformedInput:
        pass
    return out


def _ctx() -> ScanContext:
    return ScanContext(ScanLimits())


@pytest.mark.skipif(not CLAM.exists(), reason="clamav test files not installed")
def test_clamav_binhex_file_yields_clam_exe_and_is_detected() -> None:
    children = unpack(CLAM.read_bytes(), FileType.BINHEX, CLAM.name)
    exe = (CLAM.parent / "clam.exe").read_bytes()
    assert [c.name for c in children] == ["clam.exe", "clam.exe.rsrc"]  # clamscan also scans 1 rsrc byte
    assert bytes(children[0].data) == exe
    report = Engine(load_database()).scan(ScanTarget(display=CLAM.name, path=str(CLAM)))
    assert report.name == "Vigil.Test.ClamExe"
    assert report.detections[0].layer_path == "clam.exe.binhex>clam.exe"


@pytest.mark.parametrize("rle", [True, False])
def test_round_trip_with_runs_literal_0x90_and_resource_fork(rle: bool) -> None:
    data = b"\x90" * 3 + b"A" * 1000 + b"\x90\x00\x90" + os.urandom(5000) + bytes(700)
    resource = b"RSRC" * 50
    got = rows(unpack(binhex(data, "Données.bin", resource, rle=rle), FileType.BINHEX))
    assert got == [row("Données.bin", data), row("Données.bin.rsrc", resource)]


def test_engine_finds_eicar_in_generated_binhex() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="e.hqx", data=binhex(EICAR, "e.com")))
    assert report.name == "Vigil.Test.EICAR"


def _zero_runs(count: int) -> bytes:
    return b"\x00\x90\xff" * (count // 255)


def test_rle_bomb_declared_over_the_limit_is_refused_before_decoding() -> None:
    bomb = hqx_wrap(binhex_header("z", 1 << 30, 0) + _zero_runs(64 << 20))
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        unpack(bomb, FileType.BINHEX, ctx=ScanContext(ScanLimits(max_filesize=1 << 20)))
    assert info.value.limit == "MaxFileSize"
    assert time.monotonic() - start < 5


def test_rle_expansion_stops_at_the_declared_length() -> None:
    """Declares 3 bytes but carries 256 MiB of runs: only 3 bytes come out, quickly."""
    lying = hqx_wrap(binhex_header("z", 3, 0) + _zero_runs(256 << 20))
    start = time.monotonic()
    assert [bytes(c.data) for c in unpack(lying, FileType.BINHEX)] == [bytes(3)]  # zeros: CRC 0 matches
    assert time.monotonic() - start < 5


def test_bad_crc_is_reported_after_the_data() -> None:
    good = binhex(b"payload" * 20, "p")
    body_at = good.index(b":") + 40
    other = HQX_ALPHABET[(HQX_ALPHABET.index(good[body_at]) + 1) % 64]
    flipped = good[:body_at] + bytes([other]) + good[body_at + 1 :]
    out: list[bytes] = []
    with pytest.raises(MalformedInput, match="CRC"):
        for child in BinHexUnpacker().children(Layer(flipped, "p.hqx", FileType.BINHEX, 0), _ctx()):
            out.append(bytes(child.data))
    assert len(out) == 1 and len(out[0]) == 140


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    whole = binhex(os.urandom(4000), "t.bin")
    cut = whole[: len(whole) * tenth // 10]
    with pytest.raises(MalformedInput):
        unpack(cut, FileType.BINHEX)


def test_no_start_colon_is_malformed() -> None:
    with pytest.raises(MalformedInput):
        unpack(b"(This file must be converted with BinHex 4.0)\r\nnothing", FileType.BINHEX)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from([binhex(b"x" * 300, "a"), binhex(os.urandom(300), "b", b"rs")]),
    cuts=st.lists(st.tuples(st.integers(0, 600), st.binary(max_size=8)), max_size=6),
)
def test_fuzz_mutated_binhex_raises_only_parse_or_limit_errors(
    seed: bytes, cuts: list[tuple[int, bytes]]
) -> None:
    data = bytearray(seed)
    for pos, junk in cuts:
        data[pos : pos + len(junk)] = junk
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    try:
        out = _drain(bytes(data), ctx)
    except LimitExceeded:
        return
    assert sum(map(len, out)) <= ctx.scanned_bytes <= 1 << 20


def test_run_marker_flood_is_cut_off_quickly() -> None:
    """Two-byte runs cost a Python step each and expand nothing: 3 M of them stop at the marker bound."""
    flood = hqx_wrap(binhex_header("z", 10 << 20, 0) + b"x" + b"\x90\x03" * 3_000_000)
    start = time.monotonic()
    with pytest.raises(MalformedInput, match="truncated"):
        unpack(flood, FileType.BINHEX)
    assert time.monotonic() - start < 5
    out = _drain(flood)
    assert out and len(out[0]) == 1 + 2 * MAX_RLE_MARKERS
