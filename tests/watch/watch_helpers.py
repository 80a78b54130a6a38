"""Run `vigil watch` in a subprocess (so a bug cannot hang the test runner's own file accesses) and
read its JSON events. Every open of a watched file by a test goes through a child process with a
timeout, too; the watcher is always torn down (the kernel allows pending events when it dies)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from vigil.watch import fanotify

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_OK, _WHY = fanotify.available()
needs_fanotify = pytest.mark.skipif(not _OK, reason=f"fanotify permission events unavailable: {_WHY}")


def eicar_db(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test.ndb").write_text(f"Eicar-Test:0:*:{EICAR.hex()}\n")
    return str(directory)


class WatchProcess:
    def __init__(self, args: list[str], log_dir: Path) -> None:
        self.stderr_path = log_dir / f"watch-{time.monotonic_ns()}.err"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "vigil.cli.main", "watch", "--json", *args],
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.events: list[dict[str, Any]] = []
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_event(self, name: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        for event in self.events:
            if event["event"] == name and all(event.get(k) == v for k, v in match.items()):
                return event
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                got = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if got is None:
                break
            self.events.append(got)
            if got["event"] == name and all(got.get(k) == v for k, v in match.items()):
                return got
        raise AssertionError(f"no {name} event {match}; stderr:\n{self.stderr_path.read_text()}")

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()
        try:
            return self.wait_event("stop", timeout=2)
        except AssertionError:
            return {}


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Run an opener in its own process, never blocking the test runner for long."""
    return subprocess.run(cmd, capture_output=True, timeout=15, check=False, **kwargs)


def read_in_child(path: Path, **kwargs: Any) -> tuple[int, bytes]:
    """(errno or 0, bytes read) for opening and reading `path` in a child process."""
    code = ("import sys,os\n"
            "try:\n    data = open(sys.argv[1], 'rb').read()\n"
            "except OSError as e:\n    print(e.errno); sys.exit(0)\n"
            "print(0); sys.stdout.flush(); os.write(1, data)\n")
    done = run([sys.executable, "-c", code, str(path)], **kwargs)
    first, _, rest = done.stdout.partition(b"\n")
    return int(first), rest


def write_in_child(path: Path, data: bytes) -> None:
    code = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
    done = run([sys.executable, "-c", code, str(path), data.hex()])
    assert done.returncode == 0, done.stderr


def make_tree(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "eicar.com").write_bytes(EICAR)
    (root / "clean.txt").write_bytes(b"hello, clean\n")
    os.chmod(root / "eicar.com", 0o644)
