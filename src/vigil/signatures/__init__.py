"""Signature databases: load ClamAV and YARA files into a compiled, shareable SignatureDB."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vigil.signatures.database import SignatureDB, build_database
from vigil.signatures.loader import load_paths

__all__ = ["CACHE_THRESHOLD", "DEFAULT_DATABASE", "SignatureDB", "load_database"]

#: Vigil's own default signature set, shipped in the package.
DEFAULT_DATABASE = str(Path(__file__).resolve().parent.parent / "data")


def load_database(
    paths: Sequence[str] | None = None, *, detect_pua: bool = False, cache: bool = True
) -> SignatureDB:
    """Load `paths` (files or directories, as clamscan's `-d`), or the bundled default set.

    The bundled set is Vigil's own and is reported without `.UNOFFICIAL`; anything given explicitly is
    named as clamscan names it. Large databases go through the compiled cache (`signatures.store`), so
    only the first load pays for parsing and compiling. Raises SignatureError (names file and line) or
    DatabaseError.
    """
    official = paths is None
    sources = list(paths) if paths is not None else [DEFAULT_DATABASE]

    def build() -> SignatureDB:
        loaded = load_paths(sources, detect_pua=detect_pua, official=official)
        db = build_database(loaded.records, loaded.files)
        db.version = loaded.digest[:16]
        db.official_version = loaded.official_version
        db.official_time = loaded.official_time
        db.warnings = tuple(loaded.warnings)
        return db

    if not cache or _source_bytes(sources) < CACHE_THRESHOLD:
        return build()
    from vigil.signatures import store

    key = store.fingerprint(sources, {"detect_pua": detect_pua, "official": official})
    return store.load_cached(key, build)


#: Databases smaller than this compile in milliseconds; caching them would only litter the cache.
CACHE_THRESHOLD = 1 << 20


def _source_bytes(paths: Sequence[str]) -> int:
    total = 0
    for path in paths:
        if os.path.isdir(path):
            total += sum(e.stat().st_size for e in os.scandir(path) if e.is_file())
        elif os.path.isfile(path):
            total += os.path.getsize(path)
    return total
