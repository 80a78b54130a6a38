"""The compiled-database cache: same results as a fresh compile, and never trusted when stale or corrupt."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from vigil.engine import Engine
from vigil.signatures import load_database, store, storekey
from vigil.signatures.database import SignatureDB
from vigil.types import ScanSettings, ScanTarget

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
BINARY = b"\x00\x00\x00\x00\xff\xfe"


def _make_db(directory: Path) -> dict[str, bytes]:
    """A small database of every cached kind, and targets keyed by the name each should get."""
    targets = {
        "Body.Hit.UNOFFICIAL": BINARY + b"xx hello world xx",
        "Hash.Hit.UNOFFICIAL": BINARY + b"hash me exactly",
        "Logic.Hit.UNOFFICIAL": BINARY + b"foo_bar and baz",
        "Wild.Hit.UNOFFICIAL": BINARY + b"AB\x01\x02\x03CDEF",
    }
    hashed = targets["Hash.Hit.UNOFFICIAL"]
    (directory / "t.ndb").write_text("Body.Hit:0:*:68656c6c6f20776f726c64\nWild.Hit:0:*:4142{3}43444546\n")
    (directory / "t.hdb").write_text(f"{hashlib.md5(hashed).hexdigest()}:{len(hashed)}:Hash.Hit\n")
    (directory / "t.ldb").write_text("Logic.Hit;Target:0;0&1;666f6f5f626172;62617a\n")
    (directory / "t.hsb").write_text(f"{hashlib.sha256(b'other').hexdigest()}:5:Sha.Other\n")
    return targets


def _names(db: SignatureDB, targets: dict[str, bytes]) -> dict[str, str | None]:
    engine = Engine(db, ScanSettings())
    return {want: engine.scan(ScanTarget(want, data=data)).name for want, data in targets.items()}


def test_round_trip_gives_the_same_verdicts(tmp_path: Path) -> None:
    targets = _make_db(tmp_path)
    fresh = load_database([str(tmp_path)], cache=False)
    store.save(fresh, tmp_path / "cache" / "entry")
    mapped = store.load(tmp_path / "cache" / "entry")
    assert mapped.signature_count == fresh.signature_count == 5
    assert _names(mapped, targets) == {name: name for name in targets}
    assert _names(fresh, targets) == _names(mapped, targets)
    origin = Engine(mapped).scan(ScanTarget("h", data=targets["Hash.Hit.UNOFFICIAL"])).detections[0]
    assert origin.matches[0].origin is not None and origin.matches[0].origin.file.endswith("t.hdb")


def test_mapped_database_pickles_as_its_path(tmp_path: Path) -> None:
    targets = _make_db(tmp_path)
    store.save(load_database([str(tmp_path)], cache=False), tmp_path / "entry")
    mapped = store.load(tmp_path / "entry")
    payload = pickle.dumps(mapped)
    assert len(payload) < 1000  # the path, not the arrays
    assert _names(pickle.loads(payload), targets) == {name: name for name in targets}


def test_corrupt_entry_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    _make_db(tmp_path)
    entry = tmp_path / "cache" / "key"
    store.save(load_database([str(tmp_path)], cache=False), entry)
    victim = entry / "bodies.blob"
    data = bytearray(victim.read_bytes())
    data[5] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(Exception, match="CRC"):
        store.load(entry)
    built: list[int] = []

    def build() -> SignatureDB:
        built.append(1)
        return load_database([str(tmp_path)], cache=False)

    db = store.load_cached("key", build, root=tmp_path / "cache")
    assert built == [1] and db.signature_count == 5
    assert store.load(entry).signature_count == 5  # the rebuilt entry is sound


def test_fingerprint_changes_when_a_source_changes(tmp_path: Path) -> None:
    _make_db(tmp_path)
    before = storekey.fingerprint([str(tmp_path)], {"detect_pua": False})
    assert before == storekey.fingerprint([str(tmp_path)], {"detect_pua": False})
    assert before != storekey.fingerprint([str(tmp_path)], {"detect_pua": True})
    ndb = tmp_path / "t.ndb"
    stat = ndb.stat()
    ndb.write_text(ndb.read_text().replace("Body.Hit", "Body.Hat"))
    os.utime(ndb, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: size and ctime still differ
    assert storekey.fingerprint([str(tmp_path)], {"detect_pua": False}) != before


def test_large_database_goes_through_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    lines = [f"{hashlib.md5(str(i).encode()).hexdigest()}:{len(str(i))}:Bulk.{i}" for i in range(30000)]
    (db_dir / "bulk.hdb").write_text("\n".join(lines) + "\n")
    (db_dir / "e.ndb").write_text("Eicar.Body:0:0:" + EICAR.hex() + "\n")
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "cache"))
    first = load_database([str(db_dir)])
    second = load_database([str(db_dir)])
    assert first.store_path is None and second.store_path is not None
    assert Engine(second).scan(ScanTarget("e", data=EICAR)).name == "Eicar.Body.UNOFFICIAL"
    one = str(1).encode()
    assert Engine(second).scan(ScanTarget("b", data=one)).name == "Bulk.1.UNOFFICIAL"


def test_one_hyperscan_database_still_keeps_target_types_apart(tmp_path: Path) -> None:
    """Every target type shares one hyperscan database: a hit of another type's pattern is not a
    candidate, before and after the compiled cache."""
    (tmp_path / "t.ndb").write_text(
        "Any.Hit:0:*:73686172656420706174\n"  # "shared pat"
        "Pe.Hit:1:*:73686172656420706174\n"
        "Text.Hit:7:*:73686172656420706174\n"
    )
    fresh = load_database([str(tmp_path)], cache=False)
    store.save(fresh, tmp_path / "cache" / "entry")
    mapped = store.load(tmp_path / "cache" / "entry")
    for db in (fresh, mapped):
        assert len(db.content.groups) == 1
        found = {
            targets: sorted(db.bodies[db.content.owner(e)[0]].target
                            for e in db.content.candidates(frozenset(targets), b"a shared pattern"))
            for targets in ((0,), (0, 1), (0, 7), (6,))
        }
        assert found == {(0,): [0], (0, 1): [0, 1], (0, 7): [0, 7], (6,): []}
