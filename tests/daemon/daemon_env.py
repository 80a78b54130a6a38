"""Fixtures: one real clamd and one vigild per session, loading the same tiny database and files.

Both get the same clamd.conf (small timeouts so idle/slow-client cases run fast); only the socket and
log paths differ. The clamd binary is Debian's clamav-daemon; vigild is started as a real process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
NDB = (
    "Test.EICAR:0:*:" + EICAR.hex() + "\n"
    "Test.EICAR2:0:*:" + b"-ANTIVIRUS-TEST-FILE!".hex() + "\n"
)
STREAM_MAX = 1 << 20
CONF = """\
LocalSocket {sock}
DatabaseDirectory {db}
StreamMaxLength 1M
MaxThreads 4
CommandReadTimeout 2
ReadTimeout 3
IdleTimeout 5
LogFile {log}
{extra}"""
VIGILD = [sys.executable, "-c", "import sys; from vigil.daemon.main import main; sys.exit(main())"]


@dataclass(frozen=True)
class Tree:
    root: Path
    db: Path

    def p(self, name: str) -> str:
        return str(self.root / name)


@dataclass(frozen=True)
class Daemon:
    name: str
    socket: str
    conf: str
    process: subprocess.Popen[bytes]


def _build_tree(base: Path) -> Tree:
    db = base / "db"
    db.mkdir()
    (db / "test.ndb").write_text(NDB)
    root = base / "files"
    (root / "tree" / "sub" / "deeper").mkdir(parents=True)
    (root / "clean").mkdir()
    (root / "eicar.txt").write_bytes(EICAR)
    (root / "clean.txt").write_bytes(b"nothing to see here\n")
    (root / "empty").write_bytes(b"")
    (root / "with space.txt").write_bytes(EICAR)
    (root / "nl\nname").write_bytes(EICAR)
    (root / "clean" / "a.txt").write_bytes(b"a\n")
    (root / "clean" / "b.txt").write_bytes(b"b\n")
    for rel in ("tree/one", "tree/sub/two", "tree/sub/deeper/three", "tree/zz"):
        (root / rel).write_bytes(EICAR)
    (root / "tree" / "ok.txt").write_bytes(b"fine\n")
    os.symlink(root / "eicar.txt", root / "link")
    os.symlink(root / "eicar.txt", root / "tree" / "inner-link")
    os.mkfifo(root / "fifo")
    shutil.copy("/usr/share/clamav-testfiles/clam.zip", root / "clam.zip")
    return Tree(root, db)


@pytest.fixture(scope="session")
def tree() -> Iterator[Tree]:
    base = Path(tempfile.mkdtemp(prefix="vd-"))
    yield _build_tree(base)
    shutil.rmtree(base, ignore_errors=True)


def wait_for_socket(path: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else b""
            raise RuntimeError(f"daemon exited with {process.returncode}: {stderr!r}")
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)
                sock.sendall(b"zPING\0")
                if sock.recv(16) == b"PONG\0":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not answer PING")


def write_conf(base: Path, name: str, tree: Tree, extra: str = "") -> tuple[str, str]:
    sock = str(base / f"{name}.sock")
    conf = base / f"{name}.conf"
    conf.write_text(CONF.format(sock=sock, db=tree.db, log=base / f"{name}.log", extra=extra))
    return sock, str(conf)


def start(name: str, argv: list[str], sock: str, conf: str, cwd: Path) -> Daemon:
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_socket(sock, process)
    return Daemon(name, sock, conf, process)


def stop(daemon: Daemon) -> None:
    if daemon.process.poll() is None:
        daemon.process.terminate()
        try:
            daemon.process.wait(15)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


def start_vigild(base: Path, tree: Tree, name: str = "vigild", extra: str = "") -> Daemon:
    sock, conf = write_conf(base, name, tree, extra)
    return start(name, [*VIGILD, "-c", conf, "--foreground"], sock, conf, tree.root)


@pytest.fixture(scope="session")
def clamd(tree: Tree) -> Iterator[Daemon]:
    if shutil.which("clamd") is None:
        pytest.skip("clamd (clamav-daemon) is not installed")
    base = tree.root.parent
    sock, conf = write_conf(base, "clamd", tree)
    daemon = start("clamd", ["clamd", "-c", conf, "--foreground"], sock, conf, tree.root)
    yield daemon
    stop(daemon)


@pytest.fixture(scope="session")
def vigild(tree: Tree) -> Iterator[Daemon]:
    daemon = start_vigild(tree.root.parent, tree)
    yield daemon
    stop(daemon)
