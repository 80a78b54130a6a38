"""7z, RAR 4/5, CAB, cpio (odc, newc, crc, old binary of either byte order), ISO 9660, XAR and LHA via
libarchive, run in an isolated worker (`vigil.unpack.isolated`) because libarchive is C reading attacker
bytes.

Each FileType opens libarchive with only its own format reader and no decompression filters: the
all-formats reader would also accept mtree, whose entries name files on *this* machine, and would go
looking for archives embedded in anything. Entries are read into memory in blocks up to the byte budget
the parent grants (never the header's size); nothing is extracted, links and devices are skipped,
encrypted entries are announced so the parent can note `Heuristics.Encrypted.RAR` / `.7Zip`.

libarchive 3.6 has no reader for ARJ, CHM, SIS or SZDD: those ClamAV formats need their own unpackers
(SZDD is in `szdd.py`).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator
from typing import Any

from vigil.layer import Child, Layer, MemberInfo, ScanContext
from vigil.types import FileType
from vigil.unpack.isolated import Describe, Entry, run_isolated
from vigil.unpack.isolated_worker import KIND_FILE, KIND_OTHER, Channel, JobLimit, JobMalformed

#: Our job name for the worker.
JOB = "libarchive"
_BLOCK = 1 << 16


def _archive_modules() -> tuple[Any, Any, Any]:
    """libarchive is imported in the worker only: the scanning process never loads the C library."""
    import libarchive.ffi as ffi
    import libarchive.read as read
    from libarchive.exception import ArchiveError

    return ffi, read, ArchiveError


def _is_encrypted(ffi: Any, entry: Any) -> bool:
    func = getattr(ffi, "entry_is_encrypted", None) or ffi.ffi(
        "entry_is_encrypted", [ctypes.c_void_p], ctypes.c_int
    )
    return bool(func(entry._entry_p))


def _read_member(entry: Any, budget: int, chan: Channel, archive_error: type[Exception]) -> None:
    """Send at most budget bytes; one byte more tells the parent the member did not fit. A member that
    breaks off is still sent (marked incomplete) before the error ends the job. Output stops at the
    entry's declared size when it has one: libarchive 3.6's xar reader runs past a member's end."""
    out = bytearray()
    declared = entry.size if entry.size is not None and entry.size >= 0 else None
    try:
        for block in entry.get_blocks(_BLOCK):
            out += block
            if len(out) > budget:
                chan.member(b"", complete=False, over_budget=True)
                return
            if declared is not None and len(out) >= declared:
                del out[declared:]
                break
    except archive_error:
        chan.member(out, complete=False, over_budget=False)
        raise
    chan.member(out, complete=True, over_budget=False)


def _open(read: Any, ffi: Any, data: bytes, formats: list[str]) -> Any:
    """An archive reader with exactly these format readers and the identity filter."""
    archive_p = ffi.read_new()
    try:
        ffi.get_read_filter_function("none")(archive_p)
        for name in formats:
            ffi.get_read_format_function(name)(archive_p)
        ffi.read_open_memory(archive_p, ctypes.c_char_p(data), len(data))
    except BaseException:
        ffi.read_free(archive_p)
        raise
    return archive_p


def read_job(data: bytes, params: str, chan: Channel) -> None:
    """Worker side: walk the archive, offering each entry to the parent and sending what it grants."""
    ffi, read, archive_error = _archive_modules()
    try:
        archive_p = _open(read, ffi, data, params.split(","))
    except archive_error as exc:
        raise JobMalformed(f"libarchive: {exc.msg}") from None
    try:
        for entry in read.ArchiveRead(archive_p, "utf-8"):
            _offer_entry(ffi, entry, chan, archive_error)
    except archive_error as exc:
        if exc.errno == errno.ENOMEM:
            raise JobLimit("MaxWorkerMemory") from None
        if "encrypted" in str(exc.msg).lower():  # e.g. a 7z or RAR with encrypted headers
            chan.alert("")
        raise JobMalformed(f"libarchive: {exc.msg}") from None
    finally:
        ffi.read_free(archive_p)


