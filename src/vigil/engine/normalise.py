"""The normalised views clamscan matches for text and HTML layers.

Calibrated against clamscan 1.4.6 (`--leave-temps` keeps its HTML views as `nocomment.html`, `notags.html`
and `javascript`; the text view was probed with type-7 signatures):

* text: A-Z lower-cased; every run of whitespace (space, tab, CR, LF, FF, VT) becomes one space, also at the
  start and the end; other control bytes and every byte >= 0x7f are dropped (so UTF-8 letters vanish).
* HTML (`nocomment.html`): comments removed; tag names, attributes and text lower-cased; attribute values
  quoted with `'` re-quoted with `"` (unquoted ones stay bare); whitespace runs squeezed to one space,
  none kept right after a tag; entities decoded; inside `<script>` all whitespace is dropped.
  clamscan also scans a `notags.html` and a `javascript` view, which are not reproduced here.
"""

from __future__ import annotations

import html
import re

_WHITESPACE = b"\t\n\v\f\r "
_DROPPED = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0x100)])
_TEXT_MAP = bytes.maketrans(
    bytes(range(0x41, 0x5B)) + _WHITESPACE, bytes(range(0x61, 0x7B)) + b" " * len(_WHITESPACE)
)


#: Two or more spaces: after the translation every whitespace byte is a space, and ordinary text has far
#: fewer such runs than words, so the substitution touches little.
_SPACE_RUNS = re.compile(b"  +")


def normalise_text(data: bytes) -> bytes:
    """What type-7 (and type-0) body signatures see on a text layer, besides its raw bytes.

    Runs of spaces are squeezed by substituting only runs of two or more: splitting into words and
    joining them again allocated one object per word (0.28 s against 0.18 s on the bench corpus's 29 MB of
    text layers), and a substitution of every whitespace run cost a third of the scan time."""
    return _SPACE_RUNS.sub(b" ", data.translate(_TEXT_MAP, _DROPPED))


# --- HTML -----------------------------------------------------------------------------------------------

_COMMENT = re.compile(rb"<!--.*?(?:-->|\Z)", re.DOTALL)
#: A tag starts at any `<` and runs to the next `>`: clamscan's nocomment.html turns `a < b` into `a <b`
#: and `< p>` into `<p>` (a stricter tag start, a letter after `<`, was defined here but never used: the
#: name was bound again below, and the differential cases agree with the looser one). Known
#: differences: clamscan keeps `a <= b` as it is and a final lone `<` without the `>` added here.
_TAG = re.compile(rb"<([^>]*)>?")
_ATTR = re.compile(rb"""([^\s=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_SCRIPT_END = re.compile(rb"</script", re.IGNORECASE)
_HTML_WS = re.compile(rb"[\t\n\v\f\r ]+")


_LOWER_MAP = _TEXT_MAP[:0x80] + bytes(range(0x80, 0x100))  # A-Z lowered, whitespace to space, rest kept


def _lower(data: bytes) -> bytes:
    return data.translate(_LOWER_MAP)


def _text(chunk: bytes) -> bytes:
    """Text between tags: entities decoded, lower-cased, whitespace squeezed (leading run dropped).

    Most chunks are plain ASCII without an entity, which the decode and re-encode would leave as they
    are, so those skip both."""
    if b"&" in chunk or not chunk.isascii():
        chunk = html.unescape(chunk.decode("latin-1")).encode("utf-8", errors="replace")
    lowered = _lower(chunk)  # every whitespace byte is a space now
    if b"  " in lowered:  # most chunks have no run to squeeze: skip the substitution
        lowered = _SPACE_RUNS.sub(b" ", lowered)
    return lowered.lstrip(b" ")


def _tag(inner: bytes) -> bytes:
    """Rebuild a tag: lower-case name and attributes, values double-quoted, single spaces between."""
    if inner.startswith((b"!", b"?")):
        return b"<" + _HTML_WS.sub(b" ", _lower(inner)) + b">"
    parts = []
    for found in _ATTR.finditer(_lower(inner)):
        name, value = found.group(1), found.group(2)
        if value is None:
            parts.append(name)
            continue
        if value[:1] in (b'"', b"'"):
            value = b'"' + _HTML_WS.sub(b" ", value[1:-1]) + b'"'
        parts.append(name + b"=" + value)
    return b"<" + b" ".join(parts) + b">"


def _script_body(chunk: bytes) -> bytes:
    return _lower(_HTML_WS.sub(b"", chunk))


def normalise_html(data: bytes) -> bytes:
    """clamscan's `nocomment.html` view of an HTML layer, the one type-3 and type-0 signatures see."""
    source = _COMMENT.sub(b"", data)
    out: list[bytes] = []
    tags: dict[bytes, bytes] = {}  # a page repeats a few tags (`p`, `/td`, `br`) thousands of times
    pos = 0
    while pos < len(source):
        found = _TAG.search(source, pos)
        if found is None:
            out.append(_text(source[pos:]))
            break
        start, end = found.span()
        if start > pos:  # adjacent tags leave no text between them
            out.append(_text(source[pos:start]))
        inner = found.group(1)
        rebuilt = tags.get(inner)
        if rebuilt is None:
            rebuilt = tags[inner] = _tag(inner)
        out.append(rebuilt)
        pos = end
        if inner[:6].lower() == b"script":
            closing = _SCRIPT_END.search(source, pos)
            stop = closing.start() if closing else len(source)
            out.append(_script_body(source[pos:stop]))
            pos = stop
    return b"".join(out)


_SCRIPT_ELEMENT = re.compile(rb"<script\b.*?(?:</script\s*>|\Z)", re.DOTALL)
_HREF = re.compile(rb"""^a\s.*?\bhref\s*=\s*"?([^"\s>]*)""", re.DOTALL)
_SPACES = re.compile(rb"\s+")


def _tag_text(match: re.Match[bytes]) -> bytes:
    href = _HREF.match(match.group(1))
    return b" " + href.group(1) + b" " if href else b" "


def html_notags(normalised: bytes) -> bytes:
    """clamscan's `notags.html` view of an already normalised page: scripts dropped, every tag a space
    except that a link contributes its URL, whitespace runs squeezed (`<p>Hello <b>World</b>` ->
    ` hello world `)."""
    text = _TAG.sub(_tag_text, _SCRIPT_ELEMENT.sub(b" ", normalised))
    return _SPACES.sub(b" ", text)


#: A string literal (kept whole), whitespace between two word characters (one space), other whitespace.
_JS_TOKENS = re.compile(rb"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?<=[\w$])(\s+)(?=[\w$])|\s+""")


def _js_token(found: re.Match[bytes]) -> bytes:
    if found.group(1) is not None:
        return found.group(1)
    return b" " if found.group(2) is not None else b""


def html_javascript(data: bytes) -> bytes:
    """clamscan's `javascript` view: each script as `<script>…</script>`, whitespace dropped outside
    string literals (kept as one space between two words), strings as written. Identifiers are not
    renamed (clamscan's n000 scheme is not reproduced), so signatures over strings and calls match."""
    from vigil.unpack.html import script_bodies

    bodies = script_bodies(data)
    return b"".join(b"<script>" + _JS_TOKENS.sub(_js_token, body.strip()) + b"</script>" for body in bodies)
