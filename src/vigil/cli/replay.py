"""Replay of an unchanged scan: the same `vigil scan` command, run again where it ran, over a tree and a
database that did not change, prints what it printed before, without walking the scan cache, loading the
database or importing the rest of Vigil.

It trusts stat data the way git's index and untracked cache do. A recorded run keeps every path its walk
looked at (each file, each directory, each link it followed, each database file) with the device,
inode, size, mtime and ctime it saw. Writing a file, replacing it, renaming over it, chmod, and adding,
removing or renaming a directory entry all change one of them; a mount point shows a new device and
inode. The replay stats every recorded path, in the same way, and replays only when all of them match,
so it answers exactly what the per-file scan cache would have answered file by file, only without the
per-file work (a rescan of the 117 MB benchmark corpus: 0.19 s through the scan cache, a few hundredths
through the replay). Anything else falls back to the ordinary run, which re-records.

What qualifies (`Recording`): a run without actions, log, JSON, stdin or file list, with no error, no
warning and no file whose scan reported a problem, whose every recorded path was older than the racy-write
guard when the run began (`freshness.RACY_SECONDS`), and whose walk held at most `MAX_PATHS` paths. The
key is the command line with the working directory, the user and groups (access checks), and the
engine's version. The summary block, which holds times, is computed again from the recorded counts.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Sequence

import vigil
from vigil.freshness import DETECTION_REVISION, STAMP_SIZE, WalkTrace, cache_dir, stamp
from vigil.render.summary import SummaryCounts, summary_lines

#: Bumped with any change to what is recorded; part of the key, so old records are simply not found.
FORMAT = 1
STORE_NAME = "scan-replay-1.sqlite"
#: Commands kept, the most recently recorded first.
KEEP = 64
#: Paths a recorded walk may hold; a larger tree is not recorded (the record would hold every path, and
#: its per-file work is then small beside the rest of the run anyway).
MAX_PATHS = 200_000
_SCHEMA = """CREATE TABLE IF NOT EXISTS replays (
    invocation BLOB PRIMARY KEY, recorded_ns INTEGER NOT NULL, paths BLOB NOT NULL, follows BLOB NOT NULL,
    stamps BLOB NOT NULL, journal BLOB NOT NULL, summary TEXT NOT NULL, status INTEGER NOT NULL)"""
#: What SQLite says of a file that is not (or no longer) a database.
_NOT_A_STORE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
_SELECT = "SELECT paths, follows, stamps, journal, summary, status FROM replays WHERE invocation = ?"
_FORGET_OLDEST = ("DELETE FROM replays WHERE invocation IN"
                  " (SELECT invocation FROM replays ORDER BY recorded_ns DESC LIMIT -1 OFFSET ?)")


def store_path() -> str:
    return os.path.join(cache_dir(), STORE_NAME)


def invocation(argv: Sequence[str]) -> bytes | None:
    """Everything outside the recorded paths that decides a run's output; None when it cannot be told
    (the working directory was removed, Vigil's modules cannot be listed)."""
    try:
        where, code = os.getcwd(), _code_stamp()
    except OSError:
        return None
    groups = ",".join(str(group) for group in sorted(os.getgroups()))
    context = (str(FORMAT), vigil.__version__, str(DETECTION_REVISION), str(code), where,
               str(os.geteuid()), str(os.getegid()), groups)
    return b"\0".join(os.fsencode(part) for part in (*context, *argv))


def _code_stamp() -> int:
    """The newest ctime among Vigil's own modules: a patched or reinstalled module (a distribution's fix,
    a developer's edit) may print differently under the same version number, and ctime cannot be set
    back. About 200 stats, under a millisecond."""
    newest, pending = 0, [os.path.dirname(vigil.__file__)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    newest = max(newest, entry.stat(follow_symlinks=False).st_ctime_ns)
                elif entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(entry.path)
    return newest


def replay(argv: Sequence[str]) -> int | None:
    """Print the recorded output of this command and return its exit code, or None when there is no
    record or anything it depends on changed (then nothing was printed)."""
    started = time.time()
    path = store_path()
    key = invocation(argv) if os.path.exists(path) else None
    if key is None:
        return None
    try:
        conn = sqlite3.connect(path, timeout=2)
        try:
            row = conn.execute(_SELECT, (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    paths, follows, stamps, journal, summary, status = row
    if not _unchanged(paths.split(b"\0") if paths else [], follows, stamps):
        return None
    _write(journal)
    if summary:
        _write_summary(summary, started)
    return int(status)


def _unchanged(paths: list[bytes], follows: bytes, stamps: bytes) -> bool:
    if len(follows) != len(paths) or len(stamps) != STAMP_SIZE * len(paths):
        return False
    lstat, stat, at = os.lstat, os.stat, 0
    for path, followed in zip(paths, follows, strict=True):
        try:
            info = stat(path) if followed else lstat(path)
        except OSError:
            return False
        if stamp(info) != stamps[at:at + STAMP_SIZE]:
            return False
        at += STAMP_SIZE
    return True


def _write(journal: bytes) -> None:
    """stdout lines in runs of one write; a stderr line flushes stdout first, as `cli.output` does."""
    out, err = sys.stdout, sys.stderr
    run: list[str] = []
    for entry in journal.decode("utf-8", "surrogateescape").split("\0") if journal else ():
        if entry[0] == "o":
            run.append(entry[1:])
            continue
        if run:
            out.write("\n".join(run) + "\n")
            run = []
        out.flush()
        err.write(entry[1:] + "\n")
        err.flush()
    if run:
        out.write("\n".join(run) + "\n")


def _write_summary(summary: str, started: float) -> None:
    known, dirs, files, infected, scanned, read = (int(n) for n in summary.split(","))
    counts = SummaryCounts(known, vigil.__version__, dirs, files, infected, 0, scanned, read)
    counts.start, counts.end = started, time.time()
    sys.stdout.write("".join(line + "\n" for line in summary_lines(counts)))


def _summary_numbers(counts: SummaryCounts) -> tuple[int, ...]:
    """What a recorded run's summary block needs (a recorded run had no errors; times are new)."""
    return (counts.known_viruses, counts.dirs, counts.files, counts.infected, counts.scanned_blocks,
            counts.read_blocks)


class Recording:
    """What a run needs to be replayed, collected while it goes; `save` keeps it if the run qualifies."""

    def __init__(self, argv: Sequence[str], started_ns: int) -> None:
        self.key = invocation(argv)
        self.trace = WalkTrace(started_ns, MAX_PATHS)
        self.journal: list[tuple[bool, str]] = []
        self.qualifies = self.key is not None

    def spoil(self) -> None:
        """This run must not be replayed (an error, a warning, a report with a problem)."""
        self.qualifies = False

    def watch_database(self, sources: Sequence[str]) -> None:
        """The database's files, seen as its loader and compiled cache see them (links followed)."""
        try:
            for source in sources:
                self.trace.saw(source, os.stat(source), True)
                if os.path.isdir(source):
                    for name in sorted(os.listdir(source)):
                        path = os.path.join(source, name)
                        self.trace.saw(path, os.stat(path), True)
        except OSError:  # the load reports it; a run that cannot see its database is not recorded
            self.trace.discard()

    def save(self, status: int, counts: SummaryCounts | None) -> None:
        """Store the record, replacing this command's previous one. Quietly gives up when the store
        cannot be written: the record only saves time, and a run's output must not depend on it."""
        lines = self.journal
        if not (self.qualifies and self.trace.usable and status in (0, 1)):
            return
        if any("\0" in line for _err, line in lines):
            return
        trace = self.trace
        journal = "\0".join(("e" if err else "o") + line for err, line in lines)
        summary = "" if counts is None else ",".join(str(n) for n in _summary_numbers(counts))
        paths = b"\0".join(os.fsencode(path) for path in trace.paths)
        row = (self.key, time.time_ns(), paths, bytes(trace.follows), bytes(trace.stamps),
               journal.encode("utf-8", "surrogateescape"), summary, status)
        try:
            _store(row)
        except (OSError, sqlite3.Error):
            return


def _store(row: tuple[object, ...]) -> None:
    path = store_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        _insert(path, row)
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname not in _NOT_A_STORE:
            raise
        # a torn or foreign file: it held nothing but records, which later runs make again
        os.unlink(path)
        _insert(path, row)


def _insert(path: str, row: tuple[object, ...]) -> None:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        conn.execute(_SCHEMA)
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO replays VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            conn.execute(_FORGET_OLDEST, (KEEP,))
    finally:
        conn.close()
