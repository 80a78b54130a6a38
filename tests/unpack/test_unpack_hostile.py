"""Hostile inputs: bombs, overlapping zips, deep nesting, traversal names, links, truncation."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from unpack_helpers import make_tar, quoted_zip, row, rows, unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.zip import ENCRYPTED_DETECTION, OVERLAP_DETECTION


def _gzip_of_zeros(gigabytes: int) -> bytes:
    """A real gzip of N GiB of zeros, built from one repeated full-flush deflate block (~10 MB for 10 GiB)."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    mib = block.compress(bytes(1 << 20)) + block.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    size = gigabytes << 30
    return header + mib * (size >> 20) + final + struct.pack("<II", 0, size & 0xFFFFFFFF)


def test_ten_gib_gzip_bomb_stops_at_the_file_size_limit_quickly() -> None:
    bomb = _gzip_of_zeros(10)
    assert len(bomb) < 16 << 20
    ctx = ScanContext(ScanLimits())  # clamscan defaults: 100 MB per file, 400 MB per scan
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        unpack(bomb, FileType.GZ, "bomb.gz", ctx)
    assert info.value.limit == "MaxFileSize"
    assert time.monotonic() - start < 10
    assert ctx.scanned_bytes == 0  # nothing was charged for the child that never came out


def test_scan_size_budget_is_shared_across_children() -> None:
    ctx = ScanContext(ScanLimits(max_filesize=0, max_scansize=3 << 20))
    ctx.charge_bytes(2 << 20)  # earlier layers already used most of the budget
    with pytest.raises(LimitExceeded) as info:
        unpack(gzip.compress(bytes(2 << 20)), FileType.GZ, "x.gz", ctx)
    assert info.value.limit == "MaxScanSize"


@pytest.mark.parametrize(
    ("ftype", "compress"), [(FileType.BZ, bz2.compress), (FileType.XZ, lzma.compress)]
)
def test_bzip2_and_xz_bombs_stop_at_budget(ftype: FileType, compress) -> None:  # type: ignore[no-untyped-def]
    stream = compress(bytes(8 << 20))
    bomb = stream * 1280  # 10 GiB of zeros as concatenated streams
    ctx = ScanContext(ScanLimits(max_filesize=20 << 20))
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        unpack(bomb, ftype, "bomb", ctx)
    assert info.value.limit == "MaxFileSize"
    assert time.monotonic() - start < 10


def test_zip_declared_size_over_limit_raises_before_inflating() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(4 << 20))
    with pytest.raises(LimitExceeded) as info:
        unpack(buf.getvalue(), FileType.ZIP, ctx=ScanContext(ScanLimits(max_filesize=1 << 20)))
    assert info.value.limit == "MaxFileSize"


def test_zip_lying_small_declared_size_still_stops_at_budget() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(4 << 20))
    data = bytearray(buf.getvalue())
    for sig, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # usize -> 10 bytes in both headers
        pos = data.find(sig)
        data[pos + field : pos + field + 4] = struct.pack("<I", 10)
    with pytest.raises(LimitExceeded):
        unpack(bytes(data), FileType.ZIP, ctx=ScanContext(ScanLimits(max_filesize=1 << 20)))


def test_max_files_is_charged_per_member() -> None:
    tar = make_tar([(f"m{i}", b"x") for i in range(5)])
    ctx = ScanContext(ScanLimits(max_files=3))
    got = []
    with pytest.raises(LimitExceeded) as info:
        got.extend(c.name for c in _lazy(tar, FileType.POSIX_TAR, ctx))
    assert info.value.limit == "MaxFiles"
    assert got == ["m0", "m1", "m2"]


def _lazy(data: bytes, ftype: FileType, ctx: ScanContext):  # type: ignore[no-untyped-def]
    from vigil.layer import Layer
    from vigil.unpack.registry import unpacker_for

    unpacker = unpacker_for(ftype)
    assert unpacker is not None
    return unpacker.children(Layer(data, "t", ftype, 0), ctx)


def test_duplicate_central_entries_are_one_member_without_alert() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", b"hello " * 100)
    data = buf.getvalue()
    eocd = data.rfind(b"PK\x05\x06")
    cd_off = struct.unpack_from("<I", data, eocd + 16)[0]
    central = data[cd_off:eocd]
    n = 10  # two or ten entries naming one local header: still one record (clamscan says OK)
    eocd_rec = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, len(central) * n, cd_off, 0)
    dup = data[:cd_off] + central * n + eocd_rec
    ctx = ScanContext(ScanLimits())
    assert rows(unpack(dup, FileType.ZIP, ctx=ctx)) == [row("a.txt", b"hello " * 100)]
    assert ctx.issues == [] and ctx.alerts == []


@pytest.mark.parametrize(("records", "flagged"), [(2, False), (6, False), (7, True), (40, True)])
def test_fifield_overlap_threshold_matches_clamscan(records: int, flagged: bool) -> None:
    """clamscan 1.4.6: q6 (5 overlaps) scans every member, q7 (6 overlaps) alerts and scans none."""
    ctx = ScanContext(ScanLimits())
    children = unpack(quoted_zip(records), FileType.ZIP, ctx=ctx)
    assert (OVERLAP_DETECTION in ctx.alerts) is flagged
    assert [c.name for c in children] == ([] if flagged else [f"f{k}" for k in range(records)])
    if not flagged:
        assert bytes(children[-1].data) == b"hello world"


