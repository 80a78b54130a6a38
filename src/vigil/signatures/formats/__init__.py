"""Suffix → parser table for line-oriented ClamAV databases.

Containers (`.cvd/.cld/.cud`), YARA files and ignore lists are not line parsers of records and are
handled by `signatures.loader` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from vigil.signatures.formats.ftm import parse_ftm
from vigil.signatures.formats.hashes import parse_fp, parse_hdb, parse_imp, parse_mdb
from vigil.signatures.formats.ldb import parse_ldb
from vigil.signatures.formats.ndb import parse_ndb
from vigil.signatures.records import ParseContext

Parser = Callable[[Iterable[tuple[int, str]], ParseContext], Iterator[object]]

FORMATS: dict[str, Parser] = {
    ".hdb": parse_hdb,
    ".hsb": parse_hdb,
    ".hdu": parse_hdb,
    ".hsu": parse_hdb,
    ".mdb": parse_mdb,
    ".msb": parse_mdb,
    ".mdu": parse_mdb,
    ".msu": parse_mdb,
    ".imp": parse_imp,
    ".fp": parse_fp,
    ".sfp": parse_fp,
    ".ndb": parse_ndb,
    ".ndu": parse_ndb,
    ".ldb": parse_ldb,
    ".ldu": parse_ldb,
    ".ftm": parse_ftm,
}

#: Potentially-unwanted-application databases: loaded only with --detect-pua.
PUA_SUFFIXES = frozenset({".hdu", ".hsu", ".mdu", ".msu", ".ndu", ".ldu"})
IGNORE_SUFFIXES = frozenset({".ign", ".ign2"})
CONTAINER_SUFFIXES = frozenset({".cvd", ".cld", ".cud"})
YARA_SUFFIXES = frozenset({".yar", ".yara"})
#: Formats ClamAV has that Vigil reads but does not match yet (phishing, icons, certificates, bytecode...).
SKIPPED_SUFFIXES = frozenset(
    {".cdb", ".pdb", ".gdb", ".wdb", ".idb", ".crb", ".cat", ".cbc", ".cfg", ".info"}
)
