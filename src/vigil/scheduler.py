"""Scan backends: inline (one process) and a process pool; both yield reports in submission order.

Pool workers build their Engine once, in the pool initializer, and live for the whole run, so the
database is never loaded per file. Small files travel in batches to amortise IPC; a bounded window of
batches in flight keeps memory flat on huge trees while output stays in input order.
"""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

from vigil.errors import VigilError
from vigil.types import ScanReport, ScanSettings, ScanTarget, Verdict

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

#: Files per batch sent to a worker. Every batch's result costs the parent about 0.2 ms of pool machinery
#: (the manager thread's wait, wakeup and unpickling) on a core the workers need: batches of 16 files and
#: 1 MiB took the 117 MB bench corpus's first pass 1.50-1.60 s, of 64 files and 4 MiB 1.44-1.46 s. A run
#: starts at FIRST_BATCH_FILES and doubles with each batch, so a run of a few dozen files still
#: spreads over every worker.
BATCH_FILES = 64
FIRST_BATCH_FILES = 4
BATCH_BYTES = 4 << 20  # a file this large travels alone
WINDOW_PER_WORKER = 32  # batches in flight per worker: a slow big file must not stall the other workers

T = TypeVar("T")


class Scanner(Protocol):
    def scan(self, target: ScanTarget) -> ScanReport: ...


EngineFactory = Callable[[object, ScanSettings], Scanner]


class Deferred:
    """A database loaded on first use: a rescan that the scan cache answers entirely never needs one."""

    def __init__(self, load: Callable[[], object]) -> None:
        self._load = load
        self._value: object = None
        self._loaded = False

    def get(self) -> object:
        if not self._loaded:
            self._value, self._loaded = self._load(), True
        return self._value


def _resolve(db: object) -> object:
    return db.get() if isinstance(db, Deferred) else db


def _default_factory(db: object, settings: ScanSettings) -> Scanner:
    from vigil.engine import Engine

    engine: Scanner = Engine(db, settings)  # type: ignore[arg-type]
    return engine


def error_report(target: ScanTarget, reason: str) -> ScanReport:
    """A target the engine refused still gets a result line (`path: reason ERROR`), never a crash."""
    return ScanReport(target=target.display, verdict=Verdict.ERROR, detections=(), size=0, sha256="",
                      errors=(reason,))


def scan_one(scanner: Scanner, target: ScanTarget) -> ScanReport:
    """The one guard at the scheduler boundary: Vigil's own failures and I/O errors become reports."""
    try:
        return scanner.scan(target)
    except VigilError as exc:
        return error_report(target, str(exc) or type(exc).__name__)
    except OSError as exc:
        return error_report(target, exc.strerror or str(exc))


Precheck = Callable[[ScanTarget], ScanReport | None]


class InlineBackend:
    """Scans in the calling process; the reference for ordering and the `-j 1` path. The engine is built
    with the first target the precheck cannot answer."""

    def __init__(self, db: object, settings: ScanSettings, factory: EngineFactory = _default_factory,
                 precheck: Precheck | None = None) -> None:
        self._start = (db, settings, factory)
        self._precheck = precheck
        self._scanner: Scanner | None = None

    def run(self, targets: Iterable[ScanTarget]) -> Iterator[ScanReport]:
        for target in targets:
            answer = self._precheck(target) if self._precheck is not None else None
            yield answer if answer is not None else scan_one(self._engine(), target)

    def _engine(self) -> Scanner:
        if self._scanner is None:
            db, settings, factory = self._start
            self._scanner = factory(_resolve(db), settings)
        return self._scanner

    def close(self) -> None:
        """Nothing to release; present so both backends share one shape."""


_WORKER_SCANNER: Scanner | None = None


def _worker_init(db: object, settings: ScanSettings, factory: EngineFactory) -> None:
    global _WORKER_SCANNER
    _WORKER_SCANNER = factory(db, settings)


def _worker_batch(targets: list[ScanTarget]) -> list[ScanReport]:
    scanner = _WORKER_SCANNER
    if scanner is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker used before its initializer ran")
    return [scan_one(scanner, target) for target in targets]


