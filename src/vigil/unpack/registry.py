"""The unpacker registry: an explicit tuple, looked up by file type.

Order matters only when two unpackers claim one type: the first enabled one wins. Each unpacker's
`name` is its off switch (`ScanSettings.disabled_unpackers`).
"""

from __future__ import annotations

from vigil.types import FileType
from vigil.unpack.arj import ArjUnpacker
from vigil.unpack.base import Unpacker
from vigil.unpack.chm import ChmUnpacker
from vigil.unpack.compressed import Bzip2Unpacker, GzipUnpacker, XzUnpacker
from vigil.unpack.encodings import BinHexUnpacker, UuencodeUnpacker
from vigil.unpack.html import HtmlUnpacker
from vigil.unpack.libarchive_formats import UNPACKERS as LIBARCHIVE_UNPACKERS
from vigil.unpack.mail import MailUnpacker
from vigil.unpack.ole2 import Ole2Unpacker
from vigil.unpack.ooxml import OoxmlUnpacker
from vigil.unpack.pdf import PdfUnpacker
from vigil.unpack.pe import PeUnpacker
from vigil.unpack.rtf import RtfUnpacker
from vigil.unpack.sis import SisUnpacker
from vigil.unpack.szdd import SzddUnpacker
from vigil.unpack.tar import TarUnpacker
from vigil.unpack.tnef import TnefUnpacker
from vigil.unpack.upx import UpxElfUnpacker
from vigil.unpack.zip import ZipUnpacker

BUILTIN: tuple[Unpacker, ...] = (
    ZipUnpacker(),
    GzipUnpacker(),
    Bzip2Unpacker(),
    XzUnpacker(),
    TarUnpacker(),
    Ole2Unpacker(),
    OoxmlUnpacker(),
    RtfUnpacker(),
    HtmlUnpacker(),
    PdfUnpacker(),
    MailUnpacker(),
    UuencodeUnpacker(),
    BinHexUnpacker(),
    TnefUnpacker(),
    *LIBARCHIVE_UNPACKERS,
    SzddUnpacker(),
    ArjUnpacker(),
    SisUnpacker(),
    ChmUnpacker(),
    PeUnpacker(),
    UpxElfUnpacker(),
)


def unpacker_for(ftype: FileType, disabled: frozenset[str] = frozenset()) -> Unpacker | None:
    """The first built-in unpacker that handles `ftype` and is not switched off; None if there is none."""
    return next((u for u in _BY_TYPE.get(ftype, ()) if u.name not in disabled), None)


#: Each type's unpackers in BUILTIN order (asked for every layer, so not a scan of the whole table).
_BY_TYPE: dict[FileType, tuple[Unpacker, ...]] = {
    ftype: tuple(u for u in BUILTIN if ftype in u.types) for ftype in FileType
}
