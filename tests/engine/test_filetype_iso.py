"""ISO 9660 typing: the volume descriptors at 32768 make an image ISO9660, so it is unpacked as clamscan
unpacks it (clamscan finds the same magic in its raw scan)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import libarchive
import pytest

from vigil.engine import Engine
from vigil.engine.filetype import identify
from vigil.signatures import load_database
from vigil.types import FileType, ScanTarget

PAYLOAD = b"MZ" + bytes(range(256)) * 4 + b"iso payload"


def make_iso(members: list[tuple[str, bytes]]) -> bytes:
    parts: list[bytes] = []

    def write(data: bytes) -> int:
        parts.append(bytes(data))
        return len(data)

    with libarchive.custom_writer(write, "iso9660") as writer:
        for name, data in members:
            writer.add_file_from_memory(name, len(data), data)
    return b"".join(parts)


def test_iso_image_is_typed_iso9660() -> None:
    iso = make_iso([("a.exe", PAYLOAD)])
    assert iso[32768:32774] == b"\x01CD001"
    assert identify(iso) is FileType.ISO9660


@pytest.mark.parametrize(
    "data",
    [
        b"\0" * 32768 + b"\x01CD001" + b"\0" * 3000,  # one descriptor, no second "CD001"
        b"\0" * 32769 + b"\x01CD001" + b"\0" * 2042 + b"CD001" + b"\0" * 100,  # one byte off
        b"\0" * 32768 + b"\x01CD001" + b"\0" * 2042 + b"CD001",  # second descriptor too close
        b"\0" * 33000,  # truncated before any descriptor
    ],
)
def test_near_misses_stay_binary(data: bytes) -> None:
    assert identify(data) is FileType.BINARY_DATA


def test_iso_magic_does_not_override_a_real_type() -> None:
    data = bytearray(make_iso([("a", b"x")]))
    data[:4] = b"PK\x03\x04"  # a zip header wins, as in clamscan's fixed-magic step
    assert identify(bytes(data)) is not FileType.ISO9660


@pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")
def test_member_of_an_iso_is_found_as_clamscan_finds_it(tmp_path: Path) -> None:
    iso = tmp_path / "image.iso"
    iso.write_bytes(make_iso([("readme.txt", b"hello"), ("dir/a.exe", PAYLOAD)]))
    db = tmp_path / "db"
    db.mkdir()
    (db / "p.hdb").write_text(f"{hashlib.md5(PAYLOAD).hexdigest()}:{len(PAYLOAD)}:Iso.Payload\n")
    out = subprocess.run(
        ["clamscan", "--no-summary", "-d", str(db), str(iso)], capture_output=True, text=True, check=False
    ).stdout
    assert out.strip().endswith("Iso.Payload.UNOFFICIAL FOUND")
    report = Engine(load_database([str(db)])).scan(ScanTarget(display="image.iso", path=str(iso)))
    assert report.name == "Iso.Payload.UNOFFICIAL"
