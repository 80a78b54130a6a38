"""Run the real clamscan with --allmatch over a target directory and collect (file, name) hits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def clamscan_allmatch(db: Path, targets: Path) -> tuple[int, set[tuple[str, str]]]:
    """clamscan's exit code and every (target file name, signature name without .UNOFFICIAL) it reports."""
    proc = subprocess.run(
        ["clamscan", "--allmatch", "--no-summary", "-d", str(db), str(targets)],
        capture_output=True,
        text=True,
        check=False,
    )
    hits = set()
    for line in proc.stdout.splitlines():
        if line.endswith(" FOUND"):
            path, name = line[: -len(" FOUND")].rsplit(": ", 1)
            hits.add((os.path.basename(path), name.removesuffix(".UNOFFICIAL")))
    return proc.returncode, hits
