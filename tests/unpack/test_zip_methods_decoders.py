"""Zip implode (6) and deflate64 (9): ClamAV's test files, budgets, bombs and damaged streams."""

from __future__ import annotations

import contextlib
import struct
import zlib
from pathlib import Path

import inflate64
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.zip_methods import explode

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")


def zip_with_method(name: bytes, method: int, raw: bytes, usize: int, crc: int = 0) -> bytes:
    """A one-member zip whose member is already compressed with `method`."""
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(raw), usize, len(name), 0)
    central = struct.pack(
        "<4s6H3I5H2I",
        b"PK\x01\x02",
        20,
        20,
        0,
        method,
        0,
        0,
        crc,
        len(raw),
        usize,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + raw
    cd = central + name
    return body + cd + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)


def deflate64(data: bytes) -> bytes:
    deflater = inflate64.Deflater()
    return bytes(deflater.deflate(data) + deflater.flush())


def _exe() -> bytes:
    return (FILES / "clam.exe").read_bytes()


@needs_files
@pytest.mark.parametrize(("name", "member"), [("clam.impl.zip", "CLAM.EXE"), ("clam.d64.zip", "clam.exe")])
def test_clamav_files_decode_to_clam_exe(name: str, member: str) -> None:
    ctx = ScanContext(ScanLimits())
    (child,) = unpack((FILES / name).read_bytes(), FileType.ZIP, name, ctx)
    assert (child.name, bytes(child.data)) == (member, _exe())
    assert ctx.issues == []
    assert ctx.scanned_bytes == len(_exe())


def test_generated_deflate64_member_round_trips() -> None:
    payload = bytes(range(256)) * 1000 + b"tail"
    data = zip_with_method(b"m.bin", 9, deflate64(payload), len(payload), zlib.crc32(payload))
    (child,) = unpack(data, FileType.ZIP)
    assert bytes(child.data) == payload


def test_deflate64_bomb_stops_at_the_budget() -> None:
    raw = deflate64(bytes(64 << 20))
    assert len(raw) < 1 << 20
    bomb = zip_with_method(b"zeros", 9, raw, 1000)  # declared size lies
    ctx = ScanContext(ScanLimits(max_filesize=8 << 20))
    with pytest.raises(LimitExceeded) as info:
        unpack(bomb, FileType.ZIP, ctx=ctx)
    assert info.value.limit == "MaxFileSize"
    assert ctx.scanned_bytes == 0


def test_damaged_deflate64_yields_what_decoded_and_reports_damage() -> None:
    payload = bytes(range(256)) * 400
    raw = deflate64(payload)
    data = zip_with_method(b"m", 9, raw[: len(raw) // 2] + b"\xff" * 64, len(payload))
    with pytest.raises(MalformedInput, match="damaged zip"):
        unpack(data, FileType.ZIP)


@needs_files
def test_implode_stops_at_the_budget() -> None:
    ctx = ScanContext(ScanLimits(max_filesize=100))
    with pytest.raises(LimitExceeded) as info:
        unpack((FILES / "clam.impl.zip").read_bytes(), FileType.ZIP, ctx=ctx)
    assert info.value.limit == "MaxFileSize"


@needs_files
def test_implode_with_a_lying_huge_size_stops_at_the_budget() -> None:
    """The declared size is the only end marker implode has; a lie must not run the decoder away."""
    zipped = (FILES / "clam.impl.zip").read_bytes()
    (nlen, elen) = struct.unpack_from("<HH", zipped, 26)
    csize, flags = struct.unpack_from("<I", zipped, 18)[0], struct.unpack_from("<H", zipped, 6)[0]
    raw = zipped[30 + nlen + elen : 30 + nlen + elen + csize]
    ctx = ScanContext(ScanLimits(max_filesize=256 << 10))
    with pytest.raises(LimitExceeded) as info:
        explode(raw + bytes(256 << 10), flags, 1 << 40, ctx)
    assert info.value.limit == "MaxFileSize"
    body, complete = explode(raw + bytes(64), flags, 1 << 40, ScanContext(ScanLimits()))
    assert not complete  # input ran out long before the claimed terabyte
    assert body.startswith(_exe())


@needs_files
def test_truncated_implode_at_every_tenth_is_a_known_outcome() -> None:
    data = (FILES / "clam.impl.zip").read_bytes()
    for tenth in range(1, 10):
        with contextlib.suppress(MalformedInput):  # anything else (a traceback, a limit) fails
            unpack(data[: len(data) * tenth // 10], FileType.ZIP)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=600), flags=st.sampled_from([0, 2, 4, 6]), usize=st.integers(0, 1 << 16))
def test_explode_fuzz_smoke(raw: bytes, flags: int, usize: int) -> None:
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    try:
        body, _complete = explode(raw, flags, usize, ctx)
    except MalformedInput:
        return
    assert len(body) <= usize
