"""Text encodings that carry files: base64, quoted-printable, uuencode and BinHex 4.0.

Mail parts and stand-alone files (CL_TYPE_UUENCODED, CL_TYPE_BINHEX) share these decoders. They are
lenient the way mail readers are (an attacker only gains if we read less than the victim's client does),
and bounded: base64, quoted-printable and uuencode never produce more bytes than they read, and BinHex's
run-length step, the one that can expand (up to 255:1), stops at the scan budget. Declared BinHex fork
lengths are checked against the budget, never used to allocate.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ByteView, Child, Layer, ScanContext
from vigil.types import FileType

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_INVALID = re.compile(rb"[^A-Za-z0-9+/=\s]")


@dataclass(slots=True)
class Decoded:
    """Decoder output plus what was wrong with the input (empty when nothing was)."""

    data: ByteView
    problems: list[str] = field(default_factory=list)


def decode_base64(text: ByteView) -> Decoded:
    """RFC 2045 base64, skipping characters outside the alphabet and stopping at padding, as mail
    clients do; a dangling sixth bit group is dropped. Works on views: one cleaned copy, no more."""
    problems = ["invalid base64 characters skipped"] if _B64_INVALID.search(text) else []
    cleaned = _B64_JUNK.sub(b"", text)
    pad = cleaned.find(b"=")
    if pad >= 0:
        cleaned = cleaned[:pad]
    usable = len(cleaned) - len(cleaned) % 4
    tail = cleaned[usable:]
    if len(tail) == 1:
        problems.append("base64 ends with a lone character")
        tail = b""
    elif tail:
        tail += b"=" * (4 - len(tail))
    view = memoryview(cleaned)
    return Decoded(binascii.a2b_base64(view[:usable]) + binascii.a2b_base64(tail), problems)


def decode_qp(text: ByteView) -> Decoded:
    return Decoded(binascii.a2b_qp(text))


# --- uuencode -------------------------------------------------------------------------------------

_UU_BEGIN = re.compile(rb"^begin +[0-7]{1,4} +([^\r\n]*?)[ \t]*\r?$", re.MULTILINE)
_UU_LINE_END = re.compile(rb"\r?\n")


@dataclass(frozen=True, slots=True)
class UuBlock:
    name: str
    data: bytes
    complete: bool  # an `end` line was seen


def _uu_line(line: bytes) -> bytes:
    """One uuencoded line; binascii is strict about padding, so fall back to decoding by hand."""
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        count = (line[0] - 32) & 63 if line else 0
        quads = line[1:].ljust(((count + 2) // 3) * 4, b" ")
        out = bytearray()
        for pos in range(0, len(quads) - 3, 4):
            a, b, c, d = ((ch - 32) & 63 for ch in quads[pos : pos + 4])
            out += bytes(((a << 2 | b >> 4) & 255, (b << 4 | c >> 2) & 255, (c << 6 | d) & 255))
        return bytes(out[:count])


def _uu_body(data: bytes, start: int, ctx: ScanContext) -> tuple[bytes, bool, int]:
    """Decode lines from `start` to the zero-length line or `end`; returns (bytes, terminated, next pos).

    The zero-length line (a lone '`' or space) ends the data as uudecode does, even if `end` is missing.
    """
    out: list[bytes] = []
    pos = start
    for lines, match in enumerate(_UU_LINE_END.finditer(data, start)):
        line = data[pos : match.start()]
        pos = match.end()
        if lines & 0xFFF == 0:
            ctx.check_time()
        if line.rstrip() == b"end" or line.rstrip(b" ") in (b"`", b""):
            return b"".join(out), line != b"", pos  # a truly empty line is not the zero-length line
        out.append(_uu_line(line))
    last = data[pos:].rstrip()
    if last and last != b"end" and last != b"`":
        out.append(_uu_line(last))
    return b"".join(out), last in (b"end", b"`"), len(data)


def uu_blocks(data: ByteView, ctx: ScanContext) -> Iterator[UuBlock]:
    """Every `begin MODE NAME` ... `end` block in `data`, in order."""
    raw = bytes(data)
    pos = 0
    while (begin := _UU_BEGIN.search(raw, pos)) is not None:
        body_start = begin.end() + 1
        decoded, complete, pos = _uu_body(raw, body_start, ctx)
        yield UuBlock(clean_name(begin.group(1).decode("latin-1")), decoded, complete)


# --- BinHex 4.0 ----------------------------------------------------------------------------------

BINHEX_MARK = b"(This file must be converted with BinHex"
_HQX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HQX_TO_B64 = bytes.maketrans(_HQX_ALPHABET, _B64_ALPHABET)
_HQX_DROP = bytes(sorted(set(range(256)) - set(_HQX_ALPHABET)))
_RLE = 0x90
_MAX_HEADER = 1 + 255 + 21
MAX_RLE_MARKERS = 1_000_000


@dataclass(frozen=True, slots=True)
class BinHexFile:
    name: str
    data: bytes
    resource: bytes
    problems: tuple[str, ...]


def _hqx_sixbit(text: bytes) -> bytes:
    """6-bit decode by translating the BinHex alphabet onto base64's and letting binascii do the rest."""
    mapped = text.translate(_HQX_TO_B64, _HQX_DROP)
    usable = len(mapped) - len(mapped) % 4
    tail = mapped[usable:]
    tail = tail + b"=" * (4 - len(tail)) if len(tail) > 1 else b""
    return binascii.a2b_base64(mapped[:usable] + tail)


