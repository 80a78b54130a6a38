"""uuencode (CL_TYPE_UUENCODED files and blocks inside text): golden blocks, broken lines, missing `end`,
clamscan agreement on a generated file, and a fuzz smoke run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_builders import EICAR, uuencode
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.encodings import UuencodeUnpacker

BLOB = os.urandom(10_000)


def _drain(data: bytes, ctx: ScanContext) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    try:
        for child in UuencodeUnpacker().children(Layer(data, "x.uu", FileType.UUENCODED, 0), ctx):
            out.append((child.name, bytes(child.data)))
    except MalformedInput:
        pass
    return out


def test_several_blocks_with_text_between_them() -> None:
    data = uuencode(BLOB, "blob.bin") + b"text\n" + uuencode(b"", "empty") + uuencode(EICAR, "e.com", "755")
    expected = [row("blob.bin", BLOB), row("empty", b""), row("e.com", EICAR)]
    assert rows(unpack(data, FileType.UUENCODED)) == expected


def test_crlf_lines_and_sloppy_padding_still_decode() -> None:
    sloppy = uuencode(BLOB, "b").replace(b"\n", b"\r\n").replace(b"`\r\n", b" \r\n")
    sloppy = b"\n".join(line.rstrip(b"`") if i % 3 else line for i, line in enumerate(sloppy.split(b"\n")))
    assert rows(unpack(sloppy, FileType.UUENCODED)) == [row("b", BLOB)]


def test_missing_end_yields_the_data_then_reports() -> None:
    cut = uuencode(EICAR * 3, "e.com").removesuffix(b"`\nend\n")
    ctx = ScanContext(ScanLimits())
    with pytest.raises(MalformedInput, match="end"):
        children = []
        for child in UuencodeUnpacker().children(Layer(cut, "x", FileType.UUENCODED, 0), ctx):
            children.append(bytes(child.data))
    assert children == [EICAR * 3]


def test_file_limit_and_byte_budget() -> None:
    many = uuencode(b"x", "a") * 50
    with pytest.raises(LimitExceeded) as info:
        unpack(many, FileType.UUENCODED, ctx=ScanContext(ScanLimits(max_files=10)))
    assert info.value.limit == "MaxFiles"
    with pytest.raises(LimitExceeded) as info:
        unpack(uuencode(BLOB, "b"), FileType.UUENCODED, ctx=ScanContext(ScanLimits(max_filesize=1000)))
    assert info.value.limit == "MaxFileSize"


@pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")
def test_engine_and_clamscan_agree_on_a_uuencoded_file(tmp_path: Path) -> None:
    target = tmp_path / "e.uu"
    target.write_bytes(uuencode(EICAR, "e.com"))
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "e.ndb").write_text(f"Vigil.Diff.UU:0:*:{EICAR[:40].hex()}\n")
    out = subprocess.run(
        ["clamscan", "--no-summary", "-d", str(tmp_path / "db"), str(target)],
        capture_output=True, text=True, check=False,
    ).stdout
    report = Engine(load_database([str(tmp_path / "db")])).scan(ScanTarget(display="e.uu", path=str(target)))
    assert out.strip() == f"{target}: Vigil.Diff.UU.UNOFFICIAL FOUND"
    assert report.name == "Vigil.Diff.UU.UNOFFICIAL"
    assert report.detections[0].layer_path == "e.uu>e.com"


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=12)), max_size=8),
    tail=st.integers(0, 2100),
)
def test_fuzz_mutated_uuencode_raises_only_parse_errors(cuts: list[tuple[int, bytes]], tail: int) -> None:
    data = bytearray(uuencode(BLOB[:1400], "f") + uuencode(b"abc", "g"))
    for pos, junk in cuts:
        data[pos : pos + len(junk)] = junk
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    out = _drain(bytes(data[:tail] if tail < len(data) else data), ctx)
    assert sum(len(d) for _, d in out) == ctx.scanned_bytes <= len(data)
