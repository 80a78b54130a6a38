"""Notify mode (FAN_CLOSE_WRITE and the inotify fallback), mount/filesystem marks, and the CLI surface."""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watch_helpers import EICAR, WatchProcess, make_tree, needs_fanotify, read_in_child, write_in_child

from vigil.actions.quarantine import Vault

pytestmark = pytest.mark.timeout(60)
Start = Callable[..., WatchProcess]


def _quarantined_within(path: Path, vault_dir: Path, seconds: float) -> float:
    """Write EICAR to `path` (in a child) and return how long until it sat in the vault, not in place."""
    started = time.monotonic()
    write_in_child(path, EICAR)
    while time.monotonic() - started < seconds:
        if not path.exists() and (vault_dir / "blobs").is_dir() and any((vault_dir / "blobs").iterdir()):
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"{path} not quarantined within {seconds} s")


@needs_fanotify
@pytest.mark.parametrize("mode", [["--no-block"], ["--notify"]], ids=["notify-only", "block+notify"])
def test_written_eicar_is_quarantined_within_one_second(tmp_path: Path, start_watch: Start,
                                                        mode: list[str]) -> None:
    tree, vault = tmp_path / "w", tmp_path / "vault"
    tree.mkdir()
    watcher = start_watch(str(tree), *mode, "--quarantine", "--vault", str(vault))
    elapsed = _quarantined_within(tree / "download.com", vault, 1.0)
    event = watcher.wait_event("quarantined", path=str(tree / "download.com"), timeout=2)
    write_in_child(tree / "notes.txt", b"clean text")
    assert read_in_child(tree / "notes.txt") == (0, b"clean text")
    watcher.stop()
    with Vault.open(str(vault)) as opened:
        [entry] = opened.entries()
        assert entry.id == event["id"] and entry.detection == "Eicar-Test.UNOFFICIAL"
        opened.restore(entry.id)
    assert (tree / "download.com").read_bytes() == EICAR
    assert elapsed < 1.0


def test_inotify_fallback_quarantines_and_warns(tmp_path: Path, start_watch: Start) -> None:
    tree, vault = tmp_path / "w", tmp_path / "vault"
    tree.mkdir()
    watcher = start_watch(str(tree), "--inotify", "--quarantine", "--vault", str(vault))
    warning = watcher.wait_event("warning")
    assert "CANNOT block" in warning["reason"]
    assert _quarantined_within(tree / "later.com", vault, 1.0) < 1.0
    watcher.wait_event("quarantined", path=str(tree / "later.com"), timeout=2)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "vigil-test", str(mnt)],
                      check=False, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@needs_fanotify
@pytest.mark.parametrize("kind", ["mount", "filesystem"])
def test_mount_and_filesystem_marks_filter_by_path(tmpfs: Path, start_watch: Start, kind: str) -> None:
    make_tree(tmpfs / "watched")
    make_tree(tmpfs / "other")
    watcher = start_watch(str(tmpfs / "watched"), "--mark", kind)
    assert read_in_child(tmpfs / "watched" / "eicar.com")[0] == errno.EPERM
    assert read_in_child(tmpfs / "watched" / "clean.txt")[0] == 0
    assert read_in_child(tmpfs / "other" / "eicar.com") == (0, EICAR)
    stats = watcher.stop()
    assert stats["denied"] == 1 and stats["excluded"] >= 1
