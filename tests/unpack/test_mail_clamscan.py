"""clamscan 1.4.6 as the oracle: ClamAV's own mail test files, and generated mails with an `.ndb`
signature hidden in an attachment (every transfer encoding, nesting, forwarding, mbox, TNEF, BinHex,
and the mail limits) must get the same verdict and name from both scanners."""

from __future__ import annotations

import base64
import binascii
import shutil
import subprocess
from pathlib import Path

import pytest
from mail_builders import as_bytes, binhex, message, tnef, uuencode, zip_of
from test_mail_hostile import deep, flood
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import FileType, ScanTarget

FILES = Path("/usr/share/clamav-testfiles")
CLAM_EXE = FILES / "clam.exe"
MARKER = b"\xe9\x01vigil-mail-differential-marker\xff\x00\x90\x90\x90\x90\x90!"
SIG = "Vigil.Diff.MailMarker"


@pytest.mark.skipif(not CLAM_EXE.exists(), reason="clamav test files not installed")
@pytest.mark.parametrize("name", ["clam.mail", "clam.exe.mbox.base64", "clam.exe.mbox.uu"])
def test_clamav_mail_files_yield_clam_exe_and_are_detected(name: str) -> None:
    children = unpack((FILES / name).read_bytes(), FileType.MAIL, name)
    assert [c.name for c in children][-1] == "clam.exe"
    assert bytes(children[-1].data) == CLAM_EXE.read_bytes()
    report = Engine(load_database()).scan(ScanTarget(display=name, path=str(FILES / name)))
    assert report.name == "Vigil.Test.ClamExe"
    assert report.detections[0].layer_path == f"{name}>clam.exe"


def _with_attachment(payload: bytes, cte: str = "base64", filename: str = "a.bin") -> bytes:
    encoded = {
        "base64": base64.encodebytes(payload),
        "quoted-printable": binascii.b2a_qp(payload, quotetabs=True, istext=False),
        "x-uuencode": uuencode(payload, filename),
    }[cte].replace(b"\n", b"\r\n")
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"==b==\"\r\n\r\npreamble\r\n"
        b"--==b==\r\nContent-Type: text/plain\r\n\r\nhello\r\n--==b==\r\n"
        b"Content-Type: application/octet-stream; name=\"" + filename.encode() + b"\"\r\n"
        b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + encoded + b"\r\n--==b==--\r\n"
    )


def _forwarded() -> bytes:
    inner = message("inner")
    inner.set_content("x\n")
    inner.add_attachment(MARKER * 3, maintype="application", subtype="octet-stream", filename="m.bin")
    outer = message("fwd")
    outer.set_content("see attached\n")
    outer.add_attachment(inner, filename="orig.eml")
    return as_bytes(outer)


def _nested_zip() -> bytes:
    msg = message("zip")
    msg.set_content("hello\n")
    alt = zip_of({"dir/doc.bin": b"head" + MARKER + b"tail"})
    msg.add_attachment(alt, maintype="application", subtype="zip", filename="invoice.zip")
    return as_bytes(msg)


def _mbox() -> bytes:
    first = b"From a@b Thu Jan  1 00:00:00 2026\r\nFrom: a@b\r\nSubject: one\r\n\r\nclean\r\n\r\n"
    return first + b"From c@d Thu Jan  1 00:00:01 2026\r\n" + _with_attachment(MARKER)


def _mime_tnef() -> bytes:
    msg = message("tnef")
    msg.set_content("rich text follows\n")
    winmail = tnef([("report.doc", b"DOC" + MARKER)])
    msg.add_attachment(winmail, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return as_bytes(msg)


_BASE64_PART = b"application/x-y\r\nContent-Transfer-Encoding: base64\r\n"


def _headers(lines: bytes) -> bytes:
    return b"From: a@b\r\nMIME-Version: 1.0\r\n" + lines + b"\r\nbody\r\n"


CASES: dict[str, bytes] = {
    "base64.eml": _with_attachment(MARKER),
    "qp.eml": _with_attachment(MARKER, "quoted-printable"),
    "uu.eml": _with_attachment(MARKER, "x-uuencode", "x.exe"),
    "zip.eml": _nested_zip(),
    "forwarded.eml": _forwarded(),
    "deep10.eml": deep(10, leaf=base64.b64encode(MARKER)).replace(b"text/plain\r\n", _BASE64_PART),
    "box.mbox": _mbox(),
    "tnef.eml": _mime_tnef(),
    "binhex.hqx": binhex(b"MZ" + MARKER, "m.exe"),
    "clean.eml": _with_attachment(b"nothing to see here" * 10),
    "deep1000.eml": deep(1000),
    "folds.eml": _headers(b"Subject: x\r\n" + b" y\r\n" * 300_000),
    "mime-headers.eml": _headers(b"Content-Type: text/plain\r\n" * 1100),
    "header-bytes.eml": _headers(b"Content-Type: text/plain;\r\n" + b" x\r\n" * 150_000),
    "parts2000.eml": flood(2000),
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if shutil.which("clamscan") is None:
        pytest.skip("clamscan not installed")
    root = tmp_path_factory.mktemp("maildiff")
    (root / "db").mkdir()
    (root / "db" / "m.ndb").write_text(f"{SIG}:0:*:{MARKER.hex()}\n")
    targets = root / "t"
    targets.mkdir()
    for name, data in CASES.items():
        (targets / name).write_bytes(data)
    out = subprocess.run(
        ["clamscan", "--no-summary", "--alert-exceeds-max=yes", "-d", str(root / "db"), str(targets)],
        capture_output=True, text=True, check=False, timeout=120,
    ).stdout
    verdicts = {}
    for line in out.splitlines():
        path, _, verdict = line.rpartition(": ")
        verdicts[Path(path).name] = verdict.removesuffix(" FOUND")
    return root, verdicts


@pytest.mark.parametrize("name", list(CASES))
def test_same_verdict_and_name_as_clamscan(scanned: tuple[Path, dict[str, str]], name: str) -> None:
    root, verdicts = scanned
    report = Engine(load_database([str(root / "db")])).scan(
        ScanTarget(display=name, path=str(root / "t" / name))
    )
    assert report.errors == ()
    assert (report.name or "OK") == verdicts[name], report
