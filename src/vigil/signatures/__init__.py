"""Signature databases: load ClamAV and YARA files into a compiled, shareable SignatureDB."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vigil.signatures.database import SignatureDB, build_database
from vigil.signatures.loader import load_paths

__all__ = ["DEFAULT_DATABASE", "SignatureDB", "load_database"]

#: Vigil's own default signature set, shipped in the package.
DEFAULT_DATABASE = str(Path(__file__).resolve().parent.parent / "data")


def load_database(paths: Sequence[str] | None = None, *, detect_pua: bool = False) -> SignatureDB:
    """Load `paths` (files or directories, as clamscan's `-d`), or the bundled default set.

    The bundled set is Vigil's own and is reported without `.UNOFFICIAL`; anything given explicitly is
    named as clamscan names it. Raises SignatureError (names file and line) or DatabaseError.
    """
    official = paths is None
    loaded = load_paths(
        list(paths) if paths is not None else [DEFAULT_DATABASE], detect_pua=detect_pua, official=official
    )
    db = build_database(loaded.records, loaded.files)
    db.version = loaded.digest[:16]
    db.official_version = loaded.official_version
    db.official_time = loaded.official_time
    db.extra["warnings"] = tuple(loaded.warnings)
    return db
