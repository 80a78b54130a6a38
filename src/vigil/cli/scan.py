"""`vigil scan`: load the database once, walk, schedule, render in input order, act, summarise.

Exit codes follow clamscan: 1 if anything was found (even with errors), else 2 on any error, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import vigil
from vigil.cli.database import RunDatabase
from vigil.cli.output import LOG_HEADER, Output
from vigil.cli.progress import progress_display
from vigil.cli.settings import scan_settings, walk_policy
from vigil.errors import ActionError, DatabaseError, SignatureError
from vigil.render import explain, summary, text
from vigil.render import json as jsonr
from vigil.scheduler import EngineFactory, Scanner, make_backend
from vigil.scheduler import interleave as interleave_reports
from vigil.signatures import DEFAULT_DATABASE
from vigil.sources import FileItem, Notice, Problem, Walker, WalkItem, WalkStats, read_file_list
from vigil.types import ScanReport, ScanSettings, ScanTarget, Verdict

if TYPE_CHECKING:
    from vigil.actions.move import ActionResult
    from vigil.cli.replay import Recording
    from vigil.engine.scancache import ScanCache

FILE_LIST_WARNING = "Only scanning files from --file-list (files passed at cmdline are ignored)"


@dataclass
class Action:
    """The --move/--copy/--remove choice, resolved before the scan as clamscan's action_setup does."""

    kind: str  # move | copy | remove | quarantine
    directory: str = ""

    def apply(self, path: str, name: str = "") -> tuple[ActionResult, str]:
        from vigil.actions.move import copy_file, move_file, remove_file  # only a run with an action

        if self.kind == "quarantine":
            from vigil.actions.quarantine_scan import quarantine_file

            result = quarantine_file(path, name)
            return result, f"quarantined as '{result.destination}'"
        if self.kind == "remove":
            return remove_file(path), "Removed."
        if self.kind == "move":
            result = move_file(path, self.directory)
            return result, f"moved to '{result.destination}'"
        result = copy_file(path, self.directory)
        return result, f"copied to '{result.destination}'"


def _action(args: argparse.Namespace) -> Action | None:
    if args.quarantine:
        return Action("quarantine")
    if args.move or args.copy:
        from vigil.actions.move import resolve_dir  # only a run that moves or copies

        return Action("move", resolve_dir(args.move)) if args.move else Action("copy", resolve_dir(args.copy))
    return Action("remove") if args.remove else None


