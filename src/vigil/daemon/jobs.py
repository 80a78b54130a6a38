"""What the daemon asks of its workers, in protocol terms: reply lines for scans, VERSION, STATS, RELOAD.

Worker failures are answered per request (`<path>: Scan worker process died. ERROR`) and never reach
the connection loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import resource
import stat
import time
from collections.abc import Callable

from vigil import __version__
from vigil.daemon import ipc
from vigil.daemon import protocol as p
from vigil.daemon.cache import CleanCache
from vigil.daemon.child import WorkerSpec
from vigil.daemon.config import DaemonConfig
from vigil.daemon.treewalk import dir_display
from vigil.daemon.workers import DatabaseLoadFailed, Result, WorkerDied, WorkerPool

log = logging.getLogger("vigild")
STREAM_OK = p.ok_line(b"stream")


def worker_spec(config: DaemonConfig) -> WorkerSpec:
    paths = (config.database_directory,) if config.database_directory else None
    return WorkerSpec(db_paths=paths, settings=config.scan_settings(),
                      allmatch_settings=config.scan_settings(allmatch=True), policy=config.walk_policy(),
                      detect_pua=config.detect_pua)


class Jobs:
    def __init__(self, config: DaemonConfig, pool: WorkerPool) -> None:
        self.config = config
        self.pool = pool
        self.loaded_at = time.time()
        self.reloads = 0
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        self.cache = CleanCache(0 if config.disable_cache else config.cache_size, lambda: pool.generation)

    async def start(self) -> None:
        await self.pool.start(worker_spec(self.config))
        self.loaded_at = time.time()

    # -- informational -------------------------------------------------------------------------
    def version(self) -> bytes:
        info = self.pool.info
        when = info.official_time if info.official_time else self.loaded_at
        return p.version_string(__version__, info.official_version, when)

    def stats(self, config: DaemonConfig) -> bytes:
        """clamd's STATS block (documented as unstable); numbers are Vigil's own."""
        busy = self.pool.busy
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines = [
            "POOLS: 1", "", "STATE: VALID PRIMARY",
            f"THREADS: live {busy + 1}  idle {max(0, self.pool.size - busy)} max {config.max_threads} "
            f"idle-timeout {int(config.idle_timeout)}",
            f"QUEUE: {len(self.pool.pending)} items", "\tSTATS 0.000000 ", "",
            f"MEMSTATS: heap N/A mmap N/A used N/A free N/A releasable N/A pools 1 "
            f"pools_used {rss_mb:.3f}M pools_total {rss_mb:.3f}M",
            "END",
        ]
        return "\n".join(lines).encode()

    # -- reload ----------------------------------------------------------------------------------
    def request_reload(self) -> None:
        """RELOAD/SIGUSR2: reply at once, load beside the old database, coalesce repeated requests."""
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.pool.reload(worker_spec(self.config))
            except DatabaseLoadFailed as exc:
                log.error("database reload failed, keeping the loaded database: %s", exc)
            else:
                self.reloads += 1
                self.loaded_at = time.time()
                log.info("database reloaded")
            if not self._reload_again:
                return

    async def wait_reload(self) -> None:
        if self._reload_task is not None:
            await self._reload_task

    # -- scans -----------------------------------------------------------------------------------
    async def _lines(self, display: bytes, message: tuple[object, ...], fd: int | None = None) -> list[bytes]:
        try:
            lines: list[bytes] = await self.pool.run(message, fd)
        except WorkerDied:
            return [display + b": " + p.WORKER_DIED]
        for line in lines:
            if line.endswith(b" FOUND"):
                log.info("%s", line.decode(errors="replace"))
        return lines

    def scan_stream(self, payload: bytes, reply: Callable[[list[bytes]], None]) -> None:
        """A small INSTREAM held in memory: the clean cache answers, or one data frame to a worker."""
        digest = hashlib.sha256(payload).digest() if self.cache.size > 0 else b""
        if digest and self.cache.clean(digest):
            reply([STREAM_OK])
            return

        def done(result: Result) -> None:
            if result.error is not None:
                reply([b"stream: " + p.WORKER_DIED])
                return
            lines: list[bytes] = result.value
            if result.cacheable and digest:
                self.cache.store(digest, result.generation)
            for line in lines:
                if line.endswith(b" FOUND"):
                    log.info("%s", line.decode(errors="replace"))
            reply(lines)

        self.pool.submit(ipc.DATA, payload, None, done)

    async def path_scan(self, path: bytes, mode: str) -> list[bytes]:
        return await self._lines(path, ("path", path, mode))

    async def scan_fd(self, fd: int, display: str, *, owned: bool) -> list[bytes]:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return [display.encode() + b": " + p.NOT_REGULAR]
            return await self._lines(display.encode(), ("fd", display, False), fd)
        finally:
            if owned:
                os.close(fd)

    async def multiscan(self, path: bytes) -> list[bytes]:
        """The walk in one worker, then the files spread over all workers; order follows completion."""
        try:
            entries: list[tuple[str, bytes, bool]] = await self.pool.run(("list", path))
        except WorkerDied:
            return [path + b": " + p.WORKER_DIED]
        lines: list[bytes] = []
        scans = []
        for kind, value, last in entries:
            if kind == "line":
                lines.append(value)
                if last:
                    return lines
            elif last:
                return await self._lines(value, ("file", value, False))
            else:
                scans.append(self._lines(value, ("file", value, False)))
        infected = False
        for result in await asyncio.gather(*scans):
            if result[0].endswith((b" FOUND", b" ERROR")):
                lines.extend(result)
                infected = infected or result[0].endswith(b" FOUND")
        if not infected:
            lines.append(p.ok_line(dir_display(path)))
        return lines
