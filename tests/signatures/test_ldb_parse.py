"""`.ldb` parser: records, load errors (SignatureError naming file and line) and silent skips."""

from __future__ import annotations

import pytest

from vigil.errors import SignatureError
from vigil.signatures.formats.ldb import (
    ByteCompareSub,
    ContentSub,
    LogicalSig,
    MacroSub,
    PcreSub,
    TargetDescription,
    c_int,
    parse_ldb,
)
from vigil.signatures.records import ParseContext
from vigil.types import FileType


def _load(*lines: str, ctx: ParseContext | None = None) -> list[LogicalSig]:
    return list(parse_ldb(enumerate(lines, start=1), ctx or ParseContext(file="t.ldb")))


def test_content_subsigs_with_offsets_and_modifiers() -> None:
    (sig,) = _load("L.x;Target:0;0&1;10:68656c6c6f::i;EOF-3:656e64")
    assert sig.meta.reported == "L.x.UNOFFICIAL"
    first, second = sig.subsigs
    assert isinstance(first, ContentSub) and first.offset.kind == "abs" and first.offset.value == 10
    assert isinstance(second, ContentSub) and second.offset.kind == "eof"


def test_target_description() -> None:
    line = (
        "T;Engine:51-255,Target:1,FileSize:1-99,EntryPoint:0-10,NumberOfSections:1-3,"
        "Container:CL_TYPE_ZIP,Intermediates:CL_TYPE_ANY>CL_TYPE_GZ;0;414141"
    )
    (sig,) = _load(line)
    assert sig.tdb == TargetDescription(
        target=1,
        engine=(51, 255),
        file_size=(1, 99),
        entry_point=(0, 10),
        number_of_sections=(1, 3),
        container=FileType.ZIP,
        intermediates=(FileType.ANY, FileType.GZ),
    )


def test_pcre_byte_compare_and_macro() -> None:
    (sig,) = _load("P;Target:0;0&1&2&3;414141;22,6:0/(?<n>hel)+lo\\x3B/gre;0(<<2#hb4#=0x1f,>1);${1-2}12$")
    pcre, bcomp, macro = sig.subsigs[1:]
    assert isinstance(pcre, PcreSub) and pcre.flags == "gre" and pcre.offset is not None
    assert pcre.regex == b"(?P<n>hel)+lo\\x3B"
    assert bcomp == ByteCompareSub(0, True, 2, "h", "b", False, 4, (("=", 31), (">", 1)))
    assert macro == MacroSub(1, 2, 12)


def test_pcre_ungreedy_and_dollar_translation() -> None:
    (sig,) = _load("U;Target:0;0&1;414141;0/a+b*?[+*]c{2}$/UE")
    pcre = sig.subsigs[1]
    assert isinstance(pcre, PcreSub) and pcre.regex == b"a+?b*[+*]c{2}?\\Z"


def test_c_int_reads_like_strtol() -> None:
    assert (c_int("0x1f"), c_int("017"), c_int(" -5"), c_int("0")) == (31, 15, -5, 0)


@pytest.mark.parametrize(
    "line",
    [
        "S;Engine:51-255,Target:0,Foo:1;0;414141",
        "S;Target:0,Foo:1;0;414141",
        "S;Engine:51-255,Target:0,Container:CL_TYPE_BOGUS;0;414141",
        "S;Target:15;0;414141",
        "S;Engine:300-400,Target:0;0;414141",
    ],
)
def test_silent_skips(line: str) -> None:
    assert _load(line) == []


def test_flevel_comes_from_the_context() -> None:
    assert len(_load("S;Engine:300-400,Target:0;0;414141", ctx=ParseContext(file="t.ldb", flevel=350))) == 1


@pytest.mark.parametrize(
    "line",
    [
        "B;Target:0;0;414141;414141",  # extra subsignature
        "B;Target:0;64;" + ";".join(["414141"] * 65),
        "B;Target:0,Engine:51-255;0;414141",
        "B;Target:0,FileSize:1-2;0;414141",
        "B;Engine:51-255;0;414141",
        "B;Engine:51-255,Target:0,FileSize:5;0;414141",
        "B;Engine:300-400,Target:0;0;414141;414141",  # the count check comes before the Engine skip
        "B;Target:0;0;6e",
        "B;Target:0;0&1;414141;1/x/",
        "B;Target:0;0&1;414141;0(>>4#ib3#=1)",
    ],
)
def test_load_errors_name_file_and_line(line: str) -> None:
    with pytest.raises(SignatureError) as info:
        _load("OK;Target:0;0;414141", line)
    assert info.value.file == "t.ldb" and info.value.line == 2
