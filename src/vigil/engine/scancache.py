"""Persistent scan cache: an unchanged file is not read again (the idea behind Kaspersky's iChecker).

Two tables in one SQLite file (WAL, so several scanners share it safely):

* `files`: (device, inode) -> size, mtime_ns, ctime_ns and the content's SHA-256, as last seen;
* `clean`: (content SHA-256, scope) -> the digests of every layer of that content and the version of
  the hash signatures it was last checked against.

`scope` is the digest of everything except whole-file hash signatures (body, logical, YARA, allow and
ignore lists, section hashes...) plus the scan settings, so any such change misses. A change of the
hash signatures alone does not: the stored layer digests are looked up in the new hash index, which
needs no file access, and the entry is re-stamped when nothing matches.

Only clean verdicts are cached, together with the limits a scan hit (so an archive over `MaxFiles` is
reported again without being unpacked again); a file with a signature detection is rescanned so its
report carries full evidence.
A file is cached only when its metadata did not change while it was read and its mtime and ctime are
older than the cache's granularity guard, so a write in the same timestamp tick as the scan can never
be hidden behind an old verdict.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing.util
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.signatures.database import SignatureDB
from vigil.signatures.match.hashes import HashIndex
from vigil.types import HashAlgo, ScanSettings

#: A file modified less than this long before its scan is not cached (timestamp granularity guard).
RACY_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, sha256 BLOB NOT NULL,
    PRIMARY KEY (dev, ino));
CREATE TABLE IF NOT EXISTS clean (
    sha256 BLOB NOT NULL, scope TEXT NOT NULL, hashes_version TEXT NOT NULL, layers TEXT NOT NULL,
    limits TEXT NOT NULL, PRIMARY KEY (sha256, scope));
"""


@dataclass(frozen=True, slots=True)
class FileKey:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def settled(self, now_ns: int) -> bool:
        """Old enough that a later write must change mtime or ctime (see RACY_SECONDS)."""
        return now_ns - max(self.mtime_ns, self.ctime_ns) > RACY_SECONDS * 1e9


#: One layer's digests as stored: (md5 hex, sha1 hex, sha256 hex, size).
LayerDigests = tuple[str, str, str, int]


class ScanCache:
    """Opened lazily per process (a connection must not cross a fork)."""

    #: Writes are buffered and committed together: one transaction per file made parallel workers queue
    #: on SQLite's write lock and the first pass slower than scanning without a cache.
    FLUSH_EVERY = 256

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._pending: list[tuple[FileKey, str, str, list[LayerDigests], str]] = []
        self._files: dict[FileKey, bytes] | None = None
        self._clean: dict[bytes, tuple[str, str]] = {}  # digest -> (hashes version, limits)
        self._clean_scope = ""

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
            self._pending, self._files = [], None
            # run at process exit, pool workers included (multiprocessing skips atexit in its children)
            multiprocessing.util.Finalize(self, self.flush, exitpriority=10)
        return self._conn

    def lookup(
        self, key: FileKey, scope: str, hashes_version: str, hashes: HashIndex
    ) -> tuple[str, tuple[str, ...]] | None:
        """(content SHA-256 hex, limits the scan hit) when the file is known clean under this database."""
        for pending_key, pending_scope, pending_version, layers, limits in self._pending:  # not yet written
            if (pending_key, pending_scope, pending_version) == (key, scope, hashes_version):
                return layers[0][2], _split(limits)
        files, clean = self._snapshot(scope)
        digest = files.get(key)
        if digest is None:
            return None
        stamped = clean.get(digest)
        if stamped is None:
            return None
        if stamped[0] != hashes_version:
            row = (
                self._db()
                .execute("SELECT layers FROM clean WHERE sha256=? AND scope=?", (digest, scope))
                .fetchone()
            )
            if row is None or _any_hash_hit(hashes, json.loads(row[0])):
                return None
            update = "UPDATE clean SET hashes_version=? WHERE sha256=? AND scope=?"
            self._db().execute(update, (hashes_version, digest, scope))
            clean[digest] = (hashes_version, stamped[1])
        return digest.hex(), _split(stamped[1])

    def _snapshot(self, scope: str) -> tuple[dict[FileKey, bytes], dict[bytes, tuple[str, str]]]:
        """The whole index, read once per process and scope: a rescan then costs a dict lookup per file
        instead of SQL round trips (entries written later by other scanners are simply not seen)."""
        if self._files is None or self._clean_scope != scope:
            db = self._db()
            self._files = {
                FileKey(dev, ino, size, mtime, ctime): digest
                for dev, ino, size, mtime, ctime, digest in db.execute("SELECT * FROM files")
            }
            rows = db.execute("SELECT sha256, hashes_version, limits FROM clean WHERE scope=?", (scope,))
            self._clean = {digest: (version, limits) for digest, version, limits in rows}
            self._clean_scope = scope
        return self._files, self._clean

    def store(
        self,
        key: FileKey,
        scope: str,
        hashes_version: str,
        layers: list[LayerDigests],
        limits: Sequence[str] = (),
    ) -> None:
        if not layers or not key.settled(time.time_ns()):
            return
        self._db()
        self._pending.append((key, scope, hashes_version, layers, ",".join(limits)))
        if len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write buffered entries in one transaction (also called at process exit)."""
        if not self._pending or self._conn is None or self._pid != os.getpid():
            return
        pending, self._pending = self._pending, []
        files, clean = [], []
        for key, scope, hashes_version, layers, limits in pending:
            digest = bytes.fromhex(layers[0][2])
            files.append((key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, digest))
            clean.append((digest, scope, hashes_version, json.dumps(layers), limits))
            if self._files is not None:  # keep this process's snapshot current
                self._files[key] = digest
                if scope == self._clean_scope:
                    self._clean[digest] = (hashes_version, limits)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", files)
            self._conn.executemany("INSERT OR REPLACE INTO clean VALUES (?, ?, ?, ?, ?)", clean)


def _any_hash_hit(hashes: HashIndex, layers: list[list[object]]) -> bool:
    """Whether the new hash signatures could name any stored layer; a digest that was not computed
    (no signature used that algorithm then) counts as a possible hit, so the file is rescanned."""
    for md5, sha1, sha256, size in layers:
        for algo, digest in ((HashAlgo.MD5, md5), (HashAlgo.SHA1, sha1), (HashAlgo.SHA256, sha256)):
            if algo not in hashes.columns:
                continue
            if not digest or hashes.lookup(algo, bytes.fromhex(str(digest)), int(str(size))):
                return True
    return False


def _split(limits: str) -> tuple[str, ...]:
    return tuple(limits.split(",")) if limits else ()


def default_path() -> Path:
    from vigil.signatures.store import cache_root

    return cache_root().parent / "scan-cache-2.sqlite"  # the number is the schema version


def cache_scope(db: SignatureDB, settings: ScanSettings) -> str:
    """Everything but whole-file hashes that decides a verdict: the rest of the database and the settings."""
    return hashlib.sha256(f"{db.content_version}|{settings!r}".encode()).hexdigest()[:32]