def _unrle(packed: bytes, want: int, ctx: ScanContext) -> bytes:
    """Expand 0x90 runs; stop after `want` bytes (the header's total), at the scan budget, or after
    MAX_RLE_MARKERS markers: each costs a Python step (~1 us), and a flood of 2-byte runs is a way to
    make a small input slow, not something a real BinHex file contains (a 100 MB random file has ~0.4 M).
    Stopping early shows up as a truncated data fork (MalformedInput)."""
    out = bytearray()
    cap = min(want, ctx.remaining_bytes() + 64)  # the header is not charged; 64 bytes of slack for it
    pos = runs = 0
    while pos < len(packed) and len(out) < cap and runs < MAX_RLE_MARKERS:
        mark = packed.find(_RLE, pos)
        if mark < 0:
            out += packed[pos:]
            break
        out += packed[pos:mark]
        if mark + 1 >= len(packed):
            break
        count = packed[mark + 1]
        if count == 0:
            out.append(_RLE)
        elif out:
            out += bytes([out[-1]]) * min(count - 1, cap - len(out) + 1)
        pos = mark + 2
        runs += 1
        if runs & 0xFFFF == 0:
            ctx.check_time()
    return bytes(out[:want])


def _be(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big")


def decode_binhex(text: ByteView, ctx: ScanContext) -> BinHexFile:
    """Decode the first BinHex 4.0 stream in `text` (between the colons after the marker line)."""
    raw = bytes(text)
    mark = raw.find(BINHEX_MARK)
    start = raw.find(b":", mark + len(BINHEX_MARK) if mark >= 0 else 0)
    if start < 0:
        raise MalformedInput("binhex: no ':' start marker")
    end = raw.find(b":", start + 1)
    body = raw[start + 1 : end if end > 0 else len(raw)]
    packed = _hqx_sixbit(body)
    head = _unrle(packed, _MAX_HEADER, ctx)
    if not head or len(head) < head[0] + 22:
        raise MalformedInput("binhex: truncated header")
    nlen = head[0]
    fixed = 1 + nlen + 1 + 4 + 4 + 2  # length, name, version, type, creator, flags
    data_len, rsrc_len = _be(head, fixed, 4), _be(head, fixed + 4, 4)
    header_len = fixed + 8 + 2  # fork lengths and header CRC
    refuse_oversize(ctx, data_len)
    want = header_len + data_len + 2 + min(rsrc_len, max(0, ctx.remaining_bytes() - data_len)) + 2
    whole = _unrle(packed, want, ctx)
    problems = _binhex_problems(whole, header_len, data_len, end > 0)
    data = whole[header_len : header_len + data_len]
    rsrc_at = header_len + data_len + 2
    resource = whole[rsrc_at : rsrc_at + rsrc_len]
    name = clean_name(head[1 : 1 + nlen].decode("mac_roman"))
    return BinHexFile(name, data, resource, tuple(problems))


def _binhex_problems(whole: bytes, header_len: int, data_len: int, closed: bool) -> list[str]:
    problems = [] if closed else ["binhex: no closing ':'"]
    if binascii.crc_hqx(whole[: header_len - 2], 0) != _be(whole, header_len - 2, 2):
        problems.append("binhex: header CRC mismatch")
    if len(whole) < header_len + data_len:
        problems.append(f"binhex: data fork truncated at {len(whole) - header_len} of {data_len} bytes")
    elif binascii.crc_hqx(whole[header_len:][:data_len], 0) != _be(whole, header_len + data_len, 2):
        problems.append("binhex: data fork CRC mismatch")
    return problems


# --- shared helpers and the two stand-alone unpackers ------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse_oversize(ctx: ScanContext, size: int) -> None:
    """Raise the limit a declared `size` would break, before any work is spent on it."""
    if size > ctx.remaining_bytes():
        max_file = ctx.limits.max_filesize
        raise LimitExceeded("MaxFileSize" if 0 < max_file < size else "MaxScanSize", f"{size} bytes")


def clean_name(name: str) -> str:
    """A member name is a label for reports: no control characters, bounded length."""
    return _CONTROL.sub("_", name.strip())[:255]


def binhex_children(data: ByteView, ctx: ScanContext, fallback: str) -> Iterator[Child]:
    """The data fork (and a non-empty resource fork) of the BinHex stream in `data`."""
    ctx.charge_file()
    decoded = decode_binhex(data, ctx)
    name = decoded.name or fallback
    ctx.charge_bytes(len(decoded.data))
    yield Child(name=name, data=decoded.data)
    if decoded.resource:
        ctx.charge_file()
        ctx.charge_bytes(len(decoded.resource))
        yield Child(name=f"{name}.rsrc", data=decoded.resource)
    if decoded.problems:
        raise MalformedInput("; ".join(decoded.problems))


def uu_children(data: ByteView, ctx: ScanContext, fallback: str) -> Iterator[Child]:
    """Each uuencoded block as a child; MalformedInput after them when one has no `end`."""
    unterminated = []
    for count, block in enumerate(uu_blocks(data, ctx), 1):
        ctx.charge_file()
        ctx.charge_bytes(len(block.data))
        yield Child(name=block.name or f"{fallback}-{count}", data=block.data)
        if not block.complete:
            unterminated.append(block.name)
    if unterminated:
        raise MalformedInput(f"uuencode: no 'end' line after {unterminated!r}")


class UuencodeUnpacker:
    name = "uuencode"
    types = frozenset({FileType.UUENCODED})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        return uu_children(layer.data, ctx, "part")


class BinHexUnpacker:
    name = "binhex"
    types = frozenset({FileType.BINHEX})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        return binhex_children(layer.data, ctx, "part-1")
