"""Golden child trees for archives built with the standard library."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest
from unpack_helpers import make_tar, row, rows, unpack

from vigil.types import FileType
from vigil.unpack.registry import TABLE, builtin, unpacker_for

TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 200
BINARY = os.urandom(70_000)
MEMBERS = [("a.txt", TEXT), ("dir/b.bin", BINARY), ("empty", b"")]


def test_registry_maps_types_and_honours_off_switch() -> None:
    names = [u.name for u in builtin()]
    assert names[:5] == ["zip", "gzip", "bzip2", "xz", "tar"]
    assert len(set(names)) == len(names)  # every off switch names exactly one unpacker
    assert unpacker_for(FileType.OLD_TAR) is unpacker_for(FileType.POSIX_TAR)
    assert unpacker_for(FileType.ZIP, frozenset({"zip"})) is None
    assert unpacker_for(FileType.BINARY_DATA) is None
    for unpacker in builtin():
        for ftype in unpacker.types:
            assert unpacker_for(ftype) is unpacker


def test_registry_table_agrees_with_the_classes() -> None:
    """The table repeats each unpacker's name and types so it can dispatch before importing it."""
    assert [(row[0], row[2]) for row in TABLE] == [(u.name, u.types) for u in builtin()]


def test_registry_imports_an_unpacker_only_when_a_type_needs_it() -> None:
    code = ("import sys; from vigil.types import FileType; from vigil.unpack.registry import unpacker_for;"
            "assert 'vigil.unpack.pdf' not in sys.modules; assert unpacker_for(FileType.TEXT_ASCII) is None;"
            "assert 'vigil.unpack.zip' not in sys.modules; unpacker_for(FileType.ZIP);"
            "assert 'vigil.unpack.zip' in sys.modules and 'vigil.unpack.pdf' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_methods(method: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("dir/", b"")
        for name, data in MEMBERS:
            zf.writestr(name, data)
    got = rows(unpack(buf.getvalue(), FileType.ZIP))
    assert got == [row(name, data) for name, data in MEMBERS]


class _Unseekable(io.RawIOBase):
    """Forces zipfile to stream: sizes go to data descriptors after each member."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.buf += b
        return len(b)


def test_zip_streamed_with_data_descriptors_with_and_without_central_directory() -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in MEMBERS[:2]:
            with zf.open(name, "w") as member:
                member.write(data)
    data = bytes(sink.buf)
    assert rows(unpack(data, FileType.ZIP)) == [row(n, d) for n, d in MEMBERS[:2]]
    cut = data[: data.find(b"PK\x01\x02")]
    from vigil.errors import MalformedInput

    got = []
    with pytest.raises(MalformedInput):
        got.extend(c for c in _children(cut) if not c.listed_only)
    assert rows(got) == [row(n, d) for n, d in MEMBERS[:2]]


def _children(data: bytes):  # type: ignore[no-untyped-def]
    from vigil.layer import Layer, ScanContext
    from vigil.types import ScanLimits

    unpacker = unpacker_for(FileType.ZIP)
    assert unpacker is not None
    return unpacker.children(Layer(data, "t.zip", FileType.ZIP, 0), ScanContext(ScanLimits()))


LONG = "very/" * 30 + "long-name.bin"  # > 100 bytes: needs a prefix, a GNU long name or a pax path


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_formats(fmt: int) -> None:
    members = [*MEMBERS, (LONG, TEXT[:1000])]
    if fmt == tarfile.PAX_FORMAT:
        members.append(("ünïcödé-" + "x" * 120, b"pax"))
    got = rows(unpack(make_tar(members, fmt), FileType.POSIX_TAR))
    assert got == [row(name, data) for name, data in members]


def _v7_header(name: str, size: int) -> bytes:
    head = bytearray(512)
    head[0 : len(name)] = name.encode()
    head[100:108] = b"0000644\0"
    head[124:136] = f"{size:011o}\0".encode()
    head[156] = ord("0")
    head[148:156] = b" " * 8
    head[148:156] = f"{sum(head):06o}\0 ".encode()
    return bytes(head)


def test_v7_tar() -> None:
    data = b"".join(_v7_header(n, len(d)) + d + b"\0" * (-len(d) % 512) for n, d in MEMBERS) + bytes(1024)
    assert rows(unpack(data, FileType.OLD_TAR)) == [row(n, d) for n, d in MEMBERS]


def test_tar_skips_links_directories_and_devices() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, kind, target in [
            ("d", tarfile.DIRTYPE, ""),
            ("evil-sym", tarfile.SYMTYPE, "/etc/passwd"),
            ("evil-hard", tarfile.LNKTYPE, "../../../etc/shadow"),
            ("fifo", tarfile.FIFOTYPE, ""),
            ("dev", tarfile.CHRTYPE, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
        info = tarfile.TarInfo("after-links.txt")
        info.size = len(TEXT)
        tf.addfile(info, io.BytesIO(TEXT))
    assert rows(unpack(buf.getvalue(), FileType.POSIX_TAR)) == [row("after-links.txt", TEXT)]


def test_tar_gz_is_two_layers() -> None:
    tar = make_tar(MEMBERS)
    buf = io.BytesIO()
    with gzip.GzipFile("inner.tar", "wb", fileobj=buf) as gz:
        gz.write(tar)
    (child,) = unpack(buf.getvalue(), FileType.GZ, "outer.tgz")
    assert (child.name, bytes(child.data)) == ("inner.tar", tar)
    assert rows(unpack(bytes(child.data), FileType.POSIX_TAR)) == [row(n, d) for n, d in MEMBERS]


@pytest.mark.parametrize(
    ("ftype", "compress", "name", "expected"),
    [
        (FileType.GZ, gzip.compress, "x/report.pdf.gz", "report.pdf"),
        (FileType.BZ, bz2.compress, "report.pdf.bz2", "report.pdf"),
        (FileType.XZ, lzma.compress, "report.pdf.xz", "report.pdf"),
        (FileType.XZ, lambda d: lzma.compress(d, lzma.FORMAT_ALONE), "old.lzma", "old"),
    ],
)
def test_single_stream_compressors(ftype: FileType, compress, name: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert rows(unpack(compress(BINARY), ftype, name)) == [row(expected, BINARY)]
    # concatenated streams decode as one child, as gunzip/bunzip2/xz do; trailing zero padding is ignored
    if ftype is not FileType.XZ or name.endswith(".xz"):
        doubled = compress(TEXT) + compress(BINARY) + bytes(64)
        assert rows(unpack(doubled, ftype, name)) == [row(expected, TEXT + BINARY)]


def test_gzip_name_comes_from_fname_header() -> None:
    buf = io.BytesIO()
    with gzip.GzipFile("stored-name.exe", "wb", fileobj=buf) as gz:
        gz.write(TEXT)
    assert rows(unpack(buf.getvalue(), FileType.GZ, "whatever.gz")) == [row("stored-name.exe", TEXT)]
