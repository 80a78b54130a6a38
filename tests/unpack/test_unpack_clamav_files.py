"""ClamAV's own harmless test files, and clamscan as the oracle for the zip overlap rule."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from unpack_helpers import quoted_zip, unpack

from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.zip import OVERLAP_DETECTION

FILES = Path("/usr/share/clamav-testfiles")
pytestmark = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")


def _exe() -> bytes:
    return (FILES / "clam.exe").read_bytes()


@pytest.mark.parametrize(
    ("name", "ftype"),
    [("clam.zip", FileType.ZIP), ("clam.bz2.zip", FileType.ZIP), ("clam.exe.bz2", FileType.BZ)],
)
def test_single_member_archives_yield_clam_exe(name: str, ftype: FileType) -> None:
    (child,) = unpack((FILES / name).read_bytes(), ftype, name)
    assert child.name == "clam.exe"
    assert bytes(child.data) == _exe()


def test_tar_gz_layers_gz_then_tar() -> None:
    (tar,) = unpack((FILES / "clam.tar.gz").read_bytes(), FileType.GZ, "clam.tar.gz")
    assert tar.name == "clam.tar"
    (member,) = unpack(bytes(tar.data), FileType.POSIX_TAR, tar.name)
    assert (member.name, bytes(member.data)) == ("clam.exe", _exe())


@pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")
def test_overlap_alert_threshold_agrees_with_clamscan(tmp_path: Path) -> None:
    payload = b"hello world"
    db, targets = tmp_path / "db", tmp_path / "t"
    db.mkdir()
    targets.mkdir()
    (db / "p.hdb").write_text(f"{hashlib.md5(payload).hexdigest()}:{len(payload)}:Payload.Hit\n")
    counts = (2, 5, 6, 7, 9)
    for n in counts:
        (targets / f"q{n}.zip").write_bytes(quoted_zip(n, payload))
    out = subprocess.run(
        ["clamscan", "--no-summary", "-d", str(db), str(targets)], capture_output=True, text=True, check=False
    ).stdout
    verdicts = {Path(line.split(": ")[0]).name: line.split(": ")[1] for line in out.splitlines()}
    for n in counts:
        ctx = ScanContext(ScanLimits())
        children = unpack(quoted_zip(n, payload), FileType.ZIP, ctx=ctx)
        ours_flagged = OVERLAP_DETECTION in ctx.alerts
        ours_hit = any(bytes(c.data) == payload for c in children)
        theirs = verdicts[f"q{n}.zip"]
        assert ours_flagged == (theirs == f"{OVERLAP_DETECTION} FOUND"), (n, theirs)
        assert ours_hit == theirs.startswith("Payload.Hit"), (n, theirs)
