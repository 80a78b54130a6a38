"""TNEF (winmail.dat): ClamAV's clam.tnef, generated files (title before or after data, several
attachments), lying lengths, truncation, TNEF inside a mail, and a fuzz smoke run."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_builders import EICAR, as_bytes, message, tnef
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.tnef import TnefUnpacker

CLAM = Path("/usr/share/clamav-testfiles/clam.tnef")
BLOB = os.urandom(3000)


def _drain(data: bytes, ctx: ScanContext) -> tuple[list[tuple[str, bytes]], str]:
    out: list[tuple[str, bytes]] = []
    try:
        for child in TnefUnpacker().children(Layer(data, "winmail.dat", FileType.TNEF, 0), ctx):
            out.append((child.name, bytes(child.data)))
    except MalformedInput as exc:
        return out, str(exc)
    return out, ""


@pytest.mark.skipif(not CLAM.exists(), reason="clamav test files not installed")
def test_clamav_tnef_file_yields_clam_exe_and_is_detected() -> None:
    (child,) = unpack(CLAM.read_bytes(), FileType.TNEF, CLAM.name)
    assert child.name == "clam.exe"  # the title follows the data in this file
    assert bytes(child.data) == (CLAM.parent / "clam.exe").read_bytes()
    report = Engine(load_database()).scan(ScanTarget(display=CLAM.name, path=str(CLAM)))
    assert report.name == "Vigil.Test.ClamExe"
    assert report.detections[0].layer_path == "clam.tnef>clam.exe"


@pytest.mark.parametrize("title_first", [True, False])
def test_several_attachments_in_order(title_first: bool) -> None:
    data = tnef([("a.doc", BLOB), ("Übersicht.xls", EICAR), ("empty", b"")], title_first=title_first)
    expected = [row("a.doc", BLOB), row("Übersicht.xls", EICAR), row("empty", b"")]
    assert rows(unpack(data, FileType.TNEF)) == expected


def test_engine_walks_mail_then_winmail_dat_then_attachment() -> None:
    msg = message()
    msg.set_content("rtf follows\n")
    winmail = tnef([("e.com", EICAR)])
    msg.add_attachment(winmail, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    report = Engine(load_database()).scan(ScanTarget(display="m.eml", data=as_bytes(msg)))
    assert report.name == "Vigil.Test.EICAR"
    assert report.detections[0].layer_path == "m.eml>winmail.dat>e.com"


def test_lying_length_yields_earlier_attachments_then_reports() -> None:
    good = tnef([("a", b"first"), ("b", b"second")])
    lying = good[: good.rindex(b"second") - 4] + struct.pack("<I", 0xFFFFFFF0) + b"second"
    out, problem = _drain(lying, ScanContext(ScanLimits()))
    assert out == [("a", b"first")]
    assert "claims" in problem


@pytest.mark.parametrize("tenth", range(1, 10))
def test_truncated_at_every_tenth(tenth: int) -> None:
    whole = tnef([("a.bin", BLOB), ("b.bin", BLOB[::-1])])
    cut = whole[: len(whole) * tenth // 10]
    out, problem = _drain(cut, ScanContext(ScanLimits()))
    assert all(data in (BLOB, BLOB[::-1]) for _, data in out)
    assert problem or len(cut) < 20


def test_not_tnef_and_limits() -> None:
    with pytest.raises(MalformedInput, match="signature"):
        unpack(b"PK\x03\x04" + bytes(20), FileType.TNEF)
    with pytest.raises(LimitExceeded) as info:
        unpack(tnef([("x", b"1")] * 20), FileType.TNEF, ctx=ScanContext(ScanLimits(max_files=5)))
    assert info.value.limit == "MaxFiles"


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, 400), st.binary(max_size=9)), max_size=6),
    tail=st.integers(0, 400),
)
def test_fuzz_mutated_tnef_raises_only_parse_errors(cuts: list[tuple[int, bytes]], tail: int) -> None:
    data = bytearray(tnef([("a", BLOB[:150]), ("b", b"xyz")]))
    for pos, junk in cuts:
        data[pos : pos + len(junk)] = junk
    ctx = ScanContext(ScanLimits())
    out, _ = _drain(bytes(data[:tail]), ctx)
    assert sum(len(d) for _, d in out) == ctx.scanned_bytes <= tail
