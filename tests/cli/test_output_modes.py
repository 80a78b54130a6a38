"""Vigil's own output: hostile-name escaping, --json lines, --explain, and -j independence."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import EICAR, VIGIL, run_vigil

from vigil.cli.main import main
from vigil.render.text import escape_path

HOSTILE = {
    "a\nb: OK": EICAR,  # a newline would fake a second, clean result line
    "c\rd": b"clean\n",
    "e\x1b[31mf": b"clean\n",
    "g\x07h\x7f": b"clean\n",
    "tab\there": b"clean\n",
}


def test_escape_rule() -> None:
    assert escape_path("plain/name with spaces") == "plain/name with spaces"
    assert escape_path("a\nb") == "a\\nb"
    assert escape_path("c\rd") == "c\\rd"
    assert escape_path("e\x1b[31m") == "e\\x1b[31m"
    assert escape_path("\x00\x7f\x9b") == "\\x00\\x7f\\x9b"
    assert escape_path("back\\slash\ttab") == "back\\slash\ttab"  # unchanged, as clamscan prints them
    assert escape_path(os.fsdecode(b"raw\x9b")) == "raw\\x9b"  # 8-bit CSI smuggled as a raw byte


def test_hostile_names_cannot_fake_lines(work: Path) -> None:
    hostile = work / "hostile"
    hostile.mkdir()
    for name, data in HOSTILE.items():
        (hostile / name).write_bytes(data)
    run = run_vigil(["--no-summary", "-d", "db", "hostile"], work)
    lines = run.out.splitlines()
    assert len(lines) == len(HOSTILE)
    assert "hostile/a\\nb: OK: Eicar-Test.UNOFFICIAL FOUND" in lines
    assert "hostile/c\\rd: OK" in lines
    assert "hostile/e\\x1b[31mf: OK" in lines
    assert "hostile/g\\x07h\\x7f: OK" in lines
    assert "hostile/tab\there: OK" in lines
    assert "\x1b" not in run.out and "\r" not in run.out
    assert run.rc == 1


def test_json_lines(work: Path) -> None:
    run = run_vigil(["--json", "-d", "db", "-r", "tree", "missing"], work)
    objs = [json.loads(line) for line in run.out.splitlines()]
    assert all(obj["schema"] == 1 for obj in objs)
    results = {obj["path"]: obj for obj in objs if obj["type"] == "result"}
    assert results["tree/eicar.com"]["status"] == "infected"
    assert results["tree/eicar.com"]["names"] == ["Eicar-Test.UNOFFICIAL"]
    det = results["tree/eicar.com"]["detections"][0]
    assert det["matches"][0]["origin"].endswith("test.ndb:1")
    assert results["tree/clean.txt"]["status"] == "clean"
    assert results["tree/empty"]["status"] == "empty"
    assert results["missing"]["status"] == "error"
    assert len(results["tree/sub/deep/e3"]["sha256"]) == 64
    summary = objs[-1]
    assert summary["type"] == "summary"
    assert summary["infected_files"] == 3
    assert summary["scanned_files"] == 5
    assert summary["scanned_directories"] == 3
    assert summary["exit_code"] == run.rc == 1


def test_explain_shows_origin_offset_and_bytes(work: Path) -> None:
    run = run_vigil(["--no-summary", "--explain", "-d", "db", "tree/sub/e2"], work)
    lines = run.out.splitlines()
    assert lines[0] == "tree/sub/e2: Eicar-Test.UNOFFICIAL FOUND"
    detail = "\n".join(lines[1:])
    assert all(line.startswith("  ") for line in lines[1:])
    assert "test.ndb:1" in detail
    assert "offset 7 (0x7)" in detail  # after the 7-byte "prefix " in e2
    assert EICAR[:8].hex() in detail
    assert "X5O!P%@AP" in detail


def _tree(root: Path, count: int) -> None:
    for index in range(count):
        sub = root / f"d{index % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        data = EICAR if index % 7 == 0 else f"clean {index}\n".encode()
        (sub / f"f{index:03d}").write_bytes(data)
    (root / "d1" / "empty").write_bytes(b"")


def test_jobs_do_not_change_output(work: Path) -> None:
    _tree(work / "many", 120)
    base = ["--no-summary", "-d", "db", "-r", "--exclude=f01", "many"]
    one = run_vigil(["-j", "1", *base], work)
    two = run_vigil(["-j", "2", *base], work)
    assert one.out == two.out
    assert one.rc == two.rc == 1
    assert one.out.count("FOUND") == 17  # multiples of 7 below 120, less f014 (excluded)


def test_in_process_main(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work)
    rc = main(["scan", "--no-summary", "-j", "1", "-d", "db", "eicar.com", "clean.txt"])
    out = capsys.readouterr().out
    assert rc == 1
    assert out == "eicar.com: Eicar-Test.UNOFFICIAL FOUND\nclean.txt: OK\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "-V"]) == 0
    assert capsys.readouterr().out.startswith("Vigil ")


def test_ok_lines_precede_a_later_warning_on_a_shared_stream(work: Path) -> None:
    """OK lines are buffered for speed; a warning must still come after the lines printed before it."""
    _tree(work / "many", 40)
    proc = subprocess.run([VIGIL, "scan", "--no-summary", "-d", "db", "-r", "many", "missing"],
                          cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                          check=False)
    lines = proc.stdout.decode().splitlines()
    problem = next(i for i, line in enumerate(lines) if line.startswith("missing"))
    assert problem == len(lines) - 1 or lines[problem + 1].startswith(("ERROR", "WARNING"))
    assert sum(line.endswith(": OK") for line in lines[:problem]) == 34  # 40 files, 6 with EICAR


def test_closed_pipe_with_buffered_lines_ends_quietly(work: Path) -> None:
    """More output than a pipe holds, so the scan must meet the closed pipe and stop without a trace."""
    many = work / "many"
    many.mkdir()
    for index in range(400):
        (many / f"{index:03d}{'x' * 200}").write_bytes(b"clean\n")
    reader = subprocess.Popen([VIGIL, "scan", "-d", "db", "-r", "many"], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    first = reader.stdout.readline()
    reader.stdout.close()  # like `| head -1`
    err = reader.stderr.read()
    assert reader.wait(timeout=120) == 2
    assert first.startswith(b"many/") and first.endswith(b": OK\n")
    assert err == b""


def test_reader_gone_before_the_first_line(work: Path) -> None:
    """However the buffered lines meet the closed pipe (timed flush or the final one), no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run([VIGIL, "scan", "--no-summary", "-d", "db", "clean.txt", "tree/clean.txt"],
                          cwd=work, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False)
    os.close(write_end)
    assert (proc.returncode, proc.stderr) == (2, b"")


def test_an_undecodable_name_is_printed_back_as_its_bytes(work: Path) -> None:
    """File names are bytes: one that is not UTF-8 comes out as the same bytes, not as a traceback, even
    where Python's streams would refuse it (a UTF-8 locale gives them strict errors; forced here)."""
    odd = work / "odd"
    odd.mkdir()
    (odd / os.fsdecode(b"caf\xe9.com")).write_bytes(EICAR)
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    proc = subprocess.run([VIGIL, "scan", "--no-summary", "-d", "db", "odd"], cwd=work, env=env,
                          capture_output=True, timeout=120, check=False)
    assert proc.stdout == b"odd/caf\xe9.com: Eicar-Test.UNOFFICIAL FOUND\n", proc.stderr
    assert b"Traceback" not in proc.stderr and proc.returncode == 1
