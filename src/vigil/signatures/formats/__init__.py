"""Suffix → parser table for line-oriented ClamAV databases.

Parsers are named as `module:function` strings and imported on first use, so the table (and the loader)
work while a format's module is missing or broken, and loading a hash-only database never imports the
hex-pattern machinery. Containers (`.cvd/.cld/.cud`), YARA files and ignore lists are not line parsers of
records and are handled by `signatures.loader` directly. Suffixes compare case-insensitively, as in
clamscan (`DB.HDB` loads as `.hdb`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import cast

from vigil.signatures.records import ParseContext

Parser = Callable[[Iterable[tuple[int, str]], ParseContext], Iterator[object]]

_PACKAGE = "vigil.signatures.formats"


class LazyParser:
    """A parser named by `module:function`, imported when first called."""

    __slots__ = ("_resolved", "target")

    def __init__(self, target: str) -> None:
        self.target = target
        self._resolved: Parser | None = None

    def resolve(self) -> Parser:
        if self._resolved is None:
            module_name, _, function = self.target.partition(":")
            module = importlib.import_module(f"{_PACKAGE}.{module_name}")
            self._resolved = cast(Parser, getattr(module, function))
        return self._resolved

    def __call__(self, lines: Iterable[tuple[int, str]], ctx: ParseContext) -> Iterator[object]:
        return self.resolve()(lines, ctx)

    def __repr__(self) -> str:
        return f"LazyParser({self.target!r})"


_TARGETS: dict[str, str] = {
    ".hdb": "hashes:parse_hdb_columns",
    ".hsb": "hashes:parse_hdb_columns",
    ".hdu": "hashes:parse_hdb_columns",
    ".hsu": "hashes:parse_hdb_columns",
    ".mdb": "hashes:parse_mdb",
    ".msb": "hashes:parse_mdb",
    ".mdu": "hashes:parse_mdb",
    ".msu": "hashes:parse_mdb",
    ".imp": "hashes:parse_imp",
    ".fp": "hashes:parse_fp",
    ".sfp": "hashes:parse_fp",
    ".ndb": "ndb:parse_ndb",
    ".ndu": "ndb:parse_ndb",
    ".ldb": "ldb:parse_ldb",
    ".ldu": "ldb:parse_ldb",
    ".ftm": "ftm:parse_ftm",
    ".cdb": "cdb:parse_cdb",
}

FORMATS: dict[str, Parser] = {suffix: LazyParser(target) for suffix, target in _TARGETS.items()}

#: Potentially-unwanted-application databases: loaded only with --detect-pua.
PUA_SUFFIXES = frozenset({".hdu", ".hsu", ".mdu", ".msu", ".ndu", ".ldu"})
IGNORE_SUFFIXES = frozenset({".ign", ".ign2"})
CONTAINER_SUFFIXES = frozenset({".cvd", ".cld", ".cud"})
YARA_SUFFIXES = frozenset({".yar", ".yara"})
#: Formats clamscan loads that Vigil accepts but does not read yet (old `.db`, phishing, icons,
#: certificates, bytecode, DCONF, OpenIOC...). They count as database files in a `-d` directory.
SKIPPED_SUFFIXES = frozenset(
    {".db", ".sdb", ".zmd", ".rmd", ".pdb", ".gdb", ".wdb", ".idb", ".crb", ".cat", ".cbc", ".cfg", ".ioc"}
    | {".pwdb"}
)
#: Every suffix clamscan 1.4.6 treats as a database (its CLI_DBEXT list); anything else in a `-d`
#: directory is not looked at, and `-d FILE.other` is skipped with a warning.
KNOWN_SUFFIXES = frozenset(FORMATS) | IGNORE_SUFFIXES | CONTAINER_SUFFIXES | YARA_SUFFIXES | SKIPPED_SUFFIXES


def suffix_of(name: str) -> str:
    """The lower-cased extension clamscan dispatches on (`daily.HDB` → `.hdb`)."""
    dot = name.rfind(".")
    slash = max(name.rfind("/"), name.rfind(":"))
    return name[dot:].lower() if dot > slash else ""
