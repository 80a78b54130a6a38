"""Hex pattern syntax -> matching behaviour, and hyperscan compatibility of every prefilter."""

from __future__ import annotations

import re

import hyperscan
import pytest
from ndb_cases import GOOD_SIGS, TARGETS

from vigil.signatures.hexpattern import Modifiers, PatternError, parse_hex

FLAGS = hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_SINGLEMATCH


def hits(hexsig: str, buf: bytes, **kw: object) -> bool:
    regex = re.compile(parse_hex(hexsig, **kw).regex, re.DOTALL)  # type: ignore[arg-type]
    return any(regex.match(buf, pos) for pos in range(len(buf)))


def prefilter_hits(expr: bytes, buf: bytes) -> bool:
    db = hyperscan.Database()
    db.compile(expressions=[expr], ids=[0], flags=[FLAGS])
    found: list[int] = []
    db.scan(buf, match_event_handler=lambda *a: found.append(1))
    return bool(found)


@pytest.mark.parametrize(
    ("hexsig", "buf", "expected"),
    [
        ("6865??6c", b"xhe_l", True),
        ("6?6f6f", b"ooo", True),
        ("?0616263", b"oabc", False),
        ("6865*6c6c", b"he....ll", True),
        ("6c6c*6865", b"he....ll", False),
        ("6865{2-3}6c6c", b"he__ll", True),
        ("6865{2-3}6c6c", b"he____ll", False),
        ("6865{0}6c6c", b"he______ll", True),
        ("6865(41|42)6c", b"heBl", True),
        ("6865!(41|42)6c", b"heBl", False),
        ("6865!(41|42)6c", b"heCl", True),
        ("6865!(4142|4344)6c", b"heABl", False),
        ("6865!(4142|4344)6c", b"heAAl", True),
        ("6865(41|4243)6c", b"heBCl", True),
        ("68[1-3]656c6c", b"h___ell", True),
        ("68[1-3]656c6c", b"h____ell", False),
        ("666f6f(B)", b"foo,", False),
        ("666f6f(B)", b"foo_", True),
        ("666f6f(B)", b"foo", True),
        ("(L)666f6f", b"\nfoo", True),
        ("(L)666f6f", b"\rfoo", False),
        ("666f6f(L)", b"foo\r\n", True),
        ("666f6f(L)", b"foo\r", False),
        ("6f6f(W)6f6f", b"oo,oo", True),
        ("6f6f(W)6f6f", b"ooxoo", False),
        ("!(B)616263", b"xabc", True),
        ("!(B)616263", b"abc", False),
        ("616263!(W)", b"abcd", True),
    ],
)
def test_syntax_matching(hexsig: str, buf: bytes, expected: bool) -> None:
    assert hits(hexsig, buf) is expected
    if expected:
        assert prefilter_hits(parse_hex(hexsig).prefilter, buf)


def test_modifiers() -> None:
    assert hits("68656c6c6f", b"HeLLo", modifiers=Modifiers(nocase=True))
    assert not hits("68656c6c6f", b"HeLLo")
    assert hits("6865", b"h\x00e\x00", strict=False, modifiers=Modifiers(wide=True))
    assert not hits("6865", b"he", strict=False, modifiers=Modifiers(wide=True))
    both = Modifiers(wide=True, ascii=True)
    assert hits("6865", b"he", strict=False, modifiers=both)
    assert hits("6865", b"h\x00e\x00", strict=False, modifiers=both)
    full = Modifiers(fullword=True)
    assert hits("666f6f", b"x foo_bar", modifiers=full)
    assert not hits("696e6532", b"line2", modifiers=full)
    assert parse_hex("6865??", strict=False, modifiers=Modifiers(wide=True)).min_length == 5


def test_strictness_and_min_length() -> None:
    with pytest.raises(PatternError, match="3 bytes"):
        parse_hex("6865")
    assert parse_hex("6865", strict=False).min_length == 2
    assert parse_hex("6865{3-5}6c6c(41|4243)").min_length == 8


@pytest.mark.parametrize(
    "bad", ["68*77", "41?36?3?35?76a", "6865 6c", "68656", "!(41|4243)4445", "68[1-40]6566"]
)
def test_rejections_raise_pattern_error(bad: str) -> None:
    with pytest.raises(PatternError):
        parse_hex(bad, strict=False)


def test_every_prefilter_compiles_and_is_a_superset() -> None:
    patterns = [parse_hex(h.split(":")[0], strict=False) for _, _, _, h in GOOD_SIGS]
    db = hyperscan.Database()
    db.compile(
        expressions=[p.prefilter for p in patterns],
        ids=list(range(len(patterns))),
        flags=[FLAGS] * len(patterns),
    )
    for name, buf in TARGETS.items():
        found: set[int] = set()
        db.scan(buf, match_event_handler=lambda i, *a, found=found: found.add(i))
        for i, p in enumerate(patterns):
            if re.compile(p.regex, re.DOTALL).search(buf):
                assert i in found, (name, p.source)


def test_long_gaps_stay_fast() -> None:
    pattern = parse_hex("6865*6c6c*6f6f{5000-}7a7a")
    assert prefilter_hits(pattern.prefilter, b"he ll oo" + b"_" * 5000 + b"zz")
    assert hits("6865*6c6c*6f6f{5-}7a7a", b"he ll oo" + b"_" * 50 + b"zz")
