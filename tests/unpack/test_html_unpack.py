"""HTML: script bodies and data: URIs (base64 and percent-encoded) as children; hostile pages."""

from __future__ import annotations

import base64
import os
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from unpack_helpers import unpack

from vigil.errors import LimitExceeded
from vigil.layer import Layer, ScanContext
from vigil.types import FileType, ScanLimits
from vigil.unpack.html import HtmlUnpacker, script_bodies

PAYLOAD = b"MZ" + os.urandom(500)


def test_data_uris_are_children_and_scripts_are_not() -> None:
    """Scripts are matched through the JavaScript view (engine.normalise), never as raw layers."""
    b64 = base64.b64encode(PAYLOAD)
    page = (
        b"<html><SCRIPT type='text/javascript'>var a = 1;</SCRIPT >"
        b"<scripture>not a script</scripture><script src=x.js></script>"
        b'<a href="data:application/octet-stream;base64,' + b64[:40] + b"\n" + b64[40:] + b'">x</a>'
        b"<img src='data:text/plain,hello%20world'><script>document.write(1)"
    )
    got = [(c.name, bytes(c.data)) for c in unpack(page, FileType.HTML)]
    assert got == [
        ("data 1", PAYLOAD[:30]),  # a data: URI ends at whitespace, as in an unquoted attribute
        ("data 2", b"hello world"),
    ]


def test_quoted_base64_without_padding_and_utf16_pages() -> None:
    b64 = base64.b64encode(PAYLOAD).rstrip(b"=")
    page = "<a href='data:;base64," + b64.decode() + "'>x</a><script>alert(1)</script>"
    got = [(c.name, bytes(c.data)) for c in unpack(page.encode("utf-16-le"), FileType.HTML_UTF16)]
    assert got == [("data 1", PAYLOAD)]


def test_hostile_pages_are_linear_and_bounded() -> None:
    start = time.monotonic()
    assert unpack(b"<script" * 200_000, FileType.HTML) == []
    assert list(script_bodies(b"<script>x</script>" * 5_000)) == [b"x"] * 5_000
    ctx = ScanContext(ScanLimits(max_files=50))
    try:
        unpack(b"<a href=data:,x>" * 1000, FileType.HTML, ctx=ctx)
    except LimitExceeded as exc:
        assert exc.limit == "MaxFiles"
    assert ctx.files == 50
    assert time.monotonic() - start < 5


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"<script>", b"</script>", b"data:", b";base64,", b"QUJD", b"<", b">", b"'", b" "])
    )
)
def test_fuzz(parts: list[bytes]) -> None:
    list(
        HtmlUnpacker().children(Layer(b"".join(parts), "x.html", FileType.HTML, 0), ScanContext(ScanLimits()))
    )
