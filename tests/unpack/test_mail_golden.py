"""Golden child trees for MIME mail built with the stdlib `email` package, and engine layer paths."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import pytest
from mail_builders import EICAR, as_bytes, message, uuencode, zip_of
from unpack_helpers import row, rows, unpack

from vigil.engine import Engine
from vigil.errors import MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget, Verdict
from vigil.unpack.mail import MailUnpacker

BINARY = bytes(range(256)) * 40
TEXT = "Grüße, the quarterly invoice is attached.\n" * 30


def _full_message() -> bytes:
    """mixed[ alternative[text qp, html base64], invoice.zip, notes.txt 8bit, forwarded message ]."""
    msg = message("invoice")
    msg.set_content(TEXT, cte="quoted-printable")
    msg.add_alternative("<p>see attachment</p>\n", subtype="html", cte="base64")
    msg.add_attachment(zip_of({"doc/eicar.com": EICAR}), maintype="application", subtype="zip",
                       filename="invoice.zip")
    msg.add_attachment(b"plain notes\n", maintype="text", subtype="plain", cte="8bit", filename="notes.txt")
    inner = message("forwarded")
    inner.set_content("inner body\n")
    inner.add_attachment(BINARY, maintype="application", subtype="octet-stream", filename="blob.bin")
    msg.add_attachment(inner, filename="fwd.eml")
    return as_bytes(msg)


def test_nested_multiparts_every_encoding_golden_tree() -> None:
    ctx = ScanContext(ScanLimits())
    children = unpack(_full_message(), FileType.MAIL, "mail.eml", ctx)
    assert [c.name for c in children] == ["part-1", "part-2", "invoice.zip", "notes.txt", "fwd.eml"]
    assert bytes(children[0].data).decode("utf-8") == TEXT.replace("\n", "\r\n")
    assert bytes(children[1].data) == b"<p>see attachment</p>\r\n"
    assert bytes(children[2].data).startswith(b"PK\x03\x04")
    assert bytes(children[3].data) == b"plain notes\r\n"
    assert children[4].type_hint is FileType.MAIL
    inner = unpack(bytes(children[4].data), FileType.MAIL, "fwd.eml")
    assert rows(inner)[1] == row("blob.bin", BINARY)
    assert ctx.issues == [] and ctx.limits_hit == []
    assert ctx.files == 5 and ctx.scanned_bytes == sum(len(c.data) for c in children)


def test_engine_reports_eicar_inside_zip_inside_mail_with_layer_path() -> None:
    report = Engine(load_database()).scan(ScanTarget(display="mail.eml", data=_full_message()))
    assert report.verdict is Verdict.INFECTED
    assert report.name == "Vigil.Test.EICAR"
    assert report.detections[0].layer_path == "mail.eml>invoice.zip>doc/eicar.com"
    paths = [layer.path for layer in report.layers]
    assert "mail.eml>invoice.zip" in paths


def test_engine_walks_forwarded_message_attachments() -> None:
    outer = message("fwd")
    outer.set_content("see below\n")
    inner = message("inner")
    inner.set_content("x\n")
    inner.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="e.com")
    outer.add_attachment(inner, filename="orig.eml")
    report = Engine(load_database()).scan(ScanTarget(display="m.eml", data=as_bytes(outer)))
    assert report.name == "Vigil.Test.EICAR"
    assert report.detections[0].layer_path == "m.eml>orig.eml>e.com"


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _qp(data: bytes) -> bytes:
    return binascii.b2a_qp(data, quotetabs=True, istext=False).replace(b"\n", b"\r\n")


_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64": _b64,
    "quoted-printable": _qp,
    "7bit": bytes,
    "8bit": bytes,
    "binary": bytes,
    "x-unknown-encoding": bytes,
}


@pytest.mark.parametrize("cte", list(_ENCODERS))
def test_each_transfer_encoding_round_trips(cte: str) -> None:
    payload = EICAR if cte in ("7bit", "8bit") else BINARY
    raw = (
        b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nbody\r\n--zz\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: " + cte.upper().encode() +
        b"\r\nContent-Disposition: attachment; filename=a.bin\r\n\r\n" + _ENCODERS[cte](payload) +
        b"\r\n--zz--\r\n"
    )
    assert rows(unpack(raw, FileType.MAIL)) == [row("part-1", b"body"), row("a.bin", payload)]


def test_uuencoded_body_inside_a_part_and_inside_text() -> None:
    msg = message()
    msg.set_content("hello\n")
    part = uuencode(BINARY, "data.bin")
    msg.add_attachment(part, maintype="application", subtype="octet-stream", filename="ignored.uu")
    raw = as_bytes(msg)
    raw = raw.replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: x-uuencode")
    raw = raw.replace(base64.encodebytes(part).replace(b"\n", b"\r\n"), part.replace(b"\n", b"\r\n"))
    assert rows(unpack(raw, FileType.MAIL))[-1] == row("data.bin", BINARY)
    plain = b"From: a@b\r\nSubject: uu\r\n\r\nsee below\r\n" + uuencode(EICAR, "e.com")
    names = [(c.name, bytes(c.data)) for c in unpack(plain, FileType.MAIL)]
    assert names[-1] == ("e.com", EICAR)


def test_part_names_from_rfc2231_rfc2047_name_parameter_or_position() -> None:
    raw = (
        b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        b"--b1\r\nContent-Type: application/x-foo; name=\"by-name.exe\"\r\n\r\nA\r\n"
        b"--b1\r\nContent-Disposition: attachment;\r\n filename*0*=utf-8''r%C3%A9sum;\r\n"
        b" filename*1=\"e.doc\"\r\n\r\nB\r\n"
        b"--b1\r\nContent-Disposition: attachment; filename=\"=?utf-8?B?w6lj?=.zip\"\r\n\r\nC\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nD\r\n"
        b"--b1\r\nContent-Type: text/plain; name=\"a\x01b>c\"\r\n\r\nE\r\n--b1--\r\n"
    )
    got = [(c.name, bytes(c.data)) for c in unpack(raw, FileType.MAIL)]
    assert got == [("by-name.exe", b"A"), ("résume.doc", b"B"), ("éc.zip", b"C"), ("part-4", b"D"),
                   ("a_b>c", b"E")]


def test_boundary_prefix_of_inner_boundary_is_not_confused() -> None:
    raw = (
        b"From: a@b\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: multipart/mixed; boundary=B1\r\n\r\n"
        b"--B1\r\nContent-Type: text/plain\r\n\r\ninner\r\n--B1--\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nouter\r\n--B--\r\n"
    )
    assert [bytes(c.data) for c in unpack(raw, FileType.MAIL)] == [b"inner", b"outer"]


def test_unclosed_multipart_yields_parts_then_reports_malformed() -> None:
    raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n\r\none\r\n--X\r\n\r\ntwo"
    children: list[bytes] = []
    with pytest.raises(MalformedInput, match="not closed"):
        for child in MailUnpacker().children(Layer(raw, "m", FileType.MAIL, 0), ScanContext(ScanLimits())):
            children.append(bytes(child.data))
    assert children == [b"one", b"two"]
