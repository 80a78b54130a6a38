"""HTML: `data:` URIs as children.

The normalised views that ClamAV's HTML signatures match (tags, text, JavaScript) are produced by
`engine.normalise`, which uses `script_bodies` from here; scripts are not layers of their own because
clamscan never matches their raw bytes. This unpacker lifts out what HTML *carries*: each `data:` URI
payload, base64 or percent-encoded (`data 1`, ...), e.g. an executable smuggled in an `href`.
UTF-16 pages are decoded first. Regexes are linear and every payload is charged before it is kept.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterator

from vigil.layer import Child, Layer, ScanContext
from vigil.types import FileType

_DATA_URI = re.compile(rb"data:([\w.+/-]*)((?:;[\w.+-]+(?:=[\w.+-]+)?)*),([^\"'\s<>)]*)", re.I)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/_-]")


def _text(layer: Layer) -> bytes:
    data = bytes(layer.data)
    if layer.file_type is not FileType.HTML_UTF16:
        return data
    codec = "utf-16-be" if data[:2] == b"\xfe\xff" else "utf-16-le"
    return data.decode(codec, "replace").encode("utf-8", "replace")


def _b64(text: bytes) -> bytes:
    """Lenient base64 (browsers ignore whitespace and accept missing padding and the URL alphabet)."""
    clean = _BASE64_JUNK.sub(b"", urllib.parse.unquote_to_bytes(text)).replace(b"-", b"+").replace(b"_", b"/")
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        return b""


def _data_payload(found: re.Match[bytes]) -> bytes:
    params, body = found.group(2).lower(), found.group(3)
    if b";base64" in params:
        return _b64(body)
    return urllib.parse.unquote_to_bytes(body)


def script_bodies(text: bytes) -> Iterator[bytes]:
    """Script bodies; an unclosed one runs to the end of the page. One forward pass: every search
    starts past the previous tag, so hostile pages full of `<script` cost linear time."""
    lower = text.lower()
    pos = 0
    while (start := lower.find(b"<script", pos)) >= 0:
        gt = lower.find(b">", start)
        if gt < 0:
            return
        pos = gt + 1
        if lower[start + 7 : start + 8].isalnum():
            continue  # <scripture> is not a script tag
        close = lower.find(b"</script", pos)
        end = close if close >= 0 else len(text)
        yield text[pos:end]
        pos = end


def _pieces(text: bytes) -> Iterator[tuple[str, bytes]]:
    for index, found in enumerate(_DATA_URI.finditer(text), 1):
        yield f"data {index}", _data_payload(found)


class HtmlUnpacker:
    name = "html"
    types = frozenset({FileType.HTML, FileType.HTML_UTF16})

    def children(self, layer: Layer, ctx: ScanContext) -> Iterator[Child]:
        for name, payload in _pieces(_text(layer)):
            ctx.check_time()
            if not payload:
                continue
            ctx.charge_file()
            ctx.charge_bytes(len(payload))
            yield Child(name, payload)
