"""Large hash databases load through columns (HashBatch), a whole-file regex pass and, for a big
directory, a helper process; every path must give the same index as the line-by-line parser."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vigil.errors import SignatureError
from vigil.signatures import hashload, load_database
from vigil.signatures.formats.hashes import parse_hdb
from vigil.signatures.loader import Source, _lines
from vigil.signatures.records import HashSig, ParseContext, SigMeta
from vigil.types import HashAlgo, Origin


def _line(i: int, algo: str = "md5") -> str:
    digest = hashlib.new(algo, b"%d" % i).hexdigest()
    return f"{digest}:{100 + i % 7}:Test.{algo}.{i % 50}"


def _write_db(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    md5 = [_line(i) for i in range(count)]
    md5[5] = md5[3].rsplit(":", 1)[0] + ":Dup.Later"  # same hash and size: the later line wins
    (root / "a.hdb").write_text("\n".join(md5) + "\n")
    (root / "b.hsb").write_text("\n".join(_line(i, "sha256") for i in range(count)) + "\n")
    (root / "c.ndb").write_text("Body.One:0:*:41424344454647\n")


def _reference(root: Path) -> dict[tuple[HashAlgo, bytes, int], str]:
    """Every (algo, digest, size) -> reported name, from the plain per-line parser, later lines last."""
    expected: dict[tuple[HashAlgo, bytes, int], str] = {}
    for path in sorted(root.glob("*.h?b")):
        source = Source(str(path), path.suffix, path.read_bytes(), False)
        for sig in parse_hdb(_lines(source), ParseContext(str(path))):
            assert isinstance(sig, HashSig) and sig.size is not None
            expected[(sig.algo, sig.digest, sig.size)] = sig.meta.reported
    return expected


def _check(db_root: Path, db_dir: Path) -> None:
    db = load_database([str(db_dir)], cache=False)
    for (algo, digest, size), name in _reference(db_root).items():
        hits = db.hashes.file.lookup(algo, digest, size)
        assert [h.reported for h in hits] == [name], (algo, digest.hex(), size)
    assert len(db.bodies) == 1


def test_bulk_columns_equal_the_line_parser(tmp_path: Path) -> None:
    _write_db(tmp_path / "db", 3000)
    _check(tmp_path / "db", tmp_path / "db")


def test_helper_process_gives_the_same_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashload, "MIN_BYTES", 1)
    started: list[object] = []
    real_start = hashload.start
    monkeypatch.setattr(hashload, "start", lambda *a: started.append(real_start(*a)) or started[-1])
    _write_db(tmp_path / "db", 3000)
    _check(tmp_path / "db", tmp_path / "db")
    assert started and started[0] is not None  # the helper really ran


def test_helper_reports_a_bad_line_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashload, "MIN_BYTES", 1)
    _write_db(tmp_path / "db", 50)
    with (tmp_path / "db" / "b.hsb").open("a") as fh:
        fh.write("nothex:12:Broken\n")
    with pytest.raises(SignatureError) as caught:
        load_database([str(tmp_path / "db")], cache=False)
    assert caught.value.file.endswith("b.hsb") and caught.value.line == 51


def test_mixed_plain_and_checked_lines_keep_their_names(tmp_path: Path) -> None:
    """A `*`-size line goes through the checked parser between plain-line batches; ids must not clash."""
    root = tmp_path / "db"
    root.mkdir()
    (root / "m.hdb").write_text(
        f"{'a' * 32}:5:Plain.One\n{'b' * 32}:*:Star.Two:73\n{'c' * 32}:7:Plain.Three\n"
    )
    db = load_database([str(root)], cache=False)
    found = {
        digest: [m.reported for m in db.hashes.file.lookup(HashAlgo.MD5, bytes.fromhex(digest * 32), size)]
        for digest, size in (("a", 5), ("b", 99), ("c", 7))
    }
    assert found == {
        "a": ["Plain.One.UNOFFICIAL"], "b": ["Star.Two.UNOFFICIAL"], "c": ["Plain.Three.UNOFFICIAL"]
    }


def test_helper_keeps_load_order_across_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two .hdb files indexed by the helper: a hash listed in both reports the later file's line, as a
    single-process load does."""
    monkeypatch.setattr(hashload, "MIN_BYTES", 1)
    root = tmp_path / "db"
    root.mkdir()
    shared = hashlib.md5(b"shared").hexdigest()
    first = [_line(i) for i in range(2000)] + [f"{shared}:9:First.File"]
    second = [f"{shared}:9:Second.File"] + [_line(i + 5000) for i in range(2000)]
    (root / "a.hdb").write_text("\n".join(first) + "\n")
    (root / "b.hdb").write_text("\n".join(second) + "\n")
    (root / "c.ndb").write_text("Body.One:0:*:41424344454647\n")
    b = str(root / "b.hdb")
    _check(root, root)
    db = load_database([str(root)], cache=False)
    (hit,) = db.hashes.file.lookup(HashAlgo.MD5, bytes.fromhex(shared), 9)
    assert (hit.reported, hit.origin.file, hit.origin.line) == ("Second.File.UNOFFICIAL", b, 1)
    assert [m.reported for m in db.hashes.file.lookup(HashAlgo.MD5, hashlib.md5(b"7").digest(), 100)] == [
        "Test.md5.7.UNOFFICIAL"
    ]


