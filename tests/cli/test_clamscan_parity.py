"""`vigil scan` against the real clamscan 1.4.6: same stdout lines (timing, dates, engine version and
signature counts masked), same stderr, same exit code, on the same tiny database and tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import EICAR, needs_clamscan, run_clamscan, run_vigil

pytestmark = needs_clamscan

# (case id, clamscan arguments after -d, stdin bytes)
CASES: list[tuple[str, list[str], bytes | None]] = [
    ("clean", ["clean.txt"], None),
    ("infected", ["eicar.com"], None),
    ("missing", ["missing", "clean.txt"], None),
    ("missing-only", ["missing"], None),
    ("dir-no-recursion", ["tree"], None),
    ("recursive", ["-r", "tree"], None),
    ("trailing-slash", ["-r", "tree/"], None),
    ("infected-only", ["-r", "-i", "tree"], None),
    ("suppress-ok", ["-r", "-o", "tree"], None),
    ("no-summary", ["--no-summary", "-r", "tree", "eicar.com"], None),
    ("exclude", ["-r", "--exclude=e2$", "--exclude-dir=deep", "tree"], None),
    ("exclude-infected-only", ["-r", "-i", "--exclude=e2$", "tree"], None),
    ("include", ["-r", "--include", r"\.com$", "tree"], None),
    ("include-dir-top", ["-r", "--include-dir=sub$", "tree"], None),
    ("max-dir-recursion", ["-r", "--max-dir-recursion=2", "tree"], None),
    ("file-list", ["-f", "list"], None),
    ("file-list-and-args", ["--no-summary", "-f", "list", "clean.txt"], None),
    ("stdin", ["-"], EICAR),
    ("stdin-clean-between", ["clean.txt", "-", "eicar.com"], b"nothing here\n"),
    ("stdout-flag", ["--no-summary", "--stdout", "missing"], None),
    ("verbose", ["--no-summary", "-v", "eicar.com", "clean.txt"], None),
    ("symlinks-recursive", ["-r", "links"], None),
    ("symlinks-args", ["links/filelink", "links/dirlink", "links/broken"], None),
    ("symlinks-follow-2", ["--no-summary", "-r", "--follow-dir-symlinks=2", "--follow-file-symlinks=2",
                           "links"], None),
    ("symlinks-follow-0", ["--no-summary", "--follow-dir-symlinks=0", "--follow-file-symlinks=0",
                           "links/filelink", "links/dirlink"], None),
    ("max-filesize-no-alert", ["--max-filesize=10", "--alert-exceeds-max=no", "eicar.com"], None),
    ("max-filesize-alert", ["--no-summary", "--max-filesize=10", "--alert-exceeds-max", "eicar.com"], None),
    ("size-suffix", ["--no-summary", "--max-filesize=1M", "--max-scansize=2M", "eicar.com"], None),
]


@pytest.mark.parametrize(("args", "stdin"), [(a, s) for _i, a, s in CASES], ids=[i for i, _a, _s in CASES])
def test_same_as_clamscan(work: Path, args: list[str], stdin: bytes | None) -> None:
    full = ["-d", "db", *args]
    ours = run_vigil(full, work, stdin)
    theirs = run_clamscan(full, work, stdin)
    assert ours.masked == theirs.masked
    assert ours.err == theirs.err
    assert ours.rc == theirs.rc


def test_allmatch_prints_every_name(work: Path) -> None:
    args = ["--no-summary", "-d", "db2", "-z", "eicar.com"]
    ours, theirs = run_vigil(args, work), run_clamscan(args, work)
    assert ours.out == theirs.out
    assert len(ours.out.splitlines()) == 2
    assert ours.rc == theirs.rc == 1


def test_bad_database_names_file_and_line(work: Path) -> None:
    bad = work / "bad"
    bad.mkdir()
    (bad / "x.ndb").write_text("Good:0:*:41414141\nBad:0:*:zz\n")
    ours = run_vigil(["-d", "bad", "clean.txt"], work)
    theirs = run_clamscan(["-d", "bad", "clean.txt"], work)
    assert ours.rc == theirs.rc == 2
    assert ours.masked == theirs.masked  # the summary block, nothing scanned
    assert "x.ndb:2" in ours.err
    assert ours.err.startswith("ERROR: ")
    assert "clean.txt: OK" not in ours.out


def test_log_file_matches_clamscan(work: Path) -> None:
    args = ["--no-summary", "-r", "--exclude=e2$", "tree", "missing"]
    run_vigil(["-d", "db", "-l", "ours.log", *args], work)
    run_clamscan(["-d", "db", "-l", "theirs.log", *args], work)
    ours = (work / "ours.log").read_text()
    assert ours == (work / "theirs.log").read_text()
    assert "OK" not in ours and "FOUND" in ours


def test_no_paths_scans_current_directory(work: Path) -> None:
    for args in (["--no-summary", "-d", "../db"], ["--no-summary", "-r", "-d", "../db"]):
        ours, theirs = run_vigil(args, work / "tree"), run_clamscan(args, work / "tree")
        assert ours.out == theirs.out
        assert str(work / "tree" / "eicar.com") in ours.out
        assert ours.rc == theirs.rc == 1


def test_limits_fail_loud_by_default(work: Path) -> None:
    """Where clamscan says OK for a file over a limit, Vigil's default names the limit (exit 1)."""
    ours = run_vigil(["-d", "db", "--no-summary", "--max-filesize=10", "eicar.com"], work, None)
    assert ours.rc == 1
    assert ours.masked[0] == "eicar.com: Heuristics.Limits.Exceeded.MaxFileSize FOUND"


def test_archive_verbose_names_the_member_like_clamscan(work: Path) -> None:
    """`-a` adds `root!(depth)PARENTTYPE:member: NAME FOUND` for hits inside containers."""
    import gzip
    import io
    import tarfile
    import zipfile

    with zipfile.ZipFile(work / "e.zip", "w") as archive:
        archive.writestr("inner/eicar.com", EICAR)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("eicar.com")
        info.size = len(EICAR)
        tar.addfile(info, io.BytesIO(EICAR))
    (work / "e.tar.gz").write_bytes(gzip.compress(buffer.getvalue()))
    args = ["-d", "db", "--no-summary", "-a", "e.zip", "e.tar.gz", "clean.txt"]
    ours, theirs = run_vigil(args, work, None), run_clamscan(args, work, None)
    assert ours.masked == theirs.masked
    assert "e.tar.gz!(2)POSIX_TAR:eicar.com: Eicar-Test.UNOFFICIAL FOUND" in ours.masked
