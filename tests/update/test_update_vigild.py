"""`vigil update` against a real vigild under load: the daemon picks the new database up by itself and
answers every request throughout (issue #7), then `vigil update --rollback` takes it back, again with
no request dropped.

vigild's DatabaseDirectory is the update's `ROOT/current` link; the update configuration names
vigild's socket (`daemon_socket`), so `vigil update` sends the RELOAD itself. Four client threads
send, on a new connection each, an INSTREAM of a sample that only version 2 detects, an INSTREAM of
fresh random clean bytes (never in the clean cache, so a worker scans it) and a PING, and record when
each request was sent and answered. vigild's log stamps each swap ("database reloaded") to the
millisecond, which splits the run into before / during / after each reload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Setup, hdb, make_bundle

from vigil.update import activate, minisign

sys.path.append(str(Path(__file__).resolve().parents[1] / "daemon"))
from daemon_env import Tree, start_vigild, stop
from daemon_wire import instream, talk

SAMPLE = "Vigil.Test.UpdateE2E"  # hdb() makes the signature of these bytes, named after them
FOUND = f"stream: {SAMPLE}.UNOFFICIAL FOUND\0".encode()
OK = b"stream: OK\0"
CLIENTS = 4
FILLER_HDB = 40_000  # enough that compiling version 2 takes each worker a noticeable time
FILLER_NDB = 4_000
WAIT = 30.0


@dataclass(frozen=True)
class Request:
    kind: str  # "sample", "clean" or "ping"
    sent: float  # time.time(), comparable with vigild's log stamps
    answered: float
    reply: bytes
    end: str  # how the connection ended: "close", "reset", "timeout" or the exception


class Clients:
    """CLIENTS threads cycling sample INSTREAM, clean INSTREAM, PING until stopped."""

    def __init__(self, socket_path: str) -> None:
        self.path = socket_path
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(WAIT)

    def _loop(self) -> None:
        kinds = ("sample", "clean", "ping")
        i = 0
        while not self.stopping.is_set():
            kind = kinds[i % len(kinds)]
            i += 1
            if kind == "ping":
                steps = [b"zPING\0"]
            else:
                data = SAMPLE.encode() if kind == "sample" else b"clean " + os.urandom(24).hex().encode()
                steps = instream(data)
            sent = time.time()
            try:
                reply, end = talk(self.path, steps, wait=WAIT, gap=0)
            except OSError as exc:  # refused, reset while connecting, ...
                reply, end = b"", repr(exc)
            with self.lock:
                self.requests.append(Request(kind, sent, time.time(), reply, end))

    def snapshot(self) -> list[Request]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, kind: str, reply: bytes, sent_after: float) -> Request:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            hits = [r for r in self.snapshot() if r.kind == kind and r.reply == reply and r.sent > sent_after]
            if hits:
                return min(hits, key=lambda r: r.answered)
            time.sleep(0.02)
        raise AssertionError(f"no {reply!r} for a {kind} request sent after {sent_after} within {WAIT} s")


def vigil_update(config: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "vigil.cli.main", "update", "--config", config, *args],
                          capture_output=True, text=True, timeout=120)
    return done, start, time.time()


def reload_stamps(log: Path, count: int) -> list[float]:
    """Times of vigild's first `count` "database reloaded" lines (log format: asctime with ms)."""
    deadline = time.monotonic() + WAIT
    while True:
        text = log.read_text()
        assert "reload failed" not in text, text
        lines = [line for line in text.splitlines() if line.endswith(": database reloaded")]
        if len(lines) >= count:
            return [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() for line in lines]
        assert time.monotonic() < deadline, f"vigild did not log {count} reloads:\n{text}"
        time.sleep(0.02)


def write_bundle(path: Path, key: minisign.SecretKey, version: int, files: dict[str, bytes]) -> str:
    data, signature = make_bundle(key, version, files)
    path.write_bytes(data)
    Path(f"{path}.minisig").write_text(signature)
    return str(path)


