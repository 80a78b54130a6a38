"""The crash-isolated worker pool with real processes: kills, crashes, stops, rlimits, reuse, overhead."""

from __future__ import annotations

import functools
import os
import signal
import statistics
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from test_libarchive_formats import S_IFREG, make_archive, newc

from vigil.engine import Engine
from vigil.errors import LimitExceeded, MalformedInput
from vigil.layer import Child, ScanContext
from vigil.signatures import load_database
from vigil.types import ScanLimits, ScanTarget, Verdict
from vigil.unpack import isolated
from vigil.unpack.isolated import WorkerLimits, WorkerPool

FILES = Path("/usr/share/clamav-testfiles")


@functools.cache
def _bomb() -> bytes:
    """48 MiB of zeros in a 7z: decoding it needs more address space than the tight pools below allow."""
    return make_archive("7zip", [("zeros", bytes(48 << 20))])


THREE = newc([(f"m{i}", S_IFREG, b"member %d" % i) for i in range(3)])


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    p = WorkerPool(WorkerLimits(wall_seconds=10.0))
    yield p
    p.close()


def _run(
    p: WorkerPool, data: bytes, fmt: str = "cpio", ctx: ScanContext | None = None
) -> Generator[Child, None, None]:
    return p.run("libarchive", fmt, data, ctx or ScanContext(ScanLimits()), "Heuristics.Encrypted.Test")


def _names(children: Iterator[Child]) -> list[str]:
    return [c.name for c in children]


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGKILL, "SIGKILL")])
def test_worker_killed_mid_archive_is_malformed_input_and_pool_recovers(
    pool: WorkerPool, sig: signal.Signals, expected: str
) -> None:
    children = _run(pool, THREE)
    assert next(children).name == "m0"
    (pid,) = pool.busy_pids()
    os.kill(pid, sig)
    with pytest.raises(MalformedInput, match=expected):
        list(children)
    assert pool.busy_pids() == []
    assert _names(_run(pool, THREE)) == ["m0", "m1", "m2"]


def test_a_stopped_worker_hits_the_wall_clock_and_is_killed() -> None:
    p = WorkerPool(WorkerLimits(wall_seconds=1.0))
    try:
        children = _run(p, THREE)
        next(children)
        (pid,) = p.busy_pids()
        os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.raises(LimitExceeded) as info:
            list(children)
        assert info.value.limit == "MaxScanTime"
        assert time.monotonic() - start < 5
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped
        assert _names(_run(p, THREE)) == ["m0", "m1", "m2"]
    finally:
        p.close()


def test_address_space_limit_is_a_reported_limit_and_the_next_job_works() -> None:
    p = WorkerPool(WorkerLimits(memory_bytes=16 << 20))
    try:
        bomb = _bomb()
        with pytest.raises(LimitExceeded) as info:
            list(_run(p, bomb, "7zip", ScanContext(ScanLimits(max_filesize=0, max_scansize=0))))
        assert info.value.limit == "MaxWorkerMemory"
        assert _names(_run(p, THREE)) == ["m0", "m1", "m2"]
    finally:
        p.close()


def test_worker_is_locked_down(pool: WorkerPool) -> None:
    children = _run(pool, THREE)
    next(children)
    (pid,) = pool.busy_pids()
    limits = Path(f"/proc/{pid}/limits").read_text()
    status = Path(f"/proc/{pid}/status").read_text()
    children.close()
    rows = {line[:26].strip(): line[26:].split() for line in limits.splitlines()[1:]}
    assert rows["Max file size"][:2] == ["0", "0"]
    assert rows["Max open files"][:2] == ["16", "16"]
    assert rows["Max core file size"][:2] == ["0", "0"]
    assert rows["Max address space"][0] != "unlimited"
    assert rows["Max cpu time"][0] != "unlimited"
    assert "NoNewPrivs:\t1" in status
    if os.geteuid() == 0:
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4


def test_closing_early_returns_the_worker_to_the_pool(pool: WorkerPool) -> None:
    children = _run(pool, THREE)
    next(children)
    (pid,) = pool.busy_pids()
    children.close()  # the scan found what it wanted
    children = _run(pool, THREE)
    assert next(children).name == "m0"
    assert pool.busy_pids() == [pid]
    children.close()


def test_a_limit_raised_by_the_parent_winds_the_job_down_cleanly(pool: WorkerPool) -> None:
    many = newc([(f"f{i}", S_IFREG, b"x") for i in range(10)])
    with pytest.raises(LimitExceeded):
        list(_run(pool, many, ctx=ScanContext(ScanLimits(max_files=2))))
    assert pool.busy_pids() == []
    assert len(_names(_run(pool, many))) == 10


def test_warm_per_archive_overhead_is_small(pool: WorkerPool) -> None:
    pool.warm()
    list(_run(pool, THREE))
    timings = []
    for _ in range(50):
        start = time.perf_counter()
        assert len(_names(_run(pool, THREE))) == 3
        timings.append(time.perf_counter() - start)
    median = statistics.median(timings)
    print(f"isolated per-archive overhead: median {median * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms")
    assert median < 0.02


@pytest.mark.skipif(not (FILES / "clam.exe").exists(), reason="clamav test files not installed")
def test_engine_reports_a_worker_failure_and_scans_the_next_file(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.7z"
    bomb.write_bytes(_bomb())
    previous = isolated.set_default_pool(WorkerPool(WorkerLimits(memory_bytes=16 << 20)))
    try:
        engine = Engine(load_database())
        report = engine.scan(ScanTarget(display="bomb.7z", path=str(bomb)))
        assert report.limits_hit == ("MaxWorkerMemory",)
        assert report.name == "Heuristics.Limits.Exceeded.MaxWorkerMemory"
        after = engine.scan(ScanTarget(display="clam.7z", path=str(FILES / "clam.7z")))
        assert (after.verdict, after.name) == (Verdict.INFECTED, "Vigil.Test.ClamExe")
    finally:
        replaced = isolated.set_default_pool(previous or WorkerPool())
        assert replaced is not None
        replaced.close()
