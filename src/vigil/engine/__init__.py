"""The Engine: one SignatureDB, one set of ScanSettings, `scan(target) -> ScanReport`.

Every front end (CLI, daemon, on-access, web, cluster) builds an Engine once and feeds it targets. The
package itself stays light (Engine and ScanCache load on first use), so a rescan answered entirely by the
persistent scan cache never imports the matchers and unpackers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.engine.core import Engine
    from vigil.engine.scancache import ScanCache
    from vigil.engine.verdict import LIMIT_PREFIX

__all__ = ["LIMIT_PREFIX", "Engine", "ScanCache"]

_LAZY = {"Engine": "vigil.engine.core", "ScanCache": "vigil.engine.scancache",
         "LIMIT_PREFIX": "vigil.engine.verdict"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
