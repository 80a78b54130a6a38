"""--move/--copy/--remove: clamscan's lines, and a file that always ends up exactly once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import EICAR, needs_clamscan, run_clamscan, run_vigil

from vigil.actions import move as mv


def _prepare(root: Path) -> None:
    for sub in ("m", "q"):
        (root / sub).mkdir(exist_ok=True)
    (root / "m" / "a").write_bytes(EICAR)
    (root / "m" / "c").write_text("clean\n")
    (root / "q" / "a").write_bytes(b"older quarantined file")


@needs_clamscan
@pytest.mark.parametrize("action", ["--move=q", "--copy=q", "--remove"])
def test_actions_like_clamscan(tmp_path: Path, work: Path, action: str) -> None:
    outputs = []
    for tool, runner in (("ours", run_vigil), ("theirs", run_clamscan)):
        root = tmp_path / tool
        root.mkdir()
        (root / "db").symlink_to(work / "db")
        _prepare(root)
        run = runner(["--no-summary", "-d", "db", action, "m"], root)
        files = [p for p in root.rglob("*") if p.is_file() and "db" not in p.parts]
        listing = sorted(str(p.relative_to(root)) for p in files)
        outputs.append((run.rc, run.out.replace(str(root), "ROOT"), run.err, listing))
    assert outputs[0] == outputs[1]


def test_move_clash_gets_suffix_and_keeps_both(work: Path) -> None:
    _prepare(work)
    run = run_vigil(["--no-summary", "-d", "db", "--move=q", "m"], work)
    assert f"m/a (real path: '{work}/m/a'): moved to '{work}/q/a.001'" in run.out.splitlines()
    assert not (work / "m" / "a").exists()
    assert (work / "q" / "a.001").read_bytes() == EICAR
    assert (work / "q" / "a").read_bytes() == b"older quarantined file"
    assert (work / "m" / "c").exists()


def test_cross_filesystem_move_copies_then_unlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    victim = src / "v"
    victim.write_bytes(EICAR)
    real_stat = os.stat

    def fake_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if str(path) == str(dest):
            fields = list(result)
            fields[2] = result.st_dev + 1  # pretend the quarantine is on another device
            return os.stat_result(fields)
        return result

    monkeypatch.setattr("vigil.actions.move.os.stat", fake_stat)
    renamed: list[object] = []
    monkeypatch.setattr("vigil.actions.move.os.rename", lambda *a: renamed.append(a))
    result = mv.move_file(str(victim), str(dest))
    assert renamed == []
    assert result.destination == str(dest / "v")
    assert (dest / "v").read_bytes() == EICAR
    assert not victim.exists()


def test_refuses_symlink_swapped_in(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep me")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(mv.ActionError):
        mv._open_source(str(link)).__enter__()  # O_NOFOLLOW on the final component
    assert target.read_text() == "keep me"


def test_unlink_refused_when_inode_changed(tmp_path: Path) -> None:
    victim = tmp_path / "v"
    victim.write_bytes(EICAR)
    before = os.lstat(victim)
    victim.rename(tmp_path / "kept")  # the original stays alive, so the new file gets another inode
    victim.write_bytes(b"a different file now")
    with pytest.raises(mv.ActionError):
        mv._unlink_checked(str(victim), before)
    assert victim.read_bytes() == b"a different file now"
    assert (tmp_path / "kept").read_bytes() == EICAR


def test_remove_and_copy_failures_are_errors(work: Path) -> None:
    run = run_vigil(["--no-summary", "-d", "db", "--move=nowhere", "eicar.com"], work)
    assert run.rc == 2
    assert run.out == "action_setup: Failed to get realpath of nowhere\n"
    assert (work / "eicar.com").exists()
