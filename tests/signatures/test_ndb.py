"""The `.ndb` line parser: fields, silent skips and errors that name file and line."""

from __future__ import annotations

import pytest

from vigil.errors import SignatureError
from vigil.signatures.formats.ndb import parse_ndb
from vigil.signatures.records import ParseContext


def parse(*lines: str, **kw: object) -> list:  # type: ignore[type-arg]
    return list(parse_ndb(enumerate(lines, start=1), ParseContext(file="x.ndb", **kw)))  # type: ignore[arg-type]


def test_fields_and_names() -> None:
    (sig,) = parse("H Space Name (Clam):1:EP+2,4:6865??6c6c")
    assert sig.meta.name == "H Space Name (Clam)" and sig.meta.reported == "H Space Name.UNOFFICIAL"
    assert sig.target == 1 and sig.offset.kind == "ep" and sig.offset.shift == 4
    assert sig.pattern.source == "6865??6c6c" and sig.meta.origin.line == 1


def test_silent_skips() -> None:
    assert parse("A:15:*:68", "B:0:*:686566:250", "C:0:*:686566:1:20", "D:16:*:686566") == []
    assert [s.meta.name for s in parse("A:0:*:686566:1:255", "B:0:*:686566:216")] == ["A", "B"]


def test_ignored_names_are_dropped() -> None:
    assert parse("A:0:*:686566", is_ignored=lambda name, line: name == "A") == []


def test_target_two_byte_static_is_fine_outside_target_0() -> None:
    assert len(parse("A:1:*:6865")) == 1
    with pytest.raises(SignatureError, match=r"x\.ndb:2: .*3 bytes"):
        parse("A:1:*:6865", "B:0:*:6865")


@pytest.mark.parametrize(
    "line",
    [
        "A:0:*",
        "A:0:*:686566:1:2:3",
        "A:x:*:686566",
        "A:0:*:686566:abc",
        ":0:*:686566",
        "A:0:EP+1:686566",
        "A:0:*:68*77",
        "A:0:10a:686566",
    ],
)
def test_errors_name_file_and_line(line: str) -> None:
    with pytest.raises(SignatureError) as info:
        parse("OK:0:*:686566", line)
    assert info.value.file == "x.ndb" and info.value.line == 2
