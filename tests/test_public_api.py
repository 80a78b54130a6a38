"""The public API is small and pinned; module dependencies point one way (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import vigil

SRC = Path(vigil.__file__).parent

PUBLIC = [
    "DatabaseError", "Detection", "Engine", "Evidence", "FileType", "Match", "ScanCache", "ScanLimits",
    "ScanReport", "ScanSettings", "ScanTarget", "SignatureDB", "SignatureError", "Verdict", "VigilError",
    "__version__", "load_database",
]  # fmt: skip


def test_public_names_are_pinned_and_resolve() -> None:
    assert vigil.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(vigil, name) is not None


def test_public_api_scans_eicar() -> None:
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    report = vigil.Engine(vigil.load_database()).scan(vigil.ScanTarget("eicar", data=eicar))
    assert report.verdict is vigil.Verdict.INFECTED and report.name == "Vigil.Test.EICAR"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("vigil.")}


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


#: package -> packages it must never import (front ends never import each other; the core never imports
#: a front end; parsers never import the engine).
FORBIDDEN = {
    "types": {"engine", "signatures", "unpack", "cli", "daemon", "watch", "update", "render", "actions"},
    "errors": {"engine", "signatures", "unpack", "cli", "daemon", "watch", "update", "render", "actions"},
    "signatures": {"engine", "cli", "daemon", "watch", "update", "render", "actions", "scheduler"},
    "unpack": {"engine", "signatures", "cli", "daemon", "watch", "update", "render", "actions"},
    "engine": {"cli", "daemon", "watch", "update", "render", "actions", "scheduler"},
    "render": {"cli", "daemon", "watch", "update"},
    "cli": {"daemon"},
    "daemon": {"cli"},  # vigild hosts the on-access service (watch/) when configured, as clamd+clamonacc
    "watch": {"daemon"},
}


def test_dependencies_point_one_way() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py")
        for module in _imports(path):
            if _package_of(module) in FORBIDDEN.get(package, set()):
                violations.append(f"{rel} imports {module}")
    assert violations == []
