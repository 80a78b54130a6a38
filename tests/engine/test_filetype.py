"""File typing against clamscan 1.4.6: the expected types below were read from `clamscan --debug`
("Recognized ..." / "Matched signature for file type ...") and the oracle test re-checks them live."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.engine.filetype import BUILTIN_LINES, identify, is_html, is_text, target_type_of
from vigil.types import FileType as T

PAD = b"\x00\xff" * 40


def _tar_header(magic: bytes) -> bytes:
    head = bytearray(512)
    head[0:5] = b"a.txt"
    head[100:108] = b"0000644\x00"
    head[124:136] = b"00000000005\x00"
    head[257 : 257 + len(magic)] = magic
    head[148:156] = b" " * 8
    head[148:155] = b"%06o\x00" % sum(head)
    return bytes(head)


# (label, data, type clamscan 1.4.6 assigns)
CASES: list[tuple[str, bytes, T]] = [
    ("pe", (Path("/usr/share/clamav-testfiles/clam.exe").read_bytes()), T.MSEXE),
    ("mz", b"MZ" + PAD, T.MSEXE),
    ("elf", b"\x7fELF" + PAD, T.ELF),
    ("macho", b"\xcf\xfa\xed\xfe" + PAD, T.MACHO),
    ("unibin", b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + PAD, T.MACHO_UNIBIN),
    ("java", b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + PAD, T.JAVA),
    ("zip", b"PK\x03\x04" + PAD, T.ZIP),
    ("gz", b"\x1f\x8b\x08\x00" + PAD, T.GZ),
    ("bz", b"BZh91AY" + PAD, T.BZ),
    ("xz", b"\xfd7zXZ\x00" + PAD, T.XZ),
    ("7z", b"7z\xbc\xaf\x27\x1c" + PAD, T.SEVENZIP),
    ("rar", b"Rar!\x1a\x07\x00" + PAD, T.RAR),
    ("arj", b"\x60\xea" + PAD, T.ARJ),
    ("cab", b"MSCF\x00\x00\x00\x00" + PAD, T.MSCAB),
    ("chm", b"ITSF" + PAD, T.MSCHM),
    ("cpio_newc", b"070701" + PAD, T.CPIO_NEWC),
    ("cpio_crc", b"070702" + PAD, T.CPIO_CRC),
    ("cpio_odc", b"070707" + PAD, T.CPIO_ODC),
    ("cpio_old", b"\xc7\x71" + PAD, T.CPIO_OLD),
    ("ustar", _tar_header(b"ustar\x0000"), T.POSIX_TAR),
    ("oldtar", _tar_header(b""), T.OLD_TAR),
    ("ole2", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + PAD, T.MSOLE2),
    ("pdf", b"%PDF-1.4\n" + PAD, T.PDF),
    ("pdf_late", b"junk junk\n%PDF-1.4\n", T.PDF),
    ("rtf", b"{\\rtf1 hello}", T.RTF),
    ("gif", b"GIF89a" + PAD, T.GIF),
    ("png", b"\x89PNG\r\n\x1a\n" + PAD, T.PNG),
    ("jpeg", b"\xff\xd8\xff\xe0" + PAD, T.JPEG),
    ("tiff", b"II*\x00" + PAD, T.TIFF),
    ("bmp", b"BM" + PAD, T.GRAPHICS),
    ("swf", b"FWS\x09" + PAD, T.SWF),
    ("ps", b"%!PS-Adobe-3.0\n", T.PS),
    ("binhex", b"(This file must be converted with BinHex 4.0)\n:abc", T.BINHEX),
    ("szdd", b"SZDD\x88\xf0\x27\x33" + PAD, T.MSSZDD),
    ("tnef", b"\x78\x9f\x3e\x22" + PAD, T.TNEF),
    ("sis", b"\x00" * 8 + b"\x19\x04\x00\x10" + PAD, T.SIS),
    ("mail_from", b"From: a@b.c\nTo: d@e.f\n\nhi\n", T.MAIL),
    ("mail_received", b"Received: from x\nSubject: y\n\nhi\n", T.MAIL),
    ("mail_return", b"Return-Path: <a@b>\n\nhi\n", T.MAIL),
    ("mbox", b"From someone Mon Jan 1\nSubject: y\n\nhi\n", T.MAIL),
    ("mail_inside", b"X-Foo: 1\nFrom: a@b.c\nContent-Type: text/plain\n\nhi\n", T.MAIL),
    ("html", b"<html><body>hi</body></html>", T.HTML),
    ("html_a", b"some text <A HREF='x'>link</a>\n", T.HTML),
    ("html_script", b"var a; <script>x()</script>", T.HTML),
    ("html_img", b"look <img src=x>", T.HTML),
    ("not_html_div", b"<div>only a div</div>\n", T.TEXT_ASCII),
    ("html_utf16le", "<html><body>hi</body></html>".encode("utf-16-le"), T.HTML_UTF16),
    ("html_utf16be_bom", "\ufeff<html><body>hi</body></html>".encode("utf-16-be"), T.HTML),
    ("ascii", b"Hello World\r\n\tline two\n", T.TEXT_ASCII),
    ("latin1", b"caf\xe9 cr\xe8me\n", T.TEXT_ASCII),
    ("utf8_bom", b"\xef\xbb\xbfhello\n", T.TEXT_ASCII),
    ("utf8", b"caf\xc3\xa9\x1b\n", T.TEXT_ASCII),  # bytes >= 0x80 all count as "ASCII" text
    ("utf16le_bom", "\ufeffhello world".encode("utf-16-le"), T.TEXT_UTF16LE),
    ("utf16be_bom", "\ufeffhello world".encode("utf-16-be"), T.TEXT_UTF16BE),
    # without a BOM ClamAV reads UTF-16 big-endian from byte 2 on, so LE text is "UTF-16BE" too
    ("utf16le_nobom", "hello world".encode("utf-16-le"), T.TEXT_UTF16BE),
    ("seq_00010203", b"\x00\x01\x02\x03" + b"\xa1\xb2" * 30, T.TEXT_UTF16BE),
    ("seq_00to07", bytes(range(8)) * 8, T.BINARY_DATA),
    ("seq_8900ff10", b"\x89\x00\xff\x10" * 16, T.TEXT_UTF16BE),
    ("zeros_high", b"\x00" * 8 + b"\xff\xfe\xfd" * 10, T.BINARY_DATA),
    ("binary", b"\x00\x00\x00\x01\x02" * 20, T.BINARY_DATA),
    ("pyc", b"\x55\x0d\x0d\x0a" + b"\x00" * 12 + b"\xe3" + PAD, T.PYTHON_COMPILED),
    ("mirc", b"[aliases]\nfoo\n", T.POSIX_TAR),
]


@pytest.mark.parametrize(("label", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_identify_matches_clamscan_table(label: str, data: bytes, expected: T) -> None:
    assert identify(data) is expected, label


@dataclass(frozen=True)
class Rule:
    magictype: int
    offset: str
    magic: str
    rtype: str
    ftype: str


def test_user_type0_rule_replaces_builtin_table() -> None:
    rules = [Rule(0, "0", "00010203", "CL_TYPE_ANY", "CL_TYPE_HTML")]
    assert identify(b"\x00\x01\x02\x03hello", rules) is T.HTML
    # clamscan: with a user type-0 line, a zip is just "binary data" and a PE too
    assert identify(Path("/usr/share/clamav-testfiles/clam.zip").read_bytes(), rules) is T.BINARY_DATA
    assert identify(b"hello\n", rules) is T.TEXT_ASCII


def test_user_type1_rule_adds_to_builtin_table() -> None:
    rules = [Rule(1, "*", "737461727420", "CL_TYPE_ANY", "CL_TYPE_HTML")]
    assert identify(b"xx start here\n", rules) is T.HTML
    assert identify(b"PK\x03\x04" + PAD, rules) is T.ZIP


def test_builtin_table_size_and_flevel_filter() -> None:
    # clamscan logs "Loaded 255 filetype definitions"; LHA/ALZ/HFS+ lines (6) are not in FileType yet
    in_level = [line for line in BUILTIN_LINES if _in_level(line)]
    assert len(in_level) == 255 - 6


def _in_level(line: str) -> bool:
    fields = line.split(":")[6:]
    low = int(fields[0]) if fields and fields[0] else 0
    high = int(fields[1]) if len(fields) > 1 and fields[1] else 999
    return low <= 216 <= high


def test_target_types() -> None:
    assert target_type_of(T.MSEXE) == 1
    assert target_type_of(T.GIF) == 5
    assert target_type_of(T.TEXT_UTF16BE) == 7
    assert target_type_of(T.MACHO_UNIBIN) == 9
    assert target_type_of(T.ZIP) == 0
    assert is_text(T.TEXT_UTF8) and not is_text(T.HTML)
    assert is_html(T.HTML_UTF16) and not is_html(T.TEXT_ASCII)


# --- live oracle ---------------------------------------------------------------------------------------

_TEXT_NAMES = {
    "ASCII text": T.TEXT_ASCII,
    "UTF-8 character data": T.TEXT_UTF8,
    "UTF-16LE character data": T.TEXT_UTF16LE,
    "UTF-16BE character data": T.TEXT_UTF16BE,
    "binary data": T.BINARY_DATA,
    "old fashioned tar": T.OLD_TAR,
    "POSIX tar": T.POSIX_TAR,
}


def _names() -> dict[str, T]:
    names = {}
    for line in BUILTIN_LINES:
        if _in_level(line) and (ftype := T.from_clamav_name(line.split(":")[5])) is not None:
            names[line.split(":")[3]] = ftype
    return names


def _clamscan_type(text: str) -> T | None:
    """The root's type: the first 'Recognized' line, then (for text/binary only) what retyped it."""
    names = _names()
    found: T | None = None
    for line in text.splitlines():
        if "in cli_scanhtml_utf16" in line:
            return T.HTML_UTF16
        if m := re.search(r"Recognized (.*?)(?: file)?$", line):
            name = m.group(1)
            if found is not None and found is not T.BINARY_DATA:
                break
            found = _TEXT_NAMES.get(name) or names.get(name) or found
            if found not in _TEXTISH:
                break
        elif (m := re.search(r"Matched signature for file type (.*?)(?: at \d+)?$", line)) and found:
            found = names.get(m.group(1).removesuffix(".UNOFFICIAL"), found)
        elif "in cli_magic_scan_desc_type" in line or "in cli_scanhtml" in line:
            break
    return found


_TEXTISH = {T.TEXT_ASCII, T.TEXT_UTF8, T.TEXT_UTF16LE, T.TEXT_UTF16BE, T.BINARY_DATA}


@pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")
def test_oracle_clamscan_debug(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "x.ndb").write_text("Dummy.X:0:*:deadbeefcafe0102\n")
    wanted = {"ascii", "latin1", "html", "html_a", "mail_from", "mbox", "zip", "elf", "pdf_late",
              "seq_00010203", "seq_8900ff10", "zeros_high", "utf16le_bom", "utf16le_nobom", "oldtar",
              "gif", "png", "java", "sis", "not_html_div", "7z", "cab", "tiff", "ps", "html_utf16le",
              "seq_00to07", "html_utf16be_bom", "mail_inside", "utf8"}
    mismatches = []
    for label, data, expected in CASES:
        if label not in wanted:
            continue
        target = tmp_path / label
        target.write_bytes(data)
        out = subprocess.run(["clamscan", "--debug", "--no-summary", "-d", str(db), str(target)],
                             capture_output=True, text=True, errors="replace", timeout=60)
        got = _clamscan_type(out.stderr + out.stdout)
        if got is not expected or identify(data) is not expected:
            mismatches.append((label, got, expected))
    assert not mismatches
