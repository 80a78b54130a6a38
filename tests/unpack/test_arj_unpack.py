"""ARJ: ClamAV's clam.arj, archives written by the real `arj` for every method, clamscan agreement."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.engine.filetype import identify
from vigil.layer import ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.arj import read_header

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
needs_arj = pytest.mark.skipif(shutil.which("arj") is None, reason="arj (Debian package arj) not installed")
needs_clamscan = pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")


def members() -> list[tuple[str, bytes]]:
    """Text that compresses well, bytes that do not, a run that makes long matches, and an empty file."""
    rng = bytes((i * 7919 + (i >> 3) * 104729) & 0xFF for i in range(40_000))
    text = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(2000))
    return [("text.txt", text), ("noise.bin", rng), ("zeros.bin", b"\0" * 70_000), ("empty", b"")]


def arj_archive(tmp: Path, method: int, files: list[tuple[str, bytes]], *extra: str) -> bytes:
    src = tmp / f"src{method}"
    src.mkdir()
    for name, data in files:
        (src / name).write_bytes(data)
    out = tmp / f"m{method}.arj"
    subprocess.run(
        ["arj", "a", f"-m{method}", "-y", *extra, str(out), *(name for name, _ in files)],
        cwd=src, check=True, capture_output=True,
    )
    return out.read_bytes()


@needs_files
def test_clam_arj_yields_clam_exe_and_is_detected() -> None:
    data = (FILES / "clam.arj").read_bytes()
    assert identify(data) is FileType.ARJ
    (child,) = unpack(data, FileType.ARJ, "clam.arj")
    assert rows([child]) == [row("clam.exe", (FILES / "clam.exe").read_bytes())]
    report = Engine(load_database()).scan(ScanTarget(display="clam.arj", path=str(FILES / "clam.arj")))
    assert report.name == "Vigil.Test.ClamExe"
    assert not report.errors


@needs_files
def test_clam_arj_headers() -> None:
    data = (FILES / "clam.arj").read_bytes()
    main = read_header(data, 0)
    assert main is not None and main.file_type == 2 and main.name == "clam.arj"
    member = read_header(data, main.data_start)
    assert member is not None
    assert (member.name, member.method, member.csize, member.usize) == ("clam.exe", 1, 269, 544)


@needs_arj
@pytest.mark.parametrize("method", [0, 1, 2, 3, 4])
def test_every_method_round_trips(tmp_path: Path, method: int) -> None:
    files = members()
    data = arj_archive(tmp_path, method, files)
    assert identify(data) is FileType.ARJ
    got = rows(unpack(data, FileType.ARJ, f"m{method}.arj"))
    assert got == [row(name, payload) for name, payload in files]


@needs_arj
def test_directories_are_skipped_and_paths_kept(tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "inner.txt").write_bytes(b"inner data " * 50)
    out = tmp_path / "t.arj"
    subprocess.run(["arj", "a", "-r", "-y", str(out), "*"], cwd=src, check=True, capture_output=True)
    assert rows(unpack(out.read_bytes(), FileType.ARJ)) == [row("sub/inner.txt", b"inner data " * 50)]


@needs_arj
def test_encrypted_member_is_skipped_with_an_issue(tmp_path: Path) -> None:
    data = arj_archive(tmp_path, 1, [("secret.txt", b"top secret " * 30)], "-gpassword")
    ctx = ScanContext(ScanLimits())
    assert unpack(data, FileType.ARJ, ctx=ctx) == []
    assert any("secret.txt" in issue for issue in ctx.issues)
    assert ctx.alerts == []  # clamscan 1.4.6 raises no encrypted-archive alert for ARJ


@needs_arj
@needs_clamscan
def test_verdicts_agree_with_clamscan(tmp_path: Path) -> None:
    payload = b"MZ" + bytes(range(256)) * 8 + b"arj agreement payload"
    db = tmp_path / "db"
    db.mkdir()
    (db / "p.hdb").write_text(f"{hashlib.md5(payload).hexdigest()}:{len(payload)}:Arj.Payload\n")
    archives = {f"m{m}.arj": arj_archive(tmp_path, m, [("p.exe", payload), ("other", b"x" * 999)])
                for m in range(5)}
    (tmp_path / "enc").mkdir()
    archives["enc.arj"] = arj_archive(tmp_path / "enc", 1, [("p.exe", payload)], "-gpw")
    targets = tmp_path / "targets"
    targets.mkdir()
    for name, data in archives.items():
        (targets / name).write_bytes(data)
    out = subprocess.run(
        ["clamscan", "--no-summary", "--alert-encrypted-archive", "-d", str(db), str(targets)],
        capture_output=True, text=True, check=False,
    ).stdout
    theirs = {Path(line.split(": ")[0]).name: line.split(": ")[1] for line in out.splitlines()}
    engine = Engine(load_database([str(db)]))
    for name in archives:
        ours = engine.scan(ScanTarget(display=name, path=str(targets / name)))
        assert (ours.name or "OK") == theirs[name].removesuffix(" FOUND"), name

