"""The database loader: paths, order, line rules, PUA gating, containers, the lazy suffix table."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.errors import DatabaseError, SignatureError
from vigil.signatures import loader
from vigil.signatures.formats import FORMATS, KNOWN_SUFFIXES, LazyParser, suffix_of
from vigil.signatures.formats.cvd import Container, CvdHeader
from vigil.signatures.loader import load_paths
from vigil.signatures.records import AllowHash, HashSig

MD5 = "6f5902ac237024bdd0c176cb93063dc4"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def names(loaded: loader.LoadedSignatures) -> list[str]:
    return [r.meta.reported for r in loaded.by_type().get(HashSig, []) if isinstance(r, HashSig)]


def test_directory_loads_sorted_and_not_recursively(tmp_path: Path) -> None:
    root = write(tmp_path / "db", {"b.hdb": f"{MD5}:12:B\n", "a.HDB": f"{MD5}:12:A\n", "z.txt": "junk\n"})
    write(root / "sub", {"c.hdb": f"{MD5}:12:C\n"})
    loaded = load_paths([str(root)])
    assert names(loaded) == ["A.UNOFFICIAL", "B.UNOFFICIAL"]
    assert [Path(f).name for f in loaded.files] == ["a.HDB", "b.hdb"]


def test_ignore_lists_load_first_in_reverse_name_order(tmp_path: Path) -> None:
    """clamscan loads y.ign2 before x.ign2, and the entry loaded last decides (both observed)."""
    wrong = "I.Body:" + "0" * 32 + "\n"
    plain_last = write(
        tmp_path / "one", {"a.hdb": f"{MD5}:12:I.Body\n", "x.ign2": "I.Body\n", "y.ign2": wrong}
    )
    assert names(load_paths([str(plain_last)])) == []
    pinned_last = write(
        tmp_path / "two", {"a.hdb": f"{MD5}:12:I.Body\n", "y.ign2": "I.Body\n", "x.ign2": wrong}
    )
    assert names(load_paths([str(pinned_last)])) == ["I.Body.UNOFFICIAL"]


def test_ignore_applies_only_to_later_paths(tmp_path: Path) -> None:
    write(tmp_path, {"a.hdb": f"{MD5}:12:N\n", "x.ign2": "N\n"})
    assert names(load_paths([str(tmp_path / "a.hdb"), str(tmp_path / "x.ign2")])) == ["N.UNOFFICIAL"]
    assert names(load_paths([str(tmp_path / "x.ign2"), str(tmp_path / "a.hdb")])) == []


def test_unknown_suffix_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, {"db.foo": f"{MD5}:12:N\n"})
    loaded = load_paths([str(tmp_path / "db.foo")])
    assert loaded.records == [] and "unknown extension" in loaded.warnings[0]


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({}, DatabaseError),
        ({"only.txt": "x\n"}, DatabaseError),
        ({"a.hdb": ""}, SignatureError),
        ({"a.hdb": f"{MD5}:12:A\n\n"}, SignatureError),
        ({"a.hdb": f"{MD5}:12:A\n\r\n"}, SignatureError),
    ],
)
def test_load_errors(tmp_path: Path, files: dict[str, str], error: type[Exception]) -> None:
    write(tmp_path, files)
    with pytest.raises(error):
        load_paths([str(tmp_path)])


def test_missing_path_and_directory_named_like_a_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError):
        load_paths([str(tmp_path / "missing.hdb")])
    (tmp_path / "sub.hdb").mkdir()
    with pytest.raises(DatabaseError):
        load_paths([str(tmp_path)])  # clamscan spins forever here; refusing is the useful reading


def test_line_rules(tmp_path: Path) -> None:
    write(tmp_path, {"a.hdb": f"#c\r\n{MD5}:12:A\r\r\n#\n{MD5}:12:B"})
    loaded = load_paths([str(tmp_path)])
    assert names(loaded) == ["A.UNOFFICIAL", "B.UNOFFICIAL"]
    origins = [str(r.meta.origin) for r in loaded.by_type()[HashSig] if isinstance(r, HashSig)]
    assert [o.rsplit(":", 1)[1] for o in origins] == ["2", "4"]


def test_pua_databases_are_not_read_without_detect_pua(tmp_path: Path) -> None:
    write(tmp_path, {"a.hdu": "\n", "b.hdb": f"{MD5}:12:B\n"})
    assert names(load_paths([str(tmp_path)])) == ["B.UNOFFICIAL"]
    with pytest.raises(SignatureError):
        load_paths([str(tmp_path)], detect_pua=True)


def test_counts_grouping_and_digest(tmp_path: Path) -> None:
    write(tmp_path, {"a.hdb": f"{MD5}:12:A\n{MD5}:13:B\n", "b.fp": f"{MD5}:12:F\n"})
    loaded = load_paths([str(tmp_path)])
    assert loaded.signature_count == 2 and loaded.official_count == 0
    grouped = loaded.by_type()
    assert len(grouped[HashSig]) == 2 and len(grouped[AllowHash]) == 1
    before = loaded.digest
    write(tmp_path, {"b.fp": f"{MD5}:14:F\n"})
    assert load_paths([str(tmp_path)]).digest != before
    assert load_paths([str(tmp_path)], official=True).official_count == 2


def test_container_members_go_through_the_same_dispatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = CvdHeader("now", 7, 2, 216, "", "", "tester", 1234)
    members = [
        ("COPYING", b"text"),
        ("t.info", b"x"),
        ("t.hdb", f"{MD5}:12:Cvd.Sig\n".encode()),
        ("t.ign2", b"Cvd.Gone\n"),
        ("u.hdb", f"{MD5}:13:Cvd.Gone\n".encode()),
    ]
    fake = Container(str(tmp_path / "t.cvd"), header, True, members)
    monkeypatch.setattr("vigil.signatures.formats.cvd.read_container", lambda path: fake)
    (tmp_path / "t.cvd").write_bytes(b"")
    loaded = load_paths([str(tmp_path / "t.cvd")])
    assert names(loaded) == ["Cvd.Sig"]  # official: no suffix; the ignore member applies to its siblings
    assert loaded.files[-1].endswith("t.cvd:u.hdb") and loaded.official_version == 7
    assert loaded.official_count == 1


def test_suffix_table_is_lazy_and_complete() -> None:
    assert all(isinstance(parser, LazyParser) for parser in FORMATS.values())
    for parser in FORMATS.values():
        assert isinstance(parser, LazyParser) and callable(parser.resolve())
    assert {
        ".hdb",
        ".hsb",
        ".mdb",
        ".msb",
        ".imp",
        ".fp",
        ".sfp",
        ".ftm",
        ".cdb",
        ".ign2",
        ".cud",
    } <= KNOWN_SUFFIXES
    assert ".info" not in KNOWN_SUFFIXES
    assert suffix_of("/x/daily.cvd:main.NDB") == ".ndb" and suffix_of("/a.b/c") == ""
