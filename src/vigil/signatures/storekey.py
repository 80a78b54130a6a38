"""Where the compiled-database cache lives and how an entry is named, without loading anything.

Kept apart from `signatures.store` so a front end can find an entry's manifest (database version, scan
cache scope, signature count) without importing the matchers: a rescan answered by the scan cache then
never pays for them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vigil
from vigil.freshness import cache_dir

FORMAT = 7  # 3: body entries derived from the bodies; 4: a prefilter equal to its regex stored once;
# 5: each hash column's distinct sizes; 6: the manifest's signature count includes `.cdb` signatures;
# 7: one hyperscan database for all target types, and each entry's target type


def cache_root() -> Path:
    """`$VIGIL_CACHE_DIR` itself when set, else `db/` in Vigil's cache directory (`freshness.cache_dir`)."""
    configured = os.environ.get("VIGIL_CACHE_DIR")
    return Path(configured) if configured else Path(cache_dir()) / "db"


def fingerprint(paths: Sequence[str], options: dict[str, object]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, vigil.__version__, options], sort_keys=True).encode())
    for path in paths:
        digest.update(_identity(path))
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                digest.update(name.encode("utf-8", "surrogateescape") + _identity(os.path.join(path, name)))
    return digest.hexdigest()[:32]


def recipe(paths: Sequence[str], options: dict[str, object]) -> dict[str, Any]:
    """What `fingerprint` was computed from, as an entry's manifest records it for `prune`."""
    return {"paths": list(paths), "options": dict(options)}


#: A `.build-*` directory this old belongs to a builder that died (a build takes seconds to minutes).
STALE_BUILD_SECONDS = 3600


def prune(root: Path, keep: str) -> list[str]:
    """Remove the entries no load can ask for again; returns their names.

    Every update and every edited database file makes a new entry (of about 130 MB for 2M hashes);
    without this the cache grows by one per update, forever. An entry is dead when its recorded recipe
    no longer fingerprints to its name (a source file was replaced, touched or removed: its inode or
    ctime cannot come back), or when it is of another format or Vigil version. A process that has a
    dead entry mapped keeps reading it (unlinked files stay readable while mapped); one that opens it
    meanwhile sees a broken entry and rebuilds. Entries without a recipe are kept.
    """
    removed: list[str] = []
    try:
        entries = [e for e in os.scandir(root) if e.name != keep and e.is_dir(follow_symlinks=False)]
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".build-"):
            dead = _older_than(entry.path, STALE_BUILD_SECONDS)
        else:
            dead = _unreachable(Path(entry.path))
        if dead:
            import shutil  # only pruning needs it; a cached rescan imports this module too

            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > seconds
    except OSError:
        return False


def _unreachable(entry: Path) -> bool:
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
    except (OSError, ValueError):
        return False  # not an entry this code wrote whole; a load of it would rebuild it anyway
    if not isinstance(manifest, dict):
        return False
    if manifest.get("format") != FORMAT or manifest.get("vigil") != vigil.__version__:
        return True
    made_from = manifest.get("recipe")
    if not isinstance(made_from, dict):
        return False
    paths, options = made_from.get("paths"), made_from.get("options")
    if not isinstance(options, dict) or not isinstance(paths, list):
        return False
    if not all(isinstance(path, str) for path in paths):
        return False
    return fingerprint(paths, options) != entry.name


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
