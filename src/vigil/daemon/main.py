"""`vigild`: command line as clamd's (-c/--config-file, -F/--foreground, --debug, -V)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence

from vigil import __version__
from vigil.daemon import systemd
from vigil.daemon.config import ConfigError, DaemonConfig, load_config
from vigil.daemon.jobs import Jobs
from vigil.daemon.onaccess import OnAccess, own_process_group
from vigil.daemon.server import Server
from vigil.daemon.workers import DatabaseLoadFailed, WorkerPool, pool_size

log = logging.getLogger("vigild")
DEFAULT_CONFIG = "/etc/vigil/vigild.conf"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigild", description="Vigil's clamd-compatible scan daemon")
    parser.add_argument("-c", "--config-file", help=f"clamd.conf or .toml (default {DEFAULT_CONFIG})")
    parser.add_argument("-F", "--foreground", action="store_true", help="do not fork into the background")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("-V", "--version", action="store_true", help="print the version and exit")
    return parser


def _unix_listener(config: DaemonConfig, path: str) -> socket.socket:
    if os.path.exists(path) and config.fix_stale_socket and stat.S_ISSOCK(os.lstat(path).st_mode):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)
            else:
                raise OSError(f"{path}: another daemon is listening")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, config.local_socket_mode)
    sock.listen(config.max_connection_queue_length)
    return sock


def _tcp_listeners(config: DaemonConfig, port: int) -> list[socket.socket]:
    listeners = []
    for address in config.tcp_addr or ["127.0.0.1"]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(config.max_connection_queue_length)
        listeners.append(sock)
    return listeners


def listeners(config: DaemonConfig) -> list[socket.socket]:
    activated = systemd.activated_sockets()
    if activated:
        config.local_socket = None  # systemd owns the socket file: never unlink it
        return activated
    result = []
    if config.local_socket:
        result.append(_unix_listener(config, config.local_socket))
    if config.tcp_socket is not None:
        result.extend(_tcp_listeners(config, config.tcp_socket))
    return result


def setup_logging(config: DaemonConfig) -> None:
    """Also used by the on-access watcher process, so both write the same log the same way."""
    level = logging.DEBUG if config.debug else (logging.INFO if config.log_verbose or config.log_file
                                                else logging.WARNING)
    handler: logging.Handler = (logging.FileHandler(config.log_file) if config.log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s vigild[%(process)d]: %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)


class _Jobs(Jobs):
    """RELOAD and SIGUSR2 reload the on-access watcher's database too."""

    onaccess: OnAccess | None = None

    def request_reload(self) -> None:
        super().request_reload()
        if self.onaccess is not None:
            self.onaccess.request_reload()


async def serve(config: DaemonConfig, socks: list[socket.socket]) -> int:
    pgid = own_process_group() if config.on_access else 0  # before any worker: they inherit the group
    pool = WorkerPool(pool_size(config.max_threads, config.workers))
    jobs = _Jobs(config, pool)
    try:
        await jobs.start()
    except DatabaseLoadFailed as exc:
        log.error("cannot load the database: %s", exc)
        print(f"ERROR: cannot load the database: {exc}", file=sys.stderr)
        await pool.close()
        return 1
    server = Server(config, jobs)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR2, jobs.request_reload)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stopping.set)
    server.serve(socks)
    if config.on_access:
        jobs.onaccess = OnAccess(config, pgid)
        jobs.onaccess.launch()
    systemd.notify("READY=1")
    log.info("vigild %s ready (%d workers)", __version__, pool.size)
    await server.stopping.wait()
    systemd.notify("STOPPING=1")
    server.stop_accepting()
    for sock in socks:
        sock.close()
    await server.close()
    if jobs.onaccess is not None:
        await jobs.onaccess.stop()
    await pool.close()
    return 0


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"Vigil {__version__}")
        return 0
    path = args.config_file or (DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None)
    try:
        config = load_config(path)
    except (ConfigError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    config.foreground = config.foreground or args.foreground
    config.debug = config.debug or args.debug
    setup_logging(config)
    for warning in config.warnings:
        log.warning("%s", warning)
        print(f"WARNING: {warning}", file=sys.stderr)
    try:
        socks = listeners(config)
    except OSError as exc:
        print(f"ERROR: cannot listen: {exc}", file=sys.stderr)
        return 1
    if not socks:
        print("ERROR: no LocalSocket or TCPSocket configured", file=sys.stderr)
        return 1
    if not config.foreground:
        _daemonize()
    if config.pid_file:
        with open(config.pid_file, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
    try:
        return asyncio.run(serve(config, socks))
    finally:
        if config.local_socket:
            _unlink(config.local_socket)
        if config.pid_file:
            _unlink(config.pid_file)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        return