@dataclass
class ScanRun:
    args: argparse.Namespace
    out: Output
    action: Action | None
    counts: summary.SummaryCounts = field(default_factory=summary.SummaryCounts)
    stats: WalkStats = field(default_factory=WalkStats)
    recording: Recording | None = None  # of this run, for a replay of the same command (cli.replay)

    # --- per item -------------------------------------------------------------------------------
    def on_item(self, item: WalkItem, report: ScanReport | None) -> None:
        if report is not None and isinstance(item, FileItem):  # the common case first
            self._report(item, report)
        elif isinstance(item, Notice):
            self._notice(item)
        elif isinstance(item, Problem):
            self._problem(item)

    def _notice(self, item: Notice) -> None:
        if item.error and self.recording is not None:
            self.recording.spoil()
        if self.args.json:
            self.out.plain(jsonr.dumps(jsonr.notice_object(item.path, item.status)))
        else:
            self.out.status(text.notice_line(item.path, item.status))

    def _problem(self, item: Problem) -> None:
        if self.recording is not None:
            self.recording.spoil()
        if item.perror is not None:
            self.out.stderr(text.escape_path(item.perror))
        self.out.warning(text.escape_path(item.message))
        if self.args.json and item.path is not None:
            reason = item.message.rpartition(": ")[2]
            self.out.plain(jsonr.dumps(jsonr.missing_object(item.path, reason)))

    def _report(self, item: FileItem, report: ScanReport) -> None:
        self.counts.files += 1
        self.counts.scanned_blocks += text.scanned_blocks(report)
        if report.verdict is Verdict.INFECTED:
            self.counts.infected += 1
        elif report.verdict is Verdict.ERROR:
            self.counts.errors += 1
        if (report.errors or report.issues) and self.recording is not None:
            self.recording.spoil()  # the scan cache keeps no such verdict either
        if self.args.verbose and not self.args.json:
            self.out.plain(f"Scanning {text.escape_path(report.target)}")
        if self.args.json:
            self.out.plain(jsonr.dumps(jsonr.report_object(report, allmatch=self.args.allmatch)))
        else:
            self._text_report(report)
        if report.infected and self.action is not None and item.target.path is not None:
            self._act(item.target.path, report.name or "")

    def _text_report(self, report: ScanReport) -> None:
        if report.verdict is Verdict.CLEAN:  # the common line, without building a list
            self.out.ok(text.ok_line(report))
            return
        lines = text.result_lines(
            report, allmatch=self.args.allmatch, archive_verbose=self.args.archive_verbose
        )
        emit = self.out.found if report.verdict is Verdict.INFECTED else self.out.status
        for line in lines:
            emit(line)
        if self.args.explain and report.infected:
            for line in explain.explain_lines(report, allmatch=self.args.allmatch):
                self.out.info(line)

    def _act(self, path: str, name: str) -> None:
        assert self.action is not None
        try:
            result, outcome = self.action.apply(path, name)
        except ActionError as exc:
            self.counts.errors += 1
            self.out.error(text.escape_path(str(exc)))
            return
        line = text.action_line(path, result.real_path, outcome)
        if self.args.json:
            self.out.plain(
                jsonr.dumps(
                    {
                        "schema": jsonr.SCHEMA_VERSION,
                        "type": "action",
                        "path": path,
                        "action": self.action.kind,
                        "destination": result.destination,
                    }
                )
            )
        else:
            self.out.info(line)

    # --- whole run ------------------------------------------------------------------------------
    def scan(self, database: RunDatabase, paths: list[str], factory: EngineFactory | None,
             cache: ScanCache | None) -> None:
        """Walk, schedule and render; unchanged files are answered from the scan cache in this process,
        so only files that need scanning load the database and reach an engine."""
        trace = self.recording.trace if self.recording is not None else None
        walker = Walker(walk_policy(self.args), self.stats, trace=trace)
        settings = scan_settings(self.args)
        precheck = database.oracle(cache, settings) if cache is not None else None
        jobs = self.args.jobs or 1
        backend = (
            make_backend(database.deferred, settings, jobs, precheck=precheck)
            if factory is None
            else make_backend(database.deferred, settings, jobs, factory, precheck=precheck)
        )
        try:
            with progress_display(enabled=_progress_wanted(self.args)) as tick:
                for item, report in interleave_reports(walker.walk(paths), _target_of, backend):
                    self.on_item(item, report)
                    tick()
        finally:
            backend.close()
            if cache is not None:
                cache.flush()

    def finish(self) -> int:
        self.counts.end = time.time()
        self.counts.dirs = self.stats.dirs
        self.counts.read_blocks = self.stats.read_blocks
        self.counts.errors += self.stats.errors
        wants_summary = not self.args.json and not self.args.no_summary
        if self.recording is not None and not self.counts.errors and not self.stats.failed_args:
            self.recording.save(self.exit_code(), self.counts if wants_summary else None)
        if self.args.json:
            self.out.plain(jsonr.dumps(jsonr.summary_object(self._summary_fields())))
        elif wants_summary:
            for line in summary.summary_lines(self.counts):
                self.out.info(line)
        return self.exit_code()

    def exit_code(self) -> int:
        if self.counts.infected:
            return 1
        return 2 if self.counts.errors or self.stats.failed_args else 0

    def _summary_fields(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "known_viruses": counts.known_viruses,
            "engine_version": counts.engine_version,
            "scanned_directories": counts.dirs,
            "scanned_files": counts.files,
            "infected_files": counts.infected,
            "total_errors": counts.errors + self.stats.failed_args,
            "data_scanned_bytes": counts.scanned_blocks * summary.BLOCK,
            "data_read_bytes": counts.read_blocks * summary.BLOCK,
            "start": counts.start,
            "end": counts.end,
            "exit_code": self.exit_code(),
        }


