"""Persistent scan cache: an unchanged file is not read again (the idea behind Kaspersky's iChecker).

Three tables in one SQLite file (WAL, so several scanners share it safely):

* `files`: (device, inode) -> size, mtime_ns, ctime_ns and the content's SHA-256, as last seen;
* `verdicts`: (content SHA-256, scope) -> the digests of every layer of that content, the version of
  the hash signatures it was last checked against, the limits the scan hit and, for a detection, the
  report's detections and layers with all their evidence;
* `scopes`: when each scope was last used. Every database update starts a new scope and re-stores every
  file under it; when a new scope appears, only the `KEEP_SCOPES` most recently used ones keep their
  verdicts (several scanners with different settings, and the version a rollback returns to), and file
  rows left without any verdict go too. Without this the file grew by a copy of every verdict per update.

Past `MAX_FILES` files the least recently stored go, with the verdicts no remaining file points to.

`scope` is the digest of everything except whole-file hash signatures (body, logical, YARA, allow and
ignore lists, section hashes...) plus the scan settings, so any such change misses. A change of the
hash signatures alone does not for a clean verdict: the stored layer digests are looked up in the new
hash index, which needs no file access, and the entry is re-stamped when nothing matches. A detection is
reused only under exactly the database it was found with (a hash-only update rescans it, so the name
and evidence reported are always those the current signatures give).

A cached detection carries its full evidence (signature file and line, offset, bytes, layer), so a rescan
explains itself exactly as the first scan did; limits are kept too (an archive over `MaxFiles` is
reported again without being unpacked again).
A file is cached only when its metadata did not change while it was read and its mtime and ctime are
older than the cache's granularity guard, so a write in the same timestamp tick as the scan can never
be hidden behind an old verdict.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import vigil
from vigil.freshness import DETECTION_REVISION as DETECTION_REVISION
from vigil.freshness import RACY_SECONDS as RACY_SECONDS
from vigil.freshness import cache_dir
from vigil.types import HashAlgo, ScanSettings

if TYPE_CHECKING:
    from vigil.signatures.database import SignatureDB
    from vigil.signatures.match.hashes import HashIndex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, sha256 BLOB NOT NULL,
    PRIMARY KEY (dev, ino));
CREATE TABLE IF NOT EXISTS verdicts (
    sha256 BLOB NOT NULL, scope TEXT NOT NULL, hashes_version TEXT NOT NULL, layers TEXT NOT NULL,
    limits TEXT NOT NULL, report TEXT NOT NULL, PRIMARY KEY (sha256, scope));
CREATE TABLE IF NOT EXISTS scopes (scope TEXT PRIMARY KEY, used_ns INTEGER NOT NULL);
"""
#: Scopes whose verdicts survive the arrival of a new one.
KEEP_SCOPES = 8
#: A cache with at most this many file rows is read whole at the first lookup (a few milliseconds).
SNAPSHOT_ROWS = 8192
#: The cache keeps at most about this many files, the least recently stored going first (about 500 bytes
#: each on disk): a mail server scanning every message's temporary file would otherwise grow it forever.
MAX_FILES = 1_000_000
#: Eviction waits until the cache is this much over MAX_FILES: it reads the whole verdicts table (2.8 s
#: at 400k files here), so it runs once per MAX_FILES / 4 files stored, about 10 us per stored file.
_EVICT_SLACK = 0.25
#: One file's digest and verdict stamp, for a cache too large to read whole for a few lookups.
_POINT_QUERY = (
    "SELECT f.sha256, v.hashes_version, v.limits, v.report FROM files f"
    " JOIN verdicts v ON v.sha256 = f.sha256 AND v.scope = ?"
    " WHERE f.dev = ? AND f.ino = ? AND f.size = ? AND f.mtime_ns = ? AND f.ctime_ns = ?"
)
#: The lowest and highest rowid, one subquery each: SQLite reads min() or max() from the end of the tree
#: only when it is the query's single aggregate; both in one SELECT scanned every row (3.1 ms at 18k files
#: against 7 us, once per run and once per flush).
_ROW_SPAN = "SELECT (SELECT min(rowid) FROM files), (SELECT max(rowid) FROM files)"
#: A reader refreshes its scope's last use at most this often (a fully cached rescan writes nothing else).
_TOUCH_EVERY_NS = 3600 * 10**9


