"""The scan worker process: loads the database once, then answers jobs from the daemon over a socket.

Jobs are small tuples from the daemon (a trusted peer); scanned bytes never travel as pickles, they
arrive as file descriptors (FILDES, or a memfd holding an INSTREAM), so a worker never parses
anything the client sent except through the engine.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from typing import Any

from vigil.daemon import treewalk
from vigil.engine import Engine
from vigil.errors import VigilError
from vigil.scheduler import scan_one
from vigil.signatures import load_database
from vigil.sources import WalkPolicy
from vigil.types import ScanSettings, ScanTarget


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs to build its Engine; picklable so forkserver children get it."""

    db_paths: tuple[str, ...] | None
    settings: ScanSettings
    allmatch_settings: ScanSettings
    policy: WalkPolicy
    detect_pua: bool = False


class _Worker:
    def __init__(self, spec: WorkerSpec, conn: Connection) -> None:
        self.conn = conn
        db = load_database(list(spec.db_paths) if spec.db_paths is not None else None,
                           detect_pua=spec.detect_pua)
        self.db = db
        self.engines = {False: Engine(db, spec.settings), True: Engine(db, spec.allmatch_settings)}
        self.policy = spec.policy

    def fd(self, display: str, allmatch: bool) -> list[bytes]:
        handle = recv_handle(self.conn)
        try:
            report = scan_one(self.engines[allmatch], ScanTarget(display=display, fd=handle))
        finally:
            os.close(handle)
        return treewalk.report_lines(display.encode(), report, allmatch=allmatch)

    def file(self, path: bytes, allmatch: bool) -> list[bytes]:
        return treewalk.scan_file(self.engines[allmatch], path, allmatch=allmatch)

    def path(self, path: bytes, mode: str) -> list[bytes]:
        allmatch = mode == "all"
        return treewalk.run_path_scan(self.engines[allmatch], path, self.policy,
                                      stop_at_first=mode != "cont", allmatch=allmatch)

    def listing(self, path: bytes) -> list[tuple[str, bytes, bool]]:
        entries = treewalk.list_files(path, self.policy)
        return [("file", e.path, e.top) if isinstance(e, treewalk.FileEntry) else ("line", e.line, e.final)
                for e in entries]

    def handlers(self) -> dict[str, Callable[..., Any]]:
        return {"fd": self.fd, "file": self.file, "path": self.path, "list": self.listing}


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of a worker process: report readiness (or why the DB failed), then serve jobs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        worker = _Worker(spec, conn)
    except (VigilError, OSError) as exc:
        conn.send(("fail", str(exc) or type(exc).__name__))
        return
    conn.send(("ready", worker.db.official_version, worker.db.official_time, worker.db.signature_count))
    handlers = worker.handlers()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(("done", handlers[job[0]](*job[1:])))
