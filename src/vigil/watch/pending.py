"""A permission event waiting for its answer, and the clock that answers it when the scan runs late.

Exactly one answer per event: whoever comes first (the scanner with its verdict, or the deadline with
the fallback policy) writes it, under the event's lock. The file descriptor is closed only by the
scanner, after it has taken that lock, so a response can never be written for a reused fd number.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.watch import fanotify


@dataclass(eq=False)
class Pending:
    event: fanotify.Event
    info: os.stat_result
    path: str
    deadline: float
    started: float = field(default_factory=time.monotonic)
    answered: int = 0  # the response written (FAN_ALLOW / FAN_DENY), 0 while none
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, fan_fd: int, response: int) -> bool:
        """Write `response` unless someone already answered; True if this call answered."""
        with self._lock:
            if self.answered or not self.event.is_permission:
                return False
            fanotify.respond(fan_fd, self.event.fd, response)
            self.answered = response
            return True

    def close(self) -> None:
        with self._lock:
            os.close(self.event.fd)


class Deadlines(threading.Thread):
    """Calls `expire(pending)` for every pending event whose deadline passes first. The budget is the
    same for all events, so deadlines arrive in order and a queue is enough (no heap)."""

    def __init__(self, expire: Callable[[Pending], None]) -> None:
        super().__init__(name="vigil-watch-deadlines", daemon=True)
        self._expire = expire
        self._queue: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._stopped = False

    def add(self, pending: Pending) -> None:
        with self._cond:
            self._queue.append(pending)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                head = self._queue[0]
                wait = head.deadline - time.monotonic()
                if head.answered:
                    self._queue.popleft()
                    continue
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                self._queue.popleft()
            self._expire(head)
