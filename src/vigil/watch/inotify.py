"""Notify-only fallback where fanotify is unavailable: watchdog (inotify) close-after-write events.

inotify reports a file only after it was written and closed; it cannot hold an open, so infected files
are found (and quarantined) after the fact, never blocked. The caller warns about that loudly.
"""

from __future__ import annotations

import os
import stat
import threading

from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from vigil.engine import Engine
from vigil.types import ScanTarget
from vigil.watch.config import PathFilter, WatchConfig
from vigil.watch.events import EventLog
from vigil.watch.worker import Action

WARNING = ("fanotify is unavailable: falling back to inotify notify mode, which CANNOT block access; "
           "infected files are detected only after they are written")


class _Handler(FileSystemEventHandler):
    def __init__(self, engine: Engine, paths: PathFilter, log: EventLog, action: Action | None) -> None:
        self._engine = engine
        self._paths = paths
        self._log = log
        self._action = action
        self._lock = threading.Lock()  # one scan at a time: the engine is not thread-safe

    def on_closed(self, event: FileSystemEvent) -> None:
        if not isinstance(event, FileClosedEvent):
            return
        path = os.fsdecode(event.src_path)
        if not self._paths.wanted(path):
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # gone or replaced by a symlink meanwhile
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return
            with self._lock:
                report = self._engine.scan(ScanTarget(display=path, fd=fd))
        finally:
            os.close(fd)
        if report.infected and report.name is not None:
            self._log.emit("infected", path, virus=report.name, mode="inotify")
            if self._action is not None:
                self._action(path, info, report.name)


class InotifyWatcher:
    def __init__(self, config: WatchConfig, engine: Engine, log: EventLog, *,
                 action: Action | None = None, never_watch: tuple[str, ...] = ()) -> None:
        self._paths = PathFilter.build(config.paths, config.exclude_paths + never_watch)
        self._observer = Observer()
        handler = _Handler(engine, self._paths, log, action)
        for root in self._paths.include:
            self._observer.schedule(handler, root, recursive=True)
        self._stopping = threading.Event()

    def add_marks(self) -> None:
        self._observer.start()

    def run(self) -> None:
        while not self._stopping.wait(0.5):  # short waits: a signal handler calls stop()
            pass
        self._observer.stop()
        self._observer.join(timeout=5.0)

    def stop(self) -> None:
        self._stopping.set()
