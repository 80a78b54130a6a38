"""PDF: streams through every filter, /JS strings and object streams; hostile xref, lengths, bombs."""

from __future__ import annotations

import base64
import os
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget, Verdict
from vigil.unpack.pdf import ENCRYPTED_ALERT, PdfUnpacker

TEXT = b"BT /F1 12 Tf (Hello, PDF) Tj ET\n" * 40
BINARY = os.urandom(3000)


def pdf(*objects: bytes, trailer: bytes = b"<< /Root 1 0 R >>") -> bytes:
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for num, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % num + obj + b"\nendobj\n"
    xref = b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    xref += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    return body + xref + b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % len(body)


def stream(data: bytes, extra: bytes = b"", length: bytes | None = None) -> bytes:
    size = length if length is not None else str(len(data)).encode()
    return b"<< /Length " + size + b" " + extra + b" >>\nstream\n" + data + b"\nendstream"


def lzw(data: bytes) -> bytes:
    """LZW with EarlyChange 1, as PDF writers produce it (clear code first, EOD last)."""
    table = {bytes([i]): i for i in range(256)}
    codes, width_at = [256], []
    next_code, width, word = 258, 9, b""
    for byte in data:
        grown = word + bytes([byte])
        if grown in table:
            word = grown
            continue
        codes.append(table[word])
        width_at.append(width)
        table[grown] = next_code
        next_code += 1
        if next_code >= 1 << width and width < 12:  # the decoder, one entry behind, adds EarlyChange
            width += 1
        word = bytes([byte])
    codes += [table[word], 257]
    widths = [9, *width_at, width, width]
    bits = "".join(format(code, f"0{w}b") for code, w in zip(codes, widths, strict=True))
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def run_length(data: bytes) -> bytes:
    out = b""
    for i in range(0, len(data), 128):
        piece = data[i : i + 128]
        out += bytes([len(piece) - 1]) + piece
    return out + b"\x80" + b"\x00" * 3 + b"\xfd" + b"Z" + b"\x80"  # a repeat run after EOD is ignored


def png_up(data: bytes, columns: int) -> bytes:
    rows = [data[i : i + columns] for i in range(0, len(data), columns)]
    out, above = b"", bytes(columns)
    for row in rows:
        out += b"\x02" + bytes((b - a) & 0xFF for b, a in zip(row, above, strict=False))
        above = row
    return out


