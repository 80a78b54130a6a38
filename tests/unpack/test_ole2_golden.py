"""OLE2 golden trees: generated compound files, VBA macro source, Ole10Native packages, MSI names."""

from __future__ import annotations

import os
import struct

import pytest
from ole2_helpers import build_cfb, ovba_compress, vba_project
from unpack_helpers import row, rows, unpack

from vigil.errors import MalformedInput
from vigil.layer import ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack import ovba
from vigil.unpack.ole2 import MACRO_ALERT, display

BIG = os.urandom(9000)  # regular sectors
SMALL = b"small stream " * 20  # mini stream
SOURCE = b'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n    Shell "calc.exe"\r\nEnd Sub\r\n' * 8


def test_streams_from_regular_and_mini_sectors_with_storage_paths() -> None:
    streams = {"WordDocument": BIG, "1Table": SMALL, "ObjectPool/_123/\x01CompObj": b"x" * 70, "empty": b""}
    ctx = ScanContext(ScanLimits())
    got = rows(unpack(bytes(build_cfb(streams).data), FileType.MSOLE2, ctx=ctx))
    expected = [row(display(p), d) for p, d in streams.items()]
    assert sorted(got) == sorted(expected)
    assert ("ObjectPool/_123/\\x01CompObj", 70) in [(n, s) for n, s, _ in got]
    assert ctx.issues == [] and ctx.alerts == []


def test_ovba_decompresses_the_spec_example() -> None:
    """MS-OVBA 3.2.3's worked example, bytes as printed in the spec."""
    compressed = bytes.fromhex(
        "012FB000236161616263646582660070616768696A013808616B6C00306D6E6F70"
        "0671027004107273747576107778797A003C"
    )
    assert ovba.decompress(compressed, ScanContext(ScanLimits())) == (
        b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
    )


def test_ovba_round_trip_and_raw_chunks() -> None:
    ctx = ScanContext(ScanLimits())
    assert ovba.decompress(ovba_compress(SOURCE), ctx) == SOURCE
    raw = bytes(range(256)) * 16
    assert ovba.decompress(b"\x01" + (0x3FFF).to_bytes(2, "little") + raw, ctx) == raw
    with pytest.raises(MalformedInput):
        ovba.decompress(b"\x02junk", ctx)


@pytest.mark.parametrize("prefix", ["Macros/VBA", "_VBA_PROJECT_CUR/VBA", "VBA"])
def test_vba_module_source_replaces_the_module_stream_and_raises_the_macro_alert(prefix: str) -> None:
    streams = {
        "WordDocument": BIG,
        **vba_project(prefix, {"Module1": SOURCE, "ThisDocument": b"' hi\r\n" * 5}),
    }
    ctx = ScanContext(ScanLimits())
    children = {
        c.name: bytes(c.data) for c in unpack(bytes(build_cfb(streams).data), FileType.MSOLE2, ctx=ctx)
    }
    assert children[f"{prefix}/Module1"] == SOURCE
    assert children[f"{prefix}/ThisDocument"] == b"' hi\r\n" * 5
    assert children[f"{prefix}/dir"] == streams[f"{prefix}/dir"]  # other streams stay raw
    assert ctx.alerts == [MACRO_ALERT]


def test_no_alert_without_modules_and_damaged_module_stays_raw() -> None:
    project = vba_project("VBA", {"Module1": SOURCE})
    project["VBA/Module1"] = b"\x00" * 37 + b"\x07not compressed"
    ctx = ScanContext(ScanLimits())
    children = {
        c.name: bytes(c.data) for c in unpack(bytes(build_cfb(project).data), FileType.MSOLE2, ctx=ctx)
    }
    assert children["VBA/Module1"] == project["VBA/Module1"]
    assert ctx.alerts == []
    assert any("VBA/Module1" in issue for issue in ctx.issues)


def _package(name: bytes, payload: bytes) -> bytes:
    tmp = b"C:\\Temp\\" + name + b"\0"
    return (
        b"\x02\x00"
        + name
        + b"\0"
        + b"C:\\src\\"
        + name
        + b"\0"
        + b"\x00\x00\x03\x00"
        + struct.pack("<I", len(tmp))
        + tmp
        + struct.pack("<I", len(payload))
        + payload
    )


def test_ole10native_payload_is_a_child_named_after_the_file() -> None:
    payload = b"MZ" + os.urandom(3000)
    native = _package(b"evil.exe", payload)
    streams = {"ObjectPool/_1/\x01Ole10Native": struct.pack("<I", len(native)) + native}
    got = unpack(bytes(build_cfb(streams).data), FileType.MSOLE2)
    assert [(c.name, bytes(c.data)) for c in got][-1] == ("ObjectPool/_1/\\x01Ole10Native/evil.exe", payload)


def test_powerpoint_compressed_embedded_object_is_inflated() -> None:
    import zlib

    inner = bytes(build_cfb({"Payload": b"inner data " * 50}).data)
    atom = struct.pack("<I", len(inner)) + zlib.compress(inner)
    record = struct.pack("<HHI", 0x10, 0x1011, len(atom)) + atom
    container = (
        struct.pack("<HHI", 0x0F, 0x03E8, len(record) + 8) + struct.pack("<HHI", 0, 0x0FF0, 0) + record
    )
    got = unpack(bytes(build_cfb({"PowerPoint Document": container}).data), FileType.MSOLE2)
    assert [c.name for c in got] == ["PowerPoint Document", "PowerPoint Document/ExOleObjStg@16"]
    assert bytes(got[1].data) == inner


_MSI = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"


def _msi_encode(name: str, table: bool) -> str:
    """MSI name packing (two characters per code point from U+3800, a single one from U+4800)."""
    out = "\u4840" if table else ""
    for i in range(0, len(name) - 1, 2):
        out += chr(0x3800 + _MSI.index(name[i]) + (_MSI.index(name[i + 1]) << 6))
    if len(name) % 2:
        out += chr(0x4800 + _MSI.index(name[-1]))
    return out


@pytest.mark.parametrize(("name", "table"), [("_StringPool", True), ("Binary.Icon", False), ("ab", False)])
def test_msi_stream_names_are_decoded(name: str, table: bool) -> None:
    assert display(_msi_encode(name, table)) == ("!" if table else "") + name
    assert display("\x05SummaryInformation") == "\\x05SummaryInformation"
