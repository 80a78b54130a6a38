"""The fast typing paths (fixed-magic index, required literals, the vectorised UTF-16 squash) give the
same answers as the plain rule-by-rule definitions they replace."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.engine import filetype
from vigil.engine.magic_syntax import hex_regex, required_literal
from vigil.engine.magic_table import BUILTIN_LINES
from vigil.types import FileType

TABLE = filetype._builtin_table()


def _fixed_by_scan(buf: bytes) -> FileType | None:
    for rule in TABLE.fixed:
        if rule.magic and buf[rule.offset : rule.offset + len(rule.magic)] == rule.magic:
            return rule.ftype
    return None


def _squash_by_loop(buf: bytes) -> bytes:
    even = len(buf) - len(buf) % 2
    return bytes(((buf[i + 1] << 4) + buf[i]) & 0xFF for i in range(0, even, 2))


def _magic_prefixes() -> list[bytes]:
    """Every fixed magic at its offset, so generated buffers hit the table often."""
    out = []
    for rule in TABLE.fixed:
        out.append(bytes(rule.offset) + rule.magic)
    return out


PREFIXES = _magic_prefixes()
buffers = st.one_of(
    st.binary(max_size=1100),
    st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=600)).map(lambda t: t[0] + t[1]),
    st.tuples(st.sampled_from(PREFIXES), st.sampled_from(PREFIXES)).map(lambda t: t[0][:3] + t[1]),
)


@settings(max_examples=600, deadline=None)
@given(buffers)
def test_fixed_index_agrees_with_table_order(buf: bytes) -> None:
    assert filetype._fixed_type(TABLE, buf) == _fixed_by_scan(buf)


def test_every_fixed_rule_is_found_at_its_offset() -> None:
    for prefix in PREFIXES:
        assert filetype._fixed_type(TABLE, prefix) == _fixed_by_scan(prefix) is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1100))
def test_utf16_squash_equals_the_byte_loop(buf: bytes) -> None:
    assert filetype._utf16_squash(buf) == _squash_by_loop(buf)


def _magic_hex() -> list[str]:
    return [line.split(":")[2].lower() for line in BUILTIN_LINES if line.split(":")[0] == "1"]


def test_required_literal_is_inside_every_match() -> None:
    """For each body magic, an instance built from it that its regex matches contains the literal."""
    for magic in _magic_hex():
        needle = required_literal(magic)
        regex = re.compile(hex_regex(magic), re.DOTALL)
        instance = bytes.fromhex(_fill(magic))
        if regex.search(instance):
            assert needle in instance, magic


def _fill(magic: str) -> str:
    """A crude instance of a magic: wildcards and gaps become one zero byte, alternations their first arm."""
    out, pos = [], 0
    while pos < len(magic):
        char = magic[pos]
        if char in "{[":
            end = magic.index("}" if char == "{" else "]", pos)
            low = magic[pos + 1 : end].partition("-")[0] or "0"
            out.append("00" * int(low))
            pos = end + 1
        elif char == "(":
            end = magic.index(")", pos)
            out.append(magic[pos + 1 : end].split("|")[0])
            pos = end + 1
        elif char == "*":
            pos += 1
        else:
            pair = magic[pos : pos + 2]
            out.append(pair.replace("?", "0"))
            pos += 2
    return "".join(out)


def test_required_literal_examples() -> None:
    assert required_literal("3c68746d6c3e") == b"<html>"
    assert required_literal("4d5a{60-300}50450000") == b"PE\x00\x00"
    assert required_literal("0a(46|66)726f6d3a20") == b"rom: "
    assert required_literal("(41|42)??") == b""
    assert required_literal("cafebabe0000003?") == b"\xca\xfe\xba\xbe\x00\x00\x00"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=1024), st.text(max_size=400).map(lambda t: t.encode("utf-8", "replace"))))
def test_body_typing_with_literals_equals_without(buf: bytes) -> None:
    plain = filetype._table(
        TABLE.fixed,
        tuple(filetype._Body(r.lo, r.span, r.from_eof, r.regex, r.rtype, r.ftype, b"") for r in TABLE.body),
    )
    for base in ("CL_TYPE_TEXT_ASCII", "CL_TYPE_BINARY_DATA"):
        assert filetype._body_type(TABLE, buf, len(buf), base) == filetype._body_type(
            plain, buf, len(buf), base
        )


def test_html_markers_in_text_still_type_as_html() -> None:
    page = b"hello <script>alert(1)</script>"
    assert filetype.identify(page) is FileType.HTML
    assert filetype.identify(page.decode().encode("utf-16-le")) is FileType.HTML_UTF16


def test_a_user_magic_table_is_built_once_per_rule_set() -> None:
    """Typing runs per layer; a database's .ftm rules must not rebuild (and recompile) the table each time."""
    from vigil.signatures.formats.ftm import MagicRule

    rules = (MagicRule(1, "*", "3c7669676c3e", "Vigil", FileType.ANY, FileType.HTML),)  # "<vigl>"
    table = filetype._table_for(rules)
    assert filetype._table_for(tuple(rules)) is table
    assert filetype.identify(b"text <vigl> text", rules) is FileType.HTML
    assert filetype.identify(b"text <vigl> text") is FileType.TEXT_ASCII
