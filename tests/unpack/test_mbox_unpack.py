"""mbox: splitting on `From ` lines, per-message naming, and a fuzz smoke run; plus the MIME walker's
fuzz smoke run (mutated multipart messages)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_builders import EICAR, as_bytes, message, zip_of
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanTarget
from vigil.unpack.mail import MailUnpacker
from vigil.unpack.mbox import split_mbox

SEP = b"From someone@example.com Thu Jan  1 00:00:00 2026\n"


def _mail(subject: str, attachment: bytes, name: str) -> bytes:
    msg = message(subject)
    msg.set_content(f"{subject}\n")
    msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=name)
    return as_bytes(msg).replace(b"\r\n", b"\n")


def test_split_needs_a_blank_line_before_from() -> None:
    data = SEP + b"Subject: a\n\nbody\nFrom here on it is body\n\n" + SEP + b"Subject: b\n\nx\n"
    spans = list(split_mbox(data))
    assert [data[s:e] for s, e in spans] == [
        b"Subject: a\n\nbody\nFrom here on it is body\n\n",
        b"Subject: b\n\nx\n",
    ]
    assert list(split_mbox(b"Subject: no separators\n")) == [(0, 23)]


def test_messages_are_walked_and_named_per_message() -> None:
    box = SEP + _mail("one", b"first", "a.bin") + b"\n" + SEP + _mail("two", b"second", "a.bin")
    got = [(c.name, bytes(c.data)) for c in unpack(box, FileType.MAIL, "box.mbox")]
    assert got == [
        ("message-1/part-1", b"one\n"), ("message-1/a.bin", b"first"),
        ("message-2/part-1", b"two\n"), ("message-2/a.bin", b"second"),
    ]


def test_single_message_mbox_names_parts_plainly_and_engine_finds_zip_member() -> None:
    box = SEP + _mail("z", zip_of({"e.com": EICAR}), "z.zip")
    assert [c.name for c in unpack(box, FileType.MAIL)] == ["part-1", "z.zip"]
    report = Engine(load_database()).scan(ScanTarget(display="box.mbox", data=box))
    assert report.name == "Vigil.Test.EICAR"
    assert report.detections[0].layer_path == "box.mbox>z.zip>e.com"


def test_thousands_of_messages_stop_at_max_files() -> None:
    box = (SEP + b"Subject: s\n\nb\n\n") * 12_000
    with pytest.raises(LimitExceeded) as info:
        unpack(box, FileType.MAIL, ctx=ScanContext(ScanLimits()))
    assert info.value.limit == "MaxFiles"


def _drain(data: bytes) -> int:
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20, max_files=200))
    produced = 0
    try:
        for child in MailUnpacker().children(Layer(data, "m", FileType.MAIL, 0), ctx):
            produced += len(child.data)
    except (MalformedInput, LimitExceeded):
        pass
    assert produced == ctx.scanned_bytes
    return produced


_SEED = SEP + _mail("fz", zip_of({"e": EICAR}), "z.zip") + b"\n" + SEP + (
    b"Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: multipart/alternative; boundary=r\n\n"
    b"--r\nContent-Transfer-Encoding: quoted-printable\n\na=3Db\n--r--\n--q\n"
    b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 u\n#86)C\n`\nend\n--q--\n"
)


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, len(_SEED)), st.sampled_from([b"\n", b"--q", b"--r--", b"\n\n", b"=", b""])
                  | st.binary(max_size=6)),
        max_size=8,
    ),
    tail=st.integers(0, len(_SEED)),
)
def test_fuzz_mutated_mbox_and_mime_raise_only_parse_or_limit_errors(
    cuts: list[tuple[int, bytes]], tail: int
) -> None:
    data = bytearray(_SEED)
    for pos, junk in cuts:
        data[pos : pos + len(junk)] = junk
    assert _drain(bytes(data[:tail])) <= len(data) * 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_as_mail(data: bytes) -> None:
    _drain(b"From: x\n" + data)