class FileKey(NamedTuple):
    """A tuple, so the snapshot's dict hashes and compares it in C (a rescan looks up every file)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        # tuple.__new__ directly: the generated __new__ is Python code, and a rescan keys every file
        return tuple.__new__(cls, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))

    def settled(self, now_ns: int) -> bool:
        """Old enough that a later write must change mtime or ctime (see RACY_SECONDS)."""
        return now_ns - max(self.mtime_ns, self.ctime_ns) > RACY_SECONDS * 1e9


#: One layer's digests as stored: (md5 hex, sha1 hex, sha256 hex, size).
LayerDigests = tuple[str, str, str, int]


class CachedVerdict(NamedTuple):
    """A tuple, built with tuple.__new__ like FileKey: a rescan makes one per file."""

    sha256: str  # hex
    limits: tuple[str, ...]
    report: str  # "" for a verdict without signature detections, else the encoded detections and layers

    @classmethod
    def of(cls, sha256: str, limits: str, report: str) -> CachedVerdict:
        return tuple.__new__(cls, (sha256, tuple(limits.split(",")) if limits else (), report))


class _Stamp(NamedTuple):
    """A tuple, so the snapshot builds one per row straight from SQLite's row tuple."""

    hashes_version: str
    limits: str
    report: str


@dataclass(frozen=True, slots=True)
class _Pending:
    key: FileKey
    scope: str
    hashes_version: str
    layers: list[LayerDigests]
    limits: str
    report: str


