"""Crash isolation for parsers written in C: run them in a worker process a crash cannot take down the scan.

libarchive and friends are C code reading attacker bytes (see shared/docs/hostile-input.md: 7z, XAR and
UnRAR CVEs in ClamAV 1.4.5/1.4.6). So they run in `isolated_worker` processes under rlimits (address
space, CPU, no file writes, few descriptors, no privileges) and a wall-clock timeout enforced here. The
scan sees only outcomes it already knows: a crash becomes MalformedInput, a CPU or wall-clock overrun
and an exhausted address space become LimitExceeded, and the next archive gets a healthy worker.

The parent keeps the budgets: for each member the worker announces, the parent decides (skip links and
encrypted entries, `charge_file()`), grants `remaining_bytes()`, and the worker reads at most one byte
more than that. Workers are kept in a small pool and reused for `jobs_per_worker` archives to amortise
interpreter start-up (about 0.1 s); per-archive overhead with a warm worker is about a millisecond
(tests/unpack/test_isolated_pool.py measures it). Reuse means a worker corrupted by one archive could
misreport a later one in the same process; `jobs_per_worker=1` trades speed for strict separation.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import ByteView, Child, MemberInfo, ScanContext
from vigil.unpack import isolated_worker as wire

_SRC_ROOT = str(Path(wire.__file__).resolve().parents[2])
_DRAIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """Resource ceilings for one worker (memory is address space on top of the idle interpreter)."""

    memory_bytes: int = 768 << 20
    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    open_files: int = 16
    jobs_per_worker: int = 256


@dataclass(frozen=True, slots=True)
class Entry:
    """A member as the worker announced it: labels and claims, none of them trusted."""

    name: str
    size: int
    is_file: bool
    encrypted: bool


#: What a format tells `.cdb` signatures about an announced file, given its 1-based positions among the
#: files and among all entries (formats count differently).
Describe = Callable[[Entry, int, int], MemberInfo]


class _WorkerGone(Exception):
    """The worker's pipe closed or its deadline passed; the job's outcome is decided by how it ended."""


class Worker:
    """One worker process and its pipes."""

    def __init__(self, limits: WorkerLimits) -> None:
        args = [
            sys.executable, "-m", "vigil.unpack.isolated_worker",
            "--memory", str(limits.memory_bytes), "--nofile", str(limits.open_files),
            "--cpu", str(limits.cpu_seconds), "--jobs", str(limits.jobs_per_worker),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={"PYTHONPATH": _SRC_ROOT, "PATH": os.defpath}, start_new_session=True, close_fds=True,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._wfd, self._rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.jobs_left = limits.jobs_per_worker
        self._buffer = bytearray()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, tag: bytes, payload: bytes | bytearray | memoryview = b"") -> None:
        try:
            wire.write_frame(self._wfd, tag, payload)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _WorkerGone("pipe closed") from exc

    def recv(self, deadline: float) -> tuple[bytes, bytes]:
        tag, size = wire.FRAME.unpack(self._take(wire.FRAME.size, deadline))
        return tag, self._take(size, deadline)

    def _take(self, size: int, deadline: float) -> bytes:
        buf = self._buffer
        while len(buf) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._rfd], [], [], left)[0]:
                raise _WorkerGone("timeout")
            chunk = os.read(self._rfd, max(1 << 16, min(size - len(buf), 1 << 24)))
            if not chunk:
                raise _WorkerGone("pipe closed")
            buf += chunk
        out = bytes(buf[:size])
        del buf[:size]
        return out

    def kill(self) -> int:
        """Kill (if still alive) and reap; returns the exit status as Popen reports it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        status = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        return status


def _death(status: int) -> MalformedInput | LimitExceeded:
    """How a worker that died mid-job is reported: CPU exhaustion is a limit, anything else a parse issue."""
    if status == -signal.SIGXCPU:
        return LimitExceeded("MaxScanTime", "parser worker CPU limit")
    if status == wire.EXIT_NO_MEMORY:
        return LimitExceeded(wire.MEMORY_LIMIT, "parser worker address space")
    how = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
    return MalformedInput(f"parser worker died ({how})")


