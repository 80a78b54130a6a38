"""OOXML: typing by first members (as clamscan), members as a zip's, vbaProject.bin handed to OLE2."""

from __future__ import annotations

import io
import zipfile

import pytest
from ole2_helpers import build_cfb, vba_project
from unpack_helpers import rows, unpack

from vigil.engine import Engine, filetype
from vigil.signatures import load_database
from vigil.types import FileType, ScanSettings, ScanTarget
from vigil.unpack.ole2 import MACRO_ALERT
from vigil.unpack.registry import unpacker_for

SOURCE = b'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n    MsgBox "macro text"\r\nEnd Sub\r\n'
VBA_BIN = bytes(build_cfb(vba_project("VBA", {"Module1": SOURCE})).data)


def _ooxml(folder: str, extra: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("_rels/.rels", b"<Relationships/>")
        zf.writestr(f"{folder}/document.xml", b"<document>hello</document>")
        for name, data in extra.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("folder", "ftype"),
    [("word", FileType.OOXML_WORD), ("xl", FileType.OOXML_XL), ("ppt", FileType.OOXML_PPT)],
)
def test_typed_as_ooxml_and_unpacked_like_a_zip(folder: str, ftype: FileType) -> None:
    data = _ooxml(folder, {})
    assert filetype.identify(data) is ftype
    assert unpacker_for(ftype) is unpacker_for(FileType.OOXML_WORD)
    assert [name for name, _, _ in rows(unpack(data, ftype))] == [
        "[Content_Types].xml",
        "_rels/.rels",
        f"{folder}/document.xml",
    ]


def test_docm_vba_project_gets_ole2_treatment_and_macro_source_is_a_layer() -> None:
    data = _ooxml("word", {"word/vbaProject.bin": VBA_BIN})
    children = {c.name: c for c in unpack(data, FileType.OOXML_WORD)}
    assert children["word/vbaProject.bin"].type_hint is FileType.MSOLE2
    assert bytes(children["word/vbaProject.bin"].data) == VBA_BIN
    report = Engine(load_database(), ScanSettings(alert_macros=True)).scan(
        ScanTarget(display="doc.docm", data=data)
    )
    paths = [layer.path for layer in report.layers]
    assert "doc.docm>word/vbaProject.bin>VBA/Module1" in paths
    assert report.name == MACRO_ALERT
    quiet = Engine(load_database()).scan(ScanTarget(display="doc.docm", data=data))
    assert quiet.name is None  # the macro alert is off by default, as in clamscan
