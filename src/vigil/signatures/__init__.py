"""Signature databases: load ClamAV and YARA files into a compiled, shareable SignatureDB.

The package stays light: parsers and matchers load with the first `load_database`, so `cached_facts`
can answer from the compiled cache's manifest without them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.signatures import storekey

if TYPE_CHECKING:
    from vigil.signatures.database import SignatureDB

__all__ = ["CACHE_THRESHOLD", "DEFAULT_DATABASE", "SignatureDB", "cached_facts", "load_database"]


def __getattr__(name: str) -> Any:
    if name == "SignatureDB":
        return import_module("vigil.signatures.database").SignatureDB
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
    from vigil.signatures.database import EarlyContent, build_database
    from vigil.signatures.loader import load_paths

    official = paths is None
    sources = list(paths) if paths is not None else [DEFAULT_DATABASE]

    def build() -> SignatureDB:
        from vigil.signatures import hashload

        helper = hashload.start(sources, detect_pua, official)
        early = EarlyContent()
        loaded_ok = False
        try:
            loaded = load_paths(sources, detect_pua=detect_pua, official=official, on_content=early,
                                skip_file_hashes=helper is not None)
            loaded_ok = True
        finally:
            if helper is not None and not loaded_ok:
                helper.cancel()
        encoded: dict[str, tuple[bytes, list[int]]] = {}
        if helper is not None and cache:  # the helper is still indexing hashes: use the wait
            from vigil.signatures.store import encode_content

            encoded = encode_content(loaded.records)
        file_hashes = helper.result() if helper is not None else None
        db = build_database(loaded.records, loaded.files, early, file_hashes)
        db.encoded = encoded
        db.version = loaded.digest[:16]
        db.content_version, db.hashes_version = source_versions(sources)
        db.official_version = loaded.official_version
        db.official_time = loaded.official_time
        db.warnings = (*loaded.warnings, *db.warnings)
        return db

    if not cache or _source_bytes(sources) < CACHE_THRESHOLD:
        return build()
    from vigil.signatures import store

    made_from = _cache_recipe(sources, detect_pua, official)
    return store.load_cached(storekey.fingerprint(**made_from), build, recipe=made_from)


def _cache_recipe(sources: Sequence[str], detect_pua: bool, official: bool) -> dict[str, Any]:
    return storekey.recipe(sources, {"detect_pua": detect_pua, "official": official})


def cached_facts(
    paths: Sequence[str] | None = None, *, detect_pua: bool = False
) -> storekey.DatabaseFacts | None:
    """What `load_database(paths)` would report, read from its compiled-cache entry without loading it;
    None when the database is not (or not yet) cached."""
    official = paths is None
    sources = list(paths) if paths is not None else [DEFAULT_DATABASE]
    if _source_bytes(sources) < CACHE_THRESHOLD:
        return None
    key = storekey.fingerprint(**_cache_recipe(sources, detect_pua, official))
    return storekey.read_facts(storekey.cache_root() / key)


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


#: Whole-file hash databases: a change confined to these keeps cached clean verdicts (re-checked).
_FILE_HASH_SUFFIXES = frozenset({".hdb", ".hsb", ".hdu", ".hsu"})


def source_versions(paths: Sequence[str]) -> tuple[str, str]:
    """(digest of all other database files, digest of the whole-file hash databases)."""
    content, hashes = hashlib.sha256(), hashlib.sha256()
    for file in _source_files(paths):
        digest = hashes if os.path.splitext(file)[1].lower() in _FILE_HASH_SUFFIXES else content
        digest.update(os.fsencode(os.path.basename(file)) + b"\0")
        with open(file, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return content.hexdigest()[:32], hashes.hexdigest()[:32]


def _source_files(paths: Sequence[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(e.path for e in os.scandir(path) if e.is_file())
        elif os.path.isfile(path):
            files.append(path)
    return files
