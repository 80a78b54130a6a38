"""Member metadata for `.cdb` signatures: what each unpacker lists, and what the engine does with it.

The values per format are clamscan's (tests/differential/diff_gen_cdb.py compares them); these tests pin
the unpackers' side: every zip record is listed before any member is read, unreadable members are
listed without bytes, and a metadata hit is a detection that names its signature and member.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from unpack_helpers import listed, unpack

from vigil.engine import Engine
from vigil.layer import MemberInfo
from vigil.signatures import load_database
from vigil.types import FileType, ScanSettings, ScanTarget, Verdict


def _zip_with_dir_and_encrypted_member() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("d/"), b"")
        zf.writestr("d/plain.txt", b"visible " * 100, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("secret.exe", b"ciphertext-ish")
    data = bytearray(buf.getvalue())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.rfind(signature)  # the last record of each kind: secret.exe
        data[pos + flag_at] |= 1
    return bytes(data)


def test_every_zip_record_is_listed_first_with_its_directory_entry() -> None:
    data = _zip_with_dir_and_encrypted_member()
    names = {info.filename: info for info in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    got = listed(data, FileType.ZIP)
    assert [(c.name, c.listed_only, c.info) for c in got] == [
        ("d/", True, MemberInfo(0, 0, False, 1)),
        ("d/plain.txt", True, MemberInfo(names["d/plain.txt"].compress_size, 800, False, 2)),
        ("secret.exe", True, MemberInfo(14, 14, True, 3)),
    ]
    assert names["d/plain.txt"].compress_size < 800  # really the packed size, not the real one
    assert [c.name for c in unpack(data, FileType.ZIP)] == ["d/plain.txt"]  # only readable bytes


def test_tar_counts_only_members_with_data() -> None:
    """A directory entry between two files is neither listed nor counted (clamscan: `d/` then `evil.bin`
    at FILEPOS 2 after one file)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, body in (("a.txt", b"aaa"), ("d/", None), ("d/b.bin", b"bbbbb")):
            info = tarfile.TarInfo(name)
            if body is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
    got = listed(buf.getvalue(), FileType.POSIX_TAR)
    assert [(c.name, c.listed_only, c.info) for c in got] == [
        ("a.txt", False, MemberInfo(3, 3, False, 1)),
        ("d/b.bin", False, MemberInfo(5, 5, False, 2)),
    ]


@pytest.mark.skipif(shutil.which("7z") is None, reason="7z (Debian p7zip-full) not installed")
def test_an_encrypted_7z_member_is_listed_without_bytes(tmp_path: Path) -> None:
    (tmp_path / "evil.bin").write_bytes(b"evil " * 10)
    archive = tmp_path / "a.7z"
    subprocess.run(["7z", "a", "-psecret", str(archive), str(tmp_path / "evil.bin")], check=True,
                   capture_output=True)
    got = listed(archive.read_bytes(), FileType.SEVENZIP)
    assert [(c.name, c.listed_only, c.info) for c in got] == [("evil.bin", True, MemberInfo(0, 50, True, 0))]


def _scan(tmp_path: Path, cdb: str, data: bytes, allmatch: bool = False):  # type: ignore[no-untyped-def]
    db_dir = tmp_path / "db"
    db_dir.mkdir(exist_ok=True)
    (db_dir / "c.cdb").write_text(cdb + "\n")
    (db_dir / "b.ndb").write_text("Plain.Body:0:*:" + b"visible visible".hex() + "\n")
    target = tmp_path / "t.zip"
    target.write_bytes(data)
    engine = Engine(load_database([str(db_dir)], cache=False), ScanSettings(allmatch=allmatch))
    return engine.scan(ScanTarget(str(target), path=str(target)))


def test_a_metadata_hit_on_an_encrypted_member_is_explained(tmp_path: Path) -> None:
    report = _scan(tmp_path, r"Zip.Encrypted.Exe:CL_TYPE_ZIP:*:\.exe$:*:14:1:*:*:*",
                   _zip_with_dir_and_encrypted_member())
    assert report.verdict is Verdict.INFECTED
    (detection,) = report.detections
    (match,) = detection.matches
    # a metadata hit on the last record beats the body hit on an earlier member, as in clamscan
    assert (match.name, match.kind, match.layer_path) == ("Zip.Encrypted.Exe.UNOFFICIAL", "container",
                                                         f"{tmp_path / 't.zip'}>secret.exe")
    assert match.origin is not None and (Path(match.origin.file).name, match.origin.line) == ("c.cdb", 1)


def test_a_field_that_does_not_hold_is_no_detection(tmp_path: Path) -> None:
    data = _zip_with_dir_and_encrypted_member()
    for cdb in (
        r"Wrong.Size:CL_TYPE_ZIP:*:\.exe$:*:15:1:*:*:*",
        r"Wrong.Flag:CL_TYPE_ZIP:*:\.exe$:*:*:0:*:*:*",
        r"Wrong.Type:CL_TYPE_RAR:*:\.exe$:*:*:*:*:*:*",
        r"Wrong.Pos:*:*:\.exe$:*:*:*:2:*:*",
    ):
        report = _scan(tmp_path, cdb, data)
        assert report.name == "Plain.Body.UNOFFICIAL", cdb


def test_allmatch_reports_the_metadata_hit_and_the_body_hit(tmp_path: Path) -> None:
    data = _zip_with_dir_and_encrypted_member()
    report = _scan(tmp_path, r"Zip.Encrypted.Exe:*:*:secret:*:*:*:*:*:*", data, allmatch=True)
    assert [d.name for d in report.detections] == ["Zip.Encrypted.Exe.UNOFFICIAL", "Plain.Body.UNOFFICIAL"]


def test_cdb_signatures_are_counted(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    (db_dir / "c.cdb").write_text("A:*:*:a:*:*:*:*:*:*\nB:*:*:b:*:*:*:*:*:*\n")
    (db_dir / "h.hdb").write_text(f"{hashlib.md5(b'x').hexdigest()}:1:H\n")
    assert load_database([str(db_dir)], cache=False).signature_count == 3
