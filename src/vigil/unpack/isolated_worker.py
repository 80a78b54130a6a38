"""The worker side of crash isolation: a hardened process that runs C-library parsers on hostile bytes.

It is started by `vigil.unpack.isolated` (never by hand), imports its job modules, then locks itself
down before it reads a single hostile byte: no files may be written (RLIMIT_FSIZE=0), no descriptors
opened beyond a handful (RLIMIT_NOFILE), address space capped (RLIMIT_AS), no core dumps, no new
privileges, root dropped to nobody, no child processes, killed with its parent. A memory-corruption bug
in libarchive then costs one worker, not the scan; a hang costs a CPU-limit signal or a parent's kill.

Jobs talk to the parent through `Channel`: `offer()` a member's header and let the parent decide (it
owns the budgets), then send the member's bytes read up to the budget the parent granted. The wire
format is `tag (1 byte) | length (u64 LE) | payload`; nothing is pickled.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import resource
import signal
import struct
from collections.abc import Callable

#: Job name -> "module:function" run in the worker; resolved (imported) before the worker locks down.
JOBS: dict[str, str] = {
    "libarchive": "vigil.unpack.libarchive_formats:read_job",
    "deflate64": "vigil.unpack.zip_methods:deflate64_job",
}

# Worker -> parent
HEADER, DATA, ALERT, ISSUE, ERROR, LIMIT, DONE = b"H", b"D", b"A", b"I", b"E", b"L", b"Z"
# Parent -> worker
JOB, READ, SKIP, QUIT = b"J", b"R", b"S", b"Q"
TERMINAL = frozenset({DONE, ERROR, LIMIT})

FRAME = struct.Struct("<cQ")
HEADER_FMT = struct.Struct("<qBB")  # declared size (-1 unknown), kind, encrypted
DATA_FLAGS = struct.Struct("<B")
COMPLETE, OVER_BUDGET = 1, 2
KIND_FILE, KIND_OTHER = 0, 1
NOBODY = 65534
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
MEMORY_LIMIT = "MaxWorkerMemory"
#: Exit status of a worker that ran out of address space outside a job (reading a large request).
EXIT_NO_MEMORY = 3


class JobQuit(Exception):
    """The parent has what it needs (a detection, a limit): stop the job quietly."""


class JobMalformed(Exception):
    """The input does not parse; becomes MalformedInput in the scan."""


class JobLimit(Exception):
    """The job ran out of a budget; `args[0]` is the limit name."""


def read_exact(fd: int, size: int) -> bytes:
    """Exactly `size` bytes from a blocking descriptor; EOFError when the other side is gone."""
    parts: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def write_frame(fd: int, tag: bytes, payload: bytes | bytearray | memoryview = b"") -> None:
    view = memoryview(FRAME.pack(tag, len(payload)) + bytes(payload)) if len(payload) < 65536 else None
    if view is None:
        _write_all(fd, memoryview(FRAME.pack(tag, len(payload))))
        view = memoryview(payload).cast("B")
    _write_all(fd, view)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view[: 1 << 20])
        view = view[written:]


class Channel:
    """The job's only way out of the worker."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self._rfd, self._wfd = rfd, wfd

    def send(self, tag: bytes, payload: bytes | bytearray | memoryview = b"") -> None:
        write_frame(self._wfd, tag, payload)

    def recv(self) -> tuple[bytes, bytes]:
        tag, size = FRAME.unpack(read_exact(self._rfd, FRAME.size))
        return tag, read_exact(self._rfd, size)

    def offer(self, name: str, size: int, kind: int, encrypted: bool) -> int | None:
        """Announce a member; the parent answers with a byte budget, or None to skip it."""
        raw_name = name.encode("utf-8", "surrogateescape")
        self.send(HEADER, HEADER_FMT.pack(size, kind, int(encrypted)) + raw_name)
        tag, payload = self.recv()
        if tag == READ:
            return int.from_bytes(payload, "little")
        if tag == SKIP:
            return None
        raise JobQuit

    def member(self, data: bytes | bytearray, *, complete: bool, over_budget: bool) -> None:
        flags = (COMPLETE if complete else 0) | (OVER_BUDGET if over_budget else 0)
        body = b"" if over_budget else data
        self.send(DATA, DATA_FLAGS.pack(flags) + bytes(body))

    def alert(self, name: str) -> None:
        """A heuristic finding; the empty name stands for the caller's encrypted-archive alert."""
        self.send(ALERT, name.encode())

    def issue(self, text: str) -> None:
        self.send(ISSUE, text.encode("utf-8", "replace"))


Job = Callable[[bytes, str, Channel], None]


def _resolve_jobs() -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for name, target in JOBS.items():
        module_name, _, func = target.partition(":")
        module = importlib.import_module(module_name)
        setup = getattr(module, "WORKER_SETUP", None)
        if setup is not None:
            setup()  # the job's C libraries, loaded while the worker may still open files
        jobs[name] = getattr(module, func)
    return jobs


def _vm_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def harden(memory: int, nofile: int, cpu_total: int) -> None:
    """Lock the process down; called once, after imports, before any hostile byte is read."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    address_space = _vm_bytes() + memory
    for limit, value in (
        (resource.RLIMIT_AS, address_space),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, nofile),
        (resource.RLIMIT_CPU, cpu_total),
    ):
        resource.setrlimit(limit, (value, value))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _cpu_for_next_job(cpu: int) -> None:
    """Per-job CPU allowance under the fixed lifetime cap: SIGXCPU ends a job that spins."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (min(hard, int(usage.ru_utime + usage.ru_stime) + 1 + cpu), hard))


def _run_one(jobs: dict[str, Job], chan: Channel, payload: bytes) -> None:
    name_len = int.from_bytes(payload[:2], "little")
    name = payload[2 : 2 + name_len].decode()
    params_len = int.from_bytes(payload[2 + name_len : 4 + name_len], "little")
    params = payload[4 + name_len : 4 + name_len + params_len].decode()
    data = payload[4 + name_len + params_len :]
    try:
        jobs[name](data, params, chan)
    except JobQuit:
        pass
    except JobMalformed as exc:
        chan.send(ERROR, str(exc).encode("utf-8", "replace"))
        return
    except (JobLimit, MemoryError) as exc:
        limit = exc.args[0] if isinstance(exc, JobLimit) else MEMORY_LIMIT
        chan.send(LIMIT, str(limit).encode())
        return
    chan.send(DONE)


def serve(jobs: dict[str, Job], max_jobs: int, cpu: int) -> None:
    chan = Channel(0, 1)
    for _ in range(max_jobs):
        try:
            tag, payload = chan.recv()
        except EOFError:
            return
        if tag != JOB:
            return
        _cpu_for_next_job(cpu)
        _run_one(jobs, chan, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description="vigil isolated parser worker (started by vigil)")
    for flag in ("--memory", "--nofile", "--cpu", "--jobs"):
        parser.add_argument(flag, type=int, required=True)
    args = parser.parse_args()
    jobs = _resolve_jobs()  # import before locking down: imports open files
    harden(args.memory, args.nofile, (args.cpu + 1) * args.jobs)
    try:
        serve(jobs, args.jobs, args.cpu)
    except MemoryError:
        os._exit(EXIT_NO_MEMORY)


if __name__ == "__main__":
    # Run from the imported module, not __main__: jobs raise this module's exception classes.
    from vigil.unpack import isolated_worker

    isolated_worker.main()
