"""OLE1 embedded objects (MS-OLEDS): the object header RTF's `\\objdata` carries, and Packager data.

A "Package" object wraps an arbitrary file with its label and original path: that file is what malware
droppers embed, so it is the child. Every length read here is checked against the bytes present; a
lying length ends parsing (the caller falls back to the raw bytes).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from vigil.errors import MalformedInput

_EMBEDDED = 2
#: Longest class/topic/item name accepted in an object header; real ones are a few dozen bytes.
_MAX_NAME = 4096


@dataclass(frozen=True, slots=True)
class Native:
    """An OLE1 object's class name and its native data."""

    class_name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Packaged:
    """A file wrapped by the Packager: a display name (never a path we act on) and its bytes."""

    name: str
    data: bytes


def _length_prefixed(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise MalformedInput("OLE1: truncated object header")
    (size,) = struct.unpack_from("<I", buf, pos)
    if size > _MAX_NAME or pos + 4 + size > len(buf):
        raise MalformedInput(f"OLE1: name length {size} out of range")
    return buf[pos + 4 : pos + 4 + size].rstrip(b"\0"), pos + 4 + size


def parse_object(buf: bytes) -> Native:
    """An ObjectHeader plus EmbeddedObject; native data is cut to what is present."""
    if len(buf) < 8:
        raise MalformedInput("OLE1: object header too short")
    _version, format_id = struct.unpack_from("<II", buf, 0)
    if format_id != _EMBEDDED:
        raise MalformedInput(f"OLE1: format id {format_id} is not an embedded object")
    class_name, pos = _length_prefixed(buf, 8)
    _topic, pos = _length_prefixed(buf, pos)
    _item, pos = _length_prefixed(buf, pos)
    if pos + 4 > len(buf):
        raise MalformedInput("OLE1: no native data size")
    (size,) = struct.unpack_from("<I", buf, pos)
    return Native(class_name.decode("latin-1"), buf[pos + 4 : pos + 4 + size])


def _cstring(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\0", pos, pos + _MAX_NAME)
    if end < 0:
        raise MalformedInput("OLE1 package: unterminated name")
    return buf[pos:end], end + 1


def parse_package(buf: bytes) -> Packaged:
    """Packager native data: 2, label, path, flags, temp path, then the file (cut to what is present)."""
    if len(buf) < 2 or buf[:2] != b"\x02\x00":
        raise MalformedInput("OLE1 package: bad signature")
    label, pos = _cstring(buf, 2)
    path, pos = _cstring(buf, pos)
    pos += 4  # two reserved words; the second says "embedded" (3)
    if pos + 4 > len(buf):
        raise MalformedInput("OLE1 package: truncated before the temporary path")
    (tmp_len,) = struct.unpack_from("<I", buf, pos)
    pos += 4 + tmp_len
    if tmp_len > _MAX_NAME or pos + 4 > len(buf):
        raise MalformedInput("OLE1 package: bad temporary path length")
    (size,) = struct.unpack_from("<I", buf, pos)
    return Packaged(display_name(path or label), buf[pos + 4 : pos + 4 + size])


def parse_ole10native(stream: bytes) -> Packaged:
    """The `\\x01Ole10Native` stream of an OLE2 object: a size, then Packager data."""
    if len(stream) < 4:
        raise MalformedInput("Ole10Native: too short")
    (size,) = struct.unpack_from("<I", stream, 0)
    return parse_package(stream[4 : 4 + size])


def display_name(raw: bytes) -> str:
    """The last path component, printable: a label for layer paths, never a path on disk."""
    base = re.split(rb"[\\/:]", raw)[-1] or b"package"
    return re.sub(r"[\x00-\x1f\x7f]", "?", base.decode("latin-1"))
