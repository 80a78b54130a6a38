"""Vigil: a local-only, explainable antivirus engine that reads ClamAV and YARA signatures.

The public API is three nouns and their value types::

    db = vigil.load_database(["/var/lib/clamav"])      # or load_database() for the bundled set
    report = vigil.Engine(db).scan(vigil.ScanTarget("a.zip", path="a.zip"))

Everything else is internal and may change. Names are imported on first use, so `import vigil` stays cheap.
"""

from __future__ import annotations

import importlib

#: `typing` itself costs milliseconds, a tenth of a replayed scan (`cli.replay`); type checkers take any
#: module-level TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Engine": "vigil.engine",
    "ScanCache": "vigil.engine",
    "SignatureDB": "vigil.signatures",
    "load_database": "vigil.signatures",
    "ScanTarget": "vigil.types",
    "ScanSettings": "vigil.types",
    "ScanLimits": "vigil.types",
    "ScanReport": "vigil.types",
    "Detection": "vigil.types",
    "Match": "vigil.types",
    "Evidence": "vigil.types",
    "Verdict": "vigil.types",
    "FileType": "vigil.types",
    "VigilError": "vigil.errors",
    "SignatureError": "vigil.errors",
    "DatabaseError": "vigil.errors",
}

__all__ = sorted(["__version__", *_EXPORTS])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
