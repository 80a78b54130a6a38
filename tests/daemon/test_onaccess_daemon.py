"""On-access protection inside vigild (OnAccess* keys), with real fanotify: the daemon's watcher process
denies an infected file, keeps the socket answering, follows RELOAD, survives the death of its
listener without leaving the directory blocked, and leaves nothing behind after SHUTDOWN.

Every access to a watched file goes through a child process with a timeout (never the test runner)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_env import EICAR, NDB, Daemon, Tree, start_vigild
from daemon_wire import instream, talk

from vigil.actions.quarantine import Vault
from vigil.daemon.config import parse_clamd_conf, parse_toml
from vigil.daemon.onaccess import watch_config
from vigil.watch import fanotify

_OK, _WHY = fanotify.available()
needs_fanotify = pytest.mark.skipif(not _OK, reason=f"fanotify permission events unavailable: {_WHY}")
NAME = "Test.EICAR.UNOFFICIAL"
MARKER = b"vigil on-access reload marker 5c2e\n"
_READ = ("import sys, os\n"
         "try:\n    data = open(sys.argv[1], 'rb').read()\n"
         "except OSError as e:\n    print(e.errno); sys.exit(0)\n"
         "print(0); sys.stdout.flush(); os.write(1, data)\n")


def read_in_child(path: Path) -> tuple[int, bytes]:
    """(errno or 0, bytes read) for opening and reading `path` in a child process."""
    done = subprocess.run([sys.executable, "-c", _READ, str(path)], capture_output=True, timeout=15,
                          check=False)
    first, _, rest = done.stdout.partition(b"\n")
    return int(first), rest


def write_in_child(path: Path, data: bytes) -> None:
    code = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
    done = subprocess.run([sys.executable, "-c", code, str(path), data.hex()], capture_output=True,
                          timeout=15, check=False)
    assert done.returncode == 0, done.stderr


class Setup:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.db = base / "db"
        self.db.mkdir()
        (self.db / "test.ndb").write_text(NDB)
        self.watched = base / "watched"
        (self.watched / "sub").mkdir(parents=True)
        (self.watched / "eicar.com").write_bytes(EICAR)
        (self.watched / "sub" / "eicar2.com").write_bytes(EICAR)
        (self.watched / "clean.txt").write_bytes(b"hello, clean\n")
        (self.watched / "held.txt").write_bytes(b"held while the listener is stopped\n")
        (self.watched / "marker.txt").write_bytes(MARKER)
        (self.watched / "run.sh").write_bytes(b"#!/bin/sh\n# " + EICAR + b"\nexit 0\n")
        os.chmod(self.watched / "run.sh", 0o755)
        self.vault = base / "vault"
        self.daemon: Daemon | None = None

    @property
    def log(self) -> Path:
        assert self.daemon is not None
        return Path(self.daemon.conf).with_suffix(".log")

    def start(self, extra: str) -> Daemon:
        self.daemon = start_vigild(self.base, Tree(self.base, self.db), "vigild-oa", extra)
        return self.daemon

    def wait_log(self, pattern: str, after: int = 0, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            found = re.compile(pattern).search(text, after)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the log:\n{text}")
            time.sleep(0.02)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[Setup]:
    state = Setup(tmp_path)
    yield state
    daemon = state.daemon
    if daemon is None:
        return
    pgid = daemon.process.pid  # vigild leads its own group when on-access is configured
    if daemon.process.poll() is None or not _group_gone(pgid, 0.1):
        # a stopped watcher would keep holding opens: continue, then end the whole group we started
        for signum in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(pgid, signum)
            except ProcessLookupError:
                break
        daemon.process.wait(10)
    if daemon.process.stderr is not None:
        daemon.process.stderr.close()


def _shutdown(setup: Setup) -> None:
    daemon = setup.daemon
    assert daemon is not None
    assert talk(daemon.socket, [b"zSHUTDOWN\0"], wait=5)[1] == "close"
    assert daemon.process.wait(30) == 0
    assert _group_gone(daemon.process.pid, 10), "a process of vigild's group outlived SHUTDOWN"
    setup.wait_log(r"ScanOnAccess: watcher stopped")


@needs_fanotify
def test_prevention_blocks_while_the_socket_serves(setup: Setup) -> None:
    skipped = setup.watched / "skip"
    skipped.mkdir()
    (skipped / "eicar.com").write_bytes(EICAR)
    (setup.watched / "big.com").write_bytes(EICAR + b"\n" * 2048)
    daemon = setup.start(f"OnAccessIncludePath {setup.watched}\nOnAccessPrevention yes\n"
                         f"OnAccessExcludePath {skipped}\nOnAccessMaxFileSize 1K\n")
    assert os.getpgid(daemon.process.pid) == daemon.process.pid
    setup.wait_log(r"on-access protection started \(watcher pid \d+\)")

    eicar = setup.watched / "eicar.com"
    assert read_in_child(eicar)[0] == errno.EPERM
    assert read_in_child(setup.watched / "sub" / "eicar2.com")[0] == errno.EPERM
    assert read_in_child(setup.watched / "clean.txt") == (0, b"hello, clean\n")
    assert read_in_child(skipped / "eicar.com") == (0, EICAR)  # OnAccessExcludePath
    assert read_in_child(setup.watched / "big.com")[0] == 0  # over OnAccessMaxFileSize: not scanned
    with pytest.raises(PermissionError) as denied:
        subprocess.run([str(setup.watched / "run.sh")], timeout=15, check=False)
    assert denied.value.errno == errno.EPERM
    setup.wait_log(re.escape(f"ScanOnAccess: {eicar}: {NAME} FOUND"))

    # the socket answers meanwhile; a worker's own SCAN of the watched file is not intercepted
    assert talk(daemon.socket, [b"zPING\0"])[0] == b"PONG\0"
    assert talk(daemon.socket, instream(EICAR))[0] == f"stream: {NAME} FOUND\0".encode()
    assert talk(daemon.socket, [f"zSCAN {eicar}\0".encode()])[0] == f"{eicar}: {NAME} FOUND\0".encode()
    assert read_in_child(eicar)[0] == errno.EPERM  # still denied (cached verdict)

    _shutdown(setup)
    assert read_in_child(eicar) == (0, EICAR)


@needs_fanotify
def test_reload_and_a_dead_listener(setup: Setup) -> None:
    """RELOAD gives the watcher the new database; a stopped listener holds opens, and killing it lets
    them through (the kernel allows pending events when the fanotify fd closes); it is restarted."""
    daemon = setup.start(f"OnAccessIncludePath {setup.watched}\nOnAccessPrevention yes\n")
    first = setup.wait_log(r"on-access protection started \(watcher pid (\d+)\)")
    marker = setup.watched / "marker.txt"
    assert read_in_child(marker) == (0, MARKER)

    (setup.db / "marker.ndb").write_text("Test.Marker:0:*:" + MARKER.hex() + "\n")
    mark = setup.log_size()
    assert talk(daemon.socket, [b"zRELOAD\0"])[0] == b"RELOADING\0"
    reloaded = setup.wait_log(r"on-access database reloaded \(watcher pid (\d+)\)", after=mark)
    assert reloaded.group(1) != first.group(1)
    assert read_in_child(marker)[0] == errno.EPERM
    setup.wait_log(re.escape(f"ScanOnAccess: {marker}: Test.Marker.UNOFFICIAL FOUND"), after=mark)

    watcher = int(reloaded.group(1))
    mark = setup.log_size()
    os.kill(watcher, signal.SIGSTOP)
    try:
        opener = subprocess.Popen([sys.executable, "-c", "print('go', flush=True)\n" + _READ,
                                   str(setup.watched / "held.txt")], stdout=subprocess.PIPE)
        assert opener.stdout is not None and opener.stdout.readline() == b"go\n"
        time.sleep(0.7)
        assert opener.poll() is None, "the open was not held by the stopped listener"
        assert talk(daemon.socket, [b"zPING\0"])[0] == b"PONG\0"  # the loop never waits on it
    finally:
        os.kill(watcher, signal.SIGKILL)
    out, _ = opener.communicate(timeout=5)
    assert out == b"0\nheld while the listener is stopped\n"  # allowed: the kernel answered for the dead
    setup.wait_log(r"on-access watcher restarted \(watcher pid \d+\)", after=mark)
    assert read_in_child(setup.watched / "eicar.com")[0] == errno.EPERM

    _shutdown(setup)
    assert read_in_child(marker) == (0, MARKER)


@needs_fanotify
def test_killed_daemon_takes_its_watcher_along(setup: Setup) -> None:
    """SIGKILL leaves the watcher's stdin at EOF: it stops on its own and the directory opens again."""
    daemon = setup.start(f"OnAccessIncludePath {setup.watched}\nOnAccessPrevention yes\n")
    setup.wait_log(r"on-access protection started")
    assert read_in_child(setup.watched / "eicar.com")[0] == errno.EPERM
    daemon.process.kill()
    daemon.process.wait(10)
    setup.wait_log(r"ScanOnAccess: watcher stopped")
    assert _group_gone(daemon.process.pid, 10), "a process of vigild's group outlived the daemon"
    assert read_in_child(setup.watched / "eicar.com") == (0, EICAR)


