"""A whole-layer digest is computed only when some hash or allow-list entry has the layer's size.

ClamAV checks the same before hashing. What must hold: every detection and allow-listing a full hash
pass would give still happens, and a cached verdict whose digest was skipped is not trusted once an
entry of that size arrives (tests/engine/test_scancache.py covers the update path end to end).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from vigil.engine import Engine
from vigil.engine.scancache import _any_hash_hit
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget, Verdict

SAMPLE = b"size-gated sample bytes " * 40


def _scan(db_dir: Path, target: Path):  # type: ignore[no-untyped-def]
    engine = Engine(load_database([str(db_dir)], cache=False), ScanSettings())
    return engine.scan(ScanTarget(str(target), path=str(target)))


def _write(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    for name, text in files.items():
        (db_dir / name).write_text(text)
    target = tmp_path / "sample.bin"
    target.write_bytes(SAMPLE)
    return db_dir, target


def test_md5_is_skipped_for_a_size_no_entry_has(tmp_path: Path) -> None:
    db_dir, target = _write(tmp_path, {"a.hdb": f"{hashlib.md5(b'x').hexdigest()}:1:Other\n"})
    report = _scan(db_dir, target)
    assert report.verdict is Verdict.CLEAN
    assert report.layers[0].md5 == ""  # not computed: no MD5 entry is len(SAMPLE) bytes long
    assert report.layers[0].sha256 == hashlib.sha256(SAMPLE).hexdigest()  # always computed


def test_an_entry_of_the_layer_size_gets_it_hashed_and_found(tmp_path: Path) -> None:
    md5 = hashlib.md5(SAMPLE).hexdigest()
    other = f"{hashlib.md5(b'x').hexdigest()}:1:Other\n"
    db_dir, target = _write(tmp_path, {"a.hdb": f"{other}{md5}:{len(SAMPLE)}:Hit\n"})
    report = _scan(db_dir, target)
    assert (report.verdict, report.name) == (Verdict.INFECTED, "Hit.UNOFFICIAL")
    assert report.layers[0].md5 == md5


def test_a_wildcard_size_entry_hashes_every_layer(tmp_path: Path) -> None:
    md5 = hashlib.md5(SAMPLE).hexdigest()
    db_dir, target = _write(tmp_path, {"a.hdb": f"{md5}:*:Any.Size:73\n"})
    report = _scan(db_dir, target)
    assert (report.verdict, report.name) == (Verdict.INFECTED, "Any.Size.UNOFFICIAL")


def test_an_allow_list_entry_of_the_layer_size_still_allows(tmp_path: Path) -> None:
    """The allow list's sizes open the gate too: here only the .fp names this size."""
    md5 = hashlib.md5(SAMPLE).hexdigest()
    db_dir, target = _write(
        tmp_path,
        {
            "a.ndb": "Body.Hit:0:*:73697a652d6761746564\n",  # "size-gated"
            "a.hdb": f"{hashlib.md5(b'x').hexdigest()}:1:Other\n",
            "a.fp": f"{md5}:{len(SAMPLE)}:Allowed\n",
        },
    )
    assert _scan(db_dir, target).verdict is Verdict.CLEAN
    (db_dir / "a.fp").write_text(f"{md5}:{len(SAMPLE) + 1}:Other.Size\n")
    assert _scan(db_dir, target).name == "Body.Hit.UNOFFICIAL"


def test_a_skipped_digest_is_a_possible_hit_only_for_entries_of_its_size(tmp_path: Path) -> None:
    """The scan cache's re-check after a hash-only update: a layer stored without an MD5 (none was
    needed then) must be rescanned when an MD5 entry of its size exists, and only then."""
    other_size = f"{hashlib.md5(b'y').hexdigest()}:7:Other.Size\n"
    same_size = f"{hashlib.md5(b'z').hexdigest()}:{len(SAMPLE)}:Same.Size\n"
    stored = [["", "", hashlib.sha256(SAMPLE).hexdigest(), len(SAMPLE)]]
    for text, possible in ((other_size, False), (same_size, True)):
        db_dir = tmp_path / f"db-{possible}"
        db_dir.mkdir()
        (db_dir / "a.hdb").write_text(text)
        hashes = load_database([str(db_dir)], cache=False).hashes.file
        assert _any_hash_hit(hashes, stored) is possible  # type: ignore[arg-type]
