"""Helpers for unpacker tests: run an unpacker over bytes and collect (name, size, sha256) rows."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib

from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.registry import unpacker_for

Row = tuple[str, int, str]


def sha(data: bytes | memoryview) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()


def row(name: str, data: bytes) -> Row:
    return (name, len(data), sha(data))


def unpack(
    data: bytes, ftype: FileType, name: str = "target", ctx: ScanContext | None = None
) -> list[Child]:
    """The children of one layer that carry bytes to scan; exceptions propagate so tests can assert on them.

    Members listed only for `.cdb` signatures (encrypted ones, directory entries) are left out: see
    `listed`."""
    return [child for child in _children(data, ftype, name, ctx) if not child.listed_only]


def listed(
    data: bytes, ftype: FileType, name: str = "target", ctx: ScanContext | None = None
) -> list[Child]:
    """Every child with the member metadata `.cdb` signatures are checked against, in yield order."""
    return [child for child in _children(data, ftype, name, ctx) if child.info is not None]


def _children(data: bytes, ftype: FileType, name: str, ctx: ScanContext | None) -> list[Child]:
    unpacker = unpacker_for(ftype)
    assert unpacker is not None, ftype
    return list(unpacker.children(Layer(data, name, ftype, 0), ctx or ScanContext(ScanLimits())))


def rows(children: list[Child]) -> list[Row]:
    return [(c.name, len(c.data), sha(bytes(c.data))) for c in children]


def make_tar(members: list[tuple[str, bytes]], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def quoted_zip(n: int, payload: bytes = b"hello world") -> bytes:
    """Fifield-style overlap: each stored record's data quotes every later record's header and data."""
    tail = payload
    recs: list[tuple[bytes, int, int, int]] = []
    for k in reversed(range(n)):
        name = f"f{k}".encode()
        crc = zlib.crc32(tail)
        hdr = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(tail), len(tail), len(name), 0)
        recs.append((name, len(tail), crc, len(hdr) + len(name)))
        tail = hdr + name + tail
    recs.reverse()
    central = b""
    offset = 0
    for name, size, crc, header_len in recs:
        central += struct.pack(
            "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, size, size, len(name), 0, 0, 0, 0, 0,
            offset,
        ) + name
        offset += header_len
    eocd = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, len(central), len(tail), 0)
    return tail + central + eocd