def _collect(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    got: list[Child] = []
    try:
        got.extend(
            PdfUnpacker().children(Layer(data, "x.pdf", FileType.PDF, 0), ctx or ScanContext(ScanLimits()))
        )
    except (MalformedInput, LimitExceeded) as exc:
        return got, exc
    return got, None


@pytest.mark.parametrize(
    ("encoded", "filters"),
    [
        (zlib.compress(BINARY), b"/Filter /FlateDecode"),
        (BINARY.hex().encode() + b">", b"/Filter /ASCIIHexDecode"),
        (base64.a85encode(BINARY, wrapcol=70) + b"~>", b"/Filter /ASCII85Decode"),
        (lzw(TEXT + BINARY), b"/Filter /LZWDecode"),
        (run_length(BINARY), b"/Filter /RunLengthDecode"),
        (zlib.compress(BINARY).hex().encode() + b">", b"/Filter [/ASCIIHexDecode /FlateDecode]"),
        (zlib.compress(png_up(BINARY, 20)), b"/Filter /Fl /DecodeParms << /Predictor 12 /Columns 20 >>"),
    ],
)
def test_filters_decode_to_the_original(encoded: bytes, filters: bytes) -> None:
    expected = TEXT + BINARY if b"LZW" in filters else BINARY
    (child,) = unpack(pdf(b"<< /Type /Catalog >>", stream(encoded, filters)), FileType.PDF)
    assert (child.name, bytes(child.data)) == ("obj 2 0", expected)


def test_indirect_and_lying_lengths() -> None:
    data = pdf(stream(TEXT, length=b"2 0 R"), b"%d" % len(TEXT), stream(BINARY, length=b"99999999999"))
    got = [(c.name, bytes(c.data)) for c in unpack(data, FileType.PDF)]
    assert got == [("obj 1 0", TEXT), ("obj 3 0", BINARY)]


def test_javascript_strings_hex_escaped_names_and_object_streams() -> None:
    objstm_body = b"<< /S /JavaScript /JS (app.alert\\(2\\)) >>"
    header = b"7 0 "
    objstm = stream(
        zlib.compress(header + objstm_body),
        b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode" % len(header),
    )
    data = pdf(
        b"<< /OpenAction 2 0 R >>",
        b"<< /S /JavaScript /J#53 (app.alert\\(1\\);\\nvar x = '\\101';) >>",
        b"<< /Names [ (a) << /JS <6576616c28782929> >> ] >>",
        objstm,
    )
    got = [(c.name, bytes(c.data)) for c in unpack(data, FileType.PDF)]
    assert ("obj 2 0/JS", b"app.alert(1);\nvar x = 'A';") in got
    assert ("obj 3 0/JS", b"eval(x))") in got
    assert ("obj 7 0/JS", b"app.alert(2)") in got


def test_encrypted_pdf_raises_the_encrypted_alert() -> None:
    ctx = ScanContext(ScanLimits())
    _collect(pdf(b"<< >>", stream(BINARY), trailer=b"<< /Root 1 0 R /Encrypt 9 0 R >>"), ctx)
    assert ctx.alerts == [ENCRYPTED_ALERT]


def test_xref_loops_and_self_referencing_objects_end() -> None:
    body = pdf(b"<< /Length 1 0 R >>\nstream\nabc\nendstream", b"<< /Prev 0 /Kids [2 0 R] >>")
    loop = body + b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(body),
        len(body),
    )
    got, exc = _collect(loop)
    assert [(c.name, bytes(c.data)) for c in got] == [("obj 1 0", b"abc")] and exc is None


def test_deflate_bomb_stops_at_the_limit_quickly() -> None:
    bomb = zlib.compress(bytes(200 << 20), 9)
    start = time.monotonic()
    got, exc = _collect(pdf(stream(bomb, b"/Filter /FlateDecode")))
    assert got == [] and isinstance(exc, LimitExceeded) and exc.limit == "MaxFileSize"
    assert time.monotonic() - start < 5


def test_huge_length_unterminated_stream_and_deep_nesting_are_issues() -> None:
    got, exc = _collect(pdf(b"<< /A " + b"[" * 5000 + b" >>", b"<< /Length 4294967295 >>\nstream\n" + TEXT))
    assert any(bytes(c.data).startswith(TEXT) for c in got)
    assert isinstance(exc, MalformedInput) and "nested" in str(exc) and "endstream" in str(exc)


def test_engine_scan_of_a_bomb_reports_the_limit() -> None:
    bomb = pdf(stream(zlib.compress(bytes(120 << 20), 9), b"/Filter /FlateDecode"))
    report = Engine(load_database()).scan(ScanTarget(display="bomb.pdf", data=bomb))
    assert report.verdict is Verdict.INFECTED and report.name == "Heuristics.Limits.Exceeded.MaxFileSize"


_SAMPLE = pdf(
    stream(zlib.compress(TEXT), b"/Filter /FlateDecode"),
    b"<< /JS (x) >>",
    stream(lzw(TEXT), b"/Filter [/LZW]"),
    stream(base64.a85encode(TEXT) + b"~>", b"/Filter /A85"),
)


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    _got, exc = _collect(_SAMPLE[: len(_SAMPLE) * tenth // 10])
    assert exc is None or isinstance(exc, MalformedInput)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE) - 1), st.binary(max_size=8)), min_size=1, max_size=8))
def test_fuzz(edits: list[tuple[int, bytes]]) -> None:
    data = _SAMPLE
    for pos, piece in edits:
        data = data[:pos] + piece + data[pos + len(piece) :]
    _collect(data, ScanContext(ScanLimits(max_scansize=16 << 20, max_scantime_ms=5000)))
