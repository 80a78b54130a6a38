"""The record codec writes a field equal to its designated sibling (a static pattern's prefilter, which
is its regex) as a reference, and reads it back as the same value; a dangling reference is a corrupt
record, never a crash or a wrong pattern."""

from __future__ import annotations

import json

import pytest

from vigil.errors import DatabaseError
from vigil.signatures import codec
from vigil.signatures.formats.ndb import parse_ndb
from vigil.signatures.records import ParseContext


def _body(line: str):  # type: ignore[no-untyped-def]
    (sig,) = parse_ndb([(1, line)], ParseContext("x.ndb"))
    return sig


def _round_trip(value: object) -> tuple[object, str]:
    blob, offsets = codec.dumps_lines([value])
    return codec.loads_one(blob, offsets[0], offsets[1]), blob.decode()


def test_a_static_pattern_stores_its_regex_once() -> None:
    sig = _body("Static:0:*:68656c6c6f20776f726c64")
    assert sig.pattern.prefilter == sig.pattern.regex
    back, text = _round_trip(sig)
    assert back == sig
    assert '"prefilter":{"=":"regex"}' in text
    assert text.count(json.dumps(codec.encode(sig.pattern.regex), separators=(",", ":"))) == 1


def test_a_wildcard_pattern_keeps_both() -> None:
    sig = _body("Wild:0:*:68656c6c6f*776f726c64")
    assert sig.pattern.prefilter != sig.pattern.regex
    back, text = _round_trip(sig)
    assert back == sig and '{"="' not in text


def test_a_dangling_reference_is_a_corrupt_record() -> None:
    _, text = _round_trip(_body("Static:0:*:68656c6c6f20776f726c64"))
    broken = text.replace('{"=":"regex"}', '{"=":"nowhere"}').encode()
    with pytest.raises(DatabaseError, match="corrupt cached record"):
        codec.loads_one(broken, 0, len(broken))
