"""The MSEXE dispatcher: overlays, detector isolation, and ClamAV's packed/installer test files."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack import pe
from vigil.unpack.pe_format import build_pe, parse_pe

FILES = Path("/usr/share/clamav-testfiles")
needs_files = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")

#: Files whose clam.exe only an executable unpacker of this package reveals.
SUPPORTED = (
    "clam-upx.exe",
    "clam-nsis.exe",
    "clam.ea05.exe",
    "clam.ea06.exe",
    "clam_IScab_ext.exe",
    "clam_ISmsi_ext.exe",
    "clam_ISmsi_int.exe",
)


def _image(code: bytes = b"\x90" * 64) -> bytes:
    return build_pe(0x400000, [(b".text", 0x1000, code)], 0x1000)


def test_built_image_parses_back() -> None:
    view = parse_pe(_image(b"\xcc" * 700))
    assert view is not None
    assert (view.image_base, view.entry_rva) == (0x400000, 0x1000)
    (section,) = view.sections
    assert (section.name, section.rva, section.rsize) == (b".text", 0x1000, 0x400)
    assert view.read_rva(0x1000, 4) == b"\xcc" * 4
    assert view.overlay_start == 0x200 + 0x400


def test_overlay_is_a_child_when_nothing_claims_the_file() -> None:
    image = _image()
    payload = b"PK\x03\x04" + bytes(range(200))
    (child,) = unpack(image + payload, FileType.MSEXE, "setup.exe")
    assert child.name == "overlay"
    assert bytes(child.data) == payload


def test_no_overlay_no_children() -> None:
    assert unpack(_image(), FileType.MSEXE) == []


def test_plain_appended_data_is_not_a_layer() -> None:
    """clamscan scans appended bytes as part of the PE; a separate layer would change the reported name."""
    assert unpack(_image() + b"\x00\x01junk" * 20, FileType.MSEXE) == []


def test_mz_without_pe_header_has_no_children_and_no_issue() -> None:
    ctx = ScanContext(ScanLimits())
    assert unpack(b"MZ" + bytes(100), FileType.MSEXE, ctx=ctx) == []
    assert ctx.issues == []


def test_a_failing_detector_is_recorded_and_the_rest_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(view: object, layer: object, ctx: object) -> object:
        raise MalformedInput("boom")

    monkeypatch.setattr(pe, "DETECTORS", (("broken", broken), *pe.DETECTORS))
    ctx = ScanContext(ScanLimits())
    image = _image() + b"appended data " * 4
    children = list(pe.PeUnpacker().children(Layer(image, "a.exe", FileType.MSEXE, 0), ctx))
    assert children == []  # the broken detector claimed the file, so no overlay fallback
    assert any("broken: boom" in issue for issue in ctx.issues)


def test_overlay_is_charged() -> None:
    ctx = ScanContext(ScanLimits(max_files=1))
    ctx.files = 1
    with pytest.raises(LimitExceeded):
        unpack(_image() + b"PK\x03\x04" + bytes(64), FileType.MSEXE, ctx=ctx)


@needs_files
@pytest.mark.parametrize("name", SUPPORTED)
def test_clamav_test_file_is_detected_through_its_unpacker(name: str) -> None:
    path = str(FILES / name)
    report = Engine(load_database()).scan(ScanTarget(display=path, path=path))
    assert report.name == "Vigil.Test.ClamExe", (name, report.errors)
    assert any(layer.depth > 0 for layer in report.layers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=0x400))
def test_fuzz_pe_dispatcher(tail: bytes, cut: int) -> None:
    data = (_image(b"\x60\xbe" + tail[:40]) + tail)[: 0x200 + cut + len(tail)]
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_scansize=1 << 20))
    with contextlib.suppress(MalformedInput, LimitExceeded):
        list(pe.PeUnpacker().children(Layer(data, "f.exe", FileType.MSEXE, 0), ctx))
