"""`.cdb` container metadata groups: one signature per group, asked of the same archives in every format
clamscan checks member metadata for (zip, tar, 7z, cab, cpio, iso9660, ARJ, mail attachments; CHM from
clamav-testfiles), so clamscan's verdict pins down each field: type, sizes, name regex, encryption and
position, directories included.

Default mode only: in allmatch clamscan 1.4.6 reports a zip member's metadata hit twice (it checks the
central directory and then each local header), which Vigil's allmatch does not repeat.
"""

from __future__ import annotations

import base64
import io
import struct
import tarfile
import zipfile
from pathlib import Path

from diff_gen_archives import _run
from diff_model import DEFAULT, Group, binary, lines

EVIL = binary(b"cdb member: nothing here matches a body signature ", b"q" * 40)
OTHER = binary(b"cdb other member ", b"r" * 30)
TEXT = b"compressible text for the deflated member. " * 70
#: a body signature on OTHER, for the groups that ask which of a metadata and a body hit clamscan reports
OTHER_BODY = "Cdb.Body:0:*:" + b"cdb other member".hex()

Members = list[tuple[str, bytes]]
FLAT: Members = [("other.dat", OTHER), ("evil.bin", EVIL)]


def _zip(members: Members, method: int = zipfile.ZIP_STORED, dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in dirs:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), b"")
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def _encrypted_zip(members: Members) -> bytes:
    """A stored zip whose records all carry the encryption flag (bit 0), as a password zip's do."""
    data = bytearray(_zip(members))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(signature)
        while pos >= 0:
            (flags,) = struct.unpack_from("<H", data, pos + flag_at)
            struct.pack_into("<H", data, pos + flag_at, flags | 1)
            pos = data.find(signature, pos + 4)
    return bytes(data)


def _tar(members: Members, dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mtime = tarfile.DIRTYPE, 1_700_000_000
            tf.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CHM = Path("/usr/share/clamav-testfiles/clam.chm")


def _mail(members: Members) -> bytes:
    parts = [b"From: a@example.org\r\nSubject: cdb\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
             b"Content-Type: text/plain\r\n\r\nsee attached\r\n"]
    for name, data in members:
        parts.append(b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64"
                     b"\r\nContent-Disposition: attachment; filename=" + name.encode() + b"\r\n\r\n"
                     + base64.encodebytes(data).replace(b"\n", b"\r\n"))
    return b"".join(parts) + b"--XX--\r\n"


def targets() -> dict[str, bytes]:
    nested = [("d/other.dat", OTHER), ("evil.bin", EVIL)]
    built: dict[str, bytes | None] = {
        "stored.zip": _zip(FLAT),
        "deflated.zip": _zip([("text.txt", TEXT), *FLAT], zipfile.ZIP_DEFLATED),
        "dirs.zip": _zip(nested, dirs=("d/",)),
        "encrypted.zip": _encrypted_zip(FLAT),
        "evil-first.zip": _zip(list(reversed(FLAT))),
        "plain.tar": _tar(FLAT),
        "dirs.tar": _tar(nested, dirs=("d/",)),
        "plain.7z": _run("7z", ["a", "-bd", "-y", "{out}"], FLAT, "a.7z"),
        "encrypted.7z": _run("7z", ["a", "-bd", "-y", "-psecret", "{out}"], FLAT, "a.7z"),
        "plain.cab": _run("gcab", ["-c", "{out}"], FLAT, "a.cab"),
        "newc.cpio": _run("bsdtar", ["-cf", "{out}", "--format", "newc"], FLAT, "a.cpio"),
        "plain.iso": _run("bsdtar", ["-cf", "{out}", "--format", "iso9660"], FLAT, "a.iso"),
        "plain.arj": _run("arj", ["a", "-y", "{out}"], FLAT, "a.arj"),
        "garbled.arj": _run("arj", ["a", "-y", "-gsecret", "{out}"], FLAT, "a.arj"),
        "attached.eml": _mail(FLAT),
        "clam.chm": CHM.read_bytes() if CHM.exists() else None,  # members /clam.exe.txt, /#SYSTEM...
        "evil.bin": EVIL,  # not in a container: never a metadata hit
    }
    return {name: data for name, data in built.items() if data is not None}


#: group name -> the one `.cdb` line it asks about (fields: name:type:csize:regex:packed:real:enc:pos:r1:r2)
QUESTIONS = {
    "any": r"Cdb.Any:*:*:evil\.bin:*:*:*:*:*:*",
    "zip-only": r"Cdb.Zip:CL_TYPE_ZIP:*:evil\.bin:*:*:*:*:*:*",
    "tar-only": r"Cdb.Tar:CL_TYPE_POSIX_TAR:*:evil\.bin:*:*:*:*:*:*",
    "7z-only": r"Cdb.SevenZip:CL_TYPE_7Z:*:evil\.bin:*:*:*:*:*:*",
    "anchored": r"Cdb.Anchored:*:*:^evil\.bin$:*:*:*:*:*:*",
    "dir-entry": r"Cdb.Dir:*:*:^d/?$:*:*:*:*:*:*",
    "path": r"Cdb.Path:*:*:^d/other\.dat$:*:*:*:*:*:*",
    "encrypted": r"Cdb.Encrypted:*:*:evil\.bin:*:*:1:*:*:*",
    "clear": r"Cdb.Clear:*:*:evil\.bin:*:*:0:*:*:*",
    "real-size": f"Cdb.Real:*:*:evil\\.bin:*:{len(EVIL)}:*:*:*:*",
    "real-size-off": f"Cdb.RealOff:*:*:evil\\.bin:*:{len(EVIL) + 1}:*:*:*:*",
    "packed-real": f"Cdb.PackedReal:*:*:evil\\.bin:{len(EVIL)}:*:*:*:*:*",
    "packed-zero": r"Cdb.PackedZero:*:*:evil\.bin:0:*:*:*:*:*",
    "packed-deflated": f"Cdb.Deflated:CL_TYPE_ZIP:*:text\\.txt:1-{len(TEXT) - 1}:{len(TEXT)}:0:1:*:*",
    "pos-0": r"Cdb.Pos0:*:*:evil\.bin:*:*:*:0:*:*",
    "pos-1": r"Cdb.Pos1:*:*:evil\.bin:*:*:*:1:*:*",
    "pos-2": r"Cdb.Pos2:*:*:evil\.bin:*:*:*:2:*:*",
    "pos-3": r"Cdb.Pos3:*:*:evil\.bin:*:*:*:3:*:*",
    "container-size": r"Cdb.ContainerSize:*:1-4000:evil\.bin:*:*:*:*:*:*",
    "chm-member": r"Cdb.Chm:CL_TYPE_MSCHM:*:^/clam\.exe\.txt$:0:544:0:*:*:*",
    "chm-packed": r"Cdb.ChmPacked:*:*:^/#SYSTEM$:4254:*:*:*:*:*",
    "mail-type": r"Cdb.Mail:CL_TYPE_MAIL:*:^evil\.bin$:*:*:*:*:*:*",
}


def groups() -> list[Group]:
    items = targets()
    out = [
        Group(f"cdb-{name}", {"c.cdb": lines(line)}, dict(items), modes=(DEFAULT,), about=line)
        for name, line in QUESTIONS.items()
    ]
    # which wins, a metadata hit or a body hit on an earlier member: zip checks all metadata first
    out.append(Group("cdb-vs-body", {"c.cdb": lines(QUESTIONS["any"]), "b.ndb": lines(OTHER_BODY)},
                     dict(items), modes=(DEFAULT,), about="metadata hit against a body hit"))
    return out
