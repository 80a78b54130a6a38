"""Archives and executables embedded in an unpacker's rebuilt image, carved out as ClamAV's raw scan does.

ClamAV types every PE it scans a second time by body magic ("ZIP-SFX at N", "CL_TYPE_MSEXE signature
found at N") and scans what starts there. Vigil's walk does not do that inside a PE's sections, so the
packer unpackers carve the two kinds the test set relies on out of their own output: a ZIP local header
(the member is then read by the ZIP unpacker from that offset) and a PE whose size its section table
gives. Only images a packer rebuilt are searched, never the scanned file itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from vigil.layer import Child, ScanContext
from vigil.types import FileType

_ZIP = b"PK\x03\x04"
_MAX_CARVED = 16


def _pe_size(data: bytes, at: int) -> int | None:
    """Bytes from `at` to the end of that PE's last section, or None when no PE header is there."""
    if at + 0x40 > len(data):
        return None
    pe = at + struct.unpack_from("<I", data, at + 0x3C)[0]
    if not 0x40 <= pe - at <= 0x400 or pe + 24 > len(data) or data[pe : pe + 4] != b"PE\0\0":
        return None
    count, opt_size = struct.unpack_from("<H12xH", data, pe + 6)
    table = pe + 24 + opt_size
    end = table + 40 * count - at
    for index in range(min(count, 96)):
        entry = table + 40 * index
        if entry + 40 > len(data):
            return None
        rsize, raw = struct.unpack_from("<II", data, entry + 16)
        if rsize:
            end = max(end, raw + rsize)
    return end if at + end <= len(data) else None


def embedded_children(image: bytes, ctx: ScanContext) -> Iterator[Child]:
    """ZIP data and whole PE files that start after the image's first byte."""
    carved = 0
    at = image.find(_ZIP)
    if at > 0:
        ctx.charge_file()
        carved += 1
        yield Child(name=f"embedded@{at}.zip", data=image[at:], type_hint=FileType.ZIP)
    at = image.find(b"MZ", 1)
    while at > 0 and carved < _MAX_CARVED:
        size = _pe_size(image, at)
        if size is not None:
            ctx.charge_file()
            carved += 1
            yield Child(name=f"embedded@{at}.exe", data=image[at : at + size], type_hint=FileType.MSEXE)
        at = image.find(b"MZ", at + 2)