def _offer_entry(ffi: Any, entry: Any, chan: Channel, archive_error: type[Exception]) -> None:
    try:
        name = entry.pathname or ""
    except UnicodeDecodeError:
        name = "?"
    # Anything that is not a directory or a link and has bytes is read as data: archivers record odd
    # modes (7z's -si stores a FIFO mode for the stream it packed); an empty device or FIFO is skipped.
    special = not entry.isreg and not entry.size
    kind = KIND_OTHER if entry.isdir or entry.issym or entry.islnk or special else KIND_FILE
    size = entry.size if entry.size is not None else -1
    budget = chan.offer(name, size, kind, _is_encrypted(ffi, entry))
    if budget is None:
        return
    _read_member(entry, budget, chan, archive_error)


def _unpositioned(entry: Entry, _file: int, _entry: int) -> MemberInfo:
    """7z as clamscan 1.4.6 checks it: size in container 0, position 0 for every member (observed)."""
    return MemberInfo(0, entry.size, entry.encrypted, 0)


def _zero_based(entry: Entry, file: int, _entry: int) -> MemberInfo:
    """CAB: size in container 0, and the position counts files from 0 (observed)."""
    return MemberInfo(0, entry.size, entry.encrypted, file - 1)


def _stored(entry: Entry, _file: int, _entry: int) -> MemberInfo:
    """ISO 9660: the size in the container is the real size and there is no position (observed). clamscan
    names a member of a subdirectory by its bare name, Vigil by its path: an anchored regex can differ."""
    return MemberInfo(entry.size, entry.size, entry.encrypted, 0)


def _stored_counted(entry: Entry, _file: int, position: int) -> MemberInfo:
    """cpio: the real size twice, and the position among all entries, directories included (observed)."""
    return MemberInfo(entry.size, entry.size, entry.encrypted, position)


def _packed_unknown(entry: Entry, _file: int, _entry: int) -> MemberInfo:
    """RAR: libarchive does not expose the packed size; the position rule is unverified (no RAR writer
    here), so both are unknown and only name, real size and encryption can match."""
    return MemberInfo(None, entry.size, entry.encrypted, None)


#: Family -> what `.cdb` sees of its members; XAR and LHA are not checked (not observed in clamscan).
_DESCRIBE: dict[str, Describe] = {
    "7z": _unpositioned,
    "cab": _zero_based,
    "iso9660": _stored,
    "cpio": _stored_counted,
    "rar": _packed_unknown,
}


class LibarchiveUnpacker:
    """One unpacker per format family, so each can be switched off by name like the built-in ones."""

    def __init__(self, name: str, types: frozenset[FileType], formats: str, encrypted_alert: str) -> None:
        self.name = name
        self.types = types
        self._formats = formats
        self._encrypted_alert = encrypted_alert
        self._describe = _DESCRIBE.get(name)

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        return run_isolated(JOB, self._formats, layer.data, ctx, self._encrypted_alert, self._describe)


_CPIO = frozenset({FileType.CPIO_OLD, FileType.CPIO_ODC, FileType.CPIO_NEWC, FileType.CPIO_CRC})

#: name, file types, libarchive format readers, ClamAV's encrypted-archive heuristic name.
_FAMILIES: tuple[tuple[str, frozenset[FileType], str, str], ...] = (
    ("7z", frozenset({FileType.SEVENZIP}), "7zip", "Heuristics.Encrypted.7Zip"),
    ("rar", frozenset({FileType.RAR}), "rar,rar5", "Heuristics.Encrypted.RAR"),
    ("cab", frozenset({FileType.MSCAB}), "cab", "Heuristics.Encrypted.CAB"),
    ("cpio", _CPIO, "cpio", "Heuristics.Encrypted.CPIO"),
    ("iso9660", frozenset({FileType.ISO9660}), "iso9660", "Heuristics.Encrypted.ISO9660"),
    ("xar", frozenset({FileType.XAR}), "xar", "Heuristics.Encrypted.XAR"),
    ("lha", frozenset({FileType.LHA_LZH}), "lha", "Heuristics.Encrypted.LHA"),
)

WORKER_SETUP = _archive_modules

UNPACKERS: tuple[LibarchiveUnpacker, ...] = tuple(LibarchiveUnpacker(*family) for family in _FAMILIES)
