"""Blocking on-access protection with real fanotify permission events, on directory marks in tmp."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import (
    EICAR,
    WatchProcess,
    make_tree,
    needs_fanotify,
    read_in_child,
    run,
    write_in_child,
)

pytestmark = [needs_fanotify, pytest.mark.timeout(60)]
Start = Callable[..., WatchProcess]


def test_infected_open_is_denied_clean_open_is_allowed(tmp_path: Path, start_watch: Start) -> None:
    tree = tmp_path / "w"
    make_tree(tree)
    (tree / "sub").mkdir()
    (tree / "sub" / "deep.bin").write_bytes(b"prefix " + EICAR)
    watcher = start_watch(str(tree))
    assert read_in_child(tree / "clean.txt") == (0, b"hello, clean\n")
    assert read_in_child(tree / "eicar.com") == (errno.EPERM, b"")
    assert read_in_child(tree / "sub" / "deep.bin") == (errno.EPERM, b"")
    cat = run(["cat", str(tree / "eicar.com")])
    assert cat.returncode != 0 and b"Operation not permitted" in cat.stderr
    denied = watcher.wait_event("deny", path=str(tree / "eicar.com"))
    assert denied["virus"] == "Eicar-Test.UNOFFICIAL" and denied["type"] == "watch"
    stats = watcher.stop()
    assert stats["denied"] >= 3 and stats["cache_hits"] >= 1
    # the watcher is gone: nothing is blocked any more
    assert read_in_child(tree / "eicar.com") == (0, EICAR)


def test_executing_an_infected_program_is_denied(tmp_path: Path, start_watch: Start) -> None:
    tree = tmp_path / "w"
    tree.mkdir()
    bad, good = tree / "bad.sh", tree / "good.sh"
    bad.write_bytes(b"#!/bin/sh\n# " + EICAR + b"\necho ran\n")
    good.write_bytes(b"#!/bin/sh\necho ran\n")
    os.chmod(bad, 0o755)
    os.chmod(good, 0o755)
    watcher = start_watch(str(tree))
    assert run([str(good)]).stdout == b"ran\n"
    with pytest.raises(PermissionError) as denied:
        run([str(bad)])
    assert denied.value.errno == errno.EPERM
    event = watcher.wait_event("deny", path=str(bad))
    assert event["access"] == "exec"


def test_clean_opens_are_cached(tmp_path: Path, start_watch: Start) -> None:
    tree = tmp_path / "w"
    make_tree(tree)
    watcher = start_watch(str(tree))
    for _ in range(5):
        assert read_in_child(tree / "clean.txt")[0] == 0
    write_in_child(tree / "clean.txt", b"changed, still clean\n")  # new mtime/ctime: scanned again
    write_in_child(tree / "clean.txt", b"changed again\n")
    assert read_in_child(tree / "clean.txt") == (0, b"changed again\n")
    stats = watcher.stop()
    assert stats["scanned"] >= 2 and stats["cache_hits"] >= 4


def test_file_infected_after_start_is_denied(tmp_path: Path, start_watch: Start) -> None:
    tree = tmp_path / "w"
    make_tree(tree)
    start_watch(str(tree))
    assert read_in_child(tree / "clean.txt")[0] == 0
    # the same inode turns infected: the cached clean verdict must not be reused
    code = f"open({str(tree / 'clean.txt')!r}, 'ab').write(bytes.fromhex({EICAR.hex()!r}))"
    assert run([sys.executable, "-c", code]).returncode == 0
    assert read_in_child(tree / "clean.txt")[0] == errno.EPERM


def test_new_subdirectory_is_protected(tmp_path: Path, start_watch: Start) -> None:
    tree = tmp_path / "w"
    tree.mkdir()
    watcher = start_watch(str(tree), "--exclude", str(tree / "skipped"))
    (tree / "later").mkdir()
    (tree / "later" / "e.com").write_bytes(EICAR)
    (tree / "skipped").mkdir()
    (tree / "skipped" / "e.com").write_bytes(EICAR)
    watcher.wait_event("ready")
    deadline_ok = False
    for _ in range(40):  # the marker looks for new directories every 2 s
        if read_in_child(tree / "later" / "e.com")[0] == errno.EPERM:
            deadline_ok = True
            break
        run(["sleep", "0.2"])
    assert deadline_ok
    assert read_in_child(tree / "skipped" / "e.com") == (0, EICAR)


def test_exclusions_by_process_name_and_uid(start_watch: Start) -> None:
    with tempfile.TemporaryDirectory(prefix="vigil-watch-uid-") as base:  # reachable by uid 65534
        os.chmod(base, 0o755)
        tree = Path(base) / "w"
        make_tree(tree)
        start_watch(str(tree), "--exclude-process", "cat", "--exclude-uid", "65534")
        assert run(["cat", str(tree / "eicar.com")]).stdout == EICAR
        assert run(["head", "-c", "999", str(tree / "eicar.com")]).returncode != 0
        nobody = run(["head", "-c", "999", str(tree / "eicar.com")], user=65534, group=65534)
        assert nobody.stdout == EICAR


@pytest.mark.parametrize(("policy", "expected"), [("allow", 0), ("deny", errno.EPERM)])
def test_scan_over_budget_falls_back_to_policy(tmp_path: Path, start_watch: Start,
                                               policy: str, expected: int) -> None:
    tree = tmp_path / "w"
    tree.mkdir()
    big = tree / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 48)  # takes far longer than 1 ms to scan
    watcher = start_watch(str(tree), "--budget", "0.001", "--fallback", policy)
    assert read_in_child(big)[0] == expected
    event = watcher.wait_event("timeout", path=str(big))
    assert event["policy"] == policy


def test_deny_and_quarantine_with_the_vault_inside_the_watched_tree(tmp_path: Path,
                                                                    start_watch: Start) -> None:
    """The watcher's own accesses (quarantine reads the file, writes the vault) are never blocked."""
    tree = tmp_path / "w"
    make_tree(tree)
    vault = tree / "vault"
    watcher = start_watch(str(tree), "--quarantine", "--vault", str(vault))
    assert read_in_child(tree / "eicar.com")[0] == errno.EPERM
    event = watcher.wait_event("quarantined", path=str(tree / "eicar.com"), timeout=5)
    assert not (tree / "eicar.com").exists()
    assert (vault / "blobs" / event["id"]).exists()
    assert read_in_child(tree / "clean.txt")[0] == 0
    stats = watcher.stop()
    assert stats["own"] >= 1 and stats["timeouts"] == 0
