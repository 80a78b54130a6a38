"""YARA rule files (`.yar`, `.yara`) as whole-file sources.

A YARA file is not line-oriented, so it is read whole and handed to yara-x unparsed; only yara-x knows the
grammar. Reading does one check of its own: yara-x takes text, so bytes that are not UTF-8 are reported
here with the line they sit on rather than silently transcoded (which would change string literals).
"""

from __future__ import annotations

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures.records import YaraSource

#: Suffixes clamscan loads as YARA rule files.
SUFFIXES: tuple[str, ...] = (".yar", ".yara")


def read_yara_source(path: str, official: bool = False) -> YaraSource:
    """Read one rule file; a missing or unreadable file is a DatabaseError, bad encoding a SignatureError."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read YARA rules: {exc.strerror or exc}") from exc
    return YaraSource(path=path, text=_decode(path, raw), official=official)


def _decode(path: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SignatureError(path, line, "YARA source is not valid UTF-8") from exc
