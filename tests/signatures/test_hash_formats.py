"""Hash-family parsers: unit tests and a differential run against clamscan 1.4.6."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hash_oracle import Case, compare_cases, lines, needs_clamscan

from vigil.errors import SignatureError
from vigil.signatures.formats.hashes import c_atoi, parse_fp, parse_hdb, parse_imp, parse_mdb
from vigil.signatures.records import AllowHash, HashScope, HashSig, ParseContext
from vigil.types import HashAlgo

TARGETS = {f"t{i}.bin": f"target number {i}\n".encode() * (i + 1) for i in range(12)}


def md5(name: str) -> str:
    return hashlib.md5(TARGETS[name]).hexdigest()


def sha1(name: str) -> str:
    return hashlib.sha1(TARGETS[name]).hexdigest()


def sha256(name: str) -> str:
    return hashlib.sha256(TARGETS[name]).hexdigest()


def size(name: str) -> int:
    return len(TARGETS[name])


def parse(parser, *texts: str, ignored=None) -> list[object]:  # type: ignore[no-untyped-def]
    ctx = ParseContext("db.hdb")
    if ignored is not None:
        ctx.is_ignored = ignored
    return list(parser(list(enumerate(texts, start=1)), ctx))


# --- unit tests -------------------------------------------------------------------------------------


def test_algorithm_comes_from_hash_length_not_suffix() -> None:
    sigs = parse(parse_hdb, f"{md5('t0.bin')}:10:A", f"{sha1('t0.bin')}:10:B", f"{sha256('t0.bin')}:10:C")
    assert [s.algo for s in sigs if isinstance(s, HashSig)] == [HashAlgo.MD5, HashAlgo.SHA1, HashAlgo.SHA256]
    first = sigs[0]
    assert isinstance(first, HashSig)
    assert first.digest == bytes.fromhex(md5("t0.bin")) and first.size == 10
    assert first.meta.reported == "A.UNOFFICIAL" and str(first.meta.origin) == "db.hdb:1"


def test_mdb_is_size_first_and_scoped_to_sections() -> None:
    (sig,) = parse(parse_mdb, "512:23db1dd3f77fae25610b6a32701313ae:M.Sec")
    assert isinstance(sig, HashSig)
    assert sig.scope is HashScope.PE_SECTION and sig.size == 512
    assert sig.digest.hex() == "23db1dd3f77fae25610b6a32701313ae"


def test_imp_parses_and_allows_star_without_level() -> None:
    sigs = parse(
        parse_imp, "98c88d882f01a3f6ac1e5f7dfd761624:39:I.Imp", "98c88d882f01a3f6ac1e5f7dfd761624:*:I.Star"
    )
    assert [(s.scope, s.size) for s in sigs if isinstance(s, HashSig)] == [
        (HashScope.PE_IMPORT, 39),
        (HashScope.PE_IMPORT, None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "6f5902ac237024bdd0c176cb93063dc4:0:A",
        "6f5902ac237024bdd0c176cb93063dc4:*:A",
        "6f5902ac237024bdd0c176cb93063dc4:*:A:72",
        "6f5902ac237024bdd0c176cb93063dc4:12 :A",
        "6f5902ac237024bdd0c176cb93063dc4:-1:A",
        "6f5902ac237024bdd0c176cb93063dc4:4294967295:A",
        "6f5902ac237024bdd0c176cb93063dc4:12:",
        "6f5902ac237024bdd0c176cb93063dc4:12",
        "6f5902ac237024bdd0c176cb93063dc4:12:A:1:300:x",
        "6f5902ac237024bdd0c176cb93063dcg:12:A",
        " 6f5902ac237024bdd0c176cb93063dc4:12:A",
    ],
)
def test_malformed_lines_name_file_and_line(text: str) -> None:
    with pytest.raises(SignatureError) as info:
        parse(parse_hdb, "6f5902ac237024bdd0c176cb93063dc4:12:Good", text)
    assert info.value.file == "db.hdb" and info.value.line == 2


def test_level_check_comes_before_every_other_check() -> None:
    assert parse(parse_hdb, "6f5902ac237024bdd0c176cb93063dc4:0:A:300", "zz:0::1:5") == []


def test_ignore_check_comes_before_the_hash_but_after_the_size() -> None:
    assert parse(parse_hdb, "nothex:12:Gone", ignored=lambda name, line: name == "Gone") == []
    with pytest.raises(SignatureError):
        parse(parse_hdb, "6f5902ac237024bdd0c176cb93063dc4:0:Gone", ignored=lambda name, line: True)


def test_ignore_check_sees_name_and_whole_line() -> None:
    seen: list[tuple[str, str]] = []
    parse(
        parse_hdb,
        "6f5902ac237024bdd0c176cb93063dc4:12:N:1",
        ignored=lambda n, t: seen.append((n, t)) or False,
    )
    assert seen == [("N", "6f5902ac237024bdd0c176cb93063dc4:12:N:1")]


@pytest.mark.parametrize(
    ("levels", "loads"),
    [
        (":216:216", True),
        (":x", True),
        (":", True),
        ("::", False),
        (":1:", False),
        (":-1", False),
        (":1:-1", True),
        (": 5x", True),
        (":217", False),
        (":1:215", False),
    ],
)
def test_levels_read_like_c_atoi(levels: str, loads: bool) -> None:
    assert bool(parse(parse_hdb, f"6f5902ac237024bdd0c176cb93063dc4:12:A{levels}")) is loads


@pytest.mark.parametrize(
    ("size", "value"), [("012", 12), ("+12", 12), (" 12", 12), ("4294967294", 4294967294)]
)
def test_sizes_read_like_strtoul(size: str, value: int) -> None:
    (sig,) = parse(parse_hdb, f"6f5902ac237024bdd0c176cb93063dc4:{size}:A")
    assert isinstance(sig, HashSig) and sig.size == value


def test_c_atoi() -> None:
    assert [c_atoi(t) for t in ("73", " 73x", "x", "", "-4", "+9")] == [73, 73, 0, 0, -4, 9]


def test_fp_yields_allow_entries_and_still_needs_a_name() -> None:
    (allow,) = parse(parse_fp, f"{sha256('t1.bin')}:*:ignored:73")
    assert isinstance(allow, AllowHash) and allow.algo is HashAlgo.SHA256 and allow.size is None
    with pytest.raises(SignatureError):
        parse(parse_fp, f"{md5('t1.bin')}:10:")
    assert parse(parse_fp, f"{md5('t1.bin')}:10:F", ignored=lambda n, t: n == "F") == []


# --- differential against clamscan --------------------------------------------------------------------


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("targets")
    for name, data in TARGETS.items():
        (root / name).write_bytes(data)
    return root


def _matching_cases() -> list[Case]:
    hdb = lines(
        f"{md5('t0.bin')}:{size('t0.bin')}:H.Md5",
        f"{md5('t1.bin')}:{size('t1.bin') + 1}:H.WrongSize",
        f"{sha1('t2.bin')}:{size('t2.bin')}:H.Sha1InHdb",
        f"{sha256('t3.bin')}:{size('t3.bin')}:H.Sha256InHdb",
        f"{md5('t4.bin')}:*:H.Star73:73",
        f"{md5('t5.bin')}:{size('t5.bin')}:H.Fl250:250",
        f"{md5('t5.bin')}:{size('t5.bin')}:H.Fl1to20:1:20",
        f"{md5('t6.bin').upper()}:{size('t6.bin')}:H.Upper",
        f"{md5('t7.bin')}:{size('t7.bin')}:H.First",
        f"{md5('t7.bin')}:{size('t7.bin')}:H.Second",
        f"{md5('t8.bin')}:{size('t8.bin')}:H Space Name",
        f"{md5('t9.bin')}:{size('t9.bin')}:H.Clam (Clam)",
        f"{md5('t10.bin')}:{size('t10.bin')}:H.Exact:216:216",
    )
    hsb = lines(f"{md5('t11.bin')}:{size('t11.bin')}:S.Md5InHsb", f"{sha256('t1.bin')}:*:S.Star:73")
    return [
        Case("hdb-and-hsb", {"a.hdb": hdb, "b.hsb": hsb}),
        Case(
            "crlf-and-comments",
            {"a.hdb": b"# comment\r\n" + lines(f"{md5('t0.bin')}:{size('t0.bin')}:C.Crlf", ending="\r\r\n")},
        ),
        Case(
            "dup-across-files",
            {
                "b.hdb": lines(f"{md5('t0.bin')}:{size('t0.bin')}:D.B"),
                "a.hdb": lines(f"{md5('t0.bin')}:{size('t0.bin')}:D.A"),
            },
        ),
        Case(
            "dup-by-d-order",
            {
                "b.hdb": lines(f"{md5('t0.bin')}:{size('t0.bin')}:D.B"),
                "a.hdb": lines(f"{md5('t0.bin')}:{size('t0.bin')}:D.A"),
            },
            order=("b.hdb", "a.hdb"),
        ),
        Case(
            "fp-clears-hdb",
            {
                "a.hdb": hdb,
                "b.fp": lines(f"{md5('t0.bin')}:{size('t0.bin')}:x", f"{sha256('t2.bin')}:*:y:73"),
            },
        ),
        Case("sfp-wrong-size", {"a.hdb": hdb, "b.sfp": lines(f"{sha1('t0.bin')}:{size('t0.bin') + 1}:x")}),
        Case(
            "skipped-bad-lines",
            {
                "a.hdb": lines(
                    f"{md5('t0.bin')}:0:Sk.Size:300",
                    f"zz{md5('t0.bin')}:1:Sk.Hash:1:2",
                    f"{md5('t0.bin')}:{size('t0.bin')}:Sk.Ok",
                )
            },
        ),
        Case("pua-off", {"a.hdu": lines(f"{md5('t0.bin')}:{size('t0.bin')}:P.Pua"), "b.hdb": hdb}),
        Case("pua-broken-off", {"a.hdu": b"\n", "b.hdb": hdb}),
        Case(
            "pua-on",
            {
                "a.hdu": lines(
                    f"{md5('t0.bin')}:{size('t0.bin')}:P.Pua", f"{md5('t1.bin')}:{size('t1.bin')}:P.Pua2"
                )
            },
            detect_pua=True,
        ),
        Case("unknown-suffix-ignored", {"a.hdb": hdb, "z.txt": b"garbage\n", "y.info": b"x\n"}),
        Case("upper-suffix", {"A.HDB": hdb}),
        Case("comment-only", {"a.hdb": b"# nothing\n", "b.hsb": hsb}),
    ]


def _error_cases() -> list[Case]:
    m = md5("t0.bin")
    bad = [
        f"{m}:0:E.Size0",
        f"{m}:*:E.Star",
        f"{m}:*:E.Star72:72",
        f"{m}:-1:E.Neg",
        f"{m}:12x:E.Junk",
        f"{m}:4294967295:E.Big",
        f"{m}: :E.Blank",
        f"{m}::E.Empty",
        f"{m}:12:",
        f"{m}:12",
        m,
        f"{m}:12:E:1:300:x",
        f"{m[:-1]}g:12:E.Nonhex",
        f"{m[:-1]}:12:E.Short",
        f"{m}0:12:E.Long",
        f" {m}:12:E.Lead",
        "",
        f"{m}:*:E.Starx:x",
    ]
    cases = [
        Case(f"bad-hdb-{i}", {"a.hdb": lines(f"{md5('t1.bin')}:{size('t1.bin')}:OK.Sig", text)})
        for i, text in enumerate(bad)
    ]
    cases += [
        Case("bad-mdb-star", {"a.mdb": lines(f"*:{m}:E.Mstar")}),
        Case("bad-fp-star", {"a.fp": lines(f"{m}:*:E.FpStar")}),
        Case("bad-fp-noname", {"a.fp": lines(f"{m}:12:")}),
        Case("bad-sfp-hash", {"a.sfp": lines(f"{m}x:12:F")}),
        Case("bad-imp-size0", {"a.imp": lines(f"{m}:0:I")}),
        Case("empty-hdb", {"a.hdb": b""}),
        Case("empty-fp", {"a.fp": b""}),
        Case("blank-last-line", {"a.hdb": lines(f"{m}:12:A", "")}),
        Case("cr-only-line", {"a.hdb": lines(f"{m}:12:A", "\r")}),
        Case("empty-dir", {}),
        Case("missing-path", {"a.hdb": lines(f"{m}:12:A")}, order=("nope.hdb",)),
        Case("pua-broken-on", {"a.hdu": b"\n"}, detect_pua=True),
    ]
    return cases


@needs_clamscan
def test_hash_databases_match_clamscan(targets: Path, tmp_path: Path) -> None:
    problems = compare_cases(_matching_cases() + _error_cases(), targets, tmp_path)
    assert problems == []


def test_error_cases_are_errors_for_vigil(targets: Path, tmp_path: Path) -> None:
    """Without clamscan: every case above that clamscan rejects must fail Vigil's load too."""
    from hash_oracle import LOAD_ERROR, _paths, vigil_outcome

    for i, case in enumerate(_error_cases()):
        outcome = vigil_outcome(_paths(case, tmp_path / f"c{i}"), targets, case.detect_pua)
        assert outcome.verdicts == ((LOAD_ERROR, LOAD_ERROR),), case.label
