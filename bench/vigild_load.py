"""A real vigild serving a steady stream of clamd requests while `update_activation.py` activates an
update: issue #7 asks for the activation time "with vigild answering throughout".

vigild reads `ROOT/current`; one client thread sends, every `interval` seconds, through the `clamd`
Python library (the client mail filters use; a new connection each), a PING, an INSTREAM of fresh
random bytes (so a worker really scans it) or an INSTREAM of a probe sample that only the new version
detects. Every reply and its latency is recorded; vigild's log stamps each swap ("database reloaded").
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import clamd

PROBE = b"Vigil bench probe: detected only by the new database version\n"
PROBE_NAME = "Vigil.Bench.Probe"
PROBE_FOUND = f"FOUND {PROBE_NAME}.UNOFFICIAL"
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
    answer: str  # "PONG", "OK", "FOUND <name>", or the client's error


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
        while _ask(self.sock, "ping") != "PONG":
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
            sent = time.time()
            answer = _ask(self.sock, kind)
            self.replies.append(Reply(kind, sent, time.time() - sent, answer))
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
            hits = [r for r in replies if r.kind == "probe" and r.sent >= start and r.answer == PROBE_FOUND]
            if hits:
                return min(r.sent + r.latency for r in hits) - start
            time.sleep(0.01)
        raise RuntimeError("the new database never detected the probe")

    def summary(self) -> str:
        expected = {"ping": ("PONG",), "random": ("OK",), "probe": ("OK", PROBE_FOUND)}
        bad = [r for r in self.replies if r.answer not in expected[r.kind]]
        latencies = sorted(r.latency for r in self.replies)
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
        return (f"vigild: {len(self.replies)} requests, {len(bad)} failed or wrong; latency "
                f"p99 {p99 * 1000:.0f} ms, max {max(latencies, default=0) * 1000:.0f} ms")


def _ask(path: str, kind: str) -> str:
    """One request through the `clamd` library, its answer as one string (errors included, so a refused
    or broken connection counts as a wrong reply instead of stopping the client)."""
    client = clamd.ClamdUnixSocket(path, timeout=30)
    try:
        if kind == "ping":
            return str(client.ping())
        payload = PROBE if kind == "probe" else os.urandom(4096)
        (status, name), = client.instream(io.BytesIO(payload)).values()
        return f"{status} {name}" if name else str(status)
    except (clamd.ConnectionError, clamd.ResponseError, OSError, ValueError) as exc:
        return f"error: {exc!r}"
