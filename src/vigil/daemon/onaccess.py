"""On-access protection inside vigild: clamonacc's OnAccess* keys, served by a watcher process of its own.

The watcher is a separate process (`python -m vigil.daemon.onaccess`), never a thread of the event
loop: a permission listener must answer the kernel without waiting for anything the loop does, and a
crash in it must not take the socket server down. It loads the same database (DatabaseDirectory) into
its own Engine, so it never asks the daemon or its workers for a scan, and nothing it waits on can be
waiting for it. The daemon, its workers and the watcher are one process group (`own_process_group`),
excluded by the watcher: SCAN/MULTISCAN/CONTSCAN of a watched path by a worker is not intercepted.

Lifecycle, seen from the loop (`OnAccess`): the daemon writes its configuration as one JSON line on the
watcher's stdin and waits for `ready` on its stdout (marks in place). RELOAD/SIGUSR2 start a new
watcher with the new database and stop the old one once the new one is ready (if the new one fails,
the old one keeps protecting). SHUTDOWN closes the watcher's stdin; EOF stops it, and so does the
daemon's death. When the watcher's fanotify descriptor closes (clean exit, crash or SIGKILL), the
kernel allows every open still waiting for an answer, so a dead watcher never leaves a mount blocked.
A watcher that exits unexpectedly is restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import pwd
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol

from vigil.daemon.config import DaemonConfig
from vigil.watch.config import WatchConfig
from vigil.watch.events import EventLog

if TYPE_CHECKING:
    pass

log = logging.getLogger("vigild")
READY = b"ready"
READY_TIMEOUT = 300.0  # loading a full database can take a while on a busy machine
STOP_TIMEOUT = 15.0  # the watcher waits for its scan in hand (at most the budget + 5 s)
RESTART_DELAY = 1.0
PREFIX = "ScanOnAccess: "


def own_process_group() -> int:
    """Make the daemon lead its own process group (if it does not already) before it starts workers.

    Workers (forkserver children) and the watcher inherit the group, so the watcher excludes them all
    with one getpgid() per event. A daemonized or systemd-started vigild already leads its group."""
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)
    return os.getpgrp()


def _excluded_uids(config: DaemonConfig, warnings: list[str]) -> frozenset[int]:
    uids = set(config.on_access_exclude_uid)
    if config.on_access_exclude_root_uid:
        uids.add(0)
    for name in config.on_access_exclude_uname:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            warnings.append(f"OnAccessExcludeUname: no user {name!r}, ignored")
    return frozenset(uids)


def watch_config(config: DaemonConfig, *, pgid: int, pids: frozenset[int] = frozenset(),
                 warnings: list[str] | None = None) -> WatchConfig:
    """The watcher's configuration from the OnAccess* keys (clamonacc's meanings)."""
    notes = warnings if warnings is not None else []
    paths, mark = tuple(config.on_access_include_path), "dir"
    if config.on_access_mount_path:
        paths, mark = tuple(config.on_access_mount_path), "mount"
        if config.on_access_include_path:
            notes.append("OnAccessIncludePath ignored: OnAccessMountPath watches whole mounts")
    database = (config.database_directory,) if config.database_directory else ()
    return WatchConfig(
        paths=paths, mark=mark, block=config.on_access_prevention, notify=not config.on_access_prevention,
        exclude_paths=tuple(config.on_access_exclude_path), exclude_uids=_excluded_uids(config, notes),
        exclude_pids=pids, exclude_pgids=frozenset({pgid}),
        budget=max(0.001, config.on_access_curl_timeout / 1000), fallback_deny=config.on_access_deny_on_error,
        action="quarantine" if config.on_access_quarantine else "report",
        vault=config.on_access_quarantine_directory, max_file_size=config.on_access_max_file_size,
        recursive=not config.on_access_disable_ddd, verbose=config.log_verbose or config.debug,
        database=database)


# --- the daemon's side ---------------------------------------------------------------------------------
_DONE = {"started": "on-access protection started", "reloaded": "on-access database reloaded",
         "restarted": "on-access watcher restarted"}


class OnAccess:
    """The watcher process as the event loop sees it: start, replace on RELOAD, stop on SHUTDOWN."""

    def __init__(self, config: DaemonConfig, pgid: int) -> None:
        self._spec = json.dumps({"config": dataclasses.asdict(config), "pgid": pgid, "daemon": os.getpid()})
        self._proc: asyncio.subprocess.Process | None = None  # the serving watcher
        self._live: set[asyncio.subprocess.Process] = set()  # every watcher not yet ended
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False

    def launch(self) -> None:
        """Start the watcher in the background: the socket answers while it loads the database."""
        self._schedule("started")

    def request_reload(self) -> None:
        """RELOAD/SIGUSR2: a new watcher with the new database; repeated requests are coalesced."""
        self._schedule("reloaded")

    def _schedule(self, what: str) -> None:
        if self._stopping:
            return
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = self._task(self._replace(what))

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        if self._live:
            await asyncio.gather(*(self._end(proc) for proc in list(self._live)))
            log.info("%son-access protection stopped", PREFIX)

    def _task(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _replace(self, what: str) -> None:
        """Start a watcher; once it is ready, the previous one (if any) stops."""
        while True:
            self._reload_again = False
            new = await self._spawn()
            if new is not None and not self._stopping:
                old, self._proc = self._proc, new
                self._task(self._supervise(new))
                if old is not None:
                    await self._end(old)
                log.info("%s%s (watcher pid %d)", PREFIX, _DONE[what], new.pid)
            elif self._proc is not None:
                log.error("%snew watcher failed; the running one keeps its database", PREFIX)
            else:
                log.error("%son-access protection is OFF", PREFIX)
            if not self._reload_again or self._stopping:
                return
            what = "reloaded"

    async def _spawn(self) -> asyncio.subprocess.Process | None:
        # -P: the working directory never shadows vigil's modules; cwd "/": it holds no watched directory
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "vigil.daemon.onaccess", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, close_fds=True, cwd="/")
        self._live.add(proc)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(self._spec.encode() + b"\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
        except (OSError, TimeoutError):
            line = b""
        except asyncio.CancelledError:
            await self._end(proc)
            raise
        if line.strip() == READY:
            return proc
        reason = line.decode(errors="replace").strip() or f"the watcher exited ({proc.returncode})"
        log.error("%son-access protection did not start: %s", PREFIX, reason)
        await self._end(proc)
        return None

    async def _supervise(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if proc is not self._proc or self._stopping:
            return
        log.error("%son-access watcher %d exited unexpectedly (%s); restarting", PREFIX, proc.pid, code)
        self._proc = None
        await asyncio.sleep(RESTART_DELAY)
        if self._proc is None:
            self._schedule("restarted")

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        """EOF on its stdin stops the watcher; one that does not stop in time is killed (the kernel
        then allows whatever it held)."""
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.error("%swatcher %d did not stop; killed", PREFIX, proc.pid)
            proc.kill()
            await proc.wait()
        self._live.discard(proc)


# --- the watcher process ------------------------------------------------------------------------------
class DaemonLog(EventLog):
    """Watcher events as vigild log lines, detections in clamd's on-access form:
    `ScanOnAccess: /path/file: Name FOUND`."""

    def __init__(self) -> None:
        super().__init__(None)

    def emit(self, event: str, path: str | None = None, *, quiet: bool = False, **facts: Any) -> None:
        shown = "" if path is None else path.encode(errors="surrogateescape").decode(errors="replace")
        virus = facts.pop("virus", None)
        detail = " ".join(f"{key}={value}" for key, value in facts.items() if value is not None)
        if virus is not None and event in ("deny", "infected"):
            log.warning("%s%s: %s FOUND", PREFIX, shown, virus)
            if detail:
                what = "access denied" if event == "deny" else event
                log.info("%s%s: %s (%s)", PREFIX, shown, what, detail)
            return
        level = _LEVELS.get(event, logging.INFO)
        if quiet:
            level = logging.DEBUG
        where = f"{shown}: " if shown else ""
        log.log(level, "%s%s%s%s%s", PREFIX, where, event, ": " if detail else "", detail)


_LEVELS = {"error": logging.ERROR, "overflow": logging.WARNING, "warning": logging.WARNING,
           "timeout": logging.WARNING, "quarantined": logging.WARNING}


class _Service(Protocol):
    """What the watcher process needs of either watcher (fanotify or the inotify fallback)."""

    def add_marks(self) -> None: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...


def _build(config: DaemonConfig, spec: dict[str, Any], events: EventLog) -> tuple[WatchConfig, _Service]:
    from vigil.engine import Engine
    from vigil.signatures import load_database
    from vigil.watch import fanotify

    warnings: list[str] = []
    watch = watch_config(config, pgid=int(spec["pgid"]),
                         pids=frozenset({int(spec["daemon"]), os.getpid()}), warnings=warnings)
    for warning in warnings:
        log.warning("%s%s", PREFIX, warning)
    db = load_database(list(watch.database) or None, detect_pua=config.detect_pua)
    settings = config.scan_settings()
    budget_ms = max(1, int(watch.budget * 1000))
    scantime = min(settings.limits.max_scantime_ms or budget_ms, budget_ms)
    limits = dataclasses.replace(settings.limits, max_scantime_ms=scantime)
    engine = Engine(db, dataclasses.replace(settings, limits=limits))
    from vigil.watch.respond import quarantine_action

    action = quarantine_action(watch, events, str(db.version))
    never = (action.vault_dir,) if action is not None else ()
    available, why = fanotify.available()
    if available:
        from vigil.watch.service import Watcher

        return watch, Watcher(watch, engine, events, action=action, never_watch=never)
    from vigil.watch.inotify import WARNING, InotifyWatcher

    log.warning("%s%s (%s)", PREFIX, WARNING, why)
    return watch, InotifyWatcher(watch, engine, events, action=action, never_watch=never)


def _control(service: _Service) -> None:
    """The daemon's stdin: EOF (SHUTDOWN, or the daemon died) or a `stop` line stops the watcher."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    service.stop()


