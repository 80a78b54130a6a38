"""The INSTREAM fast path, the clean cache (CacheSize/DisableCache) and the worker frame codec."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemon_env import EICAR, Daemon, Tree, start_vigild, stop
from daemon_wire import Pause, Step, chunk, instream, talk
from test_load_and_clients import _workers

from vigil.daemon import ipc
from vigil.daemon.config import parse_clamd_conf

MARKER = b"vigil fast-path cache marker 7d1f\n"


def _own_daemon(tree: Tree, name: str, extra: str = "") -> tuple[Daemon, Path]:
    base = tree.root.parent / name
    base.mkdir(exist_ok=True)
    db = base / "db"
    db.mkdir(exist_ok=True)
    (db / "t.ndb").write_text((tree.db / "test.ndb").read_text())
    return start_vigild(base, Tree(tree.root, db), name, extra), db


@contextmanager
def _frozen(daemon: Daemon) -> Iterator[None]:
    """Workers stopped (SIGSTOP): only answers that need no worker can come back."""
    pids = _workers(daemon.process.pid)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _stream(daemon: Daemon, data: bytes, wait: float = 10.0) -> bytes:
    return talk(daemon.socket, instream(data), wait=wait)[0]


@pytest.fixture()
def cached(tree: Tree) -> Iterator[tuple[Daemon, Path]]:
    daemon, db = _own_daemon(tree, "vigild-cache")
    yield daemon, db
    stop(daemon)


def test_repeated_clean_stream_is_answered_without_a_worker(cached: tuple[Daemon, Path]) -> None:
    daemon, _ = cached
    assert _stream(daemon, MARKER * 50) == b"stream: OK\0"
    assert _stream(daemon, EICAR) == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    with _frozen(daemon):
        assert _stream(daemon, MARKER * 50, wait=5) == b"stream: OK\0"
        # a detection is never cached, and new bytes need a worker: no answer while they are stopped
        assert _stream(daemon, EICAR, wait=1.0) == b""
        assert _stream(daemon, MARKER * 51, wait=1.0) == b""


def test_reload_empties_the_cache(cached: tuple[Daemon, Path]) -> None:
    daemon, db = cached
    assert _stream(daemon, MARKER * 50) == b"stream: OK\0"
    assert _stream(daemon, MARKER * 50) == b"stream: OK\0"
    (db / "marker.ndb").write_text("Test.Marker:0:*:" + MARKER.hex() + "\n")
    assert talk(daemon.socket, [b"zRELOAD\0"])[0] == b"RELOADING\0"
    log = Path(daemon.conf).with_suffix(".log")
    deadline = time.monotonic() + 30
    while "database reloaded" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _stream(daemon, MARKER * 50) == b"stream: Test.Marker.UNOFFICIAL FOUND\0"


def test_disable_cache_sends_every_stream_to_a_worker(tree: Tree) -> None:
    daemon, _ = _own_daemon(tree, "vigild-nocache", "DisableCache yes\n")
    try:
        assert _stream(daemon, MARKER * 50) == b"stream: OK\0"
        with _frozen(daemon):
            assert _stream(daemon, MARKER * 50, wait=1.0) == b""
        assert _stream(daemon, MARKER * 50) == b"stream: OK\0"
    finally:
        stop(daemon)


def test_streams_the_fast_path_hands_on(vigild: Daemon) -> None:
    big = os.urandom(600 * 1024) + EICAR  # over FAST_MAX: a memfd on the general path
    assert _stream(vigild, big, wait=30) == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    slow: list[Step] = [
        b"zINSTREAM\0",
        chunk(EICAR[:30]),
        Pause(0.3),
        chunk(EICAR[30:]),
        Pause(0.3),
        chunk(b""),
    ]
    assert talk(vigild.socket, slow)[0] == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    split_command: list[Step] = [b"zINST", Pause(0.2), b"REAM\0" + chunk(EICAR) + chunk(b"")]
    assert talk(vigild.socket, split_command)[0] == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    assert talk(vigild.socket, [b"nINSTREAM\n"], wait=8)[0] == b"COMMAND READ TIMED OUT\n"


def test_session_after_fast_path_connections(vigild: Daemon) -> None:
    """IDSESSION goes to the general path; fast-path requests around it are unaffected."""
    assert _stream(vigild, MARKER) == b"stream: OK\0"
    steps = [b"zIDSESSION\0", *instream(EICAR), b"zPING\0", b"zEND\0"]
    reply, _ = talk(vigild.socket, steps)
    assert sorted(reply.split(b"\0")[:-1]) == [b"1: stream: Test.EICAR.UNOFFICIAL FOUND", b"2: PONG"]
    assert _stream(vigild, MARKER) == b"stream: OK\0"


def test_frames_split_anywhere_keep_their_fds_in_order() -> None:
    wire = (
        ipc.frame(ipc.DATA, b"abc")
        + ipc.frame(ipc.JOB, b"", has_fd=True)
        + ipc.frame(ipc.DATA, b"x" * 70000)
        + ipc.frame(ipc.JOB, b"j", has_fd=True)
    )
    left, right = socket.socketpair()
    with left, right:
        reader = ipc.FrameReader()
        fds = [os.dup(left.fileno()), os.dup(right.fileno())]
        got = []
        passed = {7: fds[:1], 70014: fds[1:]}  # each fd arrives before its frame is complete
        for start in range(0, len(wire), 7):
            reader.feed(wire[start : start + 7], passed.get(start, []))
            while (item := reader.next()) is not None:
                got.append(item)
        assert [(kind, len(body), fd) for kind, body, fd in got] == [
            (b"D", 3, None),
            (b"J", 0, fds[0]),
            (b"D", 70000, None),
            (b"J", 1, fds[1]),
        ]
        for fd in fds:
            os.close(fd)


def test_cache_options_parse() -> None:
    config = parse_clamd_conf("DisableCache yes\nCacheSize 10\n")
    assert (config.disable_cache, config.cache_size, config.warnings) == (True, 10, [])
