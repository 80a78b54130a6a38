"""Where the compiled-database cache lives and how an entry is named, without loading anything.

Kept apart from `signatures.store` so a front end can find an entry's manifest (database version, scan
cache scope, signature count) without importing the matchers: a rescan answered by the scan cache then
never pays for them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vigil

FORMAT = 3  # 3: body signatures' matcher entries are derived from the bodies, not stored twice


def cache_root() -> Path:
    """`$VIGIL_CACHE_DIR`, else `/var/cache/vigil` for root, else the XDG cache directory."""
    configured = os.environ.get("VIGIL_CACHE_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/vigil/db")
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "vigil" / "db"


def fingerprint(paths: Sequence[str], options: dict[str, object]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, vigil.__version__, options], sort_keys=True).encode())
    for path in paths:
        digest.update(_identity(path))
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                digest.update(name.encode("utf-8", "surrogateescape") + _identity(os.path.join(path, name)))
    return digest.hexdigest()[:32]


def _identity(path: str) -> bytes:
    try:
        st = os.stat(path)
    except OSError:
        return b"missing:" + os.fsencode(path)
    fields = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return repr(fields).encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What a scan run needs to know about its database before (or instead of) loading it."""

    version: str
    content_version: str
    hashes_version: str
    signature_count: int
    warnings: tuple[str, ...]


def read_facts(entry: Path) -> DatabaseFacts | None:
    """The facts recorded in a cache entry's manifest; None when there is no usable entry."""
    try:
        manifest: dict[str, Any] = json.loads((entry / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or manifest.get("vigil") != vigil.__version__:
        return None
    try:
        return DatabaseFacts(
            version=str(manifest["version"]),
            content_version=str(manifest["content_version"]),
            hashes_version=str(manifest["hashes_version"]),
            signature_count=int(manifest["signature_count"]),
            warnings=tuple(str(w) for w in manifest["warnings"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