@needs_fanotify
def test_notify_mode_quarantines_within_a_second(setup: Setup) -> None:
    daemon = setup.start(f"OnAccessIncludePath {setup.watched}\nOnAccessPrevention no\n"
                         f"OnAccessQuarantine yes\nOnAccessQuarantineDirectory {setup.vault}\n")
    setup.wait_log(r"on-access protection started")
    assert read_in_child(setup.watched / "eicar.com") == (0, EICAR)  # notify mode never blocks

    dropped = setup.watched / "sub" / "dropped.com"
    write_in_child(dropped, EICAR)
    written = time.monotonic()
    found = setup.wait_log(re.escape(f"ScanOnAccess: {dropped}: quarantined") + r".*", timeout=5)
    elapsed = time.monotonic() - written
    assert elapsed < 1.0, f"quarantined after {elapsed:.2f} s"
    assert not os.path.lexists(dropped)
    setup.wait_log(re.escape(f"ScanOnAccess: {dropped}: {NAME} FOUND"))
    assert talk(daemon.socket, [b"zPING\0"])[0] == b"PONG\0"

    # SHUTDOWN while a RELOAD is starting the next watcher: that one is ended too
    assert talk(daemon.socket, [b"zRELOAD\0"])[0] == b"RELOADING\0"
    _shutdown(setup)
    with Vault.open(str(setup.vault)) as vault:
        entries = vault.entries()
    assert [(e.path, e.detection) for e in entries] == [(os.fsencode(dropped), NAME)], found.group(0)
    assert entries[0].id in found.group(0)


