"""Logical expressions: clamscan's splitting rules, counts and the `,M` distinct rule (all measured)."""

from __future__ import annotations

import pytest

from vigil.signatures.logic import (
    Binary,
    Block,
    Count,
    LogicError,
    Ref,
    evaluate_logic,
    indices,
    parse_logic,
)


def test_top_level_splits_at_first_operator() -> None:
    assert parse_logic("0&1|2") == Binary("&", Ref(0), Binary("|", Ref(1), Ref(2)))


def test_block_splits_at_last_operator() -> None:
    block = parse_logic("(0&1|2&3)")
    assert block == Block(Binary("&", Binary("&", Ref(0), Binary("|", Ref(1), Ref(2))), Ref(3)))


def test_counts_and_whitespace() -> None:
    assert parse_logic(" (0|1)>2,3 ") == Block(Binary("|", Ref(0), Ref(1)), Count(">", 2, 3))
    assert parse_logic("0=5=4") == Ref(0, Count("=", 4))
    assert indices(parse_logic("(0|3)&1")) == frozenset({0, 1, 3})


@pytest.mark.parametrize(
    ("text", "counts", "expected"),
    [
        ("0&1|2", [1, 0, 1], True),
        ("0&1|2", [0, 0, 1], False),
        ("(0&1|2)", [0, 0, 1], True),
        ("0=4", [4], True),
        ("0=3", [4], False),
        ("0&1=0", [1, 0], True),
        ("(0|1)=3,2", [2, 1], True),
        ("(0|1)>2,3", [2, 1], False),
        ("(0|1)=5,1", [4, 1], True),
        ("(0&1)>0", [4, 0], False),  # a false node contributes no matches
        ("(0=3|1)=5", [4, 1], False),
        ("(0=4|1)=5", [4, 1], True),
        ("((0&1)|2)=1", [4, 0, 1], True),
        ("(0|1=0)=4,2", [4, 0], True),  # a true `1=0` counts as a distinct subsignature
        ("(0|1)>0,2", [4, 0], False),
        ("(0|1)=0", [0, 0], True),
        ("(0|0)=8", [4], True),
        ("0=4,2", [4], True),  # `,M` is ignored on a leaf
    ],
)
def test_evaluation(text: str, counts: list[int], expected: bool) -> None:
    assert evaluate_logic(parse_logic(text), counts) is expected


_BAD = ["0&", "&0", "0&&1", "()", "a", "0=", "!0", "(0&1", "0&1)", "(0)=4", "((0|1)=5)>0"]


@pytest.mark.parametrize("text", _BAD)
def test_rejected(text: str) -> None:
    with pytest.raises(LogicError):
        parse_logic(text)