class ScanCache:
    """Opened lazily per process (a connection must not cross a fork)."""

    #: Writes are buffered and committed together: one transaction per file made parallel workers queue
    #: on SQLite's write lock and the first pass slower than scanning without a cache.
    FLUSH_EVERY = 256

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        #: stored but not yet written, by (key, scope, hashes_version): a lookup must find them in O(1)
        #: (a list scanned per lookup cost a tenth of a first pass's CPU at 256 entries)
        self._pending: dict[tuple[FileKey, str, str], _Pending] = {}
        self._files: dict[FileKey, bytes] | None = None
        self._verdicts: dict[bytes, _Stamp] = {}
        self._scope = ""
        #: lookups left before the whole index is read, for `_scope` (None: not yet decided)
        self._point_budget: int | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
            self._pending, self._files, self._point_budget = {}, None, None
            # run at process exit; a pool worker skips atexit, so there multiprocessing's own hook runs
            # it (multiprocessing is not imported otherwise: a cached rescan never needs it)
            if "multiprocessing" in sys.modules:
                import multiprocessing.util

                multiprocessing.util.Finalize(self, self.flush, exitpriority=10)
            else:
                atexit.register(self.flush)
        return self._conn

    def lookup(
        self, key: FileKey, scope: str, hashes_version: str, hashes: HashIndex | None
    ) -> CachedVerdict | None:
        """The verdict cached for this file under this database, or None when it must be scanned.

        Without a hash index (a front end that has not loaded the database) a verdict stamped with other
        hash signatures is a miss: re-checking it needs the new hashes.
        """
        pending = self._pending.get((key, scope, hashes_version)) if self._pending else None
        if pending is not None:
            return CachedVerdict.of(pending.layers[0][2], pending.limits, pending.report)
        found = self._stamped(key, scope)
        if found is None:
            return None
        digest, stamp = found
        if stamp.hashes_version != hashes_version:
            if stamp.report or hashes is None or not self._recheck(digest, scope, hashes, hashes_version):
                return None
            stamp = _Stamp(hashes_version, stamp.limits, stamp.report)
            if self._files is not None and self._scope == scope:
                self._verdicts[digest] = stamp
        return CachedVerdict.of(digest.hex(), stamp.limits, stamp.report)

    def _recheck(self, digest: bytes, scope: str, hashes: HashIndex, hashes_version: str) -> bool:
        """Whether a clean entry stays clean under new hash signatures (then it is re-stamped)."""
        db = self._db()
        row = db.execute("SELECT layers FROM verdicts WHERE sha256=? AND scope=?", (digest, scope)).fetchone()
        if row is None or _any_hash_hit(hashes, json.loads(row[0])):
            return False
        update = "UPDATE verdicts SET hashes_version=? WHERE sha256=? AND scope=?"
        db.execute(update, (hashes_version, digest, scope))
        return True

    def _stamped(self, key: FileKey, scope: str) -> tuple[bytes, _Stamp] | None:
        """The content digest and verdict stamp cached for this file under `scope`.

        A large cache is asked file by file at first: reading all of it for a run that looks up a few
        files (`vigil scan upload.pdf` after a full-disk scan) would cost seconds. Once a run has looked up
        a quarter as many files as the cache holds, it reads the whole index (an indexed query costs about
        as much as reading two rows of the whole table), and each later lookup is a dict lookup.
        """
        if self._point_budget is None or self._scope != scope:
            self._begin(scope)
        if self._files is None:
            if self._point_budget:
                self._point_budget -= 1
                row = self._db().execute(_POINT_QUERY, (scope, *key)).fetchone()
                return None if row is None else (row[0], _Stamp._make(row[1:]))
            self._files, self._verdicts = self._read_index(scope)
        digest = self._files.get(key)
        stamp = self._verdicts.get(digest) if digest is not None else None
        return None if digest is None or stamp is None else (digest, stamp)

    def _begin(self, scope: str) -> None:
        """Decide how this scope is looked up, and mark it used (a cached rescan writes nothing else)."""
        db = self._db()
        self._scope, self._files = scope, None
        rows = _row_span(db)
        self._point_budget = 0 if rows <= SNAPSHOT_ROWS else rows // 4
        used = db.execute("SELECT used_ns FROM scopes WHERE scope=?", (scope,)).fetchone()
        if used is None or time.time_ns() - int(used[0]) > _TOUCH_EVERY_NS:
            with db:
                db.execute("BEGIN IMMEDIATE")
                _use_scopes(db, {scope})

    def _read_index(self, scope: str) -> tuple[dict[FileKey, bytes], dict[bytes, _Stamp]]:
        """The whole index for one scope, read once per process (entries written later by other scanners
        are simply not seen)."""
        db = self._db()
        # plain row tuples as keys: a FileKey is a tuple and finds them (NamedTuple's own constructor is
        # Python code, too slow for every row of a large cache)
        rows = db.execute("SELECT dev, ino, size, mtime_ns, ctime_ns, sha256 FROM files")
        files = {row[:5]: row[5] for row in rows}
        query = "SELECT sha256, hashes_version, limits, report FROM verdicts WHERE scope=?"
        make_stamp = _Stamp._make
        return files, {row[0]: make_stamp(row[1:]) for row in db.execute(query, (scope,))}

    def store(
        self,
        key: FileKey,
        scope: str,
        hashes_version: str,
        layers: list[LayerDigests],
        limits: Sequence[str] = (),
        report: str = "",
    ) -> None:
        if not layers or not key.settled(time.time_ns()):
            return
        self._db()
        self._pending[key, scope, hashes_version] = _Pending(
            key, scope, hashes_version, layers, ",".join(limits), report
        )
        if len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write buffered entries in one transaction (also called at process exit)."""
        if not self._pending or self._conn is None or self._pid != os.getpid():
            return
        pending, self._pending = list(self._pending.values()), {}
        files, verdicts = [], []
        for entry in pending:
            key, digest = entry.key, bytes.fromhex(entry.layers[0][2])
            files.append((key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, digest))
            layers = json.dumps(entry.layers)
            verdicts.append((digest, entry.scope, entry.hashes_version, layers, entry.limits, entry.report))
            if self._files is not None:  # keep this process's snapshot current
                self._files[key] = digest
                if entry.scope == self._scope:
                    self._verdicts[digest] = _Stamp(entry.hashes_version, entry.limits, entry.report)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", files)
            self._conn.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)", verdicts)
            _use_scopes(self._conn, {entry.scope for entry in pending})
            if _row_span(self._conn) > MAX_FILES * (1 + _EVICT_SLACK):
                _evict(self._conn)


def _row_span(conn: sqlite3.Connection) -> int:
    """How many file rows there are at most, read from the rowid index at once (count(*) reads them all).

    A stored file takes the next rowid (INSERT OR REPLACE deletes the old row), so rowids also order the
    rows by when they were last stored.
    """
    low, high = conn.execute(_ROW_SPAN).fetchone()
    return 0 if low is None else int(high) - int(low) + 1


def _evict(conn: sqlite3.Connection) -> None:
    """Keep the MAX_FILES most recently stored files, and only the verdicts they still point to."""
    conn.execute("DELETE FROM files WHERE rowid <= (SELECT max(rowid) FROM files) - ?", (MAX_FILES,))
    conn.execute("DELETE FROM verdicts WHERE sha256 NOT IN (SELECT sha256 FROM files)")


def _use_scopes(conn: sqlite3.Connection, scopes: set[str]) -> None:
    """Stamp `scopes` as used now (inside the caller's transaction); a scope not seen before prunes."""
    known = {row[0] for row in conn.execute("SELECT scope FROM scopes")}
    now = time.time_ns()
    conn.executemany("INSERT OR REPLACE INTO scopes VALUES (?, ?)", [(scope, now) for scope in scopes])
    if scopes - known:
        _prune(conn)


def _prune(conn: sqlite3.Connection) -> None:
    recent = "DELETE FROM scopes WHERE scope NOT IN (SELECT scope FROM scopes ORDER BY used_ns DESC LIMIT ?)"
    conn.execute(recent, (KEEP_SCOPES,))
    conn.execute("DELETE FROM verdicts WHERE scope NOT IN (SELECT scope FROM scopes)")
    conn.execute("DELETE FROM files WHERE sha256 NOT IN (SELECT sha256 FROM verdicts)")


def _any_hash_hit(hashes: HashIndex, layers: list[list[object]]) -> bool:
    """Whether the new hash signatures could name any stored layer. A digest that was not computed
    (no signature of that algorithm and size existed then) counts as a possible hit when a new entry
    has the layer's size, so the file is rescanned; without such an entry it cannot match."""
    for md5, sha1, sha256, size in layers:
        layer_size = int(str(size))
        for algo, digest in ((HashAlgo.MD5, md5), (HashAlgo.SHA1, sha1), (HashAlgo.SHA256, sha256)):
            if not hashes.has_size(algo, layer_size):
                continue
            if not digest or hashes.lookup(algo, bytes.fromhex(str(digest)), layer_size):
                return True
    return False


def default_path() -> Path:
    """In Vigil's cache directory, beside the compiled entries' `db/` (see `freshness.cache_dir`)."""
    return Path(cache_dir()) / "scan-cache-3.sqlite"  # the number is the schema version


def cache_scope(db: SignatureDB, settings: ScanSettings) -> str:
    return scope_for(db.content_version, settings)


def scope_for(content_version: str, settings: ScanSettings) -> str:
    """Everything but whole-file hashes that decides a verdict: the rest of the database, the settings and
    the engine that judged (a newer Vigil may detect what an older one called clean)."""
    engine = f"{vigil.__version__}+{DETECTION_REVISION}"
    return hashlib.sha256(f"{content_version}|{settings!r}|{engine}".encode()).hexdigest()[:32]