def _target_of(item: WalkItem) -> ScanTarget | None:
    return item.target if isinstance(item, FileItem) else None


def _progress_wanted(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not args.json


def _paths(args: argparse.Namespace, out: Output) -> list[str]:
    if args.file_list:
        if args.paths:
            out.warning(FILE_LIST_WARNING)
        return read_file_list(args.file_list)
    return list(args.paths) or [os.getcwd()]


def _log_stream(args: argparse.Namespace, stack: ExitStack) -> Any:
    if not args.log:
        return None
    log = open(args.log, "a", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115 - closed by stack
    stack.enter_context(log)
    log.write(LOG_HEADER)
    return log


def run_scan(args: argparse.Namespace, factory: EngineFactory | None = None) -> int:
    """The whole `vigil scan`; `factory` lets tests swap the engine, production passes None."""
    with ExitStack() as stack:
        out = Output(
            infected_only=args.infected,
            suppress_ok=args.suppress_ok,
            warnings_to_stdout=args.stdout,
            log=_log_stream(args, stack),
        )
        try:
            action = _action(args)
        except ActionError as exc:
            out.info(str(exc))
            return 2
        started_ns = time.time_ns()
        run = ScanRun(args, out, action)
        run.counts.start = started_ns / 1e9
        run.counts.engine_version = vigil.__version__
        factory, cache = (factory, None) if factory is not None else _cached_factory(args)
        run.recording = _recording(args, cache, started_ns)
        if run.recording is not None:
            out.journal = run.recording.journal
            run.recording.watch_database(args.database or [DEFAULT_DATABASE])
        try:
            database = RunDatabase(args, defer=cache is not None)
        except (SignatureError, DatabaseError) as exc:
            out.error(text.escape_path(str(exc)))
            run.finish()
            return 2
        except OSError as exc:
            out.error(text.escape_path(f"{exc.filename}: {exc.strerror}"))
            run.finish()
            return 2
        run.counts.known_viruses = database.facts.signature_count
        for warning in database.facts.warnings:  # skipped files and YARA sources that did not compile
            out.stderr(f"Vigil Warning: {text.escape_path(warning)}")
        try:
            run.scan(database, _paths(args, out), factory, cache)
        except (SignatureError, DatabaseError) as exc:  # a deferred load whose sources changed meanwhile
            out.error(text.escape_path(str(exc)))
            run.counts.errors += 1
        return run.finish()


def run_version_or_scan(args: argparse.Namespace) -> int:
    """`vigil scan -V` prints the version like `clamscan -V`; otherwise scan."""
    if args.version:
        print(f"Vigil {vigil.__version__}")
        return 0
    return run_scan(args)


def _recording(args: argparse.Namespace, cache: ScanCache | None, started_ns: int) -> Recording | None:
    """A recording for a replay, unless the run has effects beyond its output or reads what the walk
    does not see: actions, a log, stdin, a file list; JSON holds times. `args.invocation` is the command
    line as given (set by `cli.main`); without it, or without the scan cache, nothing is recorded."""
    argv = getattr(args, "invocation", None)
    unrepeatable = (args.json, args.log, args.move, args.copy, args.remove, args.quarantine, args.file_list,
                    "-" in args.paths)
    if cache is None or argv is None or any(unrepeatable):
        return None
    from vigil.cli.replay import Recording

    return Recording(argv, started_ns)


def _cached_factory(args: argparse.Namespace) -> tuple[EngineFactory | None, ScanCache | None]:
    """Engines share the persistent scan cache unless `--no-cache` (the cache opens per process)."""
    if args.no_cache:
        return None, None
    from vigil.engine.scancache import ScanCache, default_path

    cache = ScanCache(default_path())

    def factory(db: object, settings: ScanSettings) -> Scanner:
        from vigil.engine.core import Engine

        return Engine(db, settings, cache)  # type: ignore[arg-type]

    return factory, cache
