"""The scanner thread: scans the descriptor fanotify handed over, answers, caches, acts.

There is one scanner thread because an Engine's compiled matchers keep per-instance scratch state;
the reader thread never waits for it (see service.py), and the deadline clock bounds how long an opener
can be held by a busy or slow scanner.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.engine import Engine
from vigil.errors import VigilError
from vigil.types import ScanReport, ScanTarget, Verdict
from vigil.watch import fanotify
from vigil.watch.cache import VerdictCache, key_of
from vigil.watch.events import EventLog
from vigil.watch.pending import Pending


@dataclass
class Stats:
    events: int = 0
    scanned: int = 0
    cache_hits: int = 0
    denied: int = 0
    timeouts: int = 0
    excluded: int = 0
    own: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


# the action taken on a detection: (path, stat of the scanned file, detection name) -> None
Action = Callable[[str, os.stat_result, str], None]


class Scanner(threading.Thread):
    def __init__(self, engine: Engine, fan_fd: int, cache: VerdictCache, log: EventLog, stats: Stats,
                 *, fallback: int, action: Action | None) -> None:
        super().__init__(name="vigil-watch-scanner", daemon=True)
        self.queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._engine = engine
        self._fan_fd = fan_fd
        self._cache = cache
        self._log = log
        self._stats = stats
        self._fallback = fallback
        self._action = action

    def run(self) -> None:
        while (pending := self.queue.get()) is not None:
            try:
                self._handle(pending)
            finally:
                pending.close()

    def _scan(self, pending: Pending) -> ScanReport | None:
        try:
            return self._engine.scan(ScanTarget(display=pending.path, fd=pending.event.fd))
        except (OSError, VigilError) as exc:
            self._log.emit("error", pending.path, reason=str(exc))
            return None

    def _handle(self, pending: Pending) -> None:
        report = self._scan(pending)
        self._stats.add(scanned=1)
        elapsed_ms = round((time.monotonic() - pending.started) * 1000, 3)
        if report is None or report.verdict is Verdict.ERROR:
            self._stats.add(errors=1)
            pending.answer(self._fan_fd, self._fallback)
            return
        name = report.name if report.infected else None
        self._cache.put(key_of(pending.info), name)
        kind = "exec" if pending.event.mask & fanotify.FAN_OPEN_EXEC_PERM else "open"
        if not pending.event.is_permission:
            if name is not None:
                self._log.emit("infected", pending.path, virus=name, pid=pending.event.pid, ms=elapsed_ms)
                self._act(pending, name)
            return
        verdict = fanotify.FAN_DENY if name else fanotify.FAN_ALLOW
        on_time = pending.answer(self._fan_fd, verdict)
        if name is not None:
            self._stats.add(denied=int(on_time))
            self._log.emit("deny" if on_time else "infected", pending.path, virus=name, access=kind,
                           pid=pending.event.pid, ms=elapsed_ms, late=None if on_time else True)
            self._act(pending, name)
        else:
            self._log.emit("allow", pending.path, quiet=True, access=kind, pid=pending.event.pid,
                           ms=elapsed_ms)

    def _act(self, pending: Pending, name: str) -> None:
        if self._action is not None:
            self._action(pending.path, pending.info, name)