def test_vigild_answers_throughout_update_and_rollback(
    tmp_path: Path, setup: Setup, signing_key: minisign.SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "cache"))  # inherited by vigild and vigil update
    sock = tmp_path / "vigild.sock"
    setup.config_path.write_text(
        f'[update]\nroot = "{setup.root}"\ntrust_store = "{setup.store}"\nkeep = 3\n'
        f'daemon_socket = "{sock}"\n'
    )
    config = str(setup.config_path)
    v1 = write_bundle(tmp_path / "v1.tar.gz", signing_key, 1, {"sigs.hdb": hdb("alpha")})
    fillers = hdb(*(f"Filler.H{i}.{os.urandom(6).hex()}" for i in range(FILLER_HDB)))
    ndb = "".join(f"Filler.N{i}:0:*:{os.urandom(12).hex()}\n" for i in range(FILLER_NDB)).encode()
    v2 = write_bundle(tmp_path / "v2.tar.gz", signing_key, 2,
                      {"sigs.hdb": hdb(SAMPLE) + fillers, "filler.ndb": ndb})

    first, _, _ = vigil_update(config, "--from", v1)  # no daemon yet: only a warning
    assert first.returncode == 0, first.stderr
    assert activate.read_state(activate.current_dir(str(setup.root))).versions == {"vigil": 1}

    daemon = start_vigild(tmp_path, Tree(root=tmp_path, db=setup.root / "current"))
    log = tmp_path / "vigild.log"
    try:
        assert daemon.socket == str(sock)
        with Clients(daemon.socket) as clients:
            clients.wait_for("sample", OK, time.time())
            time.sleep(0.5)
            update, up_start, up_end = vigil_update(config, "--from", v2)
            assert update.returncode == 0, update.stderr
            assert f"daemon at {sock} is reloading" in update.stdout  # vigil update sent the RELOAD
            swap = reload_stamps(log, 1)[0]
            first_found = clients.wait_for("sample", FOUND, swap + 0.001)
            time.sleep(0.5)
            back, rb_start, _ = vigil_update(config, "--rollback")
            assert back.returncode == 0, back.stderr
            assert f"daemon at {sock} is reloading" in back.stdout
            swap_back = reload_stamps(log, 2)[1]
            clients.wait_for("sample", OK, swap_back + 0.001)
            time.sleep(0.3)
        assert daemon.process.poll() is None
        assert talk(daemon.socket, [b"zPING\0"])[0] == b"PONG\0"
    finally:
        stop(daemon)
    requests = clients.snapshot()

    # every request got exactly its well-formed reply, and the connection was closed cleanly
    expected = {"ping": {b"PONG\0"}, "clean": {OK}, "sample": {OK, FOUND}}
    bad = [r for r in requests if r.reply not in expected[r.kind] or r.end != "close"]
    assert bad == [], bad[:10]
    samples = [r for r in requests if r.kind == "sample"]

    # version 1 before the update; version 2 from its swap until the rollback; version 1 after that
    assert up_start < swap < rb_start < swap_back
    before = [r for r in samples if r.answered < up_start]
    assert before and all(r.reply == OK for r in before)
    v2_era = [r for r in samples if r.sent > swap + 0.001 and r.answered < rb_start]
    assert v2_era and all(r.reply == FOUND for r in v2_era)
    after = [r for r in samples if r.sent > swap_back + 0.001]
    assert after and all(r.reply == OK for r in after)
    assert min(r.answered for r in samples if r.reply == FOUND) > up_start

    # from the start of `vigil update` (which compiles and test-loads the new version) to vigild's swap
    # (its reload maps the compiled cache the test load wrote), the old database answered everything
    during = [r for r in requests if r.sent >= up_start and r.answered <= swap]
    assert {r.kind for r in during} == {"sample", "clean", "ping"}, during
    assert any(r.reply == OK for r in during if r.kind == "sample")
    overlapping = [r for r in requests if r.answered >= up_start and r.sent <= swap]
    worst = max(r.answered - r.sent for r in overlapping)
    print(f"\n{len(requests)} requests; {len(during)} served during the update and reload "
          f"({swap - up_end:.2f} s after `vigil update` exited); max latency then {worst * 1000:.0f} ms; "
          f"`vigil update` start to first FOUND {first_found.answered - up_start:.2f} s "
          f"(update itself {up_end - up_start:.2f} s); rollback start to swap {swap_back - rb_start:.2f} s")
