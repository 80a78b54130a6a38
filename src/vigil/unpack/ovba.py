"""MS-OVBA: the VBA project's `dir` stream and the LZ77 variant that compresses it and module source.

Macro malware is matched on its source text, which Office stores compressed after the p-code in each
module stream. Decompression is bounded by the caller's byte budget and never copies from before the
start of a chunk (a hostile offset is damage, not an over-read).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ScanContext

_CHUNK_OUT = 4096  # a chunk never decompresses to more; a token claiming more is damage
_MODULE_NAME, _STREAM_NAME, _OFFSET, _MODULE_END = 0x0019, 0x001A, 0x0031, 0x002B
_PROJECT_VERSION = 0x0009  # its size field says 4 but 6 bytes follow (MS-OVBA 2.3.4.2.1.11)


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    stream: str
    offset: int


def _copy_token(token: int, position: int) -> tuple[int, int]:
    """(offset, length) of a copy token at `position` bytes into the decompressed chunk."""
    bits = max(4, (position - 1).bit_length())
    length_mask = 0xFFFF >> bits
    return (token >> (16 - bits)) + 1, (token & length_mask) + 3


def _decompress_chunk(body: bytes, out: bytearray) -> None:
    start = len(out)
    pos = 0
    while pos < len(body):
        flags = body[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(body):
                return
            if not flags >> bit & 1:
                out.append(body[pos])
                pos += 1
                continue
            if pos + 2 > len(body):
                raise MalformedInput("VBA: truncated copy token")
            offset, length = _copy_token(int.from_bytes(body[pos : pos + 2], "little"), len(out) - start)
            pos += 2
            if offset > len(out) - start or len(out) - start + length > _CHUNK_OUT:
                raise MalformedInput("VBA: copy token outside its chunk")
            for _ in range(length):
                out.append(out[-offset])


def decompress(data: bytes, ctx: ScanContext) -> bytes:
    """Decompress a CompressedContainer; LimitExceeded (the binding limit) once past the budget.

    The output is not charged: the caller charges the child it becomes.
    """
    limit = ctx.remaining_bytes()
    if not data or data[0] != 1:
        raise MalformedInput("VBA: compressed container signature missing")
    out = bytearray()
    pos = 1
    while pos + 2 <= len(data):
        (header,) = struct.unpack_from("<H", data, pos)
        size = (header & 0x0FFF) + 3
        body = data[pos + 2 : pos + size]
        pos += size
        if header & 0x8000:
            _decompress_chunk(body, out)
        else:
            out += body  # a raw chunk: its size field says 4095, so body is the 4096 stored bytes
        ctx.check_time()
        if len(out) > limit:
            ctx.charge_bytes(len(out))  # raises MaxFileSize or MaxScanSize, whichever binds
            raise LimitExceeded("MaxScanSize", f"{len(out)} bytes of VBA source")
    return bytes(out)


def modules(dir_stream: bytes, codepage: str = "latin-1") -> list[Module]:
    """Modules named by a decompressed `dir` stream, in order; records past damage are dropped."""
    found: list[Module] = []
    name = stream = ""
    offset = 0
    pos = 0
    while pos + 6 <= len(dir_stream):
        rid, size = struct.unpack_from("<HI", dir_stream, pos)
        if rid == _PROJECT_VERSION:
            size = 6
        value = dir_stream[pos + 6 : pos + 6 + size]
        pos += 6 + size
        if rid == _MODULE_NAME:
            name, stream, offset = value.decode(codepage, "replace"), "", 0
        elif rid == _STREAM_NAME:
            stream = value.decode(codepage, "replace")
        elif rid == _OFFSET and len(value) == 4:
            offset = int.from_bytes(value, "little")
        elif rid == _MODULE_END and name:
            found.append(Module(name, stream or name, offset))
            name = ""
    return found
