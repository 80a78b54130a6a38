"""PDF stream filters: Flate, LZW, ASCIIHex, ASCII85, RunLength, and the PNG/TIFF predictors.

Each filter gets the scan context and stops once its output would pass `ctx.remaining_bytes()`
(LZW and RunLength reach ratios near 1000:1 and Flate 1032:1, so a stream's /Length says nothing about
its decoded size). A damaged stream keeps what decoded before the damage and names the problem;
PDF readers are lenient, and so is malware that relies on them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.errors import LimitExceeded
from vigil.layer import ScanContext
from vigil.unpack import inflate
from vigil.unpack.compressed import decode_bounded

#: The longest filter chain decoded; real files use one or two.
MAX_FILTERS = 8
_WHITESPACE = re.compile(rb"[\x00\t\n\x0c\r ]+")
_NOT_A85 = re.compile(rb"[^!-uz]")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f]")

Params = dict[str, object]


@dataclass(slots=True)
class Result:
    data: bytes
    problem: str = ""


def _over(ctx: ScanContext, size: int) -> None:
    """Raise the binding limit when `size` decoded bytes would not fit the budget."""
    if size > ctx.remaining_bytes():
        ctx.charge_bytes(size)
        raise LimitExceeded("MaxScanSize", f"{size} bytes")


def flate(data: bytes, _params: Params, ctx: ScanContext) -> Result:
    wbits = inflate.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -inflate.MAX_WBITS  # some omit it
    decoded = decode_bounded(data, lambda: inflate.decompressobj(wbits), ctx)
    return Result(decoded.data, "" if decoded.complete else f"FlateDecode: {decoded.error}")


def ascii_hex(data: bytes, _params: Params, ctx: ScanContext) -> Result:
    end = data.find(b">")
    body = _WHITESPACE.sub(b"", data if end < 0 else data[:end])
    problem = "" if end >= 0 else "ASCIIHexDecode: no end marker"
    if _NOT_HEX.search(body):
        body, problem = _NOT_HEX.sub(b"", body), "ASCIIHexDecode: invalid characters"
    _over(ctx, len(body) // 2)
    return Result(bytes.fromhex((body + b"0" * (len(body) % 2)).decode("ascii")), problem)


def ascii85(data: bytes, _params: Params, ctx: ScanContext) -> Result:
    body = _WHITESPACE.sub(b"", data)
    body = body[2:] if body.startswith(b"<~") else body
    end = body.find(b"~>")
    problem = "" if end >= 0 else "ASCII85Decode: no end marker"
    body = body if end < 0 else body[:end]
    bad = _NOT_A85.search(body)
    if bad is not None:
        body, problem = body[: bad.start()], "ASCII85Decode: invalid character"
    _over(ctx, 4 * len(body))
    body = body[: len(body) - 1] if len(body.replace(b"z", b"")) % 5 == 1 else body  # one stray char
    try:
        return Result(base64.a85decode(body), problem)
    except ValueError as exc:  # a 'z' inside a group
        return Result(b"", f"ASCII85Decode: {exc}")


def run_length(data: bytes, _params: Params, ctx: ScanContext) -> Result:
    out = bytearray()
    pos = 0
    limit = ctx.remaining_bytes()
    while pos < len(data):
        length = data[pos]
        if length == 128:
            return Result(bytes(out))
        if length < 128:
            out += data[pos + 1 : pos + 2 + length]
            pos += 2 + length
        else:
            out += data[pos + 1 : pos + 2] * (257 - length)
            pos += 2
        if len(out) > limit:
            _over(ctx, len(out))
    return Result(bytes(out), "RunLengthDecode: no end marker")


def lzw(data: bytes, params: Params, ctx: ScanContext) -> Result:
    early = 0 if params.get("EarlyChange") == 0 else 1
    limit = ctx.remaining_bytes()
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    out = bytearray()
    prev = b""
    width, acc, nbits = 9, 0, 0
    for byte in data:
        acc, nbits = (acc << 8) | byte, nbits + 8
        while nbits >= width:
            nbits -= width
            code = acc >> nbits
            acc &= (1 << nbits) - 1
            if code == 256:
                del table[258:]
                width, prev = 9, b""
                continue
            if code == 257:
                return Result(bytes(out))
            if code < len(table):
                entry = table[code]
            elif code == len(table) and prev:
                entry = prev + prev[:1]
            else:
                return Result(bytes(out), f"LZWDecode: bad code {code}")
            if prev and len(table) < 4096:
                table.append(prev + entry[:1])
            out += entry
            prev = entry
            if len(table) + early >= 1 << width and width < 12:
                width += 1
        if len(out) > limit:
            _over(ctx, len(out))
    return Result(bytes(out), "LZWDecode: no end-of-data code")


def _int(params: Params, key: str, default: int) -> int:
    value = params.get(key, default)
    return value if isinstance(value, int) and 0 < value < 1 << 16 else default


def _png_row(kind: int, row: bytearray, above: bytes | bytearray, bpp: int) -> None:
    """Undo one PNG filter in place (1 Sub, 2 Up, 3 Average, 4 Paeth)."""
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = above[i]
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = above[i - bpp] if i >= bpp else 0
            guess = left + up - corner
            pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
            row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF


def unpredict(data: bytes, params: Params, ctx: ScanContext) -> Result:
    """Undo /Predictor 2 (TIFF, 8-bit samples) or 10-15 (PNG, per-row filter byte)."""
    predictor = _int(params, "Predictor", 1)
    colors, bpc = _int(params, "Colors", 1), _int(params, "BitsPerComponent", 8)
    columns = _int(params, "Columns", 1)
    bpp = max(1, colors * bpc // 8)
    row_len = (columns * colors * bpc + 7) // 8
    if predictor == 2 and bpc == 8:
        out = bytearray(data)
        for i in range(len(out)):
            if i % row_len >= bpp:
                out[i] = (out[i] + out[i - bpp]) & 0xFF
        return Result(bytes(out))
    if predictor < 10:
        return Result(data, "" if predictor == 1 else f"unsupported predictor {predictor}")
    out = bytearray()
    above: bytes | bytearray = bytes(row_len)
    for pos in range(0, len(data), row_len + 1):
        ctx.check_time()
        row = bytearray(data[pos + 1 : pos + 1 + row_len].ljust(row_len, b"\0"))
        if 1 <= data[pos] <= 4:
            _png_row(data[pos], row, above, bpp)
        out += row
        above = row
    return Result(bytes(out))


Filter = Callable[[bytes, Params, ScanContext], Result]

#: Filter name (and its inline-image abbreviation) -> decoder.
FILTERS: dict[str, Filter] = {
    "FlateDecode": flate, "Fl": flate,
    "LZWDecode": lzw, "LZW": lzw,
    "ASCIIHexDecode": ascii_hex, "AHx": ascii_hex,
    "ASCII85Decode": ascii85, "A85": ascii85,
    "RunLengthDecode": run_length, "RL": run_length,
}
_PREDICTED = frozenset({"FlateDecode", "Fl", "LZWDecode", "LZW"})


def decode_chain(data: bytes, names: Sequence[str], params: Sequence[Params], ctx: ScanContext) -> Result:
    """Apply filters in order; an unknown filter (DCT, JBIG2, Crypt...) leaves the bytes as they are."""
    problems: list[str] = []
    for index, name in enumerate(names[:MAX_FILTERS]):
        decoder = FILTERS.get(name)
        if decoder is None:
            return Result(data, "; ".join([*problems, f"{name} not decoded"]) if name not in _IMAGE else "")
        parms = params[index] if index < len(params) else {}
        step = decoder(data, parms, ctx)
        if name in _PREDICTED and _int(parms, "Predictor", 1) > 1:
            step = Result(unpredict(step.data, parms, ctx).data, step.problem)
        data = step.data
        problems += [step.problem] if step.problem else []
    if len(names) > MAX_FILTERS:
        problems.append(f"{len(names)} filters, only {MAX_FILTERS} applied")
    return Result(data, "; ".join(problems))


#: Image codecs: the encoded bytes are what is scanned, as clamscan does; not decoding them is no problem.
_IMAGE = frozenset({"DCTDecode", "DCT", "JPXDecode", "JBIG2Decode", "CCITTFaxDecode", "CCF"})
