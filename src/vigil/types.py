"""Core value types shared by every part of Vigil.

They are frozen and picklable so that reports can cross process boundaries (worker pools, the daemon,
the cluster) unchanged. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")


def _pickled_as_call(cls: type[_T]) -> type[_T]:
    """Pickle as `cls(*fields)`: dataclass's own pickling of a slots class walks `fields()` in Python for
    every object, 10 us a report with two layers each way, and every report crosses from a worker to
    the parent (CLI pool, vigild, the cluster). This takes 2.4 us to pickle and 4.5 us to unpickle."""
    names = getattr(cls, "__slots__", ())
    assert isinstance(names, tuple), cls
    return _reduced_to_call(cls, names)


def _reduced_to_call(cls: type[_T], names: tuple[str, ...]) -> type[_T]:
    """`cls(*values of names)`; the names must be the leading fields, the rest take their defaults."""
    assert len(names) > 1 and getattr(cls, "__slots__", ())[: len(names)] == names, cls  # one name: no tuple
    values = operator.attrgetter(*names)

    def reduce(self: _T) -> tuple[Callable[..., _T], tuple[Any, ...]]:
        return type(self), values(self)

    setattr(cls, "__reduce__", reduce)  # noqa: B010 - a method set on a class the decorator returns
    return cls


class FileType(enum.Enum):
    """File types under ClamAV's names, so `.ldb` Container/Intermediates and `.ftm` lines work as-is."""

    # Members are singletons compared by identity: hash them in C (Enum's own hash is Python code, and
    # types are looked up in sets and dicts several times per layer).
    __hash__ = object.__hash__

    ANY = "CL_TYPE_ANY"
    ERROR = "CL_TYPE_ERROR"
    OTHER = "CL_TYPE_OTHER"
    BINARY_DATA = "CL_TYPE_BINARY_DATA"
    INTERNAL = "CL_TYPE_INTERNAL"
    IGNORED = "CL_TYPE_IGNORED"
    # text
    TEXT_ASCII = "CL_TYPE_TEXT_ASCII"
    TEXT_UTF8 = "CL_TYPE_TEXT_UTF8"
    TEXT_UTF16LE = "CL_TYPE_TEXT_UTF16LE"
    TEXT_UTF16BE = "CL_TYPE_TEXT_UTF16BE"
    # archives
    SEVENZIP = "CL_TYPE_7Z"
    SEVENZIPSFX = "CL_TYPE_7ZSFX"
    ARJ = "CL_TYPE_ARJ"
    ARJSFX = "CL_TYPE_ARJSFX"
    BZ = "CL_TYPE_BZ"
    CABSFX = "CL_TYPE_CABSFX"
    CPIO_CRC = "CL_TYPE_CPIO_CRC"
    CPIO_NEWC = "CL_TYPE_CPIO_NEWC"
    CPIO_ODC = "CL_TYPE_CPIO_ODC"
    CPIO_OLD = "CL_TYPE_CPIO_OLD"
    DMG = "CL_TYPE_DMG"
    EGG = "CL_TYPE_EGG"
    GZ = "CL_TYPE_GZ"
    ISO9660 = "CL_TYPE_ISO9660"
    MSCAB = "CL_TYPE_MSCAB"
    MSCHM = "CL_TYPE_MSCHM"
    MSSZDD = "CL_TYPE_MSSZDD"
    OLD_TAR = "CL_TYPE_OLD_TAR"
    POSIX_TAR = "CL_TYPE_POSIX_TAR"
    RAR = "CL_TYPE_RAR"
    RARSFX = "CL_TYPE_RARSFX"
    SIS = "CL_TYPE_SIS"
    UDF = "CL_TYPE_UDF"
    XAR = "CL_TYPE_XAR"
    XZ = "CL_TYPE_XZ"
    ZIP = "CL_TYPE_ZIP"
    ZIPSFX = "CL_TYPE_ZIPSFX"
    AUTOIT = "CL_TYPE_AUTOIT"
    NULSFT = "CL_TYPE_NULSFT"
    ISHIELD_MSI = "CL_TYPE_ISHIELD_MSI"
    LHA_LZH = "CL_TYPE_LHA_LZH"
    ALZ = "CL_TYPE_ALZ"
    # disk images
    APM = "CL_TYPE_APM"
    GPT = "CL_TYPE_GPT"
    MBR = "CL_TYPE_MBR"
    PART_HFSPLUS = "CL_TYPE_PART_HFSPLUS"
    # executables
    MSEXE = "CL_TYPE_MSEXE"
    ELF = "CL_TYPE_ELF"
    MACHO = "CL_TYPE_MACHO"
    MACHO_UNIBIN = "CL_TYPE_MACHO_UNIBIN"
    JAVA = "CL_TYPE_JAVA"
    PYTHON_COMPILED = "CL_TYPE_PYTHON_COMPILED"
    # documents
    MSOLE2 = "CL_TYPE_MSOLE2"
    OOXML_WORD = "CL_TYPE_OOXML_WORD"
    OOXML_XL = "CL_TYPE_OOXML_XL"
    OOXML_PPT = "CL_TYPE_OOXML_PPT"
    OOXML_HWP = "CL_TYPE_OOXML_HWP"
    HWP3 = "CL_TYPE_HWP3"
    HWPOLE2 = "CL_TYPE_HWPOLE2"
    XML_WORD = "CL_TYPE_XML_WORD"
    XML_XL = "CL_TYPE_XML_XL"
    XML_HWP = "CL_TYPE_XML_HWP"
    PDF = "CL_TYPE_PDF"
    PS = "CL_TYPE_PS"
    RTF = "CL_TYPE_RTF"
    XDP = "CL_TYPE_XDP"
    ONENOTE = "CL_TYPE_ONENOTE"
    LNK = "CL_TYPE_LNK"
    # web and mail
    HTML = "CL_TYPE_HTML"
    HTML_UTF16 = "CL_TYPE_HTML_UTF16"
    MHTML = "CL_TYPE_MHTML"
    MAIL = "CL_TYPE_MAIL"
    TNEF = "CL_TYPE_TNEF"
    BINHEX = "CL_TYPE_BINHEX"
    UUENCODED = "CL_TYPE_UUENCODED"
    SCRIPT = "CL_TYPE_SCRIPT"
    SWF = "CL_TYPE_SWF"
    # images and media
    GRAPHICS = "CL_TYPE_GRAPHICS"
    GIF = "CL_TYPE_GIF"
    PNG = "CL_TYPE_PNG"
    JPEG = "CL_TYPE_JPEG"
    TIFF = "CL_TYPE_TIFF"
    RIFF = "CL_TYPE_RIFF"
    CRYPTFF = "CL_TYPE_CRYPTFF"
    SCRENC = "CL_TYPE_SCRENC"

    @classmethod
    def from_clamav_name(cls, name: str) -> FileType | None:
        """Map `CL_TYPE_X` to a member; None for names ClamAV would not know (the caller decides)."""
        return _BY_NAME.get(name)


