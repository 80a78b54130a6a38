"""A whole PE file embedded inside a PE's headers or sections, scanned as ClamAV's raw scan does.

ClamAV types every executable it scans a second time by magic, and the first "MZ" after the start whose
PE header cli_peheader accepts is scanned as a file of its own ("*** Detected embedded PE file at N ***");
the ones after it are found by the same rule inside that child. Vigil cuts the child after its last
section (see `_extent`). clam-fsg.exe carries clam.exe that way. Files over ClamAV's MaxEmbeddedPE
(40 MiB) are not searched, as there; an embedded PE that starts in the overlay is left to `pe.py`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack.packer_common import clam_pe
from vigil.unpack.pe_format import PeView

MAX_EMBEDDED_PE = 40 << 20
_MAX_CANDIDATES = 4096


def _has_pe_header(data: bytes, at: int) -> bool:
    if at + 0x40 > len(data):
        return False
    pe = at + struct.unpack_from("<I", data, at + 0x3C)[0]
    return data[pe : pe + 4] == b"PE\0\0"


def find_embedded(data: bytes, end: int) -> int | None:
    """Offset of the first PE that starts in (0, end) and parses as one, or None."""
    at = data.find(b"MZ", 1, end)
    for _ in range(_MAX_CANDIDATES):
        if at < 0:
            return None
        if _has_pe_header(data, at) and clam_pe(data[at:]) is not None:
            return at
        at = data.find(b"MZ", at + 1, end)
    return None


def _section_end(data: bytes, at: int) -> int | None:
    """Offset just past the embedded PE's last section's raw data, from its own section table."""
    pe = at + struct.unpack_from("<I", data, at + 0x3C)[0]
    if pe + 24 > len(data):
        return None
    count, optional = struct.unpack_from("<H12xH", data, pe + 6)
    table = pe + 24 + optional
    end = table + 40 * count
    for index in range(min(count, 96)):
        entry = table + 40 * index
        if entry + 40 > len(data):
            return None
        raw_size, raw_offset = struct.unpack_from("<II", data, entry + 16)
        if raw_size:
            end = max(end, at + raw_offset + raw_size)
    return end if end <= len(data) else None


def _extent(data: bytes, at: int) -> int:
    """Where the embedded file ends: after its last section when its section table says so (so its
    hash is the hash of the file that was embedded, as clamscan's hits on clam-upx/clam-yc show),
    else the rest of the file, as ClamAV's rule has it."""
    end = _section_end(data, at)
    return end if end is not None else len(data)


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    """The file from the first embedded PE on; nothing when there is none."""
    data = view.data
    if len(data) > MAX_EMBEDDED_PE:
        return
    at = find_embedded(data, view.overlay_start)
    if at is None:
        return
    end = _extent(data, at)
    ctx.charge_file()
    ctx.charge_bytes(end - at)
    yield Child(name=f"embedded-pe@{at}.exe", data=memoryview(layer.data)[at:end], type_hint=FileType.MSEXE)
