"""The hot path: accepting, and a connection's first request when it is a small INSTREAM.

Most clients open a connection, send `zINSTREAM\\0` and a few kilobytes of chunks at once, read one
line and close. Serving that through a task per connection, awaited reads with deadlines, a memfd and
a locked async write cost more CPU than the scan on two cores, so it runs here on plain loop callbacks:
non-blocking reads as the socket becomes readable, the stream kept in memory, one job frame to a worker
(or an answer from the clean cache), one `send` of the reply. Anything else — another command, old-style
framing, passed fds, a stream over FAST_MAX or over StreamMaxLength, EOF, or a request still incomplete
after HANDOFF_AFTER seconds — is handed, with every byte read so far, to the general coroutine path in
`server.py`, which then behaves exactly as if it had read those bytes itself (same first read size, and
the command deadline still counts from the accept).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import TYPE_CHECKING

from vigil.daemon import protocol as p
from vigil.daemon.connection import MAX_FDS, RECV_SIZE, ClientConnection

if TYPE_CHECKING:
    from vigil.daemon.server import Server

log = logging.getLogger("vigild")
FAST_MAX = 256 * 1024  # bigger streams go to a memfd on the general path
HANDOFF_AFTER = 0.05
SWEEP_EVERY = 0.05
ACCEPT_BATCH = 64


class Acceptor:
    """Accepts on one listener from a reader callback, several connections per wake-up."""

    def __init__(self, server: Server, listener: socket.socket) -> None:
        self.server = server
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        listener.setblocking(False)
        self.loop.add_reader(listener.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                log.warning("accept failed: %s", exc)
                self.loop.remove_reader(self.listener.fileno())
                self.loop.call_later(0.1, self._resume)
                return
            FirstRequest(self.server, sock)

    def _resume(self) -> None:
        if self.listener.fileno() >= 0:
            self.loop.add_reader(self.listener.fileno(), self._accept)

    def close(self) -> None:
        if self.listener.fileno() >= 0:
            self.loop.remove_reader(self.listener.fileno())


class FirstRequest:
    """One connection until its first request is answered here or handed to the general path."""

    __slots__ = (
        "buf",
        "chunks",
        "eof",
        "fd",
        "fds",
        "pos",
        "remaining",
        "server",
        "sock",
        "started",
        "term",
        "unix",
    )

    def __init__(self, server: Server, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.unix = sock.family == socket.AF_UNIX
        self.buf = bytearray()
        self.fds: list[int] = []
        self.eof = False
        self.started = time.monotonic()
        self.term = b""  # set once the command is known to be INSTREAM
        self.chunks: list[tuple[int, int]] = []
        self.pos = 0
        self.remaining = server.config.stream_max_length
        server.fast_started(self)
        server.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        """Read until the socket is drained or the request is complete (one wake-up, usually)."""
        while self.sock.fileno() >= 0 and not self._detached():
            first = not self.buf
            try:
                if first and self.unix:
                    data, fds, _, _ = socket.recv_fds(self.sock, p.COMMAND_MAX, MAX_FDS)
                    self.fds.extend(fds)
                else:
                    data = self.sock.recv(p.COMMAND_MAX if first else RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.eof = True
                self.handoff()
                return
            self.buf += data
            if first and not self._instream_command():
                self.handoff()
                return
            self._progress()

    def _detached(self) -> bool:
        return self not in self.server.fast

    def _instream_command(self) -> bool:
        """True if the first read starts with a well-formed, allowed z/n INSTREAM and carries no fds."""
        if self.fds or bytes(self.buf[:1]) not in (b"z", b"n"):
            return False
        try:
            command, used = p.split_command(bytes(self.buf), first_read=True)
        except (p.Incomplete, p.Oversize):
            return False
        if command.name != b"INSTREAM" or command.arg or not p.allowed(command, in_session=False,
                                                                       first_read=True):
            return False
        self.term = command.term
        self.pos = used
        return True

    def _progress(self) -> None:
        """Walk the chunk headers read so far; dispatch when the terminating empty chunk is in."""
        buf = self.buf
        while len(buf) - self.pos >= 4:
            size = p.chunk_length(bytes(buf[self.pos:self.pos + 4]))
            if size == 0:
                self._dispatch()
                return
            if size > self.remaining:
                self.handoff()  # the general path answers the size limit and drains
                return
            if len(buf) - self.pos - 4 < size:
                break
            self.chunks.append((self.pos + 4, self.pos + 4 + size))
            self.remaining -= size
            self.pos += 4 + size
        if len(buf) > FAST_MAX:
            self.handoff()

    def _dispatch(self) -> None:
        self._detach()
        view = memoryview(self.buf)
        payload = b"".join(view[start:end] for start, end in self.chunks)
        view.release()
        self.server.fast_busy.add(self)
        self.server.jobs.scan_stream(payload, self._reply)

    def _reply(self, lines: list[bytes]) -> None:
        data = p.replies(lines, self.term, None)
        self.server.fast_busy.discard(self)
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.sock.close()
            return
        if sent == len(data):
            self.sock.close()
            return
        self.server.finish_reply(ClientConnection(self.sock), data[sent:])

    def _detach(self) -> None:
        self.server.loop.remove_reader(self.fd)
        self.server.fast_done(self)

    def handoff(self) -> None:
        """Give the connection and everything read so far to the general path."""
        self._detach()
        conn = ClientConnection(self.sock)
        conn.buf = self.buf
        conn.fds = self.fds
        conn.eof = self.eof
        self.server.adopt(conn, self.started)
