"""`.ign`/`.ign2` lists: unit tests and a clamscan differential over the observed quirks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hash_oracle import Case, compare_cases, lines, needs_clamscan

from vigil.errors import SignatureError
from vigil.signatures.formats.ignore import IgnoreList, normalise_name, parse_ignore
from vigil.signatures.records import line_md5

DATA = b"ignore me please\n"
MD5 = hashlib.md5(DATA).hexdigest()
LINE = f"{MD5}:{len(DATA)}:I.Body"
ZERO = "0" * 32


def load(*texts: str) -> IgnoreList:
    return parse_ignore("x.ign2", list(enumerate(texts, start=1)))


def test_name_matches_exactly() -> None:
    ignores = load("I.Body")
    assert ignores.is_ignored("I.Body", LINE)
    for other in ("Body", "I.Bod", "i.body", "XI.Body", "I.Body "):
        assert not ignores.is_ignored(other, LINE)


def test_name_md5_pins_the_line() -> None:
    assert load(f"I.Body:{line_md5(LINE)}").is_ignored("I.Body", LINE)
    assert load(f"I.Body:{line_md5(LINE).upper()}").is_ignored("I.Body", LINE)
    assert not load(f"I.Body:{ZERO}").is_ignored("I.Body", LINE)


def test_legacy_form_uses_only_the_name() -> None:
    assert load("any.hdb:99:I.Body").is_ignored("I.Body", LINE)


def test_signature_names_are_normalised() -> None:
    assert normalise_name("X.UNOFFICIAL") == "X  "
    assert normalise_name("A.{x}") == "A  "
    assert normalise_name("Abcdef}") == "Abcdef}"
    assert normalise_name("AB") == "AB "
    assert load("X").is_ignored("X.UNOFFICIAL", "")
    assert not load("X.UNOFFICIAL").is_ignored("X.UNOFFICIAL", "")
    assert load("AB").is_ignored("AB ", "") and load("AB ").is_ignored("AB", "")


def test_last_entry_for_a_name_decides() -> None:
    assert not load("I.Body", f"I.Body:{ZERO}").is_ignored("I.Body", LINE)
    assert load(f"I.Body:{ZERO}", "I.Body:" + line_md5(LINE)).is_ignored("I.Body", LINE)


def test_md5_carries_over_to_later_plain_lines() -> None:
    """clamscan's stale pointer: a short plain line after NAME:MD5 inherits the old MD5."""
    ignores = load(f"I.Body:{line_md5(LINE)}", "B")
    assert not ignores.is_ignored("B", f"{MD5}:{len(DATA)}:B")
    with pytest.raises(SignatureError, match="Malformed MD5"):
        load(f"I.Body:{ZERO}", "I.Body")  # the new line's NUL lands on the old MD5's first byte


def test_short_name_with_md5_is_an_error() -> None:
    with pytest.raises(SignatureError, match="Malformed MD5"):
        load(f"AB:{ZERO}")


@pytest.mark.parametrize("text", ["", ":" + ZERO, "a:b:", "A:B:C:D", "I.Body:xyz", f"I.Body:{ZERO}0"])
def test_malformed_entries(text: str) -> None:
    with pytest.raises(SignatureError) as info:
        load("Fine", text)
    assert info.value.line == 2


def test_comments_are_skipped_and_empty_lists_are_falsy() -> None:
    assert not load("# just a comment")
    assert len(load("A1x", "B2y")) == 2


# --- differential ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ign-targets")
    (root / "t.bin").write_bytes(DATA)
    return root


def _cases() -> list[Case]:
    hdb = lines(LINE)
    good = line_md5(LINE)
    spec = {
        "name": ("x.ign2", lines("I.Body")),
        "name-suffix": ("x.ign2", lines("I.Body.UNOFFICIAL")),
        "substring": ("x.ign2", lines("Body")),
        "md5-right": ("x.ign2", lines(f"I.Body:{good}")),
        "md5-upper": ("x.ign2", lines(f"I.Body:{good.upper()}")),
        "md5-wrong": ("x.ign2", lines(f"I.Body:{ZERO}")),
        "legacy": ("x.ign", lines("zzz.ndb:7:I.Body")),
        "legacy-in-ign2": ("x.ign2", lines("a.hdb:1:I.Body")),
        "crlf": ("x.ign2", lines("I.Body", ending="\r\n")),
        "empty": ("x.ign2", b""),
        "blank": ("x.ign2", lines("")),
        "md5-then-plain": ("x.ign2", lines(f"Other.Sig:{good}", "I.Body")),
        "md5-then-short": ("x.ign2", lines(f"Other:{good}", "I.Body")),
        "plain-then-wrong": ("x.ign2", lines("I.Body", f"I.Body:{ZERO}")),
        "too-many": ("x.ign2", lines("a:b:c:I.Body")),
        "bad-md5": ("x.ign2", lines("I.Body:xyz")),
    }
    cases = [Case(f"ign-{k}", {"a.hdb": hdb, f: c}) for k, (f, c) in spec.items()]
    cases += [
        Case("ign-two-files-a", {"a.hdb": hdb, "x.ign2": lines("I.Body"), "y.ign2": lines(f"I.Body:{ZERO}")}),
        Case("ign-two-files-b", {"a.hdb": hdb, "x.ign2": lines(f"I.Body:{ZERO}"), "y.ign": lines("I.Body")}),
        Case("ign-after-db", {"a.hdb": hdb, "x.ign2": lines("I.Body")}, order=("a.hdb", "x.ign2")),
        Case("ign-before-db", {"a.hdb": hdb, "x.ign2": lines("I.Body")}, order=("x.ign2", "a.hdb")),
        Case(
            "ign-drops-fp",
            {"a.hdb": hdb, "b.fp": lines(f"{MD5}:{len(DATA)}:F.Allow"), "x.ign2": lines("F.Allow")},
        ),
        Case("ign-skips-bad-hash", {"a.hdb": lines(LINE, "nothex:5:Bad.Hash"), "x.ign2": lines("Bad.Hash")}),
        Case("ign-written-suffix", {"a.hdb": lines(f"{MD5}:{len(DATA)}:X.UNOFFICIAL"), "x.ign2": lines("X")}),
        Case("ign-short-name", {"a.hdb": lines(f"{MD5}:{len(DATA)}:AB"), "x.ign2": lines("AB ")}),
    ]
    return cases


@needs_clamscan
def test_ignore_lists_match_clamscan(targets: Path, tmp_path: Path) -> None:
    assert compare_cases(_cases(), targets, tmp_path) == []
