"""The quarantine index: one SQLite row per quarantined file, which doubles as the operation journal.

A row is written in state `pending` after the blob is durable and before the original is unlinked, and
moves to `stored` after the unlink is durable; a restore goes through `restoring`. A row left `pending` or
`restoring` by a crash tells the next start exactly which operation to finish or undo (see quarantine.py).
SQLite runs with synchronous=FULL so a committed state survives a crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

SCHEMA_VERSION = 1
PENDING, STORED, RESTORING = "pending", "stored", "restoring"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    path BLOB NOT NULL,
    mode INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    atime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    detection TEXT NOT NULL,
    db_version TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    quarantined_at REAL NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    restore_to BLOB NOT NULL DEFAULT x''
)
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """What the vault knows about one file: enough to give back the same bytes, mode, owner and mtime."""

    id: str
    state: str
    path: bytes  # the original absolute path, as bytes (names need not be UTF-8)
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int
    size: int
    sha256: str
    detection: str
    db_version: str
    engine_version: str
    quarantined_at: float
    dev: int
    ino: int
    restore_to: bytes = b""  # while `restoring`: where the file is being put back


_COLUMNS = tuple(f.name for f in fields(Entry))


class Index:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"quarantine index version {version}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def add(self, entry: Entry) -> None:
        marks = ", ".join("?" for _ in _COLUMNS)
        values = tuple(getattr(entry, name) for name in _COLUMNS)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"INSERT INTO entries ({', '.join(_COLUMNS)}) VALUES ({marks})", values)  # noqa: S608

    def set_state(self, entry_id: str, state: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE entries SET state = ? WHERE id = ?", (state, entry_id))

    def begin_restore(self, entry_id: str, target: bytes) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE entries SET state = ?, restore_to = ? WHERE id = ?",
                             (RESTORING, target, entry_id))

    def remove(self, entry_id: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def get(self, entry_id: str) -> Entry | None:
        row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM entries WHERE id = ?",  # noqa: S608
                               (entry_id,)).fetchone()
        return None if row is None else _entry(row)

    def find(self, prefix: str) -> list[Entry]:
        """Entries whose id starts with `prefix`, so the CLI accepts unambiguous short ids."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM entries "  # noqa: S608
                                "WHERE id LIKE ? ESCAPE '\\' ORDER BY quarantined_at", (escaped + "%",))
        return [_entry(row) for row in rows]

    def entries(self, state: str | None = None) -> Iterator[Entry]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM entries"  # noqa: S608
        rows = (self._db.execute(query + " ORDER BY quarantined_at") if state is None
                else self._db.execute(query + " WHERE state = ? ORDER BY quarantined_at", (state,)))
        for row in rows.fetchall():
            yield _entry(row)


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(**dict(zip(_COLUMNS, row, strict=True)))
