"""On-access protection cost: added open() latency of clean files, and CPU overhead of a build.

    .venv/bin/python bench/onaccess_latency.py [--files 2000] [--build-files 10000] [-d DB]

Runs as root (fanotify). Starts `vigil watch` (blocking mode, directory marks) on a fresh temp tree and
measures, from this process (never the watcher's):
  * open()+close() latency of clean files, unwatched vs watched with an uncached verdict (first open:
    the file is scanned) and a cached one (second open); p50 and p99, and the added part;
  * a build-like workload in a child process (write N small files across 100 directories, read them all
    back, stat them), unwatched vs watched: wall time and CPU seconds of workload + watcher.
Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = r"""
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
per = max(1, count // 100)
body = b"int f(void) { return 42; }\n" * 60
for i in range(count):
    with open(os.path.join(root, f"d{i // per:03d}", f"unit{i}.c"), "wb") as out:
        out.write(body + str(i).encode())
for i in range(count):
    with open(os.path.join(root, f"d{i // per:03d}", f"unit{i}.c"), "rb") as src:
        src.read()
    os.stat(os.path.join(root, f"d{i // per:03d}", f"unit{i}.c"))
"""


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open_times(paths: list[Path]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter_ns()
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Watch:
    def __init__(self, root: Path, db: list[str]) -> None:
        args = [sys.executable, "-m", "vigil.cli.main", "watch", "--json", "--budget", "5", str(root)]
        for item in db:
            args[4:4] = ["-d", item]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if json.loads(line)["event"] == "ready":
                break

    def cpu(self) -> float:
        return _cpu_of(self.proc.pid)

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        stops = [json.loads(line) for line in out.splitlines() if '"stop"' in line]
        return stops[-1] if stops else {}


def latency(base: Path, count: int, db: list[str]) -> dict[str, float]:
    tree = base / "latency"
    tree.mkdir()
    paths = []
    for index in range(count):
        path = tree / f"clean{index}.txt"
        path.write_bytes(os.urandom(2048).hex().encode())
        paths.append(path)
    _open_times(paths)  # warm the page and dentry caches
    baseline = _open_times(paths)
    watch = Watch(tree, db)
    try:
        uncached = _open_times(paths)
        cached = _open_times(paths)
    finally:
        watch.stop()
    result = {}
    for name, values in (("unwatched", baseline), ("uncached", uncached), ("cached", cached)):
        result[f"{name}_p50_us"] = round(_pct(values, 50), 1)
        result[f"{name}_p99_us"] = round(_pct(values, 99), 1)
    for name in ("uncached", "cached"):
        for q in ("p50", "p99"):
            result[f"added_{name}_{q}_us"] = round(result[f"{name}_{q}_us"] - result[f"unwatched_{q}_us"], 1)
    return result


def _build(root: Path, count: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the workload process)."""
    for index in range(100):
        (root / f"d{index:03d}").mkdir(parents=True, exist_ok=True)
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILD, str(root), str(count)], check=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def build_overhead(base: Path, count: int, db: list[str]) -> dict[str, float]:
    wall_plain, cpu_plain = _build(base / "build-plain", count)
    watched = base / "build-watched"
    for index in range(100):
        (watched / f"d{index:03d}").mkdir(parents=True, exist_ok=True)
    watch = Watch(watched, db)
    try:
        cpu_before = watch.cpu()
        wall_watched, cpu_watched = _build(watched, count)
        time.sleep(0.5)  # let the watcher finish the tail of the queue
        watcher_cpu = watch.cpu() - cpu_before
    finally:
        stats = watch.stop()
    total = cpu_watched + watcher_cpu
    return {
        "files": count, "unwatched_wall_s": round(wall_plain, 2), "unwatched_cpu_s": round(cpu_plain, 2),
        "watched_wall_s": round(wall_watched, 2), "watched_workload_cpu_s": round(cpu_watched, 2),
        "watcher_cpu_s": round(watcher_cpu, 2), "watched_total_cpu_s": round(total, 2),
        "cpu_overhead_pct": round(100 * (total - cpu_plain) / cpu_plain, 1),
        "wall_overhead_pct": round(100 * (wall_watched - wall_plain) / wall_plain, 1),
        "scans": stats.get("scanned", 0), "cache_hits": stats.get("cache_hits", 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="clean files for the latency test")
    parser.add_argument("--build-files", type=int, default=10_000)
    parser.add_argument("-d", "--database", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as base:
        lat = latency(Path(base), args.files, args.database)
        build = build_overhead(Path(base), args.build_files, args.database)
    print("| open() of a clean file | p50 µs | p99 µs | added p50 µs | added p99 µs |")
    print("|---|---|---|---|---|")
    print(f"| unwatched | {lat['unwatched_p50_us']} | {lat['unwatched_p99_us']} | – | – |")
    for name in ("uncached", "cached"):
        print(f"| watched, {name} verdict | {lat[f'{name}_p50_us']} | {lat[f'{name}_p99_us']} | "
              f"{lat[f'added_{name}_p50_us']} | {lat[f'added_{name}_p99_us']} |")
    print()
    print(f"| {build['files']}-file build | wall s | CPU s (workload + watcher) |")
    print("|---|---|---|")
    print(f"| unwatched | {build['unwatched_wall_s']} | {build['unwatched_cpu_s']} |")
    print(f"| watched | {build['watched_wall_s']} | {build['watched_workload_cpu_s']} + "
          f"{build['watcher_cpu_s']} = {build['watched_total_cpu_s']} |")
    print(f"| overhead | {build['wall_overhead_pct']} % | {build['cpu_overhead_pct']} % |")
    print(json.dumps({"latency": lat, "build": build}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
