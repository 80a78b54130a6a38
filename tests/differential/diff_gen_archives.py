"""Archive, document and mail groups (issue 4): the same few signatures' targets inside every format that
clamscan unpacks and that can be built on this machine, so clamscan's verdict on the wrapped member is
the expectation for Vigil's.

Every group shares one database: a body signature, an `.hdb` hash of a member, a two-subsignature
logical signature, a logical signature restricted to zip containers, a type-1 (PE) signature on clam.exe's
entry code and a type-3 (HTML) signature. Each target wraps one payload; `all.*` targets hold every
payload at once, so allmatch order and the default-mode winner are compared too. Formats whose builder
tool is missing here are left out rather than faked.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import functools
import hashlib
import importlib.util
import io
import lzma
import quopri
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from diff_gen_ndb import CLAM_EXE
from diff_model import Group, binary, gzip_of, lines, tar_of, zip_of

Members = list[tuple[str, bytes]]
Wrapper = Callable[[Members], bytes | None]

#: clam.exe's code at its entry point (the matrix test's body signature), as a type-1 (PE) signature
PE_CODE = "bb7110400033c050508bf3535350b02940300466ac79f9ba3100780dad50ff66700e1fbe3100e9e5ffb409cd21b44ccd21"
HTML_TEXT = b"<html><body><script>document.write('arcbody html');</script></body></html>\n"
MACRO = b'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n    MsgBox "arcbody macro"\r\nEnd Sub\r\n'


def _hx(text: str | bytes) -> str:
    return (text.encode() if isinstance(text, str) else text).hex()


def payloads() -> dict[str, bytes]:
    out = {
        "body": binary(b"arcbody marker ", b"x" * 64),
        "hash": binary(b"arc hashed member ", b"y" * 64),
        "logic": binary(b"arcl1 then ", b"z" * 64, b" arcl2"),
        "inzip": binary(b"arcinzip only in zips ", b"w" * 64),
        "clean": binary(b"arc clean member ", b"v" * 64),
        "html": HTML_TEXT,
    }
    if CLAM_EXE.exists():
        out["pe"] = CLAM_EXE.read_bytes()
    return out


def database() -> dict[str, bytes]:
    hashed = payloads()["hash"]
    return {
        "a.ndb": lines(f"A.Body:0:*:{_hx('arcbody marker')}", f"A.PeCode:1:*:{PE_CODE}",
                       f"A.Macro:0:*:{_hx('arcbody macro')}"),
        "a.hdb": lines(f"{hashlib.md5(hashed).hexdigest()}:{len(hashed)}:A.Hash"),
        "a.ldb": lines(f"A.Logic;Target:0;0&1;{_hx('arcl1')};{_hx('arcl2')}",
                       f"A.InZip;Engine:51-255,Container:CL_TYPE_ZIP,Target:0;0;{_hx('arcinzip')}"),
    }


def _run(tool: str, args: list[str], members: Members, out: str) -> bytes | None:
    """Build an archive with a Debian tool in a scratch directory; None when the tool is not installed."""
    exe = shutil.which(tool)
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, data in members:
            (work / name).write_bytes(data)
        argv = [exe, *(a.replace("{out}", out) for a in args), *(n for n, _ in members)]
        subprocess.run(argv, cwd=work, capture_output=True, check=True, timeout=120)
        return (work / out).read_bytes()


# --- archives -------------------------------------------------------------------------------------------

def _tar(fmt: int) -> Wrapper:
    def build(members: Members) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1_700_000_000
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()
    return build


def _zip(method: int) -> Wrapper:
    def build(members: Members) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                zf.writestr(info, data, compress_type=method)
        return buf.getvalue()
    return build


def _cpio_ascii(magic: bytes, members: Members) -> bytes:
    """SVR4 cpio, 070701 (newc) or 070702 (crc: the checksum is the byte sum of the data)."""
    out = bytearray()
    for ino, (name, data) in enumerate([*members, ("TRAILER!!!", b"")], 1):
        raw = name.encode() + b"\0"
        check = sum(data) & 0xFFFFFFFF if magic == b"070702" else 0
        fields = (ino, 0o100644 if data or name != "TRAILER!!!" else 0, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                  len(raw), check)
        out += magic + b"".join(b"%08X" % v for v in fields) + raw
        out += b"\0" * (-len(out) % 4) + data + b"\0" * (-len(data) % 4)
    return bytes(out)


def _cpio_odc(members: Members) -> bytes:
    out = bytearray()
    for ino, (name, data) in enumerate([*members, ("TRAILER!!!", b"")], 1):
        raw = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        out += b"070707" + b"".join(b"%06o" % v for v in (0, ino, mode, 0, 0, 1, 0)) + b"%011o" % 0
        out += b"%06o" % len(raw) + b"%011o" % len(data) + raw + data
    return bytes(out)


def _cpio_bin(order: str) -> Wrapper:
    """Old binary cpio (magic 070707 as a 16-bit word), in either byte order."""
    def build(members: Members) -> bytes:
        out = bytearray()
        for ino, (name, data) in enumerate([*members, ("TRAILER!!!", b"")], 1):
            raw = name.encode() + b"\0"
            mode = 0o100644 if name != "TRAILER!!!" else 0
            out += struct.pack(f"{order}13H", 0o070707, 0, ino, mode, 0, 0, 1, 0, 0, 0, len(raw),
                               len(data) >> 16, len(data) & 0xFFFF)
            out += raw + b"\0" * (len(raw) % 2) + data + b"\0" * (len(data) % 2)
        return bytes(out)
    return build


def _single(compress: Callable[[bytes], bytes]) -> Wrapper:
    return lambda members: compress(members[0][1]) if len(members) == 1 else None


def _nested(members: Members) -> bytes | None:
    """zip inside 7z inside tar.gz."""
    seven = _run("7z", ["a", "-bd", "-y", "{out}"], [("inner.zip", _zip(zipfile.ZIP_DEFLATED)(members))],
                 "n.7z")
    return None if seven is None else gzip_of(tar_of("mid.7z", seven))


ARCHIVES: dict[str, dict[str, Wrapper]] = {
    "arc-compressed": {
        "bz2": _single(bz2.compress),
        "xz": _single(lambda d: lzma.compress(d, format=lzma.FORMAT_XZ)),
        "lzma": _single(lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
        "gz": _single(gzip_of),
    },
    "arc-tar": {
        "ustar.tar": _tar(tarfile.USTAR_FORMAT), "gnu.tar": _tar(tarfile.GNU_FORMAT),
        "pax.tar": _tar(tarfile.PAX_FORMAT),
        "v7.tar": lambda m: _run("bsdtar", ["--format", "v7", "-cf", "{out}"], m, "o.tar"),
        "tar.bz2": lambda m: bz2.compress(_tar(tarfile.GNU_FORMAT)(m)),
        "tar.xz": lambda m: lzma.compress(_tar(tarfile.PAX_FORMAT)(m)),
    },
    "arc-cpio": {
        "odc.cpio": _cpio_odc, "newc.cpio": lambda m: _cpio_ascii(b"070701", m),
        "crc.cpio": lambda m: _cpio_ascii(b"070702", m),
        "bin-le.cpio": _cpio_bin("<"), "bin-be.cpio": _cpio_bin(">"),
    },
    "arc-libarchive": {
        "7z": lambda m: _run("7z", ["a", "-bd", "-y", "{out}"], m, "o.7z"),
        "lzma2.7z": lambda m: _run("7z", ["a", "-bd", "-y", "-m0=lzma2", "{out}"], m, "o.7z"),
        "iso": lambda m: _run("bsdtar", ["--format", "iso9660", "-cf", "{out}"], m, "o.iso"),
        "xar": lambda m: _run("bsdtar", ["--format", "xar", "-cf", "{out}"], m, "o.xar"),
        "cab": lambda m: _run("gcab", ["-c", "{out}"], m, "o.cab"),
        "mszip.cab": lambda m: _run("gcab", ["-c", "-z", "{out}"], m, "o.cab"),
    },
    "arc-zip": {
        "stored.zip": _zip(zipfile.ZIP_STORED), "deflate.zip": _zip(zipfile.ZIP_DEFLATED),
        "bzip2.zip": _zip(zipfile.ZIP_BZIP2), "lzma.zip": _zip(zipfile.ZIP_LZMA),
        "nested.tgz": _nested,
    },
    "arc-arj": {
        "m1.arj": lambda m: _run("arj", ["a", "-m1", "-y", "{out}"], m, "o.arj"),
        "m4.arj": lambda m: _run("arj", ["a", "-m4", "-y", "{out}"], m, "o.arj"),
    },
}


# --- documents --------------------------------------------------------------------------------------------

@functools.cache
def _ole2() -> ModuleType:
    """The CFB writer of the unpack tests (tests/unpack is not on sys.path when only this suite runs)."""
    path = Path(__file__).resolve().parent.parent / "unpack" / "ole2_helpers.py"
    spec = importlib.util.spec_from_file_location("ole2_helpers_for_diff", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _cfb(streams: dict[str, bytes]) -> bytes:
    return bytes(_ole2().build_cfb(streams).data)


def _ooxml(members: Members, folder: str = "word/media/") -> bytes:
    parts = [("[Content_Types].xml", b"<Types/>"), ("_rels/.rels", b"<Relationships/>"),
             ("word/document.xml", b"<document>hello</document>")]
    return _zip(zipfile.ZIP_DEFLATED)([*parts, *((folder + n, d) for n, d in members)])


def _lp(text: bytes) -> bytes:
    return struct.pack("<I", len(text) + 1) + text + b"\0"


def _rtf(members: Members) -> bytes:
    """One OLE1 `Package` object per member in \\objdata hex, as Word embeds a file."""
    body = b""
    for name, data in members:
        raw, tmp = name.encode(), b"C:\\T\\" + name.encode() + b"\0"
        native = (b"\x02\x00" + raw + b"\0C:\\x\\" + raw + b"\0\x00\x00\x03\x00" + struct.pack("<I", len(tmp))
                  + tmp + struct.pack("<I", len(data)) + data)
        ole1 = struct.pack("<II", 0x0501, 2) + _lp(b"Package") + b"\0" * 8  # empty topic and item, as Word
        ole1 += struct.pack("<I", len(native)) + native
        text = ole1.hex().encode()
        hexed = b"\n".join(text[i:i + 128] for i in range(0, len(text), 128))
        body += b"{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " + hexed + b"}}"
    return b"{\\rtf1\\ansi " + body + b"\\par}"


def _pdf(members: Members) -> bytes:
    """Catalog, an empty page tree and one FlateDecode stream per member, with a correct xref."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    for _, data in members:
        packed = zlib.compress(data)
        head = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
        objs.append(head + packed + b"\nendstream")
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for num, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


