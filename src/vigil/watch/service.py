"""On-access protection with fanotify: the reader loop, the marks, and the fast paths.

Threads: the *reader* (the caller of `run`) reads events and answers everything it can without a scan,
inline: the watcher's own accesses (so it can never deadlock on itself), excluded processes and paths,
non-regular files, and cached verdicts. Everything else goes to the single *scanner* thread; the
*deadline* thread answers with the fallback policy when a scan exceeds its budget; the *marker* thread
(directory marks only) marks new subdirectories. The reader never touches a watched file itself, so a
slow scan can delay openers by at most the budget and never stalls event intake.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
import time
from collections.abc import Iterable

from vigil.engine import Engine
from vigil.watch import fanotify
from vigil.watch.cache import VerdictCache, key_of
from vigil.watch.config import PathFilter, ProcessFilter, WatchConfig
from vigil.watch.events import EventLog
from vigil.watch.pending import Deadlines, Pending
from vigil.watch.worker import Action, Scanner, Stats

_READ = 64 * 1024
_MARK_FLAGS = {"mount": fanotify.FAN_MARK_MOUNT, "filesystem": fanotify.FAN_MARK_FILESYSTEM}


def event_mask(config: WatchConfig) -> int:
    mask = fanotify.PERMISSION_EVENTS if config.block else 0
    return mask | (fanotify.FAN_CLOSE_WRITE if config.notify else 0)


class Watcher:
    def __init__(self, config: WatchConfig, engine: Engine, log: EventLog, *,
                 action: Action | None = None, never_watch: Iterable[str] = ()) -> None:
        self.config = config
        self.log = log
        self.stats = Stats()
        self.cache = VerdictCache(config.cache_size)
        self._paths = PathFilter.build(config.paths, config.exclude_paths + tuple(never_watch))
        self._procs = ProcessFilter(config.exclude_pids, config.exclude_names, config.exclude_uids,
                                    config.exclude_pgids)
        self._pid = os.getpid()
        self._fallback = fanotify.FAN_DENY if config.fallback_deny else fanotify.FAN_ALLOW
        flags = fanotify.FAN_CLASS_CONTENT | fanotify.FAN_CLOEXEC | fanotify.FAN_NONBLOCK
        flags |= fanotify.FAN_UNLIMITED_QUEUE | fanotify.FAN_UNLIMITED_MARKS
        self.fan_fd = fanotify.init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._stopping = threading.Event()
        self._marked: set[tuple[int, int]] = set()
        self._scanner = Scanner(engine, self.fan_fd, self.cache, log, self.stats,
                                fallback=self._fallback, action=action)
        self._deadlines = Deadlines(self._expire)

    # --- marks -------------------------------------------------------------------------------------
    def add_marks(self) -> None:
        kind = _MARK_FLAGS.get(self.config.mark)
        for root in self._paths.include:
            if kind is None:
                self._mark_tree(root)
            else:
                fanotify.mark(self.fan_fd, fanotify.FAN_MARK_ADD | kind, event_mask(self.config), root)

    def _mark_tree(self, root: str) -> None:
        mask = event_mask(self.config) | fanotify.FAN_EVENT_ON_CHILD
        flags = fanotify.FAN_MARK_ADD | fanotify.FAN_MARK_ONLYDIR | fanotify.FAN_MARK_DONT_FOLLOW
        for directory, subdirs, _files in os.walk(root, followlinks=False):
            wanted = [d for d in subdirs if self._paths.wanted(os.path.join(directory, d))]
            subdirs[:] = wanted if self.config.recursive else []
            try:
                info = os.lstat(directory)
                if (info.st_dev, info.st_ino) in self._marked:
                    continue
                fanotify.mark(self.fan_fd, flags, mask, directory)
            except OSError as exc:  # removed meanwhile, or not a directory any more
                self.log.emit("error", directory, reason=str(exc))
                continue
            self._marked.add((info.st_dev, info.st_ino))

    def _marker(self) -> None:
        while not self._stopping.wait(self.config.rescan_interval):
            for root in self._paths.include:
                self._mark_tree(root)

    # --- the reader --------------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until `stop()`; marks must already be added."""
        self._scanner.start()
        self._deadlines.start()
        if self.config.mark == "dir" and self.config.recursive:
            threading.Thread(target=self._marker, name="vigil-watch-marker", daemon=True).start()
        poller = select.poll()
        poller.register(self.fan_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while not self._stopping.is_set():
                # a timeout, because a signal may be delivered to another thread and leave poll() asleep
                for fd, _mask in poller.poll(500):
                    if fd == self.fan_fd:
                        self._read_events()
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Safe from a signal handler: only sets a flag and writes one byte."""
        self._stopping.set()
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _read_events(self) -> None:
        try:
            data = os.read(self.fan_fd, _READ)
        except BlockingIOError:
            return
        for event in fanotify.parse(data):
            self.stats.add(events=1)
            if event.mask & fanotify.FAN_Q_OVERFLOW:
                self.log.emit("overflow", reason="fanotify queue overflow: events were lost")
            elif event.fd != fanotify.FAN_NOFD:
                self._dispatch(event)

    def _dispatch(self, event: fanotify.Event) -> None:
        try:
            pending = self._triage(event)
        except OSError as exc:
            self.log.emit("error", reason=str(exc), pid=event.pid)
            self._answer_now(event, self._fallback)
            return
        if pending is None:
            return
        if event.is_permission:
            self._deadlines.add(pending)
        self._scanner.queue.put(pending)

    def _triage(self, event: fanotify.Event) -> Pending | None:
        """Answer at once when no scan is needed; otherwise the Pending to scan."""
        if event.pid == self._pid:
            self.stats.add(own=1)
            self._answer_now(event, fanotify.FAN_ALLOW)
            return None
        if self._procs.excluded(event.pid):
            self.stats.add(excluded=1)
            self._answer_now(event, fanotify.FAN_ALLOW)
            return None
        path = os.readlink(f"/proc/self/fd/{event.fd}")
        info = os.fstat(event.fd)
        # an empty file holds nothing to find (clamscan skips them too); new files are opened empty
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0 or self._too_big(info) \
                or not self._paths.wanted(path):
            self.stats.add(excluded=1)
            self._answer_now(event, fanotify.FAN_ALLOW)
            return None
        found, name = self.cache.get(key_of(info))
        if found:
            self.stats.add(cache_hits=1)
            if name is not None and event.is_permission:
                self.stats.add(denied=1)
                self.log.emit("deny", path, virus=name, pid=event.pid, cached=True)
            self._answer_now(event, fanotify.FAN_DENY if name else fanotify.FAN_ALLOW)
            return None
        return Pending(event, info, path, time.monotonic() + self.config.budget)

    def _too_big(self, info: os.stat_result) -> bool:
        return 0 < self.config.max_file_size < info.st_size

    def _answer_now(self, event: fanotify.Event, response: int) -> None:
        if event.is_permission:
            fanotify.respond(self.fan_fd, event.fd, response)
        os.close(event.fd)

    def _expire(self, pending: Pending) -> None:
        if pending.answer(self.fan_fd, self._fallback):
            self.stats.add(timeouts=1)
            policy = "deny" if self._fallback == fanotify.FAN_DENY else "allow"
            self.log.emit("timeout", pending.path, budget_s=self.config.budget, policy=policy,
                          pid=pending.event.pid)

    def _shutdown(self) -> None:
        self._deadlines.stop()
        self._scanner.queue.put(None)
        self._scanner.join(timeout=max(self.config.budget, 1.0) + 5.0)
        os.close(self.fan_fd)  # the kernel allows every event still unanswered
        os.close(self._wake_r)
        os.close(self._wake_w)
