"""A pool of scan worker processes driven from the asyncio loop, with generations for RELOAD.

Each worker loads the database once at start (forkserver children: they inherit no client sockets).
Jobs wait in one queue; each worker's task pulls the next job when its process is free, so the loop
never waits on a scan. A worker that dies fails only its current job (WorkerDied) and is replaced.
RELOAD starts a whole new generation beside the old one; only when every new worker has loaded the
database does it take the queue, while old workers finish the job in hand and exit. If the new
database fails to load, the new generation is discarded and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import send_handle
from typing import Any

from vigil.daemon.child import WorkerSpec, worker_main

log = logging.getLogger("vigild")
RESPAWN_DELAY = 1.0


class WorkerDied(Exception):
    """The worker process running a job exited before answering."""


class DatabaseLoadFailed(Exception):
    """A new generation could not load the database; the message says why."""


@dataclass(slots=True)
class DatabaseInfo:
    official_version: int = 0
    official_time: int = 0
    signatures: int = 0


@dataclass(eq=False, slots=True)
class _Job:
    message: tuple[Any, ...]
    fd: int | None
    future: asyncio.Future[Any]


@dataclass(eq=False, slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    generation: int
    task: asyncio.Task[None] | None = None
    busy: bool = False


@dataclass(eq=False, slots=True)
class _Generation:
    number: int
    spec: WorkerSpec
    active: asyncio.Event = field(default_factory=asyncio.Event)
    workers: set[_Worker] = field(default_factory=set)
    ready: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vigil.daemon.child", "vigil.engine", "vigil.signatures"])
    return context


class WorkerPool:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.info = DatabaseInfo()
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.died = 0
        self._context = _context()
        self._current: _Generation | None = None
        self._serial = 0
        self._closing = False
        self._reaping: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> int:
        current = self._current
        return sum(w.busy for w in current.workers) if current else 0

    async def start(self, spec: WorkerSpec) -> None:
        """Start the first generation; raises DatabaseLoadFailed if the database does not load."""
        self._current = await self._spawn_generation(spec)
        self._current.active.set()

    async def reload(self, spec: WorkerSpec) -> None:
        """Swap in a generation built from `spec`; on failure the old one keeps serving."""
        new = await self._spawn_generation(spec)
        old, self._current = self._current, new
        new.active.set()
        if old is not None:
            self._retire(old)

    async def run(self, message: tuple[Any, ...], fd: int | None = None) -> Any:
        """Queue one job and wait for its answer; raises WorkerDied if its worker died."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(message, fd, future))
        return await future

    async def close(self) -> None:
        self._closing = True
        if self._current is not None:
            self._retire(self._current)
        while not self.queue.empty():
            self.queue.get_nowait().future.cancel()
        if self._reaping:
            await asyncio.wait(self._reaping, timeout=5)

    async def _spawn_generation(self, spec: WorkerSpec) -> _Generation:
        self._serial += 1
        generation = _Generation(self._serial, spec)
        for _ in range(self.size):
            self._spawn(generation)
        for _ in range(self.size):
            failure = await generation.ready.get()
            if failure is not None:
                self._retire(generation)
                raise DatabaseLoadFailed(failure)
        return generation

    def _spawn(self, generation: _Generation) -> None:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=worker_main, args=(generation.spec, child), daemon=True,
                                        name=f"vigild-worker-{generation.number}")
        process.start()
        child.close()
        worker = _Worker(process, parent, generation.number)
        generation.workers.add(worker)
        worker.task = asyncio.get_running_loop().create_task(self._serve(generation, worker))

    async def _serve(self, generation: _Generation, worker: _Worker) -> None:
        try:
            hello = await _receive(worker.conn)
        except WorkerDied:
            hello = ("fail", "worker exited while loading the database")
        if hello[0] != "ready":
            self._forget(generation, worker)
            if generation is not self._current:
                generation.ready.put_nowait(str(hello[1]))
            elif not self._closing:
                log.error("replacement worker failed to load the database: %s", hello[1])
                await asyncio.sleep(RESPAWN_DELAY)
                self._spawn(generation)
            return
        if generation is self._current:  # a replacement: nobody waits on `ready`
            log.info("worker %s replaced", worker.process.pid)
        else:
            generation.ready.put_nowait(None)
        self.info = DatabaseInfo(int(hello[1]), int(hello[2]), int(hello[3]))
        await generation.active.wait()
        try:
            await self._jobs(generation, worker)
        except WorkerDied:
            self.died += 1
            log.error("worker %s died (exit code %s)", worker.process.pid, worker.process.exitcode)
            self._forget(generation, worker)
            if generation is self._current and not self._closing:
                await asyncio.sleep(0.05)
                self._spawn(generation)
            return
        self._forget(generation, worker)

    async def _jobs(self, generation: _Generation, worker: _Worker) -> None:
        while generation is self._current and not self._closing:
            job = await self._next_job(worker)
            if job.future.done():
                continue
            worker.busy = True
            try:
                result = await _exchange(worker, job)
            except WorkerDied:
                if not job.future.done():
                    job.future.set_exception(WorkerDied())
                raise
            finally:
                worker.busy = False
            if not job.future.done():
                job.future.set_result(result)

    async def _next_job(self, worker: _Worker) -> _Job:
        """The next job, or WorkerDied if the idle worker's socket closes first (no job is lost)."""
        loop = asyncio.get_running_loop()
        dead: asyncio.Future[None] = loop.create_future()
        fileno = worker.conn.fileno()
        loop.add_reader(fileno, lambda: _wake(dead))
        getter = asyncio.ensure_future(self.queue.get())
        try:
            await asyncio.wait((getter, dead), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if getter.done() and not getter.cancelled():
                self.queue.put_nowait(getter.result())
            raise
        finally:
            loop.remove_reader(fileno)
            if not getter.done():
                getter.cancel()
        if dead.done():
            if getter.done() and not getter.cancelled():
                self.queue.put_nowait(getter.result())
            raise WorkerDied()
        return getter.result()

    def _retire(self, generation: _Generation) -> None:
        """Idle workers stop now; a busy one stops after the job in hand (its task sees the swap)."""
        for worker in list(generation.workers):
            if not worker.busy and worker.task is not None:
                worker.task.cancel()
                self._forget(generation, worker)

    def _forget(self, generation: _Generation, worker: _Worker) -> None:
        if worker not in generation.workers:
            return
        generation.workers.discard(worker)
        worker.conn.close()
        task = asyncio.get_running_loop().create_task(_reap(worker.process))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)


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


async def _readable(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fileno = conn.fileno()
    loop.add_reader(fileno, lambda: _wake(ready))
    try:
        await ready
    finally:
        loop.remove_reader(fileno)


async def _receive(conn: Connection) -> tuple[Any, ...]:
    try:
        await _readable(conn)
        message: tuple[Any, ...] = conn.recv()
    except (EOFError, OSError) as exc:
        raise WorkerDied() from exc
    return message


async def _exchange(worker: _Worker, job: _Job) -> Any:
    try:
        worker.conn.send(job.message)
        if job.fd is not None:
            send_handle(worker.conn, job.fd, worker.process.pid or 0)
    except OSError as exc:
        raise WorkerDied() from exc
    answer = await _receive(worker.conn)
    return answer[1]


def pool_size(max_threads: int, workers: int) -> int:
    """clamd's MaxThreads caps the pool; by default one worker per CPU is enough for CPU-bound scans."""
    if workers > 0:
        return workers
    return max(1, min(max_threads, os.cpu_count() or 1))


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
