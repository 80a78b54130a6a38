"""The one unpacker for MSEXE: a table of executable detectors (packers, installers, script wrappers).

The registry gives a type to its first unpacker, so every PE-borne format is dispatched from here: each
detector looks at the parsed PE and yields children only if its format is present. A malformed format
is recorded and the next detector still runs, so a broken NSIS block does not hide a UPX image. When no
detector claims the file, the overlay (bytes after the last section) is yielded as it is, so an
appended archive or executable is typed and scanned in its own right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack import autoit, ishield, nsis, packers, upx
from vigil.unpack.pe_format import PeView, parse_pe

Detector = Callable[[PeView, Layer, ScanContext], Iterator[Child]]

#: Order follows ClamAV's cli_scanpe: packers of the image first, then what rides in the overlay.
DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("upx", upx.pe_children),
    *packers.DETECTORS,
    ("nsis", nsis.pe_children),
    ("autoit", autoit.pe_children),
    ("ishield", ishield.pe_children),
)

_MIN_OVERLAY = 16
#: An overlay becomes a layer of its own only when it is an embedded file ClamAV would find by type
#: (self-extractors, appended documents); plain appended data is already scanned with the PE's bytes,
#: and a separate layer would change which signature clamscan reports first.
_EMBEDDED_MAGIC = (
    b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"MSCF", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
    b"MZ", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF", b"\x7fELF", b"ISc(", b"\x60\xea",
)  # fmt: skip


def overlay_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    start = view.overlay_start
    size = len(layer.data) - start
    if start <= 0 or size < _MIN_OVERLAY:
        return
    if not bytes(layer.data[start : start + 8]).startswith(_EMBEDDED_MAGIC):
        return
    ctx.charge_file()
    ctx.charge_bytes(size)
    yield Child(name="overlay", data=memoryview(layer.data)[start:])


class PeUnpacker:
    name = "pe"
    types = frozenset({FileType.MSEXE})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        view = parse_pe(layer.data)
        if view is None:
            return  # MZ without a PE header (DOS programs, data that starts with "MZ"): nothing to unpack
        claimed = False
        for name, detector in DETECTORS:
            try:
                for child in detector(view, layer, ctx):
                    claimed = True
                    yield child
            except MalformedInput as exc:
                claimed = True
                ctx.note_issue(f"{layer.path}: {name}: {exc}")
        if not claimed:
            yield from overlay_children(view, layer, ctx)
