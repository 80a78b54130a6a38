"""Load benchmark: 32 concurrent INSTREAM clients against vigild and against clamd, in one run.

Both daemons are started here with the same tiny database, StreamMaxLength and files (EICAR, a clean
text, ClamAV's clam.zip when installed). Prints requests, throughput, p50/p99 latency, errors and the
daemon's memory (RSS of the daemon and its children) before and after, with the load average, since
the machine may be shared. `--runs N` repeats the pair and prints the medians; `--no-cache` sets
`DisableCache yes` for both daemons (both cache clean results by default); `--workers N` sets vigild's
`VigilWorkers`.

    .venv/bin/python bench/load_clamd.py [--seconds 30] [--clients 32] [--runs 3] [--no-cache]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CONF = "LocalSocket {sock}\nDatabaseDirectory {db}\nStreamMaxLength 10M\nMaxThreads 10\nLogFile {log}\n"


def _payloads() -> list[bytes]:
    payloads = [EICAR, b"just some clean text\n" * 500]
    testfile = Path("/usr/share/clamav-testfiles/clam.zip")
    if testfile.exists():
        payloads.append(testfile.read_bytes())
    return payloads


def _instream(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(path)
        body = b"".join(struct.pack(">I", len(data[i:i + 8192])) + data[i:i + 8192]
                        for i in range(0, len(data), 8192))
        sock.sendall(b"zINSTREAM\0" + body + struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


def _client(path: str, until: float, payloads: list[bytes]) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    i = 0
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            reply = _instream(path, payloads[i % len(payloads)])
            ok = reply.startswith(b"stream: ") and not reply.endswith(b"ERROR\0")
        except OSError:
            ok = False
        latencies.append(time.perf_counter() - started)
        errors += 0 if ok else 1
        i += 1
    return latencies, errors


def rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (workers included)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(entry) == pid or _descends(int(entry), pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
    return False


def _wait(path: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"daemon exited: {process.returncode}")
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)
                sock.sendall(b"zPING\0")
                if sock.recv(8) == b"PONG\0":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("daemon did not start")


def run(name: str, argv: list[str], sock: str, seconds: float, clients: int) -> dict[str, float]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(sock, process)
        payloads = _payloads()
        for data in payloads:  # warm up every worker's caches before measuring memory
            _instream(sock, data)
        before = rss_kib(process.pid)
        until = time.monotonic() + seconds
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(lambda _: _client(sock, until, payloads), range(clients)))
        after = rss_kib(process.pid)
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(sock)
            probe.sendall(b"zPING\0")
            pong = probe.recv(8) == b"PONG\0"
    finally:
        process.terminate()
        process.wait(30)
    latencies = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    stats = {
        "requests": len(latencies), "req_per_s": len(latencies) / seconds, "errors": errors,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "rss_before_mib": before / 1024, "rss_after_mib": after / 1024,
        "rss_change_pct": (after - before) * 100 / before, "ping_after": float(pong),
    }
    stats["load_avg_1m"] = os.getloadavg()[0]
    _print(name, stats)
    return stats


def _print(name: str, stats: dict[str, float]) -> None:
    print(f"{name:7} " + "  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in stats.items()), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-cache", action="store_true", help="DisableCache yes for both daemons")
    parser.add_argument("--workers", type=int, default=0, help="vigild's VigilWorkers (0: one per CPU)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    db = base / "db"
    db.mkdir()
    (db / "bench.ndb").write_text("Bench.EICAR:0:*:" + EICAR.hex() + "\n")
    runs: dict[str, list[dict[str, float]]] = {}
    extra = "DisableCache yes\n" if args.no_cache else ""
    for _ in range(args.runs):
        for name in ("clamd", "vigild"):
            if name == "clamd" and shutil.which("clamd") is None:
                print("clamd not installed; skipping it")
                continue
            sock = str(base / f"{name}.sock")
            conf = base / f"{name}.conf"
            own = f"VigilWorkers {args.workers}\n" if name == "vigild" and args.workers else ""
            conf.write_text(CONF.format(sock=sock, db=db, log=base / f"{name}.log") + extra + own)
            argv = (["clamd", "-c", str(conf), "--foreground"] if name == "clamd"
                    else [sys.executable, "-m", "vigil.daemon", "-c", str(conf), "--foreground"])
            runs.setdefault(name, []).append(run(name, argv, sock, args.seconds, args.clients))
    shutil.rmtree(base, ignore_errors=True)
    if args.runs > 1:
        for name, results in runs.items():
            _print(f"{name}~", {k: statistics.median(r[k] for r in results) for k in results[0]})
    vigild = runs.get("vigild", [])
    return 0 if vigild and all(r["errors"] == 0 for r in vigild) else 1


if __name__ == "__main__":
    raise SystemExit(main())
