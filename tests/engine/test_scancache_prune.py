"""The scan cache does not keep a copy of every verdict per database update forever: when a new scope
appears, only the most recently used KEEP_SCOPES keep their verdicts, and files left without any verdict
are forgotten; the scope a rollback returns to is still answered from the cache."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from vigil.engine import Engine, ScanCache, scancache
from vigil.signatures import load_database
from vigil.types import ScanSettings, ScanTarget

CONTENT = b"\x00\x00\x00\x00\xff\xfe" + b"quite harmless bytes " * 20


@pytest.fixture(autouse=True)
def _no_racy_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scancache, "RACY_SECONDS", 0.0)


def _database(root: Path, version: int) -> Path:
    """Version `version` of a database: a different body signature each time, so a different scope."""
    db_dir = root / f"db{version}"
    db_dir.mkdir()
    (db_dir / "v.ndb").write_text(f"Version.{version}:0:*:{f'not here {version:04d}'.encode().hex()}\n")
    return db_dir


def _scan(db_dir: Path, target: Path, cache: ScanCache) -> bool:
    """Scan `target` under `db_dir`; whether the answer came from the cache."""
    engine = Engine(load_database([str(db_dir)], cache=False), ScanSettings(), cache)
    report = engine.scan(ScanTarget(str(target), path=str(target)))
    cache.flush()
    return report.cached


def _rows(path: Path, query: str, *args: object) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(query, args).fetchone()[0])


def test_old_scopes_are_dropped_recent_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    target, gone = tmp_path / "kept.bin", tmp_path / "gone.bin"
    target.write_bytes(CONTENT)
    gone.write_bytes(CONTENT + b"only scanned under the first version")
    databases = [_database(tmp_path, v) for v in range(scancache.KEEP_SCOPES + 3)]
    assert not _scan(databases[0], gone, ScanCache(path))
    gone.unlink()
    for db_dir in databases:
        assert not _scan(db_dir, target, ScanCache(path))  # a new scope: a real scan
    scopes = _rows(path, "SELECT COUNT(DISTINCT scope) FROM verdicts")
    assert scopes == scancache.KEEP_SCOPES
    assert _rows(path, "SELECT COUNT(*) FROM scopes") == scancache.KEEP_SCOPES
    # the file seen only under the oldest versions has no verdict left, so no row either
    digest = hashlib.sha256(CONTENT + b"only scanned under the first version").digest()
    assert _rows(path, "SELECT COUNT(*) FROM files WHERE sha256=?", digest) == 0
    # a rollback to the previous version is still answered from the cache; the dropped oldest is not
    assert _scan(databases[-2], target, ScanCache(path))
    assert not _scan(databases[0], target, ScanCache(path))


def test_a_reader_records_its_scope(tmp_path: Path) -> None:
    """A scanner whose every file is cached writes no verdicts, yet its scope counts as used."""
    path = tmp_path / "cache.sqlite"
    target = tmp_path / "kept.bin"
    target.write_bytes(CONTENT)
    first = _database(tmp_path, 1)
    _scan(first, target, ScanCache(path))
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM scopes")  # as a cache written before scopes were recorded
    assert _scan(first, target, ScanCache(path))
    assert _rows(path, "SELECT COUNT(*) FROM scopes") == 1
