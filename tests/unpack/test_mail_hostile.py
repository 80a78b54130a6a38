"""Hostile mail: part floods, deep nesting, header bombs, endless folding, truncation, bad base64.

Each case must end quickly with a reported limit or parse issue: never a traceback, a hang or a silent
clean verdict.
"""

from __future__ import annotations

import base64
import time

import pytest
from mail_builders import EICAR, as_bytes, message, zip_of
from unpack_helpers import unpack

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Layer, ScanContext
from vigil.signatures import load_database
from vigil.types import FileType, ScanLimits, ScanReport, ScanSettings, ScanTarget, Verdict
from vigil.unpack.mail import MAX_ENTITIES, MAX_NESTING, MailUnpacker

HEAD = b"From: a@b\r\nMIME-Version: 1.0\r\n"


def flood(parts: int) -> bytes:
    part = b"--BB\r\nContent-Type: application/octet-stream\r\n\r\npart %d\r\n"
    body = b"".join(part % i for i in range(parts))
    return HEAD + b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" + body + b"--BB--\r\n"


def deep(levels: int, leaf: bytes = b"leaf") -> bytes:
    body = b"".join(
        b"--B%d\r\nContent-Type: multipart/mixed; boundary=B%d\r\n\r\n" % (i - 1, i) for i in range(1, levels)
    )
    body += b"--B%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n--B%d--\r\n" % (levels - 1, leaf, levels - 1)
    body += b"".join(b"--B%d--\r\n" % i for i in range(levels - 2, -1, -1))
    return HEAD + b"Content-Type: multipart/mixed; boundary=B0\r\n\r\n" + body


def _scan(data: bytes, *, alert_exceeds_max: bool = True) -> tuple[ScanReport, float]:
    start = time.monotonic()
    engine = Engine(load_database(), ScanSettings(alert_exceeds_max=alert_exceeds_max))
    report = engine.scan(ScanTarget(display="m.eml", data=data))
    return report, time.monotonic() - start


def test_ten_thousand_parts_stop_at_max_files_quickly() -> None:
    report, elapsed = _scan(flood(10_050))
    assert report.name == "Heuristics.Limits.Exceeded.MaxFiles"
    assert report.errors == ()
    assert elapsed < 5


def test_part_flood_with_max_files_off_hits_the_mime_entity_bound() -> None:
    ctx = ScanContext(ScanLimits(max_files=0))
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        unpack(flood(MAX_ENTITIES + 100), FileType.MAIL, ctx=ctx)
    assert info.value.limit == "EmailMIMEPartsPerMessage"
    assert ctx.files == MAX_ENTITIES - 1  # every entity but the root container was a leaf
    assert time.monotonic() - start < 5


def test_thousand_deep_multipart_reports_max_recursion_like_clamscan() -> None:
    report, elapsed = _scan(deep(1000))
    assert report.name == "Heuristics.Limits.Exceeded.MaxRecursion"
    assert elapsed < 5


def test_nesting_bound_holds_with_recursion_limit_off() -> None:
    ctx = ScanContext(ScanLimits(max_recursion=0))
    assert unpack(deep(1000), FileType.MAIL, ctx=ctx) == []
    assert ctx.limits_hit == ["MaxRecursion"]
    ctx = ScanContext(ScanLimits(max_recursion=0))
    (leaf,) = unpack(deep(MAX_NESTING), FileType.MAIL, ctx=ctx)
    assert bytes(leaf.data) == b"leaf" and ctx.limits_hit == []


def test_nesting_within_the_recursion_budget_is_walked() -> None:
    eicar_leaf = deep(10, leaf=EICAR)
    report, _ = _scan(eicar_leaf)
    assert report.name == "Vigil.Test.EICAR"


@pytest.mark.parametrize(
    ("headers", "limit"),
    [
        (b"Content-Type: text/plain\r\n" * 1100, "EmailHeaders"),
        (b"Content-Type: text/plain;\r\n" + b" x\r\n" * 150_000, "EmailHeaderBytes"),
        (b"Subject: x\r\n" + b" y\r\n" * 300_000, "EmailLineFoldCnt"),
    ],
    ids=["count", "bytes", "folds"],
)
def test_header_bombs_raise_clamav_email_limits(headers: bytes, limit: str) -> None:
    data = HEAD + headers + b"\r\nbody\r\n"
    with pytest.raises(LimitExceeded) as info:
        unpack(data, FileType.MAIL)
    assert info.value.limit == limit
    report, elapsed = _scan(data)
    assert report.name == f"Heuristics.Limits.Exceeded.{limit}"
    assert elapsed < 5
    quiet, _ = _scan(data, alert_exceeds_max=False)
    assert quiet.verdict is Verdict.CLEAN