def test_nested_zip_thousand_deep_each_level_is_quick() -> None:
    data = b"payload at the bottom"
    for level in range(1000):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"level{level}.zip", data)
        data = buf.getvalue()
    slowest = 0.0
    for _ in range(1000):
        start = time.monotonic()
        (child,) = unpack(data, FileType.ZIP)
        slowest = max(slowest, time.monotonic() - start)
        data = bytes(child.data)
    assert data == b"payload at the bottom"
    assert slowest < 0.5


TRAVERSAL = ["../../etc/passwd", "/etc/shadow", "..\\..\\windows\\win.ini", "C:\\boot.ini", "a/../../b"]


def test_zip_slip_names_are_labels_and_nothing_touches_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in TRAVERSAL:
            zf.writestr(zipfile.ZipInfo(name), name.encode())
    got = [(c.name, bytes(c.data)) for c in unpack(buf.getvalue(), FileType.ZIP)]
    # zipfile itself rewrites backslashes on write on some platforms; compare with what it stored
    stored = [i.orig_filename for i in zipfile.ZipFile(io.BytesIO(buf.getvalue())).infolist()]
    assert [n for n, _ in got] == stored
    assert [d for _, d in got] == [n.encode() for n in TRAVERSAL]
    tar_members = [(n, n.encode()) for n in TRAVERSAL]
    assert rows(unpack(make_tar(tar_members, tarfile.GNU_FORMAT), FileType.POSIX_TAR)) == [
        row(n, d) for n, d in tar_members
    ]
    assert list(tmp_path.iterdir()) == []


def test_encrypted_zip_member_is_skipped_and_noted() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("secret", b"ciphertext-ish")
        zf.writestr("plain", b"visible")
    data = bytearray(buf.getvalue())
    for sig, field in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + field] |= 1
    ctx = ScanContext(ScanLimits())
    assert rows(unpack(bytes(data), FileType.ZIP, ctx=ctx)) == [row("plain", b"visible")]
    assert ctx.alerts == [ENCRYPTED_DETECTION]


def test_zip_with_wrong_crc_is_still_scanned() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m", b"content " * 50)
    data = bytearray(buf.getvalue())
    for sig, field in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        pos = data.find(sig)
        data[pos + field : pos + field + 4] = b"\xde\xad\xbe\xef"
    assert rows(unpack(bytes(data), FileType.ZIP)) == [row("m", b"content " * 50)]


def test_member_outside_central_directory_is_found_by_local_walk() -> None:
    hidden = io.BytesIO()
    with zipfile.ZipFile(hidden, "w") as zf:
        zf.writestr("smuggled", b"not in the directory")
    local = hidden.getvalue()[: hidden.getvalue().find(b"PK\x01\x02")]
    buf = io.BytesIO()
    buf.write(local)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("listed", b"in the directory")
    names = [c.name for c in unpack(buf.getvalue(), FileType.ZIP)]
    assert names == ["smuggled", "listed"]


def _samples() -> dict[str, tuple[FileType, bytes]]:
    payload = os.urandom(30_000) + b"A" * 30_000
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"m{i}", payload[i * 1000 :])
    tar = make_tar([("a", payload), ("b" * 150, payload[:5000])], tarfile.PAX_FORMAT)
    return {
        "zip": (FileType.ZIP, zbuf.getvalue()),
        "tar": (FileType.POSIX_TAR, tar),
        "tgz": (FileType.GZ, gzip.compress(tar)),
        "gz": (FileType.GZ, gzip.compress(payload)),
        "bz2": (FileType.BZ, bz2.compress(payload)),
        "xz": (FileType.XZ, lzma.compress(payload)),
    }


@pytest.mark.parametrize("kind", ["zip", "tar", "tgz", "gz", "bz2", "xz"])
def test_truncation_at_every_tenth_raises_only_narrow_errors(kind: str) -> None:
    ftype, data = _samples()[kind]
    for tenth in range(10):
        cut = data[: len(data) * tenth // 10]
        start = time.monotonic()
        try:
            for child in unpack(cut, ftype, f"cut.{kind}"):
                assert len(child.data) <= 60_000
        except (MalformedInput, LimitExceeded):
            pass
        else:
            assert tenth > 0 and kind == "tar", f"{kind} cut at {tenth}/10 passed silently"
        assert time.monotonic() - start < 2


def test_truncated_gzip_yields_partial_data_then_malformed() -> None:
    payload = os.urandom(50_000)
    cut = gzip.compress(payload)[:25_000]
    got = []
    with pytest.raises(MalformedInput):
        got.extend(_lazy(cut, FileType.GZ, ScanContext(ScanLimits())))
    assert len(got) == 1 and payload.startswith(bytes(got[0].data)) and len(got[0].data) > 0


def test_garbage_is_malformed_for_every_unpacker() -> None:
    junk = os.urandom(4096)
    for ftype in (FileType.ZIP, FileType.GZ, FileType.BZ, FileType.XZ, FileType.POSIX_TAR):
        with pytest.raises(MalformedInput):
            unpack(junk, ftype)
