"""The compiled-database cache does not grow by one entry per update forever: a build removes the
entries no load can ask for again, and leaves the live ones (and anything it cannot judge) alone."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from vigil.engine import Engine
from vigil.signatures import load_database, storekey
from vigil.types import ScanTarget

SAMPLE = b"\x00\xffsample only the database knows"


def _database(directory: Path, lines: int = 30_000) -> None:
    """Big enough (over CACHE_THRESHOLD) to go through the compiled cache."""
    directory.mkdir(parents=True, exist_ok=True)
    bulk = [f"{hashlib.md5(b'%d' % i).hexdigest()}:{i % 90 + 1}:Bulk.{i}" for i in range(lines)]
    bulk.append(f"{hashlib.md5(SAMPLE).hexdigest()}:{len(SAMPLE)}:Sample.Hit")
    (directory / "bulk.hdb").write_text("\n".join(bulk) + "\n")
    (directory / "b.ndb").write_text("Body.Hit:0:*:626f6479206d61726b6572\n")


def _entries(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir()} if cache.is_dir() else set()


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_replacing_a_database_file_removes_the_old_entry(tmp_path: Path, cache: Path) -> None:
    db_dir = tmp_path / "db"
    _database(db_dir)
    load_database([str(db_dir)])
    old = load_database([str(db_dir)])  # mapped from the entry
    (old_entry,) = _entries(cache)
    assert old.store_path is not None
    _database(db_dir, lines=30_001)  # an update rewrites the file: new inode data, size and ctime
    new = load_database([str(db_dir)])
    assert _entries(cache) != {old_entry} and len(_entries(cache)) == 1
    assert new.store_path is None and load_database([str(db_dir)]).store_path is not None
    # a process still holding the old database keeps scanning with it (its files stay mapped)
    assert not (cache / old_entry).exists()
    assert Engine(old).scan(ScanTarget("s", data=SAMPLE)).name == "Sample.Hit.UNOFFICIAL"
    assert Engine(old).scan(ScanTarget("b", data=b"\x00\xffa body marker")).name == "Body.Hit.UNOFFICIAL"


def test_live_entries_of_other_databases_and_options_are_kept(tmp_path: Path, cache: Path) -> None:
    _database(tmp_path / "a")
    _database(tmp_path / "b")
    load_database([str(tmp_path / "a")])
    load_database([str(tmp_path / "a")], detect_pua=True)
    load_database([str(tmp_path / "b")])
    assert len(_entries(cache)) == 3
    assert all(load_database([str(tmp_path / d)]).store_path is not None for d in ("a", "b"))


def test_an_entry_whose_sources_are_gone_goes_at_the_next_build(tmp_path: Path, cache: Path) -> None:
    _database(tmp_path / "gone")
    load_database([str(tmp_path / "gone")])
    (gone,) = _entries(cache)
    for file in (tmp_path / "gone").iterdir():
        file.unlink()
    _database(tmp_path / "other")
    load_database([str(tmp_path / "other")])
    assert gone not in _entries(cache) and len(_entries(cache)) == 1


def test_what_it_cannot_judge_is_kept_and_dead_builds_are_cleared(tmp_path: Path, cache: Path) -> None:
    cache.mkdir()
    handmade = cache / "no-manifest"
    handmade.mkdir()
    old_format = cache / "old-format"
    old_format.mkdir()
    (old_format / "manifest.json").write_text(json.dumps({"format": storekey.FORMAT - 1}))
    dead_build, live_build = cache / ".build-dead", cache / ".build-live"
    dead_build.mkdir()
    live_build.mkdir()
    long_ago = time.time() - storekey.STALE_BUILD_SECONDS - 60
    os.utime(dead_build, (long_ago, long_ago))
    _database(tmp_path / "db")
    load_database([str(tmp_path / "db")])
    left = _entries(cache)
    assert {"no-manifest", ".build-live"} <= left
    assert "old-format" not in left and ".build-dead" not in left