@dataclass(slots=True)
class _Job:
    """One archive's conversation with a worker; owns the budget decisions for each announced member."""

    worker: Worker
    ctx: ScanContext
    encrypted_alert: str
    deadline: float
    charge: bool = True
    describe: Describe | None = None
    pending: Entry | None = None
    pending_info: MemberInfo | None = None
    listed: Child | None = None  # an unreadable file to list for `.cdb` before the next record
    files: int = 0
    entries: int = 0
    awaiting_decision: bool = False
    finished: bool = False
    damaged: list[str] = field(default_factory=list)

    def on_header(self, payload: bytes) -> None:
        size, kind, encrypted = wire.HEADER_FMT.unpack_from(payload)
        name = payload[wire.HEADER_FMT.size :].decode("utf-8", "replace")
        entry = Entry(name, size, kind == wire.KIND_FILE, bool(encrypted))
        self.awaiting_decision = True
        info = None
        self.entries += 1
        if entry.is_file and self.describe is not None:
            self.files += 1
            info = self.describe(entry, self.files, self.entries)
        if entry.encrypted:
            self.ctx.note_alert(self.encrypted_alert)
        if entry.encrypted or not entry.is_file:
            self.awaiting_decision = False
            self.worker.send(wire.SKIP)
            if info is not None:
                self.listed = Child(entry.name, b"", info=info, listed_only=True)
            return
        if self.charge:
            self.ctx.charge_file()
        budget = self.ctx.remaining_bytes()
        if entry.size > budget:
            self.ctx.charge_bytes(entry.size)  # declared size over budget: raises the binding limit
        self.pending, self.pending_info = entry, info
        self.awaiting_decision = False
        self.worker.send(wire.READ, budget.to_bytes(8, "little"))

    def on_data(self, payload: bytes) -> Child:
        (flags,) = wire.DATA_FLAGS.unpack_from(payload)
        entry = self.pending
        if entry is None:
            raise MalformedInput("parser worker sent data nobody asked for")
        self.pending = None
        if flags & wire.OVER_BUDGET:
            self.ctx.charge_bytes(self.ctx.remaining_bytes() + 1)  # raises MaxFileSize or MaxScanSize
        body = payload[wire.DATA_FLAGS.size :]
        if self.charge:
            self.ctx.charge_bytes(len(body))
        if not flags & wire.COMPLETE:
            self.damaged.append(entry.name)
        return Child(name=entry.name, data=body, info=self.pending_info)

    def next_record(self) -> tuple[bytes, bytes]:
        self.ctx.check_time()
        return self.worker.recv(self.deadline)


class WorkerPool:
    """A few warm workers, handed out one job at a time; thread-safe, and not inherited across fork."""

    def __init__(self, limits: WorkerLimits | None = None, idle: int = 2) -> None:
        self.limits = limits or WorkerLimits()
        self._idle_max = idle
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()

    def busy_pids(self) -> list[int]:
        """Pids of workers running a job right now (for tests and diagnostics)."""
        with self._lock:
            return [w.pid for w in self._busy]

    def warm(self) -> None:
        """Start idle workers ahead of need, so the first archive does not pay for interpreter start-up."""
        with self._lock:
            while len(self._idle) < self._idle_max:
                self._idle.append(Worker(self.limits))

    def run(
        self,
        job: str,
        params: str,
        data: ByteView,
        ctx: ScanContext,
        encrypted_alert: str,
        *,
        charge: bool = True,
        describe: Describe | None = None,
    ) -> Generator[Child, None, None]:
        """Run `job` on `data` in a worker, yielding the members it reads within the scan's budgets.

        With `charge` off the members are granted `remaining_bytes()` but not charged: for decoders whose
        caller charges the result itself (a zip member decoded in a worker).
        """
        worker = self._acquire()
        state = _Job(worker, ctx, encrypted_alert, self._deadline(ctx), charge, describe)
        try:
            worker.send(wire.JOB, _job_payload(job, params, data))
            yield from self._converse(state)
        except _WorkerGone as exc:
            raise self._failure(worker, str(exc)) from None
        finally:
            self._release(worker, state.finished or self._wind_down(state))
        if state.damaged:
            raise MalformedInput(f"truncated or damaged members: {', '.join(state.damaged[:5])}")

    def _converse(self, state: _Job) -> Iterator[Child]:
        while True:
            tag, payload = state.next_record()
            if tag == wire.DATA:
                yield state.on_data(payload)
            elif tag in _TERMINAL_OUTCOMES:
                state.finished = True
                _TERMINAL_OUTCOMES[tag](payload)
                return
            else:
                _HANDLERS[tag](state, payload)
                if state.listed is not None:
                    listed, state.listed = state.listed, None
                    yield listed

    def _failure(self, worker: Worker, why: str) -> MalformedInput | LimitExceeded:
        if why == "timeout":
            worker.kill()
            return LimitExceeded("MaxScanTime", f"parser worker exceeded {self.limits.wall_seconds} s")
        try:
            status = worker.proc.wait(timeout=_DRAIN_SECONDS)
        except subprocess.TimeoutExpired:
            status = worker.kill()
        return _death(status)

    @staticmethod
    def _wind_down(state: _Job) -> bool:
        """The scan stopped early (detection, limit): tell the worker to quit and wait for its last word."""
        worker = state.worker
        if worker.proc.poll() is not None:
            return False
        deadline = time.monotonic() + _DRAIN_SECONDS
        try:
            if state.awaiting_decision:
                worker.send(wire.QUIT)
            while True:
                tag, _ = worker.recv(deadline)
                if tag == wire.HEADER:
                    worker.send(wire.QUIT)
                elif tag in wire.TERMINAL:
                    return True
        except _WorkerGone:
            return False

    def _deadline(self, ctx: ScanContext) -> float:
        deadline = time.monotonic() + self.limits.wall_seconds
        return min(deadline, ctx.deadline) if ctx.deadline is not None else deadline

    def _acquire(self) -> Worker:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None or worker.proc.poll() is not None:
            worker = Worker(self.limits)
        worker.jobs_left -= 1
        with self._lock:
            self._busy.add(worker)
        return worker

    def _release(self, worker: Worker, healthy: bool) -> None:
        """Back to the pool, or retired; a retired worker's successor starts now, while the scan goes on."""
        with self._lock:
            self._busy.discard(worker)
            keep = healthy and worker.jobs_left > 0 and len(self._idle) < self._idle_max
            if keep:
                self._idle.append(worker)
            elif len(self._idle) < self._idle_max:
                self._idle.append(Worker(self.limits))
        if not keep:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle + list(self._busy), []
            self._busy.clear()
        for worker in workers:
            worker.kill()


