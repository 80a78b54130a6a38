"""clamscan as an oracle for database loading and hash matching.

A case is a database directory (file name -> bytes) plus optional extra `-d` paths. clamscan runs once per
case over a whole target directory; Vigil's prediction loads the same paths with `load_paths` and applies
the file-hash rules directly (the later-loaded signature wins a tie, an allow-list entry clears the file),
so a disagreement points at the loader and parsers rather than at the scan engine.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures.loader import load_paths
from vigil.signatures.records import AllowHash, HashScope, HashSig
from vigil.types import HashAlgo

CLAMSCAN = shutil.which("clamscan")
needs_clamscan = pytest.mark.skipif(CLAMSCAN is None, reason="clamscan not installed")

LOAD_ERROR = "LOAD-ERROR"


@dataclass
class Case:
    label: str
    files: dict[str, bytes]
    order: Sequence[str] = ()  # load these files as separate `-d FILE` options, in this order
    detect_pua: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """LOAD-ERROR, or target file name -> reported name ("OK" when clean)."""

    verdicts: tuple[tuple[str, str], ...]

    @classmethod
    def error(cls) -> Outcome:
        return cls(((LOAD_ERROR, LOAD_ERROR),))


def _paths(case: Case, root: Path) -> list[str]:
    root.mkdir(parents=True)
    for name, data in case.files.items():
        (root / name).write_bytes(data)
    return [str(root / name) for name in case.order] if case.order else [str(root)]


def clamscan_outcome(paths: list[str], targets: Path, detect_pua: bool = False) -> Outcome:
    assert CLAMSCAN is not None
    args = [CLAMSCAN, "--no-summary"] + [f"-d{p}" for p in paths]
    if detect_pua:
        args.append("--detect-pua=yes")
    proc = subprocess.run([*args, str(targets)], capture_output=True, text=True, timeout=60)
    if proc.returncode == 2:
        return Outcome.error()
    assert proc.returncode in (0, 1), proc.stderr
    verdicts = []
    for line in proc.stdout.splitlines():
        path, _, result = line.rpartition(": ")
        verdicts.append((Path(path).name, result.removesuffix(" FOUND")))
    return Outcome(tuple(sorted(verdicts)))


def _digests(data: bytes) -> dict[HashAlgo, bytes]:
    return {
        HashAlgo.MD5: hashlib.md5(data).digest(),
        HashAlgo.SHA1: hashlib.sha1(data).digest(),
        HashAlgo.SHA256: hashlib.sha256(data).digest(),
    }


def _hits(entry: HashSig | AllowHash, digests: dict[HashAlgo, bytes], size: int) -> bool:
    return digests[entry.algo] == entry.digest and entry.size in (None, size)


def vigil_outcome(paths: list[str], targets: Path, detect_pua: bool = False) -> Outcome:
    try:
        loaded = load_paths(paths, detect_pua=detect_pua)
    except (SignatureError, DatabaseError):
        return Outcome.error()
    grouped = loaded.by_type()
    sigs = [r for r in grouped.get(HashSig, []) if isinstance(r, HashSig) and r.scope is HashScope.FILE]
    allows = [r for r in grouped.get(AllowHash, []) if isinstance(r, AllowHash)]
    verdicts = []
    for target in sorted(targets.iterdir()):
        data = target.read_bytes()
        digests = _digests(data)
        found = [s.meta.reported for s in sigs if _hits(s, digests, len(data))]
        allowed = any(_hits(a, digests, len(data)) for a in allows)
        verdicts.append((target.name, found[-1] if found and not allowed else "OK"))
    return Outcome(tuple(sorted(verdicts)))


def compare_cases(cases: Sequence[Case], targets: Path, work: Path) -> list[str]:
    """Run every case through both; return a description of each disagreement."""
    prepared = [(case, _paths(case, work / f"case{i}")) for i, case in enumerate(cases)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        oracle = list(pool.map(lambda cp: clamscan_outcome(cp[1], targets, cp[0].detect_pua), prepared))
    problems = []
    for (case, paths), expected in zip(prepared, oracle, strict=True):
        got = vigil_outcome(paths, targets, case.detect_pua)
        if got != expected:
            problems.append(f"{case.label}: clamscan {expected.verdicts} vigil {got.verdicts}")
    return problems


def lines(*items: str, ending: str = "\n") -> bytes:
    return "".join(item + ending for item in items).encode()