def test_onaccess_keys_map_to_the_watcher() -> None:
    conf = parse_clamd_conf(
        "OnAccessIncludePath /srv/a\nOnAccessIncludePath /srv/b\nOnAccessExcludePath /srv/a/tmp\n"
        "OnAccessExcludeUname root\nOnAccessExcludeUID 1000\nOnAccessExcludeRootUID no\n"
        "OnAccessPrevention yes\nOnAccessMaxFileSize 2M\nOnAccessDisableDDD yes\nOnAccessDenyOnError yes\n"
        "OnAccessCurlTimeout 2500\nOnAccessMaxThreads 5\nOnAccessRetryAttempts 2\nDatabaseDirectory /db\n")
    assert conf.on_access and not conf.warnings
    watch = watch_config(conf, pgid=77, pids=frozenset({5}))
    assert watch.paths == ("/srv/a", "/srv/b") and watch.mark == "dir" and not watch.recursive
    assert watch.block and not watch.notify and watch.fallback_deny and watch.budget == 2.5
    assert watch.exclude_paths == ("/srv/a/tmp",) and watch.exclude_uids == frozenset({0, 1000})
    assert watch.exclude_pgids == frozenset({77}) and watch.exclude_pids == frozenset({5})
    assert watch.max_file_size == 2 * 1024 * 1024 and watch.database == ("/db",)
    assert watch.action == "report"

    toml = parse_toml('[daemon]\non_access_mount_path = ["/home"]\non_access_include_path = ["/x"]\n'
                      'on_access_prevention = false\non_access_exclude_root_uid = true\n'
                      'on_access_quarantine = true\non_access_quarantine_directory = "/v"\n')
    notes: list[str] = []
    watch = watch_config(toml, pgid=1, warnings=notes)
    assert watch.paths == ("/home",) and watch.mark == "mount" and watch.recursive
    assert watch.notify and not watch.block and watch.exclude_uids == frozenset({0})
    assert watch.action == "quarantine" and watch.vault == "/v"
    assert watch.max_file_size == 5 * 1024 * 1024 and watch.budget == 5.0  # clamd's defaults
    assert notes == ["OnAccessIncludePath ignored: OnAccessMountPath watches whole mounts"]
    assert not parse_clamd_conf("LocalSocket /s\n").on_access
    idle = parse_clamd_conf("OnAccessPrevention yes\nOnAccessMaxThreads 5\n")
    assert not idle.on_access
    assert idle.warnings == ["OnAccessPrevention ignored: on-access protection needs OnAccessIncludePath "
                             "or OnAccessMountPath"]