def _job_payload(job: str, params: str, data: ByteView) -> bytes:
    name, args = job.encode(), params.encode()
    return len(name).to_bytes(2, "little") + name + len(args).to_bytes(2, "little") + args + bytes(data)


def _raise_error(payload: bytes) -> None:
    raise MalformedInput(payload.decode("utf-8", "replace"))


def _raise_limit(payload: bytes) -> None:
    raise LimitExceeded(payload.decode("utf-8", "replace"), "in parser worker")


_TERMINAL_OUTCOMES: dict[bytes, Callable[[bytes], None]] = {
    wire.DONE: lambda _payload: None,
    wire.ERROR: _raise_error,
    wire.LIMIT: _raise_limit,
}


def _unexpected(state: _Job, payload: bytes) -> None:
    raise MalformedInput("parser worker broke protocol")


class _Handlers(dict[bytes, Callable[[_Job, bytes], None]]):
    def __missing__(self, key: bytes) -> Callable[[_Job, bytes], None]:
        return _unexpected


_HANDLERS = _Handlers(
    {
        wire.HEADER: _Job.on_header,
        wire.ALERT: lambda state, payload: state.ctx.note_alert(
            payload.decode("ascii", "replace") or state.encrypted_alert
        ),
        wire.ISSUE: lambda state, payload: state.ctx.note_issue(payload.decode("utf-8", "replace")),
    }
)

_pool: WorkerPool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool; a forked child (scheduler worker) gets its own instead of its parent's."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = WorkerPool(), os.getpid()
            atexit.register(_pool.close)
        return _pool


def set_default_pool(pool: WorkerPool) -> WorkerPool | None:
    """Install `pool` (e.g. with other WorkerLimits) as the process-wide pool; returns the previous one,
    which the caller should close."""
    global _pool, _pool_pid
    with _pool_lock:
        previous = _pool if _pool_pid == os.getpid() else None
        _pool, _pool_pid = pool, os.getpid()
        atexit.register(pool.close)
        return previous


def run_isolated(
    job: str, params: str, data: ByteView, ctx: ScanContext, encrypted_alert: str,
    describe: Describe | None = None,
) -> Generator[Child, None, None]:
    """Run a registered worker job on the default pool (see `WorkerPool.run`)."""
    return default_pool().run(job, params, data, ctx, encrypted_alert, describe=describe)
