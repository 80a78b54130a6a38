"""RTF: \\objdata hex (and \\bin runs) decoded to OLE1 objects and their payloads; hostile inputs."""

from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ole2_helpers import build_cfb
from unpack_helpers import unpack

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.rtf import RtfUnpacker

PAYLOAD = b"MZ" + os.urandom(2000)


def _lp(text: bytes) -> bytes:
    return struct.pack("<I", len(text) + 1) + text + b"\0"


def ole1(class_name: bytes, native: bytes) -> bytes:
    return (
        struct.pack("<II", 0x0501, 2)
        + _lp(class_name)
        + _lp(b"")
        + _lp(b"")
        + struct.pack("<I", len(native))
        + native
    )


def package(name: bytes, payload: bytes) -> bytes:
    tmp = b"C:\\T\\" + name + b"\0"
    return (
        b"\x02\x00"
        + name
        + b"\0"
        + b"C:\\x\\"
        + name
        + b"\0"
        + b"\x00\x00\x03\x00"
        + struct.pack("<I", len(tmp))
        + tmp
        + struct.pack("<I", len(payload))
        + payload
    )


def rtf(objdata: bytes) -> bytes:
    return b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " + objdata + b"}}\\par}"


def _hex_lines(raw: bytes) -> bytes:
    text = raw.hex().encode()
    return b"\r\n".join(text[i : i + 128] for i in range(0, len(text), 128))


def _collect(data: bytes, ctx: ScanContext | None = None) -> tuple[list[Child], Exception | None]:
    got: list[Child] = []
    try:
        got.extend(
            RtfUnpacker().children(Layer(data, "x.rtf", FileType.RTF, 0), ctx or ScanContext(ScanLimits()))
        )
    except (MalformedInput, LimitExceeded) as exc:
        return got, exc
    return got, None


def test_package_object_payload_is_the_child() -> None:
    data = rtf(_hex_lines(ole1(b"Package", package(b"evil.exe", PAYLOAD))))
    (child,) = unpack(data, FileType.RTF)
    assert (child.name, bytes(child.data)) == ("object 1/evil.exe", PAYLOAD)


def test_bin_runs_and_control_words_inside_objdata() -> None:
    raw = ole1(b"Package", package(b"a.exe", PAYLOAD))
    half = len(raw) // 2
    objdata = (
        raw[:half].hex().encode() + b"{\\*\\ignored}\\par " + b"\\bin" + str(len(raw) - half).encode() + b" "
    )
    (child,) = unpack(rtf(objdata + raw[half:]), FileType.RTF)
    assert bytes(child.data) == PAYLOAD


def test_other_classes_yield_native_data_and_bare_ole2_is_kept() -> None:
    doc = bytes(build_cfb({"WordDocument": b"w" * 600}).data)
    data = rtf(_hex_lines(ole1(b"Word.Document.8", doc))) + rtf(_hex_lines(doc))
    got = unpack(data, FileType.RTF)
    assert [(c.name, bytes(c.data)) for c in got] == [("object 1/Word.Document.8", doc), ("object 2", doc)]


def test_damaged_header_yields_raw_bytes_then_reports() -> None:
    got, exc = _collect(rtf(b"0102030405060708") + rtf(b"414243"))
    assert [bytes(c.data) for c in got] == [bytes.fromhex("0102030405060708"), b"ABC"]
    assert isinstance(exc, MalformedInput)


def test_unterminated_and_oversized_objdata() -> None:
    got, exc = _collect(b"{\\rtf1{\\object{\\*\\objdata " + b"41" * 1000)
    assert bytes(got[0].data) == b"A" * 1000 and isinstance(exc, MalformedInput)
    got, exc = _collect(rtf(b"41" * 100_000), ScanContext(ScanLimits(max_filesize=10_000)))
    assert got == [] and isinstance(exc, LimitExceeded) and exc.limit == "MaxFileSize"


def test_deep_nesting_and_many_objdata_are_linear() -> None:
    start = time.monotonic()
    _collect(b"{\\rtf1" + b"{" * 200_000 + b"\\objdata 41" + b"}" * 200_000)
    got, _ = _collect(b"{\\rtf1" + b"{\\*\\objdata 4142}" * 20_000, ScanContext(ScanLimits(max_files=100)))
    assert len(got) == 100
    assert time.monotonic() - start < 5


_SAMPLE = rtf(_hex_lines(ole1(b"Package", package(b"e.exe", PAYLOAD[:300]))))


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    _got, exc = _collect(_SAMPLE[: len(_SAMPLE) * tenth // 10])
    assert exc is None or isinstance(exc, MalformedInput)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.integers(0, len(_SAMPLE)))
def test_fuzz(noise: bytes, at: int) -> None:
    _collect(_SAMPLE[:at] + noise + _SAMPLE[at:])
