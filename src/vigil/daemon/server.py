"""The asyncio side of vigild: listeners, the per-connection command loop and IDSESSION.

One command per connection unless IDSESSION; in a session, scans run as tasks and their replies are
written whole as they finish (clients match them by id), while PING/VERSION/STATS answer inline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from vigil.daemon import protocol as p
from vigil.daemon.config import DaemonConfig
from vigil.daemon.connection import ClientConnection, Closed, Timeout
from vigil.daemon.fastpath import HANDOFF_AFTER, SWEEP_EVERY, Acceptor, FirstRequest
from vigil.daemon.jobs import Jobs
from vigil.daemon.protocol import Command, Framing

log = logging.getLogger("vigild")


class _Abort(Exception):
    """Stop this connection now (after any reply already sent)."""

    def __init__(self, reset: bool = False, drain: bool = False) -> None:
        super().__init__()
        self.reset = reset
        self.drain = drain


@dataclass(slots=True)
class _Request:
    conn: ClientConnection
    command: Command
    request_id: int | None

    def wrap(self, lines: list[bytes]) -> bytes:
        return p.replies(lines, self.command.term, self.request_id)


Handler = Callable[["Server", _Request], Awaitable[bytes | None]]


class Server:
    def __init__(self, config: DaemonConfig, jobs: Jobs) -> None:
        self.config = config
        self.jobs = jobs
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.connections: set[asyncio.Task[None]] = set()
        self.fast: dict[FirstRequest, None] = {}  # first requests being read, oldest first
        self.fast_busy: set[FirstRequest] = set()  # first requests waiting for their scan
        self._acceptors: list[Acceptor] = []
        self._sweeping = False

    # -- listeners -----------------------------------------------------------------------------
    def serve(self, listeners: list[socket.socket]) -> None:
        self._acceptors = [Acceptor(self, listener) for listener in listeners]

    def stop_accepting(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        self._acceptors = []

    async def close(self) -> None:
        self.stop_accepting()
        for request in list(self.fast):
            request.handoff()
        deadline = time.monotonic() + 5
        while self.fast_busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.connections:
            await asyncio.wait(self.connections, timeout=max(0.0, deadline - time.monotonic()))

    # -- the fast path's hooks (fastpath.py) -----------------------------------------------------
    def fast_started(self, request: FirstRequest) -> None:
        self.fast[request] = None
        if not self._sweeping:
            self._sweeping = True
            self.loop.call_later(SWEEP_EVERY, self._sweep)

    def fast_done(self, request: FirstRequest) -> None:
        self.fast.pop(request, None)

    def _sweep(self) -> None:
        """Requests not complete within HANDOFF_AFTER go to the general path, which owns timeouts."""
        now = time.monotonic()
        for request in list(self.fast):
            if now - request.started < HANDOFF_AFTER:
                break
            request.handoff()
        self._sweeping = bool(self.fast)
        if self._sweeping:
            self.loop.call_later(SWEEP_EVERY, self._sweep)

    def adopt(self, conn: ClientConnection, started: float) -> None:
        self._track(self._client(conn, started))

    def finish_reply(self, conn: ClientConnection, rest: bytes) -> None:
        """The rest of a fast-path reply the socket could not take at once."""
        async def send() -> None:
            await conn.send(rest, self.config.read_timeout)
            conn.close()

        self._track(send())

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    # -- one connection --------------------------------------------------------------------------
    async def _client(self, conn: ClientConnection, started: float) -> None:
        try:
            await self._first_command(conn, started)
        except _Abort as abort:
            if abort.drain:
                await conn.drain_and_close()
                return
            conn.close(reset=abort.reset)
            return
        conn.close()

    async def _read_command(self, conn: ClientConnection, timeout: float, first: bool,
                            started: float | None = None) -> Command:
        deadline = (time.monotonic() if started is None else started) + timeout
        while True:
            try:
                command, used = p.split_command(bytes(conn.buf), first_read=first)
            except p.Incomplete:
                if conn.eof:
                    raise _Abort() from None
                await self._fill(conn, deadline, max(1, p.COMMAND_MAX - len(conn.buf)))
                continue
            except p.Oversize:
                raise _Abort(reset=True) from None
            del conn.buf[:used]
            return command

    async def _fill(self, conn: ClientConnection, deadline: float, size: int = 1 << 16) -> None:
        try:
            await conn.fill(deadline, size)
        except Timeout:
            await conn.send(p.COMMAND_READ_TIMED_OUT, self.config.read_timeout)
            raise _Abort() from None

    async def _first_command(self, conn: ClientConnection, started: float) -> None:
        command = await self._read_command(conn, self.config.command_read_timeout, True, started)
        if command.name == b"IDSESSION" and command.framing is not Framing.OLD:
            await self._session(conn, command.term)
            return
        request = _Request(conn, command, None)
        if not p.allowed(command, in_session=False, first_read=True):
            await conn.send(p.reply(p.UNKNOWN_COMMAND, command.term), self.config.read_timeout)
            return
        misuse = p.fd_with_command(command) if conn.fds and not conn.buf else None
        if misuse is not None:
            await conn.send(misuse, self.config.read_timeout)
            return
        answer = await HANDLERS[command.name](self, request)
        if answer is not None:
            await conn.send(answer, self.config.read_timeout)

    async def _session(self, conn: ClientConnection, session_term: bytes) -> None:
        pending: set[asyncio.Task[None]] = set()
        request_id = 0
        try:
            while True:
                try:
                    command = await self._read_command(conn, self.config.read_timeout, False)
                except _Abort:
                    await _settle(pending)
                    raise
                request_id += 1
                if command.name == b"END":
                    break
                await self._session_command(conn, command, request_id, session_term, pending)
        finally:
            await _settle(pending)

    async def _session_command(self, conn: ClientConnection, command: Command, request_id: int,
                               session_term: bytes, pending: set[asyncio.Task[None]]) -> None:
        timeout = self.config.read_timeout
        if command.framing is Framing.OLD:
            await conn.send(p.replies([p.OLD_STYLE_IN_SESSION, p.ERROR_PROCESSING], session_term, request_id),
                            timeout)
            raise _Abort()
        if not p.allowed(command, in_session=True, first_read=False):
            await conn.send(p.reply(p.INVALID_IN_SESSION, command.term, request_id), timeout)
            raise _Abort()
        request = _Request(conn, command, request_id)
        if command.name in INLINE:
            answer = await HANDLERS[command.name](self, request)
            if answer is not None:
                await conn.send(answer, timeout)
            return
        # the stream or fd is read now, in order; the scan and its reply happen in the background
        job = await PREPARE.get(command.name, _no_prepare)(self, request)
        task = asyncio.get_running_loop().create_task(self._background(request, job))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def _background(self, request: _Request, job: Awaitable[bytes]) -> None:
        answer = await job
        await request.conn.send(answer, self.config.read_timeout)

    # -- helpers for handlers --------------------------------------------------------------------
    async def receive_fd(self, request: _Request) -> int | None:
        """FILDES: the fd arrives with the command or in the next packet (a 1-byte payload)."""
        conn = request.conn
        if not conn.fds and not conn.buf and conn.unix and not conn.eof:
            await self._fill(conn, time.monotonic() + self.config.command_read_timeout)
        fd = conn.take_fd()
        if fd is not None and conn.buf[:1] == b"\0":
            del conn.buf[:1]
        return fd

    async def receive_stream(self, request: _Request) -> int:
        """INSTREAM into a memfd: chunk headers checked against StreamMaxLength before any data."""
        conn = request.conn
        memfd = os.memfd_create("vigild-instream", os.MFD_CLOEXEC)
        remaining = self.config.stream_max_length
        try:
            while True:
                deadline = time.monotonic() + self.config.read_timeout
                try:
                    size = p.chunk_length(await conn.read_exact(4, deadline))
                    if size == 0:
                        return memfd
                    if size > remaining:
                        await conn.send(request.wrap([p.SIZE_LIMIT]), self.config.read_timeout)
                        raise _Abort(drain=True)
                    remaining -= size
                    await conn.read_into(memfd, size, deadline)
                except Timeout:
                    await conn.send(p.COMMAND_READ_TIMED_OUT, self.config.read_timeout)
                    raise _Abort() from None
                except Closed:
                    raise _Abort() from None
        except BaseException:
            os.close(memfd)
            raise


async def _settle(pending: set[asyncio.Task[None]]) -> None:
    if pending:
        await asyncio.wait(set(pending))


async def _done(value: bytes) -> bytes:
    return value


async def _no_prepare(server: Server, request: _Request) -> Awaitable[bytes]:
    """A path scan reads nothing more from the socket: all of it runs in the background."""
    return _answer(server, request)


async def _answer(server: Server, request: _Request) -> bytes:
    return await HANDLERS[request.command.name](server, request) or b""


# -- command handlers ---------------------------------------------------------------------------------
async def _ping(server: Server, request: _Request) -> bytes:
    return request.wrap([b"PONG"])


async def _version(server: Server, request: _Request) -> bytes:
    return request.wrap([server.jobs.version()])


async def _versioncommands(server: Server, request: _Request) -> bytes:
    return request.wrap([p.versioncommands(server.jobs.version())])


async def _stats(server: Server, request: _Request) -> bytes:
    return request.wrap([server.jobs.stats(server.config)])


async def _reload(server: Server, request: _Request) -> bytes:
    server.jobs.request_reload()
    return request.wrap([b"RELOADING"])


async def _shutdown(server: Server, request: _Request) -> None:
    server.stopping.set()


async def _silent(server: Server, request: _Request) -> None:
    """DETSTATS and DETSTATSCLEAR: removed features; clamd closes without a reply."""


async def _path_scan(server: Server, request: _Request) -> bytes:
    mode = {b"SCAN": "scan", b"CONTSCAN": "cont", b"ALLMATCHSCAN": "all"}[request.command.name]
    path = request.command.arg or b""
    if mode == "all" and not server.config.allow_all_match_scan:
        return request.wrap([path + b": " + p.ALLMATCH_DISABLED])
    return request.wrap(await server.jobs.path_scan(path, mode))


async def _multiscan(server: Server, request: _Request) -> bytes:
    return request.wrap(await server.jobs.multiscan(request.command.arg or b""))


async def _prepare_instream(server: Server, request: _Request) -> Awaitable[bytes]:
    memfd = await server.receive_stream(request)
    return _finish(request, server.jobs.scan_fd(memfd, "stream", owned=True))


async def _prepare_fildes(server: Server, request: _Request) -> Awaitable[bytes]:
    fd = await server.receive_fd(request)
    if fd is None:
        return _done(request.wrap([p.NO_FD]))
    return _finish(request, server.jobs.scan_fd(fd, f"fd[{fd}]", owned=True))


async def _finish(request: _Request, lines: Awaitable[list[bytes]]) -> bytes:
    return request.wrap(await lines)


async def _instream(server: Server, request: _Request) -> bytes:
    return await (await _prepare_instream(server, request))


async def _fildes(server: Server, request: _Request) -> bytes:
    return await (await _prepare_fildes(server, request))


HANDLERS: dict[bytes, Handler] = {
    b"PING": _ping,
    b"VERSION": _version,
    b"VERSIONCOMMANDS": _versioncommands,
    b"STATS": _stats,
    b"RELOAD": _reload,
    b"SHUTDOWN": _shutdown,
    b"QUIT": _shutdown,
    b"DETSTATS": _silent,
    b"DETSTATSCLEAR": _silent,
    b"SCAN": _path_scan,
    b"CONTSCAN": _path_scan,
    b"ALLMATCHSCAN": _path_scan,
    b"MULTISCAN": _multiscan,
    b"INSTREAM": _instream,
    b"FILDES": _fildes,
}
INLINE = frozenset({b"PING", b"VERSION", b"VERSIONCOMMANDS", b"STATS"})
PREPARE: dict[bytes, Callable[[Server, _Request], Awaitable[Awaitable[bytes]]]] = {
    b"INSTREAM": _prepare_instream,
    b"FILDES": _prepare_fildes,
}