def _target_size(target: ScanTarget) -> int:
    if target.data is not None:
        return len(target.data)
    if target.seen is not None:  # the walk's lstat: no second stat per file
        return target.seen.st_size
    if target.path is not None:
        try:
            return os.stat(target.path).st_size
        except OSError:
            return 0
    return 0


def batches(targets: Iterable[ScanTarget], max_files: int = BATCH_FILES) -> Iterator[list[ScanTarget]]:
    """Group consecutive small targets; order is preserved across and inside batches."""
    batch: list[ScanTarget] = []
    weight = 0
    for target in targets:
        size = _target_size(target)
        if batch and (len(batch) >= max_files or weight + size > BATCH_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(target)
        weight += size
    if batch:
        yield batch


class PoolBackend:
    """A process pool whose workers each hold one Engine for the whole run.

    `precheck` answers targets in this process when it can (the scan cache knows an unchanged file from
    its metadata), so only files that need scanning pay for the trip to a worker.
    """

    def __init__(self, db: object, settings: ScanSettings, jobs: int,
                 factory: EngineFactory = _default_factory, precheck: Precheck | None = None) -> None:
        self._jobs = jobs
        self._precheck = precheck
        self._start = (db, settings, factory)
        self._executor: ProcessPoolExecutor | None = None

    @property
    def _pool(self) -> ProcessPoolExecutor:
        """Workers start with the first file that needs one: a rescan answered by the cache forks none."""
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            db, settings, factory = self._start
            context = multiprocessing.get_context("fork")  # inherits the loaded DB without re-pickling it
            start = (_resolve(db), settings, factory)
            # what the workers inherit is never collected by them, so their collections do not write
            # to (and copy) the pages they share with this process, as the gc module's docs advise
            gc.freeze()
            self._executor = ProcessPoolExecutor(max_workers=self._jobs, mp_context=context,
                                                 initializer=_worker_init, initargs=start)
        return self._executor

    def run(self, targets: Iterable[ScanTarget]) -> Iterator[ScanReport]:
        window: deque[Future[list[ScanReport]] | list[ScanReport]] = deque()
        limit = self._jobs * WINDOW_PER_WORKER
        pending: list[ScanTarget] = []
        batch_files = FIRST_BATCH_FILES

        def submit() -> None:
            nonlocal batch_files
            for batch in batches(pending, batch_files):
                window.append(self._pool.submit(_worker_batch, batch))
                batch_files = min(2 * batch_files, BATCH_FILES)
            pending.clear()

        precheck = self._precheck
        for target in targets:
            answer = precheck(target) if precheck is not None else None
            if answer is None:
                pending.append(target)
                if len(pending) >= batch_files:
                    submit()
            elif not window and not pending:
                yield answer  # nothing before it is in flight (a cached rescan, file by file)
            else:
                submit()
                window.append([answer])
            while len(window) >= limit:
                yield from _results(window.popleft())
        submit()
        while window:
            yield from _results(window.popleft())

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


def _results(slot: Future[list[ScanReport]] | list[ScanReport]) -> list[ScanReport]:
    return slot if isinstance(slot, list) else slot.result()


Backend = InlineBackend | PoolBackend


def interleave(items: Iterable[T], target_of: Callable[[T], ScanTarget | None],
               backend: Backend) -> Iterator[tuple[T, ScanReport | None]]:
    """Pair each item with its report (None for items that are not scanned), in the items' order.

    Items that need no scan (notices) wait in a queue behind the file before them, so a parallel run
    prints exactly what a sequential one would.
    """
    pending: deque[tuple[T, bool]] = deque()  # each item, and whether a report belongs to it

    def targets() -> Iterator[ScanTarget]:
        for item in items:
            target = target_of(item)
            pending.append((item, target is not None))
            if target is not None:
                yield target

    for report in backend.run(targets()):
        while pending:
            item, scanned = pending.popleft()
            if scanned:
                yield item, report
                break
            yield item, None
    while pending:
        yield pending.popleft()[0], None


def make_backend(db: object, settings: ScanSettings, jobs: int,
                 factory: EngineFactory = _default_factory, precheck: Precheck | None = None) -> Backend:
    """`-j 1` scans inline, more jobs use the pool; `db` may be `Deferred`, loaded when first needed."""
    if jobs <= 1:
        return InlineBackend(db, settings, factory, precheck)
    return PoolBackend(db, settings, jobs, factory, precheck)
