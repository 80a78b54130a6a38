"""`vigil scan --quarantine` and `vigil quarantine list|show|restore|delete|purge` end to end."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from quarantine_helpers import make_file

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def vigil(*args: str, vault: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_QUARANTINE_DIR": str(vault)}
    return subprocess.run([sys.executable, "-m", "vigil.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def test_scan_quarantine_then_manage(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    db = tmp_path / "db"
    db.mkdir()
    (db / "t.ndb").write_text(f"Eicar-Test:0:*:{EICAR.hex()}\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    sha = make_file(tree / "a.com", EICAR, mode=0o750)
    make_file(tree / "b.com", b"x" + EICAR)
    (tree / "clean.txt").write_text("clean\n")
    scan = vigil("scan", "--quarantine", "--no-summary", "-d", str(db), str(tree), vault=vault)
    assert scan.returncode == 1, scan.stderr
    assert f"{tree / 'a.com'}: quarantined as 'quarantine:" in scan.stdout
    assert sorted(os.listdir(tree)) == ["clean.txt"]

    output = vigil("quarantine", "--json", "list", vault=vault).stdout
    listed = [json.loads(line) for line in output.splitlines()]
    assert {e["path"] for e in listed} == {str(tree / "a.com"), str(tree / "b.com")}
    entry = next(e for e in listed if e["path"] == str(tree / "a.com"))
    assert (entry["detection"], entry["sha256"], entry["mode"]) == ("Eicar-Test.UNOFFICIAL", sha, "0750")
    shown = vigil("quarantine", "show", entry["id"][:8], vault=vault)
    assert f"sha256: {sha}" in shown.stdout

    (tree / "a.com").write_text("in the way")
    refused = vigil("quarantine", "restore", entry["id"][:8], vault=vault)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert vigil("quarantine", "restore", "--force", entry["id"], vault=vault).returncode == 0
    assert hashlib.sha256((tree / "a.com").read_bytes()).hexdigest() == sha

    other = next(e for e in listed if e["path"] == str(tree / "b.com"))
    assert vigil("quarantine", "delete", other["id"], vault=vault).returncode == 0
    assert vigil("quarantine", "list", vault=vault).stdout == ""
    assert vigil("quarantine", "purge", vault=vault).stdout.strip() == "purged 0 entries"
    assert vigil("quarantine", "show", "nope", vault=vault).returncode == 1
