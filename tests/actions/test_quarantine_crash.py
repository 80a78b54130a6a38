"""Crash safety: the quarantining process is SIGKILLed at every step and at random moments.

Each round forks a child that opens the vault and quarantines (or restores) one file; the parent kills
it, either at a chosen step (the child kills itself from the fault hook: deterministic coverage of every
step) or after a random delay. Then the vault is opened again, which runs recovery, and the file must be
in exactly one place with its bytes intact and the index consistent.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from quarantine_helpers import assert_consistent, assert_exactly_once, make_file

from vigil.actions import quarantine_fs as qfs
from vigil.actions.quarantine import Vault

QUARANTINE_STEPS = ("opened", "blob", "journal", "unlinked", "dir-synced", "stored")
RESTORE_STEPS = ("restore-journal", "restore-written", "restore-linked")
ROUNDS = 200


def _die_at(wanted: str | None) -> None:
    def hook(step: str) -> None:
        if step == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    qfs.FAULT_HOOK = hook if wanted else None


def _run_child(work: object, step: str | None, delay: float | None) -> int:
    """Fork; the child runs `work()` then exits 0. Returns the child's raw wait status."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            _die_at(step)
            work()  # type: ignore[operator]
        finally:
            os._exit(0)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _quarantine(root: str, path: Path) -> None:
    with Vault.open(root, recover=False) as vault:
        vault.quarantine(str(path), "Eicar-Test")


def _restore_all(root: str) -> None:
    with Vault.open(root, recover=False) as vault:
        for entry in vault.entries():
            vault.restore(entry.id)


@pytest.mark.timeout(120)
def test_sigkill_during_quarantine_200_times(tmp_path: Path) -> None:
    root = str(tmp_path / "vault")
    Vault.open(root).close()
    rng = random.Random(20240601)
    outcomes = {"vault": 0, "place": 0}
    for index in range(ROUNDS):
        path = tmp_path / "files" / f"f{index:03d}"
        path.parent.mkdir(exist_ok=True)
        sha = make_file(path, f"infected {index} ".encode() * rng.randint(1, 4000))
        deterministic = index % 2 == 0
        step = QUARANTINE_STEPS[(index // 2) % len(QUARANTINE_STEPS)] if deterministic else None
        status = _run_child(lambda p=path: _quarantine(root, p), step, None if deterministic
                            else rng.uniform(0.0, 0.03))
        if deterministic:
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        with Vault.open(root) as vault:  # recovery runs here
            assert_consistent(vault)
            outcomes[assert_exactly_once(vault, path, sha)] += 1
    # both endings happen: some rounds were rolled back, some completed
    assert outcomes["vault"] > 20 and outcomes["place"] > 20, outcomes


@pytest.mark.timeout(60)
def test_sigkill_during_restore(tmp_path: Path) -> None:
    root = str(tmp_path / "vault")
    rng = random.Random(7)
    for index in range(30):
        path = tmp_path / f"r{index:02d}"
        sha = make_file(path, os.urandom(rng.randint(0, 300_000)), mode=0o600 + index)
        with Vault.open(root) as vault:
            vault.quarantine(str(path), "Eicar-Test")
        step = RESTORE_STEPS[index % len(RESTORE_STEPS)] if index % 2 == 0 else None
        _run_child(lambda r=root: _restore_all(r), step, None if step else rng.uniform(0.0, 0.02))
        with Vault.open(root) as vault:
            assert_consistent(vault)
            where = assert_exactly_once(vault, path, sha)
            assert not (tmp_path / ".vigil-restore-x").exists()
            assert not [n for n in os.listdir(tmp_path) if n.startswith(".vigil-restore-")]
            if where == "place":
                assert os.stat(path).st_mode & 0o7777 == 0o600 + index
            else:
                vault.restore(vault.entries()[0].id)