def test_a_helper_that_dies_is_replaced_by_loading_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the helper cannot deliver (here: an interpreter that exits at once), the hash files are
    indexed in this process and the database is the same."""
    monkeypatch.setattr(hashload, "MIN_BYTES", 1)
    monkeypatch.setattr(hashload.sys, "executable", "/bin/false")
    _write_db(tmp_path / "db", 500)
    _check(tmp_path / "db", tmp_path / "db")


def test_an_early_compile_of_other_records_is_not_used() -> None:
    """build_database takes the early hyperscan compile only for exactly the signatures it holds."""
    from vigil.signatures.database import EarlyContent, build_database
    from vigil.signatures.formats.ndb import parse_ndb

    ctx = ParseContext("x.ndb")
    first = list(parse_ndb([(1, "A:0:*:4142434445")], ctx))
    second = list(parse_ndb([(1, "B:0:*:5152535455")], ctx))
    early = EarlyContent()
    early(first)
    db = build_database(second, ["x.ndb"], early)
    assert [db.content.owner(e)[0] for e in db.content.candidates(frozenset({0}), b"..QRSTU..")] == [0]
    assert db.content.candidates(frozenset({0}), b"..ABCDE..") == []


def test_names_with_a_newline_keep_their_boundaries() -> None:
    from vigil.signatures.names import NameTable

    table = NameTable()
    ids = table.append_many(["one", "two\nlines", "three"])
    table.freeze()
    assert [table[i] for i in ids] == ["one", "two\nlines", "three"]


@pytest.mark.parametrize("official", [False, True])
@pytest.mark.parametrize(
    "names", [["a", "b"], ["a", "b (Clam)", "c"], [], ["x\ny", "z"], ["a (Clam)"], ["only"]]
)
def test_batch_reported_names_equal_the_naming_rule(names: list[str], official: bool) -> None:
    from vigil.signatures.records import HashBatch, reported_name

    batch = HashBatch("f.hdb", HashAlgo.MD5, official, names=list(names))
    assert batch.reported() == [reported_name(name, official) for name in names]


_MD5, _SHA1, _SHA256 = (hashlib.new(a, b"x").hexdigest() for a in ("md5", "sha1", "sha256"))


@pytest.mark.parametrize(
    ("text", "bulk"),
    [
        (f"{_MD5}:5:A\n{_SHA1}:6:B\n{_SHA256}:7:C\n{_MD5}:5:A.Later\n", True),  # widths mixed, dup
        (f"{_MD5}:5:A\r\n{_SHA256}:7:C\r\r\n", True),  # CRLF line ends
        (f"{_MD5}:5:A\n{_SHA256}:7:No.Final.Newline", True),
        (f"{_MD5.upper()}:5:Upper\n{_MD5}:5:Lower.Later\n", False),  # same digest: later line wins
        (f"# a comment\n{_MD5}:5:A\n{_SHA256}:7:After.Comment\n", False),
        (f"{_MD5}:5:Level:51\n{_SHA256}:7:B\n", False),
        (f"{_MD5}:5:Name with spaces\n", True),
    ],
)
def test_whole_file_pass_equals_the_line_parser(tmp_path: Path, text: str, bulk: bool) -> None:
    """The one-regex whole-file path takes only what it can read exactly; either way the index is the
    line parser's (digests compare as bytes, whatever their case in the file)."""
    from vigil.signatures.formats.hashes import plain_file_batches

    root = tmp_path / "db"
    root.mkdir()
    (root / "m.hdb").write_text(text, newline="")
    (root / "c.ndb").write_text("Body.One:0:*:41424344454647\n")
    batches = plain_file_batches(text.encode(), ParseContext(str(root / "m.hdb")))
    assert (batches is not None) == bulk
    _check(root, root)


def test_a_digest_of_no_known_width_is_named_by_line(tmp_path: Path) -> None:
    root = tmp_path / "db"
    root.mkdir()
    (root / "m.hdb").write_text(f"{_MD5}:5:A\n{_MD5}abcd:5:Wide\n")
    with pytest.raises(SignatureError) as caught:
        load_database([str(root)], cache=False)
    assert caught.value.file.endswith("m.hdb") and caught.value.line == 2


def test_find_returns_exactly_the_equal_keys_even_where_a_key_straddles_two() -> None:
    """Keys are found by a substring search of their bucket; a match that starts inside one key and
    ends in the next is not a key, and every duplicate of a key is in the range."""
    import random

    from vigil.signatures.match.hashes import HashIndex
    from vigil.signatures.names import NameTable

    rng = random.Random(7)
    prefix = b"\xab\xcd"
    keys = sorted(prefix + rng.randbytes(14) for _ in range(40))
    keys += [keys[5], keys[5], keys[17]]  # duplicates
    straddler = keys[8][8:] + keys[9][:8]  # occurs in the bucket's bytes across keys 8 and 9 only
    assert straddler not in keys
    sigs = [HashSig(SigMeta(f"K{i}", f"K{i}", Origin("f.hdb", i + 1)), HashAlgo.MD5, key, 16)
            for i, key in enumerate(keys)]
    columns = HashIndex.build(sigs, NameTable(), {}).columns[HashAlgo.MD5]
    blob = bytes(columns.digests)
    stored = [blob[i * 16 : i * 16 + 16] for i in range(len(columns))]
    assert straddler in blob  # the trap is really there
    for probe in [*set(keys), straddler, prefix + b"\x00" * 14, b"\xff" * 16, b"short"]:
        assert list(columns.find(probe)) == [i for i, key in enumerate(stored) if key == probe]
