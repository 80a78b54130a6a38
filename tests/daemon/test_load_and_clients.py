"""Load, RELOAD under load, a killed worker, and the Python client libraries (clamd, pyclamd)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import clamd as clamd_lib
import pyclamd
import pytest
from daemon_env import EICAR, Daemon, Tree, start_vigild, stop
from daemon_wire import instream, talk

CLIENTS = 32


def _stream_loop(path: str, until: float, payloads: list[tuple[bytes, bytes]]) -> tuple[int, list[bytes]]:
    done, errors, i = 0, [], 0
    while time.monotonic() < until:
        data, expected = payloads[i % len(payloads)]
        i += 1
        reply, _ = talk(path, instream(data), gap=0)
        if reply != expected:
            errors.append(reply)
        done += 1
    return done, errors


def _load(path: str, seconds: float, during: object = None) -> tuple[int, list[bytes]]:
    payloads = [(EICAR, b"stream: Test.EICAR.UNOFFICIAL FOUND\0"), (b"clean " * 2000, b"stream: OK\0")]
    until = time.monotonic() + seconds
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_stream_loop, path, until, payloads) for _ in range(CLIENTS)]
        if callable(during):
            during()
        results = [f.result() for f in futures]
    return sum(r[0] for r in results), [e for r in results for e in r[1]]


def test_32_clients_no_errors_then_ping(vigild: Daemon) -> None:
    done, errors = _load(vigild.socket, 4)
    assert errors == []
    assert done > 200
    assert talk(vigild.socket, [b"zPING\0"])[0] == b"PONG\0"


def test_reload_under_load_loses_nothing(tree: Tree, vigild: Daemon) -> None:
    def reload_twice() -> None:
        time.sleep(0.5)
        assert talk(vigild.socket, [b"zRELOAD\0"])[0] == b"RELOADING\0"
        time.sleep(1.0)
        os.kill(vigild.process.pid, signal.SIGUSR2)

    done, errors = _load(vigild.socket, 4, reload_twice)
    assert errors == [] and done > 100
    assert talk(vigild.socket, [b"zPING\0"])[0] == b"PONG\0"
    log = Path(vigild.conf).with_suffix(".log").read_text()
    assert log.count("database reloaded") >= 2


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _workers(daemon_pid: int) -> list[int]:
    """Worker processes are children of the forkserver, itself a child of the daemon."""
    return [w for child in _children(daemon_pid) for w in _children(child)]


def test_killed_workers_are_replaced_and_answered(tree: Tree) -> None:
    base = tree.root.parent / "kill"
    base.mkdir(exist_ok=True)
    daemon = start_vigild(base, tree, "vigild-kill")
    try:
        big = tree.root.parent / "big.bin"
        big.write_bytes(os.urandom(1 << 20) * 80 + EICAR)

        def scan() -> bytes:
            return talk(daemon.socket, [b"zSCAN " + str(big).encode() + b"\0"], wait=60)[0]

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(scan)
            deadline = time.monotonic() + 30
            while not pending.done() and time.monotonic() < deadline:  # whichever worker holds the job
                for pid in _workers(daemon.process.pid):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            reply = pending.result()
        assert reply == str(big).encode() + b": Scan worker process died. ERROR\0"
        assert talk(daemon.socket, [b"zPING\0"])[0] == b"PONG\0"
        assert talk(daemon.socket, instream(EICAR), wait=30)[0] == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    finally:
        stop(daemon)


def test_broken_database_on_reload_keeps_the_old_one(tree: Tree) -> None:
    base = tree.root.parent / "broken"
    base.mkdir(exist_ok=True)
    db = base / "db"
    db.mkdir(exist_ok=True)
    (db / "t.ndb").write_text((tree.db / "test.ndb").read_text())
    own = Tree(tree.root, db)
    daemon = start_vigild(base, own, "vigild-broken")
    try:
        (db / "bad.ndb").write_text("Broken.Sig:0:*:zz-not-hex\n")
        assert talk(daemon.socket, [b"zRELOAD\0"])[0] == b"RELOADING\0"
        log = Path(daemon.conf).with_suffix(".log")
        deadline = time.monotonic() + 20
        while "reload failed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "keeping the loaded database" in log.read_text()
        assert talk(daemon.socket, instream(EICAR))[0] == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
    finally:
        stop(daemon)


@pytest.fixture()
def both(clamd: Daemon, vigild: Daemon) -> list[Daemon]:
    return [clamd, vigild]


def test_python_clamd_library(tree: Tree, both: list[Daemon]) -> None:
    results = []
    for daemon in both:
        client = clamd_lib.ClamdUnixSocket(path=daemon.socket)
        import io

        results.append((
            client.ping(),
            client.scan(tree.p("eicar.txt")),
            client.contscan(tree.p("clean")),
            sorted(client.multiscan(tree.p("tree")).items()),
            client.instream(io.BytesIO(EICAR)),
            client.version().split(" ")[0] in ("ClamAV", "Vigil"),
        ))
    assert results[0] == results[1]
    assert results[1][1] == {tree.p("eicar.txt"): ("FOUND", "Test.EICAR.UNOFFICIAL")}


def test_pyclamd_library(tree: Tree, both: list[Daemon]) -> None:
    results = []
    for daemon in both:
        client = pyclamd.ClamdUnixSocket(filename=daemon.socket)
        results.append((
            client.ping(),
            client.scan_file(tree.p("eicar.txt")),
            client.allmatchscan(tree.p("eicar.txt")),
            client.scan_stream(EICAR),
            client.contscan_file(tree.p("tree")),
            client.multiscan_file(tree.p("clean")),
        ))
    assert results[0] == results[1]
    assert results[1][2] == {tree.p("eicar.txt"): [("FOUND", "Test.EICAR.UNOFFICIAL"),
                                                   ("FOUND", "Test.EICAR2.UNOFFICIAL")]}


def test_version_flag_and_bad_config(tmp_path: Path) -> None:
    import subprocess

    from daemon_env import VIGILD

    out = subprocess.run([*VIGILD, "-V"], capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith(b"Vigil ")
    conf = tmp_path / "c.conf"
    conf.write_text("Example\n")
    bad = subprocess.run([*VIGILD, "-c", str(conf), "-F"], capture_output=True, timeout=30)
    assert bad.returncode == 1 and b"Example" in bad.stderr


def test_unknown_key_warns_and_tcp_listens_on_localhost(tree: Tree) -> None:
    import socket

    base = tree.root.parent / "tcp"
    base.mkdir(exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = start_vigild(base, tree, "vigild-tcp", extra=f"TCPSocket {port}\nOnAccessPrevention yes\n")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"zINSTREAM\0" + b"".join(instream(EICAR)[1:]))
            assert sock.recv(100) == b"stream: Test.EICAR.UNOFFICIAL FOUND\0"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"zFILDES\0\0")
            assert sock.recv(100) == b"No file descriptor received. ERROR\0"
    finally:
        stop(daemon)
    assert daemon.process.stderr is not None
    assert b"OnAccessPrevention" in daemon.process.stderr.read()


def test_replies_in_a_session_are_never_interleaved(tree: Tree, vigild: Daemon) -> None:
    steps: list[bytes] = [b"zIDSESSION\0"]
    for _ in range(30):
        steps += [b"zSCAN " + tree.p("tree").encode() + b"\0", b"zVERSIONCOMMANDS\0"]
    steps.append(b"zEND\0")
    reply, _ = talk(vigild.socket, [b"".join(steps)])
    parts = reply.split(b"\0")[:-1]
    assert len(parts) == 60
    for part in parts:
        number, _, body = part.partition(b": ")
        assert number.isdigit()
        assert body.endswith((b"FOUND", b"DETSTATS ALLMATCHSCAN"))
