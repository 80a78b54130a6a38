"""Compiled AutoIt scripts (EA05, EA06): the script and the FileInstall'd files as children.

The stub appends (EA05) or stores (EA06, overlay or resource) a block that starts with a 16-byte
magic, `AU3!EA05` / `AU3!EA06` and 16 key bytes. Records follow, every field obfuscated with its
version's keystream (see `autoit_crypto`): "FILE", a type string (`>>>AUTOIT SCRIPT<<<`,
`>AUTOIT UNICODE SCRIPT<`, or the installed file's name), a path, then a compression flag, the stored
and uncompressed sizes, an Adler-32, two FILETIMEs and the data. EA06 strings are UTF-16 (lengths in
characters). EA05's data key adds the sum of the 16 key bytes. The EA06 script is AutoIt's token
stream, yielded as it is (ClamAV renders it back to text; that is not done here).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vigil.errors import MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.unpack import autoit_crypto as crypto
from vigil.unpack.pe_format import PeView

_MARKER = b"AU3!EA0"
_NO_EXEC = ">>>AUTOIT NO CMDEXECUTE<<<"
_MAX_NAME = 0x1000
_MAX_RECORDS = 4096


@dataclass(frozen=True, slots=True)
class _Keys:
    """Per-version XOR constants and seeds for each record field."""

    ea06: bool
    keystream: Callable[[int, int], bytes]
    file_tag: int
    type_len: tuple[int, int]
    path_len: tuple[int, int]
    size: int
    crc: int
    data: int

    def decrypt(self, data: bytes, seed: int) -> bytes:
        return crypto.xor(data, self.keystream(seed & 0xFFFFFFFF, len(data)))

    def text(self, data: bytes, seed: int) -> str:
        plain = self.decrypt(data, seed)
        return plain.decode("utf-16-le" if self.ea06 else "latin-1", errors="replace")


_EA05 = _Keys(False, crypto.mt_keystream, 0x16FA, (0x29BC, 0xA25E), (0x29AC, 0xF25E), 0x45AA, 0xC3D2, 0x22AF)
_EA06 = _Keys(True, crypto.lame_keystream, 0x18EE, (0xADBC, 0xB33F), (0xF820, 0xF479), 0x87BC, 0xA685, 0x2477)
_VERSIONS = {b"5": _EA05, b"6": _EA06}


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedInput(f"AutoIt: record field of {size} bytes runs past the end")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u32(self, key: int) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value ^ key


def pe_children(view: PeView, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
    data = view.data
    at = data.find(_MARKER, view.headers_end)
    while at >= 16:
        keys = _VERSIONS.get(data[at + 7 : at + 8])
        if keys is not None:
            yield from _records(data, at + 8, keys, ctx)
            return
        at = data.find(_MARKER, at + 1)


def _records(data: bytes, pos: int, keys: _Keys, ctx: ScanContext) -> Iterator[Child]:
    header = data[pos : pos + 16]
    base = sum(header) if not keys.ea06 else 0
    reader = _Reader(data, pos + 16)
    for _ in range(_MAX_RECORDS):
        ctx.check_time()
        if (
            reader.pos + 4 > len(data)
            or keys.decrypt(data[reader.pos : reader.pos + 4], keys.file_tag) != b"FILE"
        ):
            return
        reader.pos += 4
        child = _record(reader, keys, base, ctx)
        if child is not None:
            yield child
    raise MalformedInput("AutoIt: too many records")


def _string(reader: _Reader, keys: _Keys, xor_seed: tuple[int, int]) -> str:
    length = reader.u32(xor_seed[0])
    if length > _MAX_NAME:
        raise MalformedInput(f"AutoIt: {length}-character name")
    return keys.text(reader.take(length * (2 if keys.ea06 else 1)), xor_seed[1] + length)


def _record(reader: _Reader, keys: _Keys, base: int, ctx: ScanContext) -> Child | None:
    kind = _string(reader, keys, keys.type_len)
    path = _string(reader, keys, keys.path_len)
    if kind == _NO_EXEC:
        reader.take(1)
        reader.take(reader.u32(keys.size) + 0x18)
        return None
    compressed = reader.take(1)[0]
    stored = reader.u32(keys.size)
    reader.u32(keys.size)  # uncompressed size: the compressed stream declares its own
    crc = reader.u32(keys.crc)
    reader.take(16)
    ctx.charge_file()
    payload = keys.decrypt(reader.take(stored), base + keys.data)
    if zlib.adler32(payload) != crc:
        raise MalformedInput(f"AutoIt: checksum mismatch in {kind!r}")
    if compressed == 1:
        payload = _inflate(payload, keys, ctx)
    ctx.charge_bytes(len(payload))
    return Child(name=_child_name(kind, path), data=payload)


def _inflate(payload: bytes, keys: _Keys, ctx: ScanContext) -> bytes:
    try:
        return crypto.decompress(payload, keys.ea06, ctx.remaining_bytes(), ctx.check_time)
    except OverflowError:
        ctx.charge_bytes(ctx.remaining_bytes() + 1)  # raises whichever limit binds
        raise
    except (ValueError, IndexError) as exc:
        raise MalformedInput(f"AutoIt: {exc}") from None


def _child_name(kind: str, path: str) -> str:
    if "AUTOIT" in kind and kind.startswith(">"):
        return "script.au3"
    name = path or kind
    return name.replace("\\", "/").rsplit("/", 1)[-1] or "autoit-file"
