"""A repeated `vigil scan` over an unchanged tree and database replays the recorded output (cli.replay).

The replay must print exactly what a run would print, import none of the scanning code, and never
answer once anything the run depended on changed: a file's bytes or metadata, a directory's entries,
the database, the command line, the working directory.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import EICAR, VIGIL, ndb_line

from vigil import freshness
from vigil.cli import replay
from vigil.cli.main import main

PROBE = """
import json, sys
from vigil.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
loaded = [m for m in ("vigil.cli.scan", "vigil.types", "vigil.engine.scancache", "dataclasses", "typing")
          if m in sys.modules]
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


_TIMES = ("Time:", "Start Date:", "End Date:")


def _tree(root: Path) -> tuple[Path, Path]:
    db = root / "db"
    db.mkdir()
    (db / "test.ndb").write_text(ndb_line("Eicar-Test", EICAR))
    (db / "notes.txt").write_text("not a signature file: given with -d, the loader warns and skips it\n")
    tree = root / "tree"
    (tree / "sub" / "deep").mkdir(parents=True)
    (tree / "eicar.com").write_bytes(EICAR)
    (tree / "clean.txt").write_text("hello\n")
    (tree / "empty").write_bytes(b"")
    (tree / "sub" / "c2").write_text("just text\n")
    (tree / "sub" / "deep" / "e3").write_bytes(EICAR + b"\nsuffix")
    (tree / os.fsdecode(b"odd\xffname\n.txt")).write_text("a name that is not UTF-8, with a line break\n")
    os.symlink("clean.txt", tree / "link")
    return db, tree


@pytest.fixture
def settled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A tree and database older than a shortened racy-write guard, with a private cache directory."""
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(freshness, "RACY_SECONDS", 0.05)
    db, tree = _tree(tmp_path)
    time.sleep(0.1)
    return db, tree


def _scan(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, str, str]:
    capsysbinary.readouterr()
    code = main(["scan", *args])
    return (code, *_decoded(capsysbinary))


def _replayed(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int | None, str, str]:
    capsysbinary.readouterr()
    code = replay.replay(["scan", *args])
    return (code, *_decoded(capsysbinary))


def _decoded(capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[str, str]:
    out, err = capsysbinary.readouterr()
    return out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")


def test_the_replay_prints_what_the_run_printed(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    db, tree = settled
    args = ("-r", "--no-summary", "-d", str(db), "-d", str(db / "notes.txt"), str(tree))
    ran = _scan(capsysbinary, *args)
    assert ran[0] == 1 and "eicar.com: Eicar-Test.UNOFFICIAL FOUND" in ran[1]
    assert "name\\n.txt: OK" in ran[1] and "unknown extension" in ran[2]
    assert _replayed(capsysbinary, *args) == ran


def test_the_summary_is_recounted_with_new_times(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    db, tree = settled
    args = ("-r", "-d", str(db), str(tree))
    ran = _scan(capsysbinary, *args)
    code, out, err = _replayed(capsysbinary, *args)
    assert (code, err) == (ran[0], ran[2])

    def timeless(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(_TIMES)]

    assert "Scanned directories: 3\nScanned files: 5\nInfected files: 2\n" in out
    assert timeless(out) == timeless(ran[1]) and "Time: " in out


def test_a_replayed_process_imports_no_scanning_code_and_keeps_stream_order(tmp_path: Path) -> None:
    """Through the console script and a shared stdout/stderr, as `vigil scan ... 2>&1` would run."""
    db, tree = _tree(tmp_path)
    old = time.time() - 3600
    for path in [db, tree, *db.iterdir(), *tree.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    time.sleep(freshness.RACY_SECONDS + 0.2)  # the ctimes too must be older than the guard
    env = {**os.environ, "VIGIL_CACHE_DIR": str(tmp_path / "cache")}
    args = ["scan", "-r", "-d", str(db), "-d", str(db / "notes.txt"), str(tree)]

    def merged() -> tuple[int, bytes]:
        proc = subprocess.run([VIGIL, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120, check=False)
        kept = [line for line in proc.stdout.splitlines(keepends=True)
                if not line.decode("utf-8", "replace").startswith(_TIMES)]
        return proc.returncode, b"".join(kept)

    first = merged()
    assert first[1].startswith(b"Vigil Warning: cli_load: unknown extension")
    assert merged() == first
    probe = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, timeout=120,
                           check=False)
    assert json.loads(probe.stderr.splitlines()[-1]) == {"code": 1, "loaded": []}


def _rewrite_same_size(db: Path, tree: Path) -> None:
    (tree / "clean.txt").write_text("HELLO\n")


def _restore_mtime_after_writing(db: Path, tree: Path) -> None:
    info = (tree / "sub" / "c2").stat()
    (tree / "sub" / "c2").write_bytes(EICAR[:10])
    os.utime(tree / "sub" / "c2", ns=(info.st_atime_ns, info.st_mtime_ns))  # ctime still moves


def _add_file(db: Path, tree: Path) -> None:
    (tree / "sub" / "deep" / "new").write_bytes(EICAR)


def _remove_file(db: Path, tree: Path) -> None:
    (tree / "sub" / "c2").unlink()


def _rename_file(db: Path, tree: Path) -> None:
    (tree / "clean.txt").rename(tree / "sub" / "clean.txt")


def _chmod_file(db: Path, tree: Path) -> None:
    (tree / "clean.txt").chmod(0o600)


def _retarget_link(db: Path, tree: Path) -> None:
    (tree / "link").unlink()
    os.symlink("eicar.com", tree / "link")


def _edit_database(db: Path, tree: Path) -> None:
    with (db / "test.ndb").open("a") as handle:
        handle.write(ndb_line("Clean-Now", b"hello"))


def _add_database_file(db: Path, tree: Path) -> None:
    (db / "more.ndb").write_text(ndb_line("Just-Text", b"just text"))


@pytest.mark.parametrize("change", [
    _rewrite_same_size, _restore_mtime_after_writing, _add_file, _remove_file, _rename_file, _chmod_file,
    _retarget_link, _edit_database, _add_database_file,
])
def test_any_change_ends_the_replay_and_the_next_run_scans(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes],
    change: Callable[[Path, Path], None],
) -> None:
    db, tree = settled
    args = ("-r", "--no-summary", "-d", str(db), str(tree))
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] == 1
    time.sleep(0.01)  # past the filesystem's timestamp tick
    change(db, tree)
    assert _replayed(capsysbinary, *args) == (None, "", "")


def test_another_command_line_or_directory_is_not_replayed(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, tree = settled
    monkeypatch.chdir(tree)
    _scan(capsysbinary, "--no-summary", "-d", str(db), "clean.txt")
    assert _replayed(capsysbinary, "--no-summary", "-d", str(db), "clean.txt")[0] == 0
    assert _replayed(capsysbinary, "--no-summary", "-i", "-d", str(db), "clean.txt")[0] is None
    (tree / "sub" / "clean.txt").write_text("hello\n")
    monkeypatch.chdir(tree / "sub")
    assert _replayed(capsysbinary, "--no-summary", "-d", str(db), "clean.txt")[0] is None


@pytest.mark.parametrize("extra", [
    ["--json", "TREE"], ["--no-cache", "TREE"], ["--log", "LOG", "TREE"], ["--copy", "COPY", "TREE"],
    ["-"], ["TREE", "MISSING"], ["-f", "LIST"], ["-d", "MISSING", "TREE"],
])
def test_runs_with_effects_errors_or_unseen_inputs_are_not_recorded(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, extra: list[str]
) -> None:
    db, tree = settled
    named = {"TREE": tree, "LOG": tmp_path / "log", "COPY": tmp_path / "copies",
             "MISSING": tmp_path / "missing", "LIST": tmp_path / "list"}
    (tmp_path / "copies").mkdir()
    (tmp_path / "list").write_text(f"{tree / 'clean.txt'}\n")
    time.sleep(0.1)
    args = ["-r", "--no-summary", "-d", str(db), *(str(named.get(word, word)) for word in extra)]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"stdin bytes")))
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] is None


def test_a_tree_touched_just_before_the_run_is_not_recorded(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write in the same timestamp tick as the walk could leave every stamp as the record has it."""
    db, tree = settled
    monkeypatch.setattr(freshness, "RACY_SECONDS", 3600.0)
    args = ("-r", "--no-summary", "-d", str(db), str(tree))
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] is None


