"""What format parsers produce: plain, picklable facts about signatures.

Parsers only turn lines into records (or raise SignatureError naming file and line); matchers are built
from records by `signatures.compile`. Format-specific record types live beside their parser
(`formats/ndb.py` BodySig, `formats/ldb.py` LogicalSig, `formats/ftm.py` MagicRule, `formats/cdb.py`
ContainerSig); the ones shared by several formats live here.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.errors import SignatureError
from vigil.types import HashAlgo, Origin

#: ClamAV 1.4.6's functionality level; signatures outside their MinFL..MaxFL range are skipped silently.
ENGINE_FLEVEL = 216


@dataclass(frozen=True, slots=True)
class SigMeta:
    """Identity of one signature: the name as written, the name as reported, and where it came from."""

    name: str
    reported: str
    origin: Origin


class HashScope(enum.Enum):
    FILE = "file"  # .hdb/.hsb: the whole layer
    PE_SECTION = "pe-section"  # .mdb/.msb: one PE section's raw bytes
    PE_IMPORT = "pe-import"  # .imp: the import table hash


@dataclass(frozen=True, slots=True)
class HashSig:
    meta: SigMeta
    algo: HashAlgo
    digest: bytes
    size: int | None  # None: any size (`*`, needs MinFL >= 73)
    scope: HashScope = HashScope.FILE


@dataclass(slots=True)
class HashBatch:
    """Consecutive plain whole-file hash lines of one database file and algorithm, kept as columns.

    A 1M-line `.hdb` would otherwise be a million HashSig, SigMeta and Origin objects built only to be
    flattened into the sorted hash arrays; a batch goes into them directly. Digests stay lowercase hex
    text, as written: strings sort in C's fastest comparison path and one `bytes.fromhex` of the joined,
    sorted column makes the index blob. `names` are the names as written; `reported()` gives them as
    ClamAV reports them.
    """

    file: str
    algo: HashAlgo
    official: bool = False
    hexes: list[str] = field(default_factory=list)  # lowercase
    sizes: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hexes)

    def reported(self) -> list[str]:
        """The names as reported; for the usual column (one name per line, no ` (Clam)` suffix) with
        whole-column string operations instead of a call per name."""
        joined = "\n".join(self.names)
        if " (Clam)" in joined or joined.count("\n") != max(len(self.names) - 1, 0):
            return [reported_name(name, self.official) for name in self.names]
        if self.official or not self.names:
            return list(self.names)
        return (joined.replace("\n", ".UNOFFICIAL\n") + ".UNOFFICIAL").split("\n")

    def sigs(self) -> list[HashSig]:
        """The same signatures one object per line, exactly as the line-by-line parser makes them."""
        rows = zip(self.hexes, self.sizes, self.names, self.reported(), self.lines, strict=True)
        return [
            HashSig(SigMeta(name, reported, Origin(self.file, line)), self.algo, bytes.fromhex(digest), size)
            for digest, size, name, reported, line in rows
        ]


@dataclass(frozen=True, slots=True)
class AllowHash:
    """An `.fp`/`.sfp` entry: the listed layer and everything beneath it is not reported."""

    algo: HashAlgo
    digest: bytes
    size: int | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class YaraSource:
    """A YARA rule file; compiled as a whole by yara-x (a rule file is not line-oriented)."""

    path: str
    text: str
    official: bool = False


IgnoreCheck = Callable[[str, str], bool]


def _never_ignored(name: str, line: str) -> bool:
    return False


@dataclass(slots=True)
class ParseContext:
    """Per-file state handed to a format parser.

    `meta()` is the one place that decides a signature's reported name and whether an `.ign`/`.ign2`
    entry drops it, so every parser applies ClamAV's naming rules the same way.
    """

    file: str
    official: bool = False
    detect_pua: bool = False
    flevel: int = ENGINE_FLEVEL
    is_ignored: IgnoreCheck = field(default=_never_ignored)

    def error(self, line: int, message: str) -> SignatureError:
        return SignatureError(self.file, line, message)

    def flevel_ok(self, min_fl: int | None, max_fl: int | None) -> bool:
        if min_fl is not None and self.flevel < min_fl:
            return False
        return not (max_fl is not None and self.flevel > max_fl)

    def meta(self, name: str, line: int, text: str) -> SigMeta | None:
        """SigMeta for a parsed signature, or None when an ignore list drops it."""
        if self.is_ignored(name, text):
            return None
        return SigMeta(name=name, reported=reported_name(name, self.official), origin=Origin(self.file, line))


def reported_name(name: str, official: bool) -> str:
    """ClamAV strips a trailing ` (Clam)` and appends `.UNOFFICIAL` to anything not from a signed CVD/CLD."""
    if name.endswith(" (Clam)"):
        name = name[: -len(" (Clam)")]
    return name if official else name + ".UNOFFICIAL"


def line_md5(text: str) -> str:
    """MD5 of a database line as `.ign2` `NAME:MD5` entries pin it."""
    return hashlib.md5(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