DOCUMENTS: dict[str, dict[str, Wrapper]] = {
    "doc-ole2": {"ole2": lambda m: _cfb({f"Obj{i}/{n}": d for i, (n, d) in enumerate(m)})},
    "doc-ooxml": {"docx": _ooxml},
    "doc-rtf": {"rtf": _rtf},
    "doc-pdf": {"pdf": _pdf},
}


# --- mail -------------------------------------------------------------------------------------------------

HEAD = b"From: a@example.test\nTo: b@example.test\nSubject: parts\nMIME-Version: 1.0\n"


def _lines76(text: bytes) -> bytes:
    return b"\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def _part(name: str, data: bytes, encoding: str) -> bytes:
    encoded = {"base64": lambda d: _lines76(base64.b64encode(d)),
               "quoted-printable": lambda d: quopri.encodestring(d, quotetabs=True)}[encoding](data)
    return (b'Content-Type: application/octet-stream; name="%s"\nContent-Transfer-Encoding: %s\n'
            b'Content-Disposition: attachment; filename="%s"\n\n' % (name.encode(), encoding.encode(),
                                                                     name.encode()) + encoded + b"\n")


def _multipart(encoding: str) -> Wrapper:
    def build(members: Members) -> bytes:
        parts = [b"Content-Type: text/plain\n\nSee the attachments.\n",
                 *(_part(n, d, encoding) for n, d in members)]
        body = b"".join(b"--BOUNDARY42\n" + p for p in parts) + b"--BOUNDARY42--\n"
        return HEAD + b'Content-Type: multipart/mixed; boundary="BOUNDARY42"\n\n' + body
    return build


