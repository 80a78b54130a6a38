"""Smoke run of bench/update_activation.py with a real vigild under load, on a few thousand signatures,
so the script behind issue #7's activation figures cannot rot; its own checks must hold (every vigild
request answered correctly, the new version detecting its probe, both targets printed as PASS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1].parent
SCRIPT = REPO / "bench" / "update_activation.py"
MAKE_SIGS = REPO.parent / "shared" / "bench" / "make_sigs.py"


@pytest.mark.skipif(not MAKE_SIGS.is_file(), reason="needs ../shared/bench/make_sigs.py")
def test_activation_bench_runs_under_a_loaded_vigild(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--hash", "3000", "--body", "300", "--workdir", str(tmp_path),
         "--vigild"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("signatures: 6001 hashes, 300 bodies") for line in lines), done.stdout
    assert any(line.startswith("vigild: new db serving") for line in lines), done.stdout
    summary = next(line for line in lines if line.startswith("vigild: ") and "requests" in line)
    requests = int(summary.split()[1])
    assert requests > 10 and ", 0 failed or wrong;" in summary, summary
    assert "activation < 10 s: PASS; rollback < 2 s: PASS" in lines
