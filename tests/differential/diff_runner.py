"""Drive both tools over a Group: clamscan (the oracle) once per mode, Vigil in-process and via its CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from diff_model import ALLMATCH, Group

CLAMSCAN = shutil.which("clamscan")
VIGIL = str(Path(sys.executable).with_name("vigil"))
LOAD_ERROR = "<load error>"


@dataclass(frozen=True)
class Outcome:
    """One tool's answer for a group in one mode: exit code and the set of names per target file."""

    rc: int
    names: dict[str, frozenset[str]]
    detail: str = ""

    def answer(self, target: str) -> frozenset[str]:
        if self.rc == 2 and not self.names:
            return frozenset({LOAD_ERROR})
        return self.names.get(target, frozenset({"<missing>"}))


def materialise(group: Group, root: Path) -> tuple[Path, Path]:
    base = root / group.name
    dbdir, tdir = base / "db", base / "t"
    dbdir.mkdir(parents=True)
    tdir.mkdir()
    for name, data in group.db.items():
        (dbdir / name).write_bytes(data)
    for name, data in group.targets.items():
        (tdir / name).write_bytes(data)
    return dbdir, tdir


def parse_lines(stdout: str, tdir: Path) -> dict[str, frozenset[str]]:
    """`path: NAME FOUND` / `path: OK` lines → names per target basename (empty set for OK)."""
    found: dict[str, set[str]] = {}
    for line in stdout.splitlines():
        path, sep, rest = line.rpartition(": ")
        if not sep or os.path.dirname(path) != str(tdir):
            continue
        names = found.setdefault(os.path.basename(path), set())
        if rest.endswith(" FOUND"):
            names.add(rest[: -len(" FOUND")])
        elif rest != "OK":
            names.add(f"<{rest}>")
    return {k: frozenset(v) for k, v in found.items()}


def _flags(group: Group, mode: str) -> list[str]:
    flags = ["--no-summary"]
    if mode == ALLMATCH:
        flags.append("--allmatch")
    if group.detect_pua:
        flags.append("--detect-pua=yes")
    return flags


def run_tool(exe: list[str], group: Group, mode: str, dbdir: Path, tdir: Path) -> Outcome:
    cmd = [*exe, *_flags(group, mode), "-d", str(dbdir), str(tdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape", timeout=120,
                          check=False)
    return Outcome(proc.returncode, parse_lines(proc.stdout, tdir), proc.stderr[-2000:])


def run_clamscan(group: Group, mode: str, dbdir: Path, tdir: Path) -> Outcome:
    assert CLAMSCAN is not None
    return run_tool([CLAMSCAN], group, mode, dbdir, tdir)


def run_vigil_cli(group: Group, mode: str, dbdir: Path, tdir: Path) -> Outcome:
    return run_tool([VIGIL, "scan"], group, mode, dbdir, tdir)


def vigil_cli_available() -> bool:
    if not Path(VIGIL).exists():
        return False
    proc = subprocess.run([VIGIL, "scan", "--help"], capture_output=True, timeout=60, check=False)
    return proc.returncode == 0


def run_vigil(group: Group, mode: str, dbdir: Path, tdir: Path) -> Outcome:
    """Vigil in-process; a load failure is clamscan's exit code 2."""
    from vigil.engine import Engine
    from vigil.errors import DatabaseError, SignatureError
    from vigil.signatures import load_database
    from vigil.types import ScanSettings, ScanTarget

    try:
        db = load_database([str(dbdir)], detect_pua=group.detect_pua)
    except (SignatureError, DatabaseError) as exc:
        return Outcome(2, {}, str(exc))
    engine = Engine(db, ScanSettings(allmatch=mode == ALLMATCH, detect_pua=group.detect_pua))
    names: dict[str, frozenset[str]] = {}
    rc = 0
    for name in group.targets:
        path = str(tdir / name)
        report = engine.scan(ScanTarget(display=path, path=path))
        found = frozenset(d.name for d in report.detections)
        if mode != ALLMATCH:
            found = frozenset({report.name}) if report.name else frozenset()
        names[name] = found
        rc = max(rc, 1 if found else 0)
    return Outcome(rc, names)
