"""One client socket on the asyncio loop: buffered reads that also collect passed fds, atomic writes.

asyncio's streams cannot receive SCM_RIGHTS, so reads use recvmsg directly on the non-blocking socket.
Every reply goes out through `send`, under a lock, so replies of concurrent session jobs never
interleave (clamd's do).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

MAX_FDS = 8
RECV_SIZE = 1 << 16


class Timeout(Exception):
    """The peer sent nothing complete before the deadline."""


class Closed(Exception):
    """The peer closed (or reset) before sending what was needed."""


class ClientConnection:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.unix = sock.family == socket.AF_UNIX
        self.buf = bytearray()
        self.fds: list[int] = []
        self.eof = False
        self.reads = 0
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()

    async def _wait_readable(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout
        ready: asyncio.Future[None] = self._loop.create_future()
        fileno = self.sock.fileno()
        self._loop.add_reader(fileno, lambda: _wake(ready))
        try:
            await asyncio.wait_for(ready, remaining)
        except TimeoutError as exc:
            raise Timeout from exc
        finally:
            self._loop.remove_reader(fileno)

    async def fill(self, deadline: float, size: int = RECV_SIZE) -> int:
        """Read once more into the buffer; returns the number of bytes read (0 at EOF).

        Command reads ask for no more than a command's worth, so that an oversize command leaves bytes
        unread and the close resets the connection, as clamd's does.
        """
        while True:
            try:
                if self.unix:
                    data, fds, _, _ = socket.recv_fds(self.sock, size, MAX_FDS)
                    self.fds.extend(fds)
                else:
                    data = self.sock.recv(size)
            except (BlockingIOError, InterruptedError):
                await self._wait_readable(deadline)
                continue
            except (ConnectionResetError, OSError):
                data = b""
            self.reads += 1
            if not data:
                self.eof = True
            self.buf += data
            return len(data)

    async def read_exact(self, size: int, deadline: float) -> bytes:
        while len(self.buf) < size:
            if self.eof or await self.fill(deadline) == 0:
                raise Closed
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    async def read_into(self, out_fd: int, size: int, deadline: float) -> None:
        """Copy `size` bytes of the stream to `out_fd` without holding more than one read in memory."""
        while size > 0:
            if not self.buf and (self.eof or await self.fill(deadline) == 0):
                raise Closed
            take = min(size, len(self.buf))
            view = memoryview(self.buf)[:take]
            written = 0
            while written < take:
                written += os.write(out_fd, view[written:])
            view.release()
            del self.buf[:take]
            size -= take

    def take_fd(self) -> int | None:
        return self.fds.pop(0) if self.fds else None

    async def send(self, data: bytes, timeout: float) -> bool:
        """One reply, written whole; False if the peer is gone or does not read within `timeout`."""
        async with self._lock:
            try:
                await asyncio.wait_for(self._loop.sock_sendall(self.sock, data), timeout)
            except (OSError, TimeoutError):
                return False
        return True

    def close(self, *, reset: bool = False) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    async def drain_and_close(self, seconds: float = 2.0, max_bytes: int = 16 << 20) -> None:
        """After an early reply (size limit), let a client that is still writing read it: stop sending,
        swallow what it sends for a bounded time, then close. An immediate close would reset the
        connection and many clients would lose the reply."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        deadline = time.monotonic() + seconds
        swallowed = 0
        try:
            while swallowed < max_bytes and not self.eof:
                self.buf.clear()
                swallowed += await self.fill(deadline)
        except Timeout:
            pass
        self.close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