def test_a_walk_over_the_path_limit_is_not_recorded(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, tree = settled
    monkeypatch.setattr(replay, "MAX_PATHS", 5)
    args = ("-r", "--no-summary", "-d", str(db), str(tree))
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] is None
    monkeypatch.setattr(replay, "MAX_PATHS", 50)
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] == 1


def test_the_store_keeps_the_latest_commands(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, tree = settled
    monkeypatch.setattr(replay, "KEEP", 2)
    names = ("clean.txt", "eicar.com", "link")
    commands = [("--no-summary", "-d", str(db), str(tree / name)) for name in names]
    for command in commands:
        _scan(capsysbinary, *command)
    assert [_replayed(capsysbinary, *command)[0] for command in commands] == [None, 1, 0]


def test_a_reinstalled_vigil_module_ends_the_replay(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A patched module may print differently under the same version number: its new ctime is seen."""
    db, tree = settled
    args = ("-r", "--no-summary", "-d", str(db), str(tree))
    _scan(capsysbinary, *args)
    assert _replayed(capsysbinary, *args)[0] == 1
    time.sleep(0.01)
    module = Path(replay.__file__).with_name("output.py")
    module.chmod(module.stat().st_mode)  # what reinstalling does to the inode, minus the new bytes
    assert _replayed(capsysbinary, *args)[0] is None


def test_a_store_that_is_not_a_database_is_replaced(
    settled: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A torn or foreign store file answers nothing and is made again by the next recorded run."""
    db, tree = settled
    store = Path(replay.store_path())
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database " * 100)
    args = ("-r", "--no-summary", "-d", str(db), str(tree))
    assert _replayed(capsysbinary, *args) == (None, "", "")
    ran = _scan(capsysbinary, *args)
    assert ran[0] == 1
    assert _replayed(capsysbinary, *args) == ran
