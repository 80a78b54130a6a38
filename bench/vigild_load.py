"""A real vigild serving a steady stream of clamd requests while `update_activation.py` activates an
update: issue #7 asks for the activation time "with vigild answering throughout".

vigild reads `ROOT/current`; one client thread sends, every `interval` seconds, on a new connection
each, a zPING, a zINSTREAM of fresh random bytes (so a worker really scans it) or a zINSTREAM of a
probe sample that only the new version detects. Every reply and its latency is recorded; vigild's log
stamps each swap ("database reloaded").
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROBE = b"Vigil bench probe: detected only by the new database version\n"
_CONF = """\
LocalSocket {sock}
DatabaseDirectory {db}
StreamMaxLength 1M
MaxThreads 4
LogFile {log}
"""


@dataclass
class Reply:
    kind: str
    sent: float
    latency: float
    data: bytes


@dataclass
class DaemonUnderLoad:
    """vigild on `database` plus a client; use as a context manager."""

    workdir: Path
    database: Path
    interval: float = 0.01
    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = str(self.workdir / "vigild.sock")
        self.log = self.workdir / "vigild.log"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._client, daemon=True)
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DaemonUnderLoad:
        conf = self.workdir / "vigild.conf"
        conf.write_text(_CONF.format(sock=self.sock, db=self.database, log=self.log))
        self.log.write_text("")
        argv = [sys.executable, "-c", "import sys; from vigil.daemon.main import main; sys.exit(main())",
                "-c", str(conf), "--foreground"]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _ask(self.sock, [b"zPING\0"]) != b"PONG\0":
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError("vigild did not start")
            time.sleep(0.05)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(30)

    def _client(self) -> None:
        kinds = ("ping", "random", "probe")
        i = 0
        while not self._stop.is_set():
            kind = kinds[i % 3]
            i += 1
            payload = PROBE if kind == "probe" else os.urandom(4096)
            steps = [b"zPING\0"] if kind == "ping" else _instream(payload)
            sent = time.time()
            data = _ask(self.sock, steps)
            self.replies.append(Reply(kind, sent, time.time() - sent, data))
            time.sleep(self.interval)

    def reloads(self) -> int:
        return self.log.read_text().count(": database reloaded")

    def wait_reloads(self, count: int, timeout: float = 60) -> float:
        """time.time() once vigild has logged `count` reloads."""
        deadline = time.monotonic() + timeout
        while self.reloads() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"vigild logged no reload #{count}:\n{self.log.read_text()}")
            time.sleep(0.01)
        return time.time()

    def first_detection_after(self, start: float, timeout: float = 60) -> float:
        """Seconds from `start` until a probe request sent after it came back FOUND."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = list(self.replies)
            hits = [r for r in replies if r.kind == "probe" and r.sent >= start and b"FOUND" in r.data]
            if hits:
                return min(r.sent + r.latency for r in hits) - start
            time.sleep(0.01)
        raise RuntimeError("the new database never detected the probe")

    def summary(self) -> str:
        expected = {"ping": (b"PONG\0",), "random": (b"stream: OK\0",), "probe": (b"stream: OK\0",)}
        bad = [r for r in self.replies if r.data not in expected[r.kind] and b"FOUND" not in r.data]
        latencies = sorted(r.latency for r in self.replies)
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
        return (f"vigild: {len(self.replies)} requests, {len(bad)} failed or wrong; latency "
                f"p99 {p99 * 1000:.0f} ms, max {max(latencies, default=0) * 1000:.0f} ms")


def _instream(data: bytes) -> list[bytes]:
    return [b"zINSTREAM\0", struct.pack(">I", len(data)) + data + struct.pack(">I", 0)]


def _ask(path: str, steps: list[bytes]) -> bytes:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(path)
            for step in steps:
                sock.sendall(step)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except OSError as exc:
        return repr(exc).encode()
