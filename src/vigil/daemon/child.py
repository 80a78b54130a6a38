"""The scan worker process: loads the database once, then answers jobs from the daemon over a socket.

Jobs arrive as frames (`ipc.py`). Scanned bytes never travel as pickles: a small INSTREAM payload is a
raw `D` frame body, anything else arrives as a file descriptor (FILDES, or a memfd holding a large
INSTREAM). The pickled `J` jobs are tuples the daemon itself built. So a worker never parses anything
the client sent except through the engine.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

from vigil.daemon import ipc, treewalk
from vigil.engine import Engine
from vigil.errors import VigilError
from vigil.scheduler import scan_one
from vigil.signatures import load_database
from vigil.sources import WalkPolicy
from vigil.types import ScanReport, ScanSettings, ScanTarget, Verdict


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs to build its Engine; picklable so forkserver children get it."""

    db_paths: tuple[str, ...] | None
    settings: ScanSettings
    allmatch_settings: ScanSettings
    policy: WalkPolicy
    detect_pua: bool = False


def cacheable(report: ScanReport) -> bool:
    """Only a clean, complete scan may answer for the same bytes later (clamd's rule too)."""
    return (report.verdict is Verdict.CLEAN and not report.limits_hit and not report.issues
            and not report.errors)


class _Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        db = load_database(list(spec.db_paths) if spec.db_paths is not None else None,
                           detect_pua=spec.detect_pua)
        self.db = db
        self.engines = {False: Engine(db, spec.settings), True: Engine(db, spec.allmatch_settings)}
        self.policy = spec.policy
        self.fd_in_hand: int | None = None

    def data(self, payload: bytes) -> tuple[list[bytes], bool]:
        report = scan_one(self.engines[False], ScanTarget(display="stream", data=payload))
        return treewalk.report_lines(b"stream", report, allmatch=False), cacheable(report)

    def fd(self, display: str, allmatch: bool) -> list[bytes]:
        handle = self.fd_in_hand
        if handle is None:
            return [display.encode() + b": Can't receive the file descriptor. ERROR"]
        self.fd_in_hand = None
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


def _send(sock: socket.socket, status: str, value: object, cache: bool = False) -> None:
    sock.sendall(ipc.frame(ipc.REPLY, bytes(ForkingPickler.dumps((status, value, cache)))))


def _frames(sock: socket.socket) -> Any:
    """Frames as they arrive; stops when the daemon closes its end (retirement or shutdown)."""
    reader = ipc.FrameReader()
    while True:
        item = reader.next()
        if item is not None:
            yield item
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, ipc.RECV_SIZE, 8)
        except OSError:
            return
        if not data:
            reader.close()
            return
        reader.feed(data, fds)


def worker_main(spec: WorkerSpec, sock: socket.socket) -> None:
    """Entry point of a worker process: report readiness (or why the DB failed), then serve jobs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    sock.setblocking(True)
    try:
        worker = _Worker(spec)
    except (VigilError, OSError) as exc:
        _send(sock, "fail", str(exc) or type(exc).__name__)
        return
    try:
        _send(sock, "ready", (worker.db.official_version, worker.db.official_time,
                              worker.db.signature_count))
        _serve(worker, sock)
    except OSError:  # the daemon went away while we answered: nothing left to do
        return


def _serve(worker: _Worker, sock: socket.socket) -> None:
    handlers = worker.handlers()
    for kind, body, fd in _frames(sock):
        if kind == ipc.DATA:
            lines, cache = worker.data(body)
            _send(sock, "done", lines, cache)
            continue
        job = ForkingPickler.loads(body)  # built by the daemon, never by a client
        worker.fd_in_hand = fd
        _send(sock, "done", handlers[job[0]](*job[1:]))
