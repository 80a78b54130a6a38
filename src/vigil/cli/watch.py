"""`vigil watch PATH...`: on-access protection until SIGTERM/SIGINT.

Blocking mode (default) denies opening or executing an infected file with EPERM; `--notify` also scans
files after they are written; `--quarantine` moves detections into the vault. Events go to stderr as
lines and, with `--json`, to stdout as JSON lines (a `ready` event once the marks are in place, a `stop`
event with counters at the end).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING, Protocol, TextIO

from vigil.cli.commands import Command
from vigil.watch.config import MARK_KINDS, WatchConfig
from vigil.watch.events import EventLog

if TYPE_CHECKING:
    from vigil.engine import Engine
    from vigil.watch.worker import Action


class _Service(Protocol):
    def add_marks(self) -> None: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add = parser.add_argument
    add("paths", nargs="+", metavar="PATH", help="directories (or mount points) to protect")
    add("-d", "--database", action="append", default=[], metavar="FILE|DIR")
    add("--mark", choices=MARK_KINDS, default="dir",
        help="dir: mark every directory below PATH (default); mount/filesystem: one mark, paths filtered")
    add("--notify", action="store_true", help="also scan files after they are written (FAN_CLOSE_WRITE)")
    add("--no-block", action="store_true", help="do not block opens (notify mode only)")
    add("--inotify", action="store_true", help="use the inotify notify-only fallback even if fanotify works")
    add("--exclude", action="append", default=[], metavar="PATH", help="never scan below PATH")
    add("--exclude-uid", action="append", type=int, default=[], metavar="UID")
    add("--exclude-pid", action="append", type=int, default=[], metavar="PID")
    add("--exclude-process", action="append", default=[], metavar="NAME", help="process name (comm or exe)")
    add("--budget", type=float, default=5.0, metavar="SECONDS", help="longest an open is held (default 5)")
    add("--fallback", choices=("allow", "deny"), default="allow", help="answer when the budget runs out")
    add("--quarantine", action="store_true", help="move detected files into the quarantine vault")
    add("--vault", metavar="DIR", default=None, help="quarantine vault (default $VIGIL_QUARANTINE_DIR or "
        "/var/lib/vigil/quarantine)")
    add("--cache-size", type=int, default=65536)
    add("--json", action="store_true", help="JSON lines on stdout")
    add("-v", "--verbose", action="store_true", help="log every allowed open too")
    return parser


def _config(args: argparse.Namespace) -> WatchConfig:
    return WatchConfig(
        paths=tuple(args.paths), mark=args.mark, block=not args.no_block, notify=args.notify or args.no_block,
        exclude_paths=tuple(args.exclude), exclude_uids=frozenset(args.exclude_uid),
        exclude_pids=frozenset(args.exclude_pid), exclude_names=frozenset(args.exclude_process),
        budget=args.budget, fallback_deny=args.fallback == "deny",
        action="quarantine" if args.quarantine else "report", vault=args.vault,
        cache_size=args.cache_size, verbose=args.verbose, database=tuple(args.database))


def _service(config: WatchConfig, args: argparse.Namespace, log: EventLog, engine: Engine,
             action: Action | None, never: tuple[str, ...]) -> _Service:
    from vigil.watch import fanotify

    ok, why = fanotify.available()
    if ok and not args.inotify:
        from vigil.watch.service import Watcher

        return Watcher(config, engine, log, action=action, never_watch=never)
    from vigil.watch.inotify import WARNING, InotifyWatcher

    log.emit("warning", reason=WARNING + (f" ({why})" if why else ""))
    return InotifyWatcher(config, engine, log, action=action, never_watch=never)


def run(args: argparse.Namespace) -> int:
    from vigil.actions.quarantine import QuarantineError
    from vigil.engine import Engine
    from vigil.errors import DatabaseError, SignatureError
    from vigil.signatures import load_database
    from vigil.types import ScanLimits, ScanSettings

    json_out: TextIO | None = sys.stdout if args.json else None
    log = EventLog(json_out, verbose=args.verbose)
    try:
        config = _config(args)
        db = load_database(list(config.database) or None)
        from vigil.watch.respond import quarantine_action

        action = quarantine_action(config, log, str(db.version))
    except (ValueError, SignatureError, DatabaseError, QuarantineError, OSError) as exc:
        log.emit("error", reason=str(exc))
        return 2
    # The watcher answers an opener with the fallback policy when its budget runs out; the engine's own
    # time limit sits well beyond it so that answer is the policy's, never a MaxScanTime "detection".
    limits = ScanLimits(max_scantime_ms=int(max(config.budget * 4, 10.0) * 1000))
    engine = Engine(db, ScanSettings(limits=limits))
    never = (getattr(action, "vault_dir", ""),) if action is not None else ()
    service = _service(config, args, log, engine, action, tuple(p for p in never if p))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _s, _f: service.stop())
    try:
        service.add_marks()
    except OSError as exc:
        log.emit("error", reason=str(exc))
        return 2
    log.emit("ready", paths=list(config.paths), mark=config.mark, block=config.block, notify=config.notify)
    service.run()
    stats = getattr(service, "stats", None)
    log.emit("stop", **(stats.as_dict() if stats is not None else {}))
    return 0


COMMAND = Command("watch", "on-access protection (fanotify; blocks infected files)", configure, run)
