"""Debian's clamdscan against vigild and against a real clamd: same output lines and exit codes.

clamdscan gets a clamd.conf naming the daemon's socket (--config-file). The summary's Time and Date
lines differ run to run and are dropped; versions are masked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from daemon_env import Daemon, Tree

pytestmark = pytest.mark.skipif(shutil.which("clamdscan") is None, reason="clamdscan not installed")

MODES = {
    "plain": [],
    "multiscan": ["-m"],
    "stream": ["--stream"],
    "fdpass": ["--fdpass"],
    "multiscan-fdpass": ["-m", "--fdpass"],
    "multiscan-stream": ["-m", "--stream"],
    "allmatch": ["--allmatch"],
}
TARGETS = {
    "infected-file": ["eicar.txt"],
    "clean-file": ["clean.txt"],
    "tree": ["tree"],
    "clean-dir": ["clean"],
    "mixed": ["eicar.txt", "clean.txt", "clam.zip", "with space.txt"],
    "missing": ["nope"],
}
DROP = re.compile(r"^(Time|Start Date|End Date):")


def clamdscan(daemon: Daemon, args: list[str], cwd: Path) -> tuple[int, list[str]]:
    conf = Path(daemon.conf).with_suffix(".client.conf")
    conf.write_text(f"LocalSocket {daemon.socket}\n")
    run = subprocess.run(["clamdscan", "--config-file", str(conf), *args], cwd=cwd, capture_output=True,
                         timeout=60)
    lines = (run.stdout + run.stderr).decode(errors="replace").splitlines()
    kept = [re.sub(r"(ClamAV|Vigil) \d+\.\d+\.\d+(/\d+/.*)?", "<VERSION>", line)
            for line in lines if not DROP.match(line)]
    return run.returncode, kept


def _ordered(mode: str, lines: list[str]) -> list[str]:
    return sorted(lines) if mode.startswith("multiscan") else lines


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("mode", sorted(MODES))
def test_clamdscan_modes(mode: str, target: str, tree: Tree, clamd: Daemon, vigild: Daemon) -> None:
    args = [*MODES[mode], *(tree.p(name) for name in TARGETS[target])]
    expected = clamdscan(clamd, args, tree.root)
    got = clamdscan(vigild, args, tree.root)
    assert got[0] == expected[0]
    assert _ordered(mode, got[1]) == _ordered(mode, expected[1])


@pytest.mark.parametrize("args", [["--ping", "1"], ["--version"], ["--reload"]])
def test_clamdscan_commands(args: list[str], tree: Tree, clamd: Daemon, vigild: Daemon) -> None:
    expected = clamdscan(clamd, args, tree.root)
    got = clamdscan(vigild, args, tree.root)
    assert got == expected


def test_clamdscan_version_shows_database(tree: Tree, vigild: Daemon) -> None:
    code, lines = subprocess.run(["true"]).returncode, []
    conf = Path(vigild.conf).with_suffix(".client.conf")
    conf.write_text(f"LocalSocket {vigild.socket}\n")
    out = subprocess.run(["clamdscan", "--config-file", str(conf), "--version"], capture_output=True,
                         timeout=30).stdout.decode()
    assert code == 0 and not lines
    assert re.fullmatch(r"Vigil \d+\.\d+\.\d+/0/.+\n", out)


def test_symlink_argument_is_decided_by_clamdscan(tree: Tree, clamd: Daemon, vigild: Daemon) -> None:
    """clamdscan itself prints `link: OK` for a symlink argument without asking the daemon (a client
    quirk, docs/compat.md); vigild's own answer to `SCAN link` is tested in test_transcript."""
    assert clamdscan(vigild, [tree.p("link")], tree.root) == clamdscan(clamd, [tree.p("link")], tree.root)