def test_uninteresting_header_flood_is_not_a_limit() -> None:
    """clamscan 1.4.6 only counts Content-* headers: 1,100 X- headers and a 300 KB Subject are OK."""
    data = HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(1100)) + b"Subject: " + b"a" * 300_000
    assert [bytes(c.data) for c in unpack(data + b"\r\n\r\nbody\r\n", FileType.MAIL)] == [b"body\r\n"]


def test_many_parameters_are_capped_and_noted() -> None:
    params = b"; ".join(b"a%d=b" % i for i in range(1000))
    ctx = ScanContext(ScanLimits())
    data = HEAD + b"Content-Type: text/plain; " + params + b"\r\n\r\nbody\r\n"
    children = unpack(data, FileType.MAIL, ctx=ctx)
    assert len(children) == 1
    assert any("EmailMIMEArguments" in issue for issue in ctx.issues)


def _attachment_mail() -> bytes:
    msg = message()
    msg.set_content("hello\n")
    msg.add_attachment(zip_of({"eicar.com": EICAR}), maintype="application", subtype="zip", filename="a.zip")
    msg.add_attachment(EICAR * 50, maintype="application", subtype="octet-stream", filename="b.bin")
    return as_bytes(msg)


def test_truncated_at_every_tenth_never_crashes() -> None:
    whole = _attachment_mail()
    for tenth in range(1, 10):
        cut = whole[: len(whole) * tenth // 10]
        ctx = ScanContext(ScanLimits())
        children = []
        try:
            for child in MailUnpacker().children(Layer(cut, "m", FileType.MAIL, 0), ctx):
                children.append(child)
        except MalformedInput:
            pass
        assert all(len(c.data) <= len(cut) for c in children)
        report, elapsed = _scan(cut)
        assert report.errors == () and elapsed < 5
        if tenth >= 6:  # the zip attachment is complete from here on
            assert report.name in ("Vigil.Test.EICAR", None), tenth


def test_bad_base64_is_decoded_leniently_and_noted() -> None:
    good = base64.encodebytes(EICAR).replace(b"\n", b"\r\n")
    noisy = b"".join(bytes([ch]) + (b"!*" if i % 7 == 0 else b"") for i, ch in enumerate(good))
    data = (HEAD + b"Content-Type: application/octet-stream; name=e.com\r\nContent-Transfer-Encoding: base64"
            b"\r\n\r\n" + noisy + b"Q")  # a dangling sixth-bit group at the end as well
    ctx = ScanContext(ScanLimits())
    with pytest.raises(MalformedInput, match="base64"):
        children = []
        for child in MailUnpacker().children(Layer(data, "m", FileType.MAIL, 0), ctx):
            children.append(child)
    assert [(c.name, bytes(c.data)) for c in children] == [("e.com", EICAR)]
    report, _ = _scan(data)
    assert report.name == "Vigil.Test.EICAR"


def test_oversized_part_is_skipped_with_limit_and_later_parts_still_scanned() -> None:
    msg = message()
    msg.set_content("hello\n")
    msg.add_attachment(bytes(3 << 20), maintype="application", subtype="octet-stream", filename="big.bin")
    msg.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="e.com")
    ctx = ScanContext(ScanLimits(max_filesize=1 << 20))
    names = [c.name for c in unpack(as_bytes(msg), FileType.MAIL, ctx=ctx)]
    assert names == ["part-1", "e.com"]
    assert ctx.limits_hit == ["MaxFileSize"]


def test_scan_size_budget_stops_the_walk() -> None:
    ctx = ScanContext(ScanLimits(max_scansize=1000))
    with pytest.raises(LimitExceeded) as info:
        unpack(flood(500), FileType.MAIL, ctx=ctx)
    assert info.value.limit == "MaxScanSize"
    assert ctx.scanned_bytes <= 1000


@pytest.mark.parametrize(
    ("data", "bodies"),
    [(b"To: \r\n", [b""]), (b"\r\n\r\n\r\n", [b""]), (b"To: x\r\n\r\nhi", [b"hi"]),
     (b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary", None)],
)
def test_non_mail_text_typed_as_mail_is_harmless(data: bytes, bodies: list[bytes] | None) -> None:
    if bodies is None:
        with pytest.raises(MalformedInput, match="boundary"):
            unpack(data, FileType.MAIL)
    else:
        assert [bytes(c.data) for c in unpack(data, FileType.MAIL)] == bodies
