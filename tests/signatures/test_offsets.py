"""Offset parsing and the start-position window for every offset form."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.exeinfo import ExecInfo, Section
from vigil.signatures.offsets import Offset, OffsetError, parse_offset

EXE = ExecInfo(entry_offset=0x300, sections=(Section(0x200, 0x100), Section(0x400, 0x80)))


@pytest.mark.parametrize(
    ("text", "target", "size", "exe", "window"),
    [
        ("*", 0, 100, None, (0, 100)),
        ("10", 0, 100, None, (10, 10)),
        ("7,3", 0, 100, None, (7, 10)),
        ("10,", 0, 100, None, (10, 10)),
        ("200", 0, 100, None, None),
        ("EOF-6", 0, 100, None, (94, 94)),
        ("EOF-8,2", 0, 100, None, (92, 94)),
        ("EOF-0", 0, 100, None, None),
        ("EOF-200", 0, 100, None, None),
        ("EP+4", 1, 0x1000, EXE, (0x304, 0x304)),
        ("EP-3,3", 1, 0x1000, EXE, (0x2FD, 0x300)),
        ("EP+0", 1, 0x1000, None, None),
        ("EP+0", 1, 0x1000, ExecInfo(entry_offset=None), None),
        ("S1+4", 1, 0x1000, EXE, (0x404, 0x404)),
        ("S2+0", 1, 0x1000, EXE, None),
        ("SE0", 1, 0x1000, EXE, (0x200, 0x300)),
        ("SL+2,5", 1, 0x1000, EXE, (0x402, 0x407)),
        ("$12$", 0, 100, None, None),
        ("VI", 1, 100, EXE, None),
    ],
)
def test_window(
    text: str, target: int, size: int, exe: ExecInfo | None, window: tuple[int, int] | None
) -> None:
    assert parse_offset(text, target).window(size, exe) == window


def test_parsed_fields() -> None:
    assert parse_offset("S3+7,2", 1) == Offset("sec", 3, 2, 7)
    assert parse_offset("EP-5", 6) == Offset("ep", -5)
    assert parse_offset("$12", 0) == Offset("macro", 12)
    assert parse_offset("*", 0).anywhere and not parse_offset("0", 0).anywhere


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("EP+0", 0),
        ("EP+0", 2),
        ("S0+1", 0),
        ("SL+1", 7),
        ("SE0", 0),
        ("VI", 0),
        ("S0-3", 1),
        ("EP+-3", 1),
        ("EOF+3", 0),
        ("-1", 0),
        ("10,-1", 0),
        ("*,5", 0),
        ("x", 0),
        ("EOF", 0),
        ("SL", 1),
        ("", 0),
    ],
)
def test_rejected(text: str, target: int) -> None:
    with pytest.raises(OffsetError):
        parse_offset(text, target)


def test_the_executable_is_parsed_only_for_offsets_that_need_it(tmp_path: Path) -> None:
    """Parsing a PE or ELF costs milliseconds; a `*`, absolute or EOF offset must not ask for it."""
    from vigil.signatures import load_database

    (tmp_path / "x.ndb").write_text(
        "Any.Sig:1:*:6d61726b6572\nAbs.Sig:1:4:6d61726b6572\nEof.Sig:1:EOF-6:6d61726b6572\n"
        "Ep.Sig:1:EP+0:6d61726b6572\n"
    )
    db = load_database([str(tmp_path)], cache=False)
    buf = b"....marker"
    asked: list[str] = []

    def facts() -> ExecInfo | None:
        asked.append("exe")
        return ExecInfo(entry_offset=4, sections=())

    found = {db.bodies[e].meta.name: db.content.first(e, buf, facts) for e in range(4)}
    assert found["Any.Sig"] == found["Abs.Sig"] == found["Eof.Sig"] == found["Ep.Sig"] == (4, 10)
    assert asked == ["exe"]  # once, for the EP offset
