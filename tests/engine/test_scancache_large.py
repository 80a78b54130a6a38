"""A scan cache too large to read whole: a run that looks up a few files asks SQLite file by file.

`SNAPSHOT_ROWS` is lowered so a dozen files make a "large" cache; every answer must be the one the whole
index would give (hits, a changed file, a hash-only update), and the index is read only once a run has
looked up a quarter as many files as the cache holds.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from vigil.engine import Engine, ScanCache, scancache
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget, Verdict

FILES = 12


@pytest.fixture()
def scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path], Path]:
    """A database, FILES files and a cache that knows all of them."""
    monkeypatch.setattr(scancache, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(scancache, "SNAPSHOT_ROWS", 4)
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    (db_dir / "base.ndb").write_text("Evil.Body:0:*:6576696c20627974657321\n")  # "evil bytes!"
    (db_dir / "base.hdb").write_text(f"{hashlib.md5(b'x').hexdigest()}:1:Other.Hash\n")
    files = []
    for n in range(FILES):
        path = tmp_path / f"file{n:02}.txt"
        path.write_bytes(b"harmless file number %02d\n" % n + b"." * n)  # sizes differ: see below
        files.append(path)
    cache_path = tmp_path / "cache.sqlite"
    cache = ScanCache(cache_path)
    engine = _engine(db_dir, cache)
    assert [_scan(engine, path).cached for path in files] == [False] * FILES
    cache.flush()
    return db_dir, files, cache_path


def _engine(db_dir: Path, cache: ScanCache) -> Engine:
    return Engine(load_database([str(db_dir)], cache=False), ScanSettings(), cache)


def _scan(engine: Engine, path: Path):  # type: ignore[no-untyped-def]
    return engine.scan(ScanTarget(str(path), path=str(path)))


def _index_read(cache: ScanCache) -> bool:
    return cache._files is not None  # private, but it is the one thing this module is about


def test_a_few_lookups_do_not_read_the_whole_index(scanned: tuple[Path, list[Path], Path]) -> None:
    db_dir, files, cache_path = scanned
    cache = ScanCache(cache_path)
    engine = _engine(db_dir, cache)
    budget = FILES // 4
    for path in files[:budget]:
        report = _scan(engine, path)
        assert (report.verdict, report.cached) == (Verdict.CLEAN, True)
        assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert not _index_read(cache)
    for path in files[budget:]:  # past a quarter of the cache: read whole, same answers
        assert _scan(engine, path).cached
        assert _index_read(cache)


def test_a_small_cache_is_read_whole_at_once(
    scanned: tuple[Path, list[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_dir, files, cache_path = scanned
    monkeypatch.setattr(scancache, "SNAPSHOT_ROWS", FILES)
    cache = ScanCache(cache_path)
    assert _scan(_engine(db_dir, cache), files[0]).cached
    assert _index_read(cache)


def test_a_changed_file_misses_in_a_file_by_file_lookup(scanned: tuple[Path, list[Path], Path]) -> None:
    db_dir, files, cache_path = scanned
    target = files[0]
    st = target.stat()
    evil = b"evil bytes!" + target.read_bytes()[len(b"evil bytes!") :]
    target.write_bytes(evil)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only ctime changed
    cache = ScanCache(cache_path)
    report = _scan(_engine(db_dir, cache), target)
    assert not _index_read(cache)
    assert (report.cached, report.name) == (False, "Evil.Body.UNOFFICIAL")


def test_a_hash_only_update_is_rechecked_file_by_file(scanned: tuple[Path, list[Path], Path]) -> None:
    """A file of another size than the new hash entry keeps its verdict (one of the same size would be
    rescanned: its MD5 was never computed, see test_hash_size_gate)."""
    db_dir, files, cache_path = scanned
    known = files[1].read_bytes()
    hdb = db_dir / "base.hdb"
    hdb.write_text(hdb.read_text() + f"{hashlib.md5(known).hexdigest()}:{len(known)}:Now.Known\n")
    cache = ScanCache(cache_path)
    engine = _engine(db_dir, cache)
    assert _scan(engine, files[0]).cached  # re-stamped under the new hashes without a rescan
    report = _scan(engine, files[1])
    assert (report.cached, report.name) == (False, "Now.Known.UNOFFICIAL")
    assert not _index_read(cache)
    cache.flush()
    again = ScanCache(cache_path)  # the re-stamp was written: a later run answers it directly
    assert _scan(_engine(db_dir, again), files[0]).cached


def test_the_least_recently_stored_files_are_evicted_past_max_files(
    scanned: tuple[Path, list[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_dir, files, cache_path = scanned
    monkeypatch.setattr(scancache, "MAX_FILES", 6)
    newer = []
    for n in range(3):
        path = files[0].parent / f"newer{n}.txt"
        path.write_bytes(b"a newer harmless file %d\n" % n + b"!" * n)
        newer.append(path)
    writer = ScanCache(cache_path)
    engine = _engine(db_dir, writer)
    assert [_scan(engine, path).cached for path in newer] == [False] * 3
    writer.flush()  # 15 files stored, 6 allowed: the 9 stored first go, with their verdicts
    with sqlite3.connect(cache_path) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM verdicts").fetchone() == (6,)
    reader = _engine(db_dir, ScanCache(cache_path))
    kept = files[-3:] + newer
    assert [_scan(reader, path).cached for path in kept] == [True] * 6
    assert not _scan(reader, files[0]).cached  # evicted: scanned again, with the same verdict


def test_the_row_span_reads_two_ends_of_the_tree_not_every_row(tmp_path: Path) -> None:
    """The span is asked at every run's first lookup and at every flush: with both aggregates in one
    SELECT, SQLite scanned the whole table (3 ms at 18k files, 70 ms at 400k)."""
    cache = ScanCache(tmp_path / "c.sqlite")
    conn = cache._db()
    plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + scancache._ROW_SPAN))
    assert "SCAN files" not in plan and plan.count("SEARCH files") == 2, plan
    conn.executemany("INSERT INTO files VALUES (?, ?, 1, 1, 1, x'00')", [(1, ino) for ino in range(5)])
    conn.execute("DELETE FROM files WHERE ino = 0")
    assert scancache._row_span(conn) == 4