def watcher_main() -> int:
    from vigil.actions.quarantine import QuarantineError
    from vigil.daemon.main import setup_logging
    from vigil.errors import VigilError

    spec = json.loads(sys.stdin.readline())
    fields = {f.name for f in dataclasses.fields(DaemonConfig)}
    config = DaemonConfig(**{k: v for k, v in spec["config"].items() if k in fields})
    setup_logging(config)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # reload = a new watcher, started by the daemon
    events = DaemonLog()
    try:
        watch, service = _build(config, spec, events)
        service.add_marks()
    except (VigilError, QuarantineError, OSError, ValueError) as exc:
        log.error("%scannot start: %s", PREFIX, exc)
        print(f"error: {exc}", flush=True)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _s, _f: service.stop())
    threading.Thread(target=_control, args=(service,), name="vigild-onaccess-control", daemon=True).start()
    mode = "prevention (blocking)" if watch.block else "notify (scan after write)"
    log.info("%sprotecting %s (%s marks, %s)", PREFIX, ", ".join(watch.paths), watch.mark, mode)
    print(READY.decode(), flush=True)
    service.run()
    stats = getattr(service, "stats", None)
    log.info("%swatcher stopped%s", PREFIX, f": {stats.as_dict()}" if stats is not None else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(watcher_main())
