"""Helpers for the CLI tests: runners for `vigil scan` and the real clamscan (the oracle), masking."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
VIGIL = str(Path(sys.executable).with_name("vigil"))
CLAMSCAN = shutil.which("clamscan")
# lines whose values legitimately differ between the two tools
_MASKED = re.compile(r"^(Time|Start Date|End Date|Engine version|Known viruses):.*$")

needs_clamscan = pytest.mark.skipif(CLAMSCAN is None, reason="clamscan not installed")


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    err: str

    @property
    def masked(self) -> list[str]:
        return [_MASKED.sub(r"\1: <masked>", line) for line in self.out.splitlines()]


def _run(cmd: Sequence[str], cwd: Path, stdin: bytes | None) -> Run:
    proc = subprocess.run(list(cmd), cwd=cwd, input=stdin if stdin is not None else b"",
                          capture_output=True, timeout=120, check=False)
    return Run(proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
               proc.stderr.decode("utf-8", "surrogateescape"))


def run_vigil(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> Run:
    return _run([VIGIL, "scan", *args], cwd, stdin)


def run_clamscan(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> Run:
    assert CLAMSCAN is not None
    return _run([CLAMSCAN, *args], cwd, stdin)


def ndb_line(name: str, data: bytes) -> str:
    return f"{name}:0:*:{data.hex()}\n"
