"""A pool of scan worker processes driven by callbacks on the asyncio loop, with generations for RELOAD.

Each worker loads the database once at start (forkserver children: they inherit no client sockets) and
keeps one socketpair to the daemon for its whole life, carrying length-prefixed frames (`ipc.py`).
Jobs wait in one FIFO; whenever a worker is free the next job is written to it at once, and its reply
is read by a reader callback registered once per worker, so a job costs no task, queue or future on
the loop (`run` wraps one in a future for the coroutine callers). The loop never waits on a scan.

A worker that dies fails only the job it was scanning (WorkerDied) and is replaced. RELOAD starts a
whole new generation beside the old one; only when every new worker has loaded the database does it
take the queue, while old workers finish the job in hand and exit. If the new database fails to load,
the new generation is discarded and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from vigil.daemon import ipc
from vigil.daemon.child import WorkerSpec, worker_main

log = logging.getLogger("vigild")
RESPAWN_DELAY = 1.0
DIED_RESPAWN_DELAY = 0.05


class WorkerDied(Exception):
    """The worker process running a job exited before answering."""


class DatabaseLoadFailed(Exception):
    """A new generation could not load the database; the message says why."""


@dataclass(slots=True)
class DatabaseInfo:
    official_version: int = 0
    official_time: int = 0
    signatures: int = 0


@dataclass(slots=True)
class Result:
    """A job's outcome: the worker's answer, or `error`; `cacheable` only for a complete clean scan."""

    value: Any = None
    cacheable: bool = False
    generation: int = 0
    error: WorkerDied | None = None


Done = Callable[[Result], None]


@dataclass(eq=False, slots=True)
class Job:
    kind: bytes
    body: bytes
    fd: int | None
    done: Done


@dataclass(eq=False, slots=True)
class _Generation:
    number: int
    spec: WorkerSpec
    loaded: asyncio.Future[None]
    waiting: int
    workers: set[_Worker] = field(default_factory=set)
    retired: bool = False


@dataclass(eq=False, slots=True)
class _Worker:
    process: BaseProcess
    sock: socket.socket
    generation: _Generation
    reader: ipc.FrameReader = field(default_factory=ipc.FrameReader)
    inflight: deque[Job] = field(default_factory=deque)
    out: tuple[memoryview, int | None] | None = None  # the unsent rest of a frame, and its fd
    writing: bool = False  # a writer callback is registered for `out`
    ready: bool = False
    dead: bool = False


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vigil.daemon.child", "vigil.engine", "vigil.signatures"])
    return context


class WorkerPool:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.info = DatabaseInfo()
        self.pending: deque[Job] = deque()
        self.died = 0
        self._context = _context()
        self._current: _Generation | None = None
        self._serial = 0
        self._closing = False
        self._reaping: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> int:
        current = self._current
        return sum(1 for w in current.workers if w.inflight) if current else 0

    @property
    def generation(self) -> int:
        """The serving generation's number; answers from older ones must not be cached."""
        return self._current.number if self._current else 0

    async def start(self, spec: WorkerSpec) -> None:
        """Start the first generation; raises DatabaseLoadFailed if the database does not load."""
        self._current = await self._spawn_generation(spec)

    async def reload(self, spec: WorkerSpec) -> None:
        """Swap in a generation built from `spec`; on failure the old one keeps serving."""
        new = await self._spawn_generation(spec)
        old, self._current = self._current, new
        if old is not None:
            self._retire(old)
        self._dispatch()

    def submit(self, kind: bytes, body: bytes, fd: int | None, done: Done) -> None:
        """Queue one job; `done` is called on the loop with its Result. The caller keeps owning `fd`."""
        self.pending.append(Job(kind, body, fd, done))
        self._dispatch()

    async def run(self, message: tuple[Any, ...], fd: int | None = None) -> Any:
        """Run one pickled job and wait for its answer; raises WorkerDied if its worker died."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Result) -> None:
            if future.done():
                return
            if result.error is not None:
                future.set_exception(result.error)
            else:
                future.set_result(result.value)

        self.submit(ipc.JOB, bytes(ForkingPickler.dumps(message)), fd, done)
        return await future

    async def close(self) -> None:
        self._closing = True
        if self._current is not None:
            self._retire(self._current)
        while self.pending:
            self.pending.popleft().done(Result(error=WorkerDied()))
        if self._reaping:
            await asyncio.wait(self._reaping, timeout=5)

    # -- generations -------------------------------------------------------------------------------
    async def _spawn_generation(self, spec: WorkerSpec) -> _Generation:
        self._serial += 1
        loop = asyncio.get_running_loop()
        generation = _Generation(self._serial, spec, loop.create_future(), self.size)
        for _ in range(self.size):
            self._spawn(generation)
        try:
            await generation.loaded
        except DatabaseLoadFailed:
            self._retire(generation)
            raise
        return generation

    def _spawn(self, generation: _Generation) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ipc.tune(parent)
        ipc.tune(child)
        process = self._context.Process(target=worker_main, args=(generation.spec, child), daemon=True,
                                        name=f"vigild-worker-{generation.number}")
        process.start()
        child.close()
        parent.setblocking(False)
        worker = _Worker(process, parent, generation)
        generation.workers.add(worker)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._readable, worker)

    def _respawn(self, generation: _Generation) -> None:
        if generation is self._current and not self._closing:
            self._spawn(generation)

    def _retire(self, generation: _Generation) -> None:
        """Idle workers stop now; a busy one stops after the jobs in hand (see `_answer`)."""
        generation.retired = True
        for worker in list(generation.workers):
            if not worker.inflight:
                self._forget(worker)

    # -- dispatch ----------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        current = self._current
        if current is None or current.retired:
            return
        while self.pending:
            worker = _free_worker(current)
            if worker is None:
                return
            self._send(worker, self.pending.popleft())

    def _send(self, worker: _Worker, job: Job) -> None:
        worker.inflight.append(job)
        data = memoryview(ipc.frame(job.kind, job.body, job.fd is not None))
        worker.out = (data, job.fd)
        self._flush(worker)

    def _flush(self, worker: _Worker) -> None:
        """Write what is left of the current frame; the fd goes with its first byte."""
        if worker.out is None or worker.dead:
            return
        data, fd = worker.out
        try:
            sent = (socket.send_fds(worker.sock, [data], [fd]) if fd is not None
                    else worker.sock.send(data))
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._died(worker)
            return
        loop = asyncio.get_running_loop()
        if sent == len(data):
            worker.out = None
            if worker.writing:
                loop.remove_writer(worker.sock.fileno())
                worker.writing = False
            return
        worker.out = (data[sent:], fd if sent == 0 else None)
        if not worker.writing:
            loop.add_writer(worker.sock.fileno(), self._flush, worker)
            worker.writing = True

    # -- answers -----------------------------------------------------------------------------------
    def _readable(self, worker: _Worker) -> None:
        try:
            data = worker.sock.recv(ipc.RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._died(worker)
            return
        worker.reader.feed(data, [])
        while not worker.dead and (item := worker.reader.next()) is not None:
            self._answer(worker, ForkingPickler.loads(item[1]))  # from our own worker, never a client
        self._dispatch()

    def _answer(self, worker: _Worker, reply: tuple[str, Any, bool]) -> None:
        status, value, cacheable = reply
        if not worker.ready:
            self._hello(worker, status, value)
            return
        job = worker.inflight.popleft()
        generation = worker.generation
        if generation.retired and not worker.inflight:
            self._forget(worker)
        job.done(Result(value, cacheable, generation.number))

    def _hello(self, worker: _Worker, status: str, value: Any) -> None:
        generation = worker.generation
        if status != "ready":
            self._forget(worker)
            if not generation.loaded.done():
                generation.loaded.set_exception(DatabaseLoadFailed(str(value)))
            elif generation is self._current and not self._closing:
                log.error("replacement worker failed to load the database: %s", value)
                asyncio.get_running_loop().call_later(RESPAWN_DELAY, self._respawn, generation)
            return
        worker.ready = True
        self.info = DatabaseInfo(int(value[0]), int(value[1]), int(value[2]))
        if generation.retired:  # a replacement that finished loading after a swap or a failed load
            self._forget(worker)
            return
        if generation.loaded.done():
            log.info("worker %s replaced", worker.process.pid)
            return
        generation.waiting -= 1
        if generation.waiting == 0:
            generation.loaded.set_result(None)

    def _died(self, worker: _Worker) -> None:
        if worker.dead:
            return
        jobs = list(worker.inflight)
        worker.inflight.clear()
        self._forget(worker)
        if not worker.ready:
            self._hello(worker, "fail", "worker exited while loading the database")
            return
        self.died += 1
        log.error("worker %s died (exit code %s)", worker.process.pid, worker.process.exitcode)
        self.pending.extendleft(reversed(jobs[1:]))  # never started: they go to another worker
        generation = worker.generation
        if generation is self._current and not self._closing:
            asyncio.get_running_loop().call_later(DIED_RESPAWN_DELAY, self._respawn, generation)
        if jobs:
            jobs[0].done(Result(error=WorkerDied()))
        self._dispatch()

    def _forget(self, worker: _Worker) -> None:
        if worker.dead:
            return
        worker.dead = True
        worker.generation.workers.discard(worker)
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.sock.fileno())
        loop.remove_writer(worker.sock.fileno())
        worker.reader.close()
        worker.sock.close()
        task = loop.create_task(_reap(worker.process))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)


def _free_worker(generation: _Generation) -> _Worker | None:
    for worker in generation.workers:
        if worker.ready and not worker.inflight:
            return worker
    return None


async def _reap(process: BaseProcess) -> None:
    """Wait for a process to exit without blocking the loop; kill it if it does not go on its own."""
    for _ in range(50):
        if process.exitcode is not None:
            process.join()
            return
        await asyncio.sleep(0.05)
    process.kill()
    await asyncio.sleep(0.1)
    process.join(0)


def pool_size(max_threads: int, workers: int) -> int:
    """clamd's MaxThreads caps the pool; by default one worker per CPU is enough for CPU-bound scans."""
    if workers > 0:
        return workers
    return max(1, min(max_threads, os.cpu_count() or 1))
