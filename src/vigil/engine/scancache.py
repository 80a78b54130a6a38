"""Persistent scan cache: an unchanged file is not read again (the idea behind Kaspersky's iChecker).

Two tables in one SQLite file (WAL, so several scanners share it safely):

* `files`: (device, inode) -> size, mtime_ns, ctime_ns and the content's SHA-256, as last seen;
* `clean`: (content SHA-256, scope) -> the digests of every layer of that content and the version of
  the hash signatures it was last checked against.

`scope` is the digest of everything except whole-file hash signatures (body, logical, YARA, allow and
ignore lists, section hashes...) plus the scan settings, so any such change misses. A change of the
hash signatures alone does not: the stored layer digests are looked up in the new hash index, which
needs no file access, and the entry is re-stamped when nothing matches.

Only clean verdicts are cached (an infected file is rescanned so its report carries full evidence).
A file is cached only when its metadata did not change while it was read and its mtime and ctime are
older than the cache's granularity guard, so a write in the same timestamp tick as the scan can never
be hidden behind an old verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
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
    PRIMARY KEY (sha256, scope));
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

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def lookup(self, key: FileKey, scope: str, hashes_version: str, hashes: HashIndex) -> str | None:
        """The content SHA-256 (hex) when the file is known clean under this database, else None."""
        db = self._db()
        row = db.execute(
            "SELECT sha256 FROM files WHERE dev=? AND ino=? AND size=? AND mtime_ns=? AND ctime_ns=?",
            (key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns),
        ).fetchone()
        if row is None:
            return None
        digest: bytes = row[0]
        found = db.execute(
            "SELECT hashes_version, layers FROM clean WHERE sha256=? AND scope=?", (digest, scope)
        ).fetchone()
        if found is None:
            return None
        if found[0] != hashes_version:
            if _any_hash_hit(hashes, json.loads(found[1])):
                return None
            db.execute(
                "UPDATE clean SET hashes_version=? WHERE sha256=? AND scope=?",
                (hashes_version, digest, scope),
            )
        return digest.hex()

    def store(self, key: FileKey, scope: str, hashes_version: str, layers: list[LayerDigests]) -> None:
        if not layers or not key.settled(time.time_ns()):
            return
        digest = bytes.fromhex(layers[0][2])
        db = self._db()
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, digest),
        )
        db.execute(
            "INSERT OR REPLACE INTO clean VALUES (?, ?, ?, ?)",
            (digest, scope, hashes_version, json.dumps(layers)),
        )


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


def default_path() -> Path:
    from vigil.signatures.store import cache_root

    return cache_root().parent / "scan-cache.sqlite"


def cache_scope(db: SignatureDB, settings: ScanSettings) -> str:
    """Everything but whole-file hashes that decides a verdict: the rest of the database and the settings."""
    return hashlib.sha256(f"{db.content_version}|{settings!r}".encode()).hexdigest()[:32]
