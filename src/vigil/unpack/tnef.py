"""TNEF (winmail.dat): Outlook's wrapper for rich-text mail; its attachments are the children.

The stream is a signature, a legacy key, then attributes `level(1) id(4) length(4) data checksum(2)`,
all little-endian. An attachment starts with attAttachRendData; attAttachData holds its bytes and
attAttachTitle its name, in either order, so an attachment is yielded when the next one starts or the
stream ends. Attribute checksums are not checked: ClamAV ignores them, and its own clam.tnef has
stale ones. Lengths are never trusted: an attribute that runs past the end is truncation, reported
after the readable attachments. Children are views into the layer, not copies.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import ByteView, Child, Layer, ScanContext
from vigil.types import FileType
from vigil.unpack.encodings import clean_name

SIGNATURE = 0x223E9F78
LEVEL_ATTACHMENT = 2
ATT_RENDDATA = 0x9002
ATT_TITLE = 0x8010
ATT_DATA = 0x800F
_ATTRIBUTE = struct.Struct("<BII")
_HEAD = 6  # signature and legacy key


@dataclass(slots=True)
class _Attachment:
    title: str = ""
    data: ByteView | None = None


def _attributes(data: ByteView, ctx: ScanContext) -> Iterator[tuple[int, int, ByteView]]:
    """(level, tag, payload) for each attribute; MalformedInput when one is cut off."""
    pos, total = _HEAD, len(data)
    while pos + _ATTRIBUTE.size <= total:
        level, attr, length = _ATTRIBUTE.unpack_from(data, pos)
        start = pos + _ATTRIBUTE.size
        if length > total - start:
            left = total - start
            raise MalformedInput(f"tnef: attribute {attr:#x} at {pos} claims {length} bytes, {left} left")
        yield level, attr & 0xFFFF, data[start : start + length]
        pos = start + length + 2
        ctx.check_time()


class TnefUnpacker:
    name = "tnef"
    types = frozenset({FileType.TNEF})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        data = layer.data
        if len(data) < _HEAD or int.from_bytes(bytes(data[:4]), "little") != SIGNATURE:
            raise MalformedInput(f"{layer.name}: no TNEF signature")
        current: _Attachment | None = None
        count = 0
        broken: MalformedInput | None = None
        try:
            for level, tag, payload in _attributes(data, ctx):
                if level != LEVEL_ATTACHMENT:
                    continue
                if tag == ATT_RENDDATA or current is None:
                    if current is not None:
                        count += 1
                        yield from self._emit(current, count, ctx)
                    current = _Attachment()
                if tag == ATT_TITLE:
                    current.title = clean_name(bytes(payload).split(b"\0", 1)[0].decode("cp1252", "replace"))
                elif tag == ATT_DATA:
                    current.data = payload
        except MalformedInput as exc:
            broken = exc
        if current is not None:
            yield from self._emit(current, count + 1, ctx)
        if broken is not None:
            raise broken

    @staticmethod
    def _emit(attachment: _Attachment, count: int, ctx: ScanContext) -> Iterator[Child]:
        if attachment.data is None:
            return
        ctx.charge_file()
        ctx.charge_bytes(len(attachment.data))
        yield Child(attachment.title or f"part-{count}", attachment.data)
