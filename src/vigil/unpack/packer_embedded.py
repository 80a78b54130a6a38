"""Archives embedded in an unpacker's rebuilt image, carved out as ClamAV's raw scan does.

ClamAV types every PE it scans a second time by body magic ("ZIP-SFX at N", "CL_TYPE_MSEXE signature
found at N") and scans what starts there. Vigil's walk does not do that inside a PE's sections, so the
packer unpackers carve the two kinds the test set relies on out of their own output: a ZIP local header
(the member is then read by the ZIP unpacker from that offset) and a PE whose size its section table
gives. Only images a packer rebuilt are searched, never the scanned file itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.layer import Child, ScanContext
from vigil.types import FileType

_ZIP = b"PK\x03\x04"
def embedded_children(image: bytes, ctx: ScanContext) -> Iterator[Child]:
    """ZIP data that starts after the image's first byte (embedded PE files are found by the PE
    unpacker's own embedded-PE detector when the rebuilt image is scanned as a layer)."""
    at = image.find(_ZIP)
    if at > 0:
        ctx.charge_file()
        yield Child(name=f"embedded@{at}.zip", data=image[at:], type_hint=FileType.ZIP)

