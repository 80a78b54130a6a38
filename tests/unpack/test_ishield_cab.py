"""InstallShield ISc( cabinets: data1.hdr's file records and dataN.cab's deflate chunks.

Checked against clam_IScab_int.exe (every file clamscan --debug lists, with its MD5) and against
cabinets built here, which also carry the hostile cases: lying sizes and offsets, broken chunks, bombs.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack import ishield_cab
from vigil.unpack.pe_format import build_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")

#: What clamscan 1.4.6 --debug extracts from clam_IScab_int.exe's cabinets ("is_extract_cab"), in order.
CLAMSCAN_FILES = [
    ("license.rtf", 11493, "e7eb45e877c8cb80f56e9dbc9504e757"),
    ("corecomp.ini", 65503, "09d38ceca6a012f4ce5b54f03db9b21a"),
    ("FontData.ini", 39, "00f313e3e007599349a0c4d81c7807c4"),
    ("StringTable-0009-English.ips", 329, "31563751792826a6272b09626250e155"),
    ("isrt.dll", 425984, "9a7790ae29bbadfa35650751ecceb0e7"),
    ("default.pal", 1168, "0abafe3f69d053494405061de2629c82"),
    ("_IsRes.dll", 548963, "d28b31e1e3d9972cce01e4deb0288b31"),
    ("clam.exe", 544, "aa15bcf478d165efd2065190eb473bcb"),
]
_DATA_OFF = 0x200
_DIRS_OFF = 0x80


def chunks(data: bytes, size: int = 700) -> bytes:
    """A cabinet stream: each piece raw-deflated on its own behind a u16 length."""
    out = b""
    for at in range(0, len(data), size):
        packed = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = packed.compress(data[at : at + size]) + packed.flush()
        out += struct.pack("<H", len(body)) + body
    return out


def item(
    name_off: int, size: int, csize: int, offset: int, flags: int = 4, dup: int = 0, cab: int = 1
) -> bytes:
    return (
        struct.pack("<HQQQ", flags, size, csize, offset) + bytes(32) + struct.pack("<IH", name_off, 0)
        + bytes(20) + struct.pack("<BH", dup, cab)
    )  # fmt: skip


def cabinet(files: list[tuple[str, bytes]], **overrides: int) -> tuple[bytes, bytes]:
    """(data1.hdr, data1.cab) holding `files` in directory "dir"; `overrides` change every record."""
    names = b"dir\0" + b"".join(name.encode() + b"\0" for name, _ in files)
    dirs = struct.pack("<I", 4) + names  # directory 0's name is at table+4
    cab = bytearray(b"ISc(" + bytes(0x1FC))
    records = b""
    name_at = 4 + 4
    for name, data in files:
        stream = chunks(data)
        fields = {"name_off": name_at, "size": len(data), "csize": len(stream), "offset": len(cab)}
        records += item(**{**fields, **overrides})
        cab += stream
        name_at += len(name) + 1
    objects = bytearray(0x4A)
    struct.pack_into("<I", objects, 12, _DIRS_OFF)
    struct.pack_into("<II", objects, 40, len(files), len(dirs))
    header = struct.pack("<4sIIII", b"ISc(", 0x1009500, 0, _DATA_OFF, 0) + bytes(_DATA_OFF - 20)
    header += bytes(objects) + bytes(_DIRS_OFF - len(objects)) + dirs + records
    return header, bytes(cab)


def extract(header: bytes, cab: bytes, ctx: ScanContext | None = None) -> list[tuple[str, bytes]]:
    ctx = ctx or ScanContext(ScanLimits())
    return [(c.name, bytes(c.data)) for c in ishield_cab.cabinet_files(header, {1: cab}, ctx)]


def _setup_exe(entries: list[tuple[str, bytes]]) -> bytes:
    stub = build_pe(0x400000, [(b".text", 0x1000, b"\xc3" * 16)], 0x1000)
    return stub + b"".join(
        f"{n}\0Disk1\\{n}\0".encode() + f"0.0.0.0\0{len(d)}\0".encode() + d for n, d in entries
    )


@needs_files
def test_clam_iscab_int_yields_what_clamscan_extracts() -> None:
    children = unpack((FILES / "clam_IScab_int.exe").read_bytes(), FileType.MSEXE)
    from_cabinets = [(c.name, len(c.data), hashlib.md5(bytes(c.data)).hexdigest()) for c in children[9:]]
    assert from_cabinets == CLAMSCAN_FILES
    assert bytes(children[-1].data) == (FILES / "clam.exe").read_bytes()


@needs_files
def test_clam_iscab_int_detected_end_to_end_with_the_bundled_db() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="x", path=str(FILES / "clam_IScab_int.exe")))
    assert report.name is not None and "ClamExe" in report.name


def test_generated_cabinet_round_trips_through_the_setup_overlay() -> None:
    payload = bytes(range(256)) * 20
    header, cab = cabinet([("a.txt", b"alpha " * 300), ("b.bin", payload)])
    children = unpack(_setup_exe([("data1.hdr", header), ("data1.cab", cab)]), FileType.MSEXE)
    assert [(c.name, bytes(c.data)) for c in children[2:]] == [
        ("dir/a.txt", b"alpha " * 300),
        ("dir/b.bin", payload),
    ]


def test_without_a_cabinet_the_header_is_only_passed_through() -> None:
    header, _ = cabinet([("a.txt", b"alpha")])
    children = unpack(_setup_exe([("data1.hdr", header)]), FileType.MSEXE)
    assert [c.name for c in children] == ["Disk1/data1.hdr"]


def test_external_duplicate_and_empty_records_are_skipped() -> None:
    for override in ({"flags": 0}, {"dup": 1}, {"dup": 3}, {"size": 0}, {"flags": 8}):
        header, cab = cabinet([("a.txt", b"alpha")], **override)
        assert extract(header, cab) == [], override


def test_zero_length_chunks_are_skipped() -> None:
    stream = b"\0\0" + chunks(b"hello")
    header, _ = cabinet([("a.txt", b"hello")])
    cab = b"ISc(" + bytes(0x1FC) + stream
    header = header[: -len(item(0, 0, 0, 0))] + item(8, 5, len(stream), 0x200)
    assert extract(header, cab) == [("dir/a.txt", b"hello")]


def test_lying_sizes_and_offsets() -> None:
    header, cab = cabinet([("a.txt", b"alpha" * 100)])
    for override in ({"csize": 1 << 40}, {"offset": len(cab)}, {"offset": (1 << 64) - 1}, {"cab": 7}):
        ctx = ScanContext(ScanLimits())
        lying, _ = cabinet([("a.txt", b"alpha" * 100)], **override)
        assert extract(lying, cab, ctx) == [], override
        assert any("outside" in issue for issue in ctx.issues)
    count_lies = bytearray(header)
    struct.pack_into("<I", count_lies, _DATA_OFF + 40, 0xFFFFFFFF)
    with pytest.raises(MalformedInput, match="do not fit"):
        extract(bytes(count_lies), cab)
    with pytest.raises(MalformedInput, match="object table"):
        extract(header[: _DATA_OFF + 8], cab)
    with pytest.raises(MalformedInput, match="ISc"):
        extract(b"MSCF" + header[4:], cab)


def test_broken_chunk_drops_that_file_only() -> None:
    header, cab = cabinet([("bad", b"x" * 50), ("good", b"y" * 50)])
    stream_at = 0x200 + 2
    broken = cab[:stream_at] + b"\xff" * 4 + cab[stream_at + 4 :]
    ctx = ScanContext(ScanLimits())
    assert extract(header, broken, ctx) == [("dir/good", b"y" * 50)]
    assert any("deflate" in issue for issue in ctx.issues)
    lying_chunk = cab[:0x200] + struct.pack("<H", 60000) + cab[0x202:]
    assert extract(header, lying_chunk)[-1] == ("dir/good", b"y" * 50)


def test_deflate_bomb_hits_the_limit() -> None:
    bomb = bytes(4_000_000)
    header, cab = cabinet([("bomb", bomb)])
    header = header.replace(struct.pack("<Q", len(bomb)), struct.pack("<Q", 1), 1)  # the size lies too
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with pytest.raises(LimitExceeded):
        extract(header, cab, ctx)


def test_file_count_is_charged() -> None:
    header, cab = cabinet([(f"f{i}", b"z") for i in range(5)])
    ctx = ScanContext(ScanLimits(max_files=3))
    with pytest.raises(LimitExceeded):
        extract(header, cab, ctx)


@needs_files
def test_truncated_every_tenth_ends_cleanly() -> None:
    data = (FILES / "clam_IScab_int.exe").read_bytes()
    for cut in range(0, len(data), len(data) // 10):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            unpack(data[:cut], FileType.MSEXE)


def test_truncated_generated_header_and_cabinet() -> None:
    header, cab = cabinet([("a.txt", b"alpha" * 100), ("b.txt", b"beta" * 100)])
    for cut in range(0, len(header), max(1, len(header) // 10)):
        with contextlib.suppress(MalformedInput):
            extract(header[:cut], cab)
    for cut in range(0, len(cab), max(1, len(cab) // 10)):
        assert len(extract(header, cab[:cut])) <= 2


def test_passthrough_keeps_every_child() -> None:
    children = [Child("x/data1.hdr", b"junk"), Child("x/other", b"o")]
    ctx = ScanContext(ScanLimits())
    assert list(ishield_cab.with_cabinets(iter(children), ctx)) == children  # no cabinet: nothing decoded


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_fuzz_header_and_cabinet(noise: bytes, stream: bytes) -> None:
    header, cab = cabinet([("a.txt", b"alpha" * 50)])
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    for hdr, body in (
        (header[:0x200] + noise, cab),
        (header, cab[:0x200] + stream),
        (b"ISc(" + noise, stream),
    ):
        with contextlib.suppress(MalformedInput, LimitExceeded):
            extract(hdr, body, ctx)
