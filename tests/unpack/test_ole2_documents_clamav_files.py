"""ClamAV's document test files: the engine finds clam.exe inside OLE2 .doc/.ppt, RTF, PDF, HTML."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget, Verdict

FILES = Path("/usr/share/clamav-testfiles")
pytestmark = pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")

#: file -> the layer path where clam.exe comes out.
EXPECTED = {
    "clam.ole.doc": "clam.ole.doc>ObjectPool/_1279313719/\\x01Ole10Native/clam.exe",
    "clam.ppt": "clam.ppt>PowerPoint Document/ExOleObjStg@4422>\\x01Ole10Native/clam.exe",
    "clam.exe.rtf": "clam.exe.rtf>object 1/clam.exe",
    "clam.pdf": "clam.pdf>obj 15 0",
    "clam.exe.html": "clam.exe.html>data 1",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_clam_exe_is_found_inside(name: str) -> None:
    exe = (FILES / "clam.exe").read_bytes()
    import hashlib

    report = Engine(load_database(), ScanSettings(allmatch=True)).scan(
        ScanTarget(display=name, path=str(FILES / name))
    )
    assert report.verdict is Verdict.INFECTED and report.name == "Vigil.Test.ClamExe"
    layer = next(layer for layer in report.layers if layer.path == EXPECTED[name])
    assert layer.sha256 == hashlib.sha256(exe).hexdigest()
    assert report.errors == () and report.issues == ()