def _uuencoded(members: Members) -> bytes:
    body = b"Files follow.\n\n"
    for name, data in members:
        rows = b"".join(binascii.b2a_uu(data[i:i + 45]) for i in range(0, len(data), 45))
        body += b"begin 644 %s\n" % name.encode() + rows + b"`\nend\n\n"
    return HEAD + b"Content-Type: text/plain\n\n" + body


def _mbox(members: Members) -> bytes:
    first = HEAD + b"Content-Type: text/plain\n\nnothing here\n"
    return (b"From a@example.test Mon Jan  1 00:00:00 2024\n" + first + b"\n"
            + b"From a@example.test Mon Jan  1 00:01:00 2024\n" + _multipart("base64")(members))


MAIL: dict[str, dict[str, Wrapper]] = {
    "mail": {"b64.eml": _multipart("base64"), "qp.eml": _multipart("quoted-printable"),
             "uu.eml": _uuencoded, "mbox": _mbox},
}


# --- groups -----------------------------------------------------------------------------------------------

def _group(name: str, wrappers: dict[str, Wrapper], items: dict[str, bytes]) -> Group | None:
    group = Group(name, database(), cli=name == "arc-libarchive")
    everything = [(f"{k}.bin", v) for k, v in items.items()]
    for suffix, wrap in wrappers.items():
        for key, data in items.items():
            built = wrap([(f"{key}.bin", data)])
            if built is not None:
                group.add(f"{key}.{suffix}", built)
        built = wrap(everything) if len(everything) > 1 else None
        if built is not None:
            group.add(f"all.{suffix}", built)
    return group if group.targets else None


