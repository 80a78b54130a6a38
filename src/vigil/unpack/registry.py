"""The unpacker registry: an explicit table, looked up by file type.

Order matters only when two unpackers claim one type: the first enabled one wins. Each unpacker's
`name` is its off switch (`ScanSettings.disabled_unpackers`).

The table names each unpacker's module instead of importing it: importing all of them took 70 ms, a
fifth of a one-file scan's start-up, and a scan imports only the ones its layers' types need. The
types are therefore written twice, here and on each class; `tests/unpack/test_unpack_golden.py`
checks that the two agree.
"""

from __future__ import annotations

import threading
from importlib import import_module

from vigil.types import FileType
from vigil.unpack.base import Unpacker

_CPIO = frozenset({FileType.CPIO_OLD, FileType.CPIO_ODC, FileType.CPIO_NEWC, FileType.CPIO_CRC})
_OOXML = frozenset({FileType.OOXML_WORD, FileType.OOXML_XL, FileType.OOXML_PPT, FileType.OOXML_HWP})
_LIBARCHIVE = "vigil.unpack.libarchive_formats:UNPACKERS"

#: (name, "module:class", or "module:tuple" holding it by name, file types), in dispatch order.
TABLE: tuple[tuple[str, str, frozenset[FileType]], ...] = (
    ("zip", "vigil.unpack.zip:ZipUnpacker", frozenset({FileType.ZIP})),
    ("gzip", "vigil.unpack.compressed:GzipUnpacker", frozenset({FileType.GZ})),
    ("bzip2", "vigil.unpack.compressed:Bzip2Unpacker", frozenset({FileType.BZ})),
    ("xz", "vigil.unpack.compressed:XzUnpacker", frozenset({FileType.XZ})),
    ("tar", "vigil.unpack.tar:TarUnpacker", frozenset({FileType.POSIX_TAR, FileType.OLD_TAR})),
    ("ole2", "vigil.unpack.ole2:Ole2Unpacker", frozenset({FileType.MSOLE2})),
    ("ooxml", "vigil.unpack.ooxml:OoxmlUnpacker", _OOXML),
    ("rtf", "vigil.unpack.rtf:RtfUnpacker", frozenset({FileType.RTF})),
    ("html", "vigil.unpack.html:HtmlUnpacker", frozenset({FileType.HTML, FileType.HTML_UTF16})),
    ("pdf", "vigil.unpack.pdf:PdfUnpacker", frozenset({FileType.PDF})),
    ("mail", "vigil.unpack.mail:MailUnpacker", frozenset({FileType.MAIL})),
    ("uuencode", "vigil.unpack.encodings:UuencodeUnpacker", frozenset({FileType.UUENCODED})),
    ("binhex", "vigil.unpack.encodings:BinHexUnpacker", frozenset({FileType.BINHEX})),
    ("tnef", "vigil.unpack.tnef:TnefUnpacker", frozenset({FileType.TNEF})),
    ("7z", _LIBARCHIVE, frozenset({FileType.SEVENZIP})),
    ("rar", _LIBARCHIVE, frozenset({FileType.RAR})),
    ("cab", _LIBARCHIVE, frozenset({FileType.MSCAB})),
    ("cpio", _LIBARCHIVE, _CPIO),
    ("iso9660", _LIBARCHIVE, frozenset({FileType.ISO9660})),
    ("xar", _LIBARCHIVE, frozenset({FileType.XAR})),
    ("lha", _LIBARCHIVE, frozenset({FileType.LHA_LZH})),
    ("szdd", "vigil.unpack.szdd:SzddUnpacker", frozenset({FileType.MSSZDD})),
    ("arj", "vigil.unpack.arj:ArjUnpacker", frozenset({FileType.ARJ, FileType.ARJSFX})),
    ("sis", "vigil.unpack.sis:SisUnpacker", frozenset({FileType.SIS})),
    ("chm", "vigil.unpack.chm:ChmUnpacker", frozenset({FileType.MSCHM})),
    ("pe", "vigil.unpack.pe:PeUnpacker", frozenset({FileType.MSEXE})),
    ("upx-elf", "vigil.unpack.upx:UpxElfUnpacker", frozenset({FileType.ELF})),
)

#: Each type's table rows in order (asked for every layer, so not a scan of the whole table).
_ROWS_BY_TYPE: dict[FileType, tuple[int, ...]] = {
    ftype: tuple(index for index, row in enumerate(TABLE) if ftype in row[2]) for ftype in FileType
}
_loaded: dict[int, Unpacker] = {}
_loading = threading.Lock()  # vigild scans in threads: one instance per row, whoever asks first


def _load(index: int) -> Unpacker:
    """The row's unpacker, its module imported the first time any layer needs it."""
    unpacker = _loaded.get(index)
    if unpacker is None:
        with _loading:
            unpacker = _loaded.get(index)
            if unpacker is None:
                name, where, _ = TABLE[index]
                module, _, attribute = where.partition(":")
                found = getattr(import_module(module), attribute)
                unpacker = found() if isinstance(found, type) else next(u for u in found if u.name == name)
                _loaded[index] = unpacker
    return unpacker


def unpacker_for(ftype: FileType, disabled: frozenset[str] = frozenset()) -> Unpacker | None:
    """The first built-in unpacker that handles `ftype` and is not switched off; None if there is none."""
    for index in _ROWS_BY_TYPE.get(ftype, ()):
        if TABLE[index][0] not in disabled:
            return _load(index)
    return None


def builtin() -> tuple[Unpacker, ...]:
    """Every built-in unpacker in dispatch order, all modules imported (for listings and tests)."""
    return tuple(_load(index) for index in range(len(TABLE)))