_BY_NAME: dict[str, FileType] = {member.value: member for member in FileType}


class Verdict(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    ERROR = "error"


class Category(enum.Enum):
    MALWARE = "malware"
    PUA = "pua"
    HEURISTIC = "heuristic"
    LIMIT = "limit"


class HashAlgo(enum.Enum):
    __hash__ = object.__hash__  # as FileType: identity, in C

    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"

    @classmethod
    def from_hex_length(cls, length: int) -> HashAlgo | None:
        """ClamAV picks the algorithm from the digest's length, never from the file suffix."""
        return _ALGO_BY_HEXLEN.get(length)


_ALGO_BY_HEXLEN = {32: HashAlgo.MD5, 40: HashAlgo.SHA1, 64: HashAlgo.SHA256}


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Origin:
    """Where a signature came from, so every detection can name its database file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """clamscan's limits with its 1.4 defaults; 0 means unlimited as in clamscan."""

    max_filesize: int = 100 * 1024 * 1024
    max_scansize: int = 400 * 1024 * 1024
    max_files: int = 10_000
    max_recursion: int = 17
    max_scantime_ms: int = 120_000
    max_ratio: int = 0  # 0: no compression-ratio check beyond the byte budgets


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """Everything an Engine needs besides the database; front ends build it from flags or config."""

    limits: ScanLimits = field(default_factory=ScanLimits)
    allmatch: bool = False
    alert_exceeds_max: bool = True
    alert_encrypted: bool = False
    alert_broken: bool = False
    alert_macros: bool = False
    normalize: bool = True
    scan_archive: bool = True
    detect_pua: bool = False
    disabled_unpackers: frozenset[str] = frozenset()


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Evidence:
    """The bytes that made a signature hit: offset into the layer (or its normalised view) and a sample."""

    offset: int
    length: int
    sample: bytes
    view: str = "raw"  # raw | normalised | html


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Match:
    """One signature hit on one layer, before the verdict fold."""

    name: str
    kind: str  # body | hash | logical | yara | section-hash | import-hash | heuristic | limit
    origin: Origin | None
    layer_path: str
    evidence: tuple[Evidence, ...] = ()
    rank: tuple[int, ...] = ()  # precedence key inside a layer, smaller wins (see engine.verdict)
    category: Category = Category.MALWARE


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Detection:
    """A reported finding: the winning match's name plus everything needed to explain it."""

    name: str
    category: Category
    layer_path: str
    matches: tuple[Match, ...]


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What the report keeps of each scanned layer (the data itself is gone by then)."""

    path: str
    file_type: FileType
    size: int
    depth: int
    sha256: str
    md5: str = ""
    sha1: str = ""

    @property
    def digests(self) -> tuple[str, str, str, int]:
        """What the scan cache keeps to re-check this layer against new hash signatures."""
        return (self.md5, self.sha1, self.sha256, self.size)


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class ScanReport:
    target: str
    verdict: Verdict
    detections: tuple[Detection, ...]
    size: int
    sha256: str
    layers: tuple[LayerInfo, ...] = ()
    limits_hit: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    elapsed: float = 0.0
    db_version: str = ""
    cached: bool = False  # answered from the persistent scan cache without reading the file

    @property
    def infected(self) -> bool:
        return self.verdict is Verdict.INFECTED

    @property
    def name(self) -> str | None:
        """The reported name (first detection), as clamscan prints it."""
        return self.detections[0].name if self.detections else None


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """What to scan: a filesystem path, an open file descriptor, or bytes already in memory.

    `display` is the name used in output (clamscan prints the path as given, `stream` for INSTREAM,
    `fd[N]` for FILDES, `stdin` for `-`).
    """

    display: str
    path: str | None = None
    fd: int | None = None
    data: bytes | None = None
    #: the path's metadata as the walk that found it saw it, so the scan cache can answer an unchanged
    #: file without a second stat; only that lookup uses it (a scan keys the cache by the opened file),
    #: so it does not travel with the target to another process
    seen: os.stat_result | None = field(default=None, compare=False, repr=False)


# Every target sent to a worker is pickled: as a call without the stat result, 1-2 us each way, not 6-7.
_reduced_to_call(ScanTarget, ("display", "path", "fd", "data"))