def _vba_dir(module: str, offset: int) -> bytes:
    """A `dir` stream with every MS-OVBA module record in order (clamscan insists on MODULENAMEUNICODE)."""
    def rec(rid: int, payload: bytes) -> bytes:
        return struct.pack("<HI", rid, len(payload)) + payload

    name, wide = module.encode(), module.encode("utf-16-le")
    out = rec(0x01, b"\x01\x00\x00\x00") + rec(0x02, b"\x09\x04\x00\x00") + rec(0x14, b"\x09\x04\x00\x00")
    out += rec(0x03, b"\xe4\x04") + rec(0x04, b"Project") + rec(0x05, b"") + rec(0x40, b"")
    out += rec(0x06, b"") + rec(0x3D, b"") + rec(0x07, b"\0" * 4) + rec(0x08, b"\0" * 4)
    out += struct.pack("<HIIH", 0x09, 4, 0x6C, 0x0E) + rec(0x0C, b"") + rec(0x3C, b"")
    out += rec(0x0F, b"\x01\x00") + rec(0x13, b"\xff\xff")
    out += rec(0x19, name) + rec(0x47, wide) + rec(0x1A, name) + rec(0x32, wide)
    out += rec(0x1C, b"") + rec(0x48, b"") + rec(0x31, struct.pack("<I", offset)) + rec(0x1E, b"\0" * 4)
    out += rec(0x2C, b"\xff\xff") + rec(0x21, b"")
    return out + rec(0x2B, b"") + rec(0x10, b"")


def _vba_streams(prefix: str) -> dict[str, bytes]:
    ole2, pcode = _ole2(), b"\x00" * 37
    return {f"{prefix}/_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
            f"{prefix}/dir": ole2.ovba_compress(_vba_dir("Module1", len(pcode))),
            f"{prefix}/Module1": pcode + ole2.ovba_compress(MACRO),
            f"{prefix.rpartition('/')[0] or prefix}/PROJECT": b'ID="{0}"\r\nModule=Module1\r\n'}


def _extras() -> list[Group]:
    """VBA macros (OLE2 and OOXML), HTML with a script (clamscan's normalised views), and test files."""
    macro_doc = _cfb(_vba_streams("Macros/VBA"))
    vba_bin = _cfb(_vba_streams("VBA"))
    group = Group("doc-macros-html", database())
    group.add("macro.doc", macro_doc)
    group.add("macro.docm", _ooxml([("vbaProject.bin", vba_bin)], folder="word/"))
    html = Group("doc-html", {"h.ndb": lines(
        f"H.ScriptTag:3:*:{_hx('<script>document.write')}", f"H.JsString:3:*:{_hx('arcbody html')}",
        f"H.RawQuote:0:*:{_hx(HTML_TEXT[20:50])}", f"H.Call:3:*:{_hx('document.write(')}")})
    html.add("page.html", HTML_TEXT)
    html.add("page.html.zip", zip_of("page.html", HTML_TEXT))
    out = [group, html]
    testfiles = CLAM_EXE.parent
    if (testfiles / "clam.chm").exists():
        files = Group("arc-testfiles", database())
        for name in ("clam.chm", "clam.sis", "clam.exe.binhex", "clam.tnef", "clam.exe.szdd", "clam.ppt"):
            files.add(name, (testfiles / name).read_bytes())
        out.append(files)
    return out


def groups() -> list[Group]:
    items = payloads()
    tables = {**ARCHIVES, **DOCUMENTS, **MAIL}
    built = [_group(name, wrappers, items) for name, wrappers in tables.items()]
    return [g for g in built if g is not None] + _extras()
