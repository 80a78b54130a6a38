#!/usr/bin/env python3
"""Vigil's speed benchmark: clamscan, clamd + clamdscan, the yara CLI and Vigil on the same inputs.

Everything runs in one invocation because this box is shared and noisy: only ratios measured side by
side are comparable. See docs/benchmarks.md for what each row means and the latest table.

  .venv/bin/python bench/run_bench.py                  # 100 MB corpus + default signatures
  .venv/bin/python bench/run_bench.py --reuse          # keep the generated corpus and signatures
  .venv/bin/python bench/run_bench.py --corpus-mb 1000 --reuse

Peak memory is the largest sum of PSS (shared pages counted once) over the measured process and all of
its descendants (for clamd: the daemon plus clamdscan), sampled from /proc at 2, 6, 14, 30 ms and then
every 50 ms for the first half second, then every 250 ms (see Sampler).
Exit status 1 if clamscan, clamd or Vigil's detections differ from the corpus manifest.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SMALL_FILE_TEXT = "hello, this is a small clean file\n"


# ---------------------------------------------------------------- process-tree memory

def _children() -> dict[int, list[int]]:
    """ppid -> pids, from /proc/*/stat (the command name may hold spaces and parentheses); only for a
    kernel without /proc/PID/task/TID/children."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path("/proc", entry.name, "stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _task_children(pid: int) -> list[int] | None:
    """The children of every thread of `pid` (a pool thread may start a subprocess); None when the
    kernel does not list them."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # exited meanwhile
    kids: list[int] = []
    for tid in tasks:
        try:
            kids += [int(kid) for kid in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended
            return None
        except OSError:
            continue
    return kids


def _tree(roots: Sequence[int]) -> set[int]:
    """The roots and all their descendants. Asking each process of the tree for its children costs a
    tenth of a millisecond; reading every process's stat, the fallback, costs about 4 ms a sample, CPU
    taken from the measured run (it used both cores, clamscan only one)."""
    seen: set[int] = set()
    todo = list(roots)
    kids_of: dict[int, list[int]] | None = None
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        kids = _task_children(pid) if kids_of is None else None
        if kids is None:
            kids_of = kids_of if kids_of is not None else _children()
            kids = kids_of.get(pid, [])
        todo.extend(kids)
    return seen


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # the process exited between listing and reading: it holds no memory any more
    return 0


def tree_pss_kb(roots: Sequence[int]) -> int:
    return sum(_pss_kb(pid) for pid in _tree(roots))


class Sampler:
    """Samples a process tree's summed PSS in a thread, so the caller can wait() for exact wall time.

    The first sample comes 2 ms after the start and the gap doubles up to 50 ms, which it keeps for the
    first half second: a short run (clamscan on a small database is over in tens of milliseconds) is
    seen after its exec, not only as the forked parent. Then one sample every 250 ms: reading a
    process's smaps_rollup costs the kernel about 1.5 ms with Vigil's mapped database, and at 50 ms
    throughout the sampling took 5-8% of the CPU a two-worker scan needed (measured: 2.10-2.23 s sampled
    against 2.00-2.05 s unsampled), while a one-core clamscan lost nothing to it. Memory grows in the
    first half second (loading, forking) and then holds its level, which the slower samples still see."""

    FIRST_INTERVAL = 0.002
    FAST_SECONDS = 0.5

    def __init__(self, roots: Sequence[int], interval: float = 0.05, slow_interval: float = 0.25) -> None:
        self.roots, self.interval, self.slow_interval, self.peak_kb = list(roots), interval, slow_interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started, wait = time.monotonic(), self.FIRST_INTERVAL
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, tree_pss_kb(self.roots))
            fast = time.monotonic() - started < self.FAST_SECONDS
            self._stop.wait(wait if fast else self.slow_interval)
            wait = min(2 * wait, self.interval)

    def stop(self) -> float:
        """Stop sampling; one last sample first, so a process still running (clamd after its load) is
        measured even when it got ready before the sampler's first reading of it."""
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, tree_pss_kb(self.roots))
        return round(self.peak_kb / 1024, 1)


# ---------------------------------------------------------------- runs and results

@dataclass
class Verified:
    """A tool's detections against the manifest; mode 'covers' allows extras (YARA rules add their own)."""

    mode: str
    expected: int
    detected: int
    missed: dict[str, tuple[str, str | None]]
    extra: dict[str, str]

    @property
    def correct(self) -> int:
        return self.expected - len(self.missed)


@dataclass
class Row:
    label: str
    cmd: str
    seconds: float
    peak_pss_mb: float
    rc: int
    per_corpus: bool = True
    runs: list[float] = field(default_factory=list)
    check: Verified | None = None
    note: str = ""


def run_cmd(cmd: Sequence[str], env: dict[str, str], out: Path, extra_roots: Sequence[int] = (),
            warm: Sequence[Path] = ()) -> Row:
    """Time one command. Its inputs (`warm`) are read first: this VM's DAMON reclaim pages out file
    pages idle for about a minute, so one warm-up at the start left later rows reading from disk.
    Then what earlier rows wrote (a cold compile leaves ~300 MB of dirty cache pages) is written back
    before the clock starts, so no row pays for the writeback of the one before it."""
    warm_page_cache(warm)
    os.sync()
    with open(out, "wb") as stdout, open(str(out) + ".err", "wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=stdout, stderr=stderr, env=env)
        sampler = Sampler([proc.pid, *extra_roots])
        rc = proc.wait()
        seconds = time.perf_counter() - start
    return Row("", " ".join(cmd), round(seconds, 3), sampler.stop(), rc)


def found(text: str, root: Path) -> dict[str, str]:
    """clamscan-style 'path: Name FOUND' lines -> {path relative to root: name without .UNOFFICIAL}."""
    got = {}
    for line in text.splitlines():
        if line.endswith(" FOUND"):
            path, _, name = line[:-6].rpartition(": ")
            got[os.path.relpath(os.path.abspath(path), root)] = name.replace(".UNOFFICIAL", "")
    return got


def compare(mode: str, expected: dict[str, str], got: dict[str, str]) -> Verified:
    missed = {k: (v, got.get(k)) for k, v in sorted(expected.items()) if got.get(k) != v}
    extra = {k: v for k, v in sorted(got.items()) if k not in expected}
    return Verified(mode, len(expected), len(got), missed, extra)


# ---------------------------------------------------------------- inputs

def generate(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """Create (or, with --reuse, keep) the corpus and signatures with the shared generators."""
    corpus = Path(args.corpus) if args.corpus else work / f"corpus-{args.corpus_mb}mb"
    sigs = Path(args.sigs) if args.sigs else \
        work / f"sigs-{corpus.name}-h{args.hash}-b{args.body}-l{args.logical}"
    bench = SHARED / "bench"
    if not args.corpus and not (args.reuse and (corpus / "manifest.json").is_file()):
        shutil.rmtree(corpus, ignore_errors=True)
        subprocess.run([sys.executable, str(bench / "make_corpus.py"), str(corpus),
                        "--size-mb", str(args.corpus_mb)], check=True)
        shutil.rmtree(sigs, ignore_errors=True)
    done = Path(str(sigs) + ".complete")
    if not args.sigs and not (args.reuse and done.is_file()):
        shutil.rmtree(sigs, ignore_errors=True)
        subprocess.run([sys.executable, str(bench / "make_sigs.py"), str(sigs), "--corpus", str(corpus),
                        "--hash", str(args.hash), "--body", str(args.body), "--logical", str(args.logical)],
                       check=True)
        done.write_text("make_sigs.py finished\n")
    return corpus, sigs


def corpus_size(root: Path) -> tuple[int, int]:
    files = nbytes = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                files += 1
                nbytes += os.path.getsize(path)
    return files, nbytes


def warm_page_cache(paths: Sequence[Path]) -> None:
    """Every tool sees the same warm page cache: read the corpus and databases before timing.
    Only regular files (the state directory holds clamd's socket)."""
    for top in paths:
        for dirpath, _, names in os.walk(top):
            for name in names:
                path = os.path.join(dirpath, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    while f.read(1 << 20):
                        pass


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args: argparse.Namespace, corpus: Path, sigs: Path, state: Path) -> None:
        self.args, self.corpus, self.sigs, self.state = args, corpus, sigs, state
        self.files = corpus / "files"
        self.nfiles, self.nbytes = corpus_size(self.files)
        manifest = json.loads((corpus / "manifest.json").read_text())
        self.expected = {k: v for k, v in manifest["files"].items() if v}
        self.yara_dir = Path(args.yara_dir)
        self.yara_files = sorted(str(p) for p in self.yara_dir.iterdir() if p.suffix in (".yar", ".yara"))
        self.small = state / "small.txt"
        self.small.write_text(SMALL_FILE_TEXT)
        self.rows: dict[str, Row] = {}
        self.run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.load_start = os.getloadavg()
        self.env = dict(os.environ, VIGIL_CACHE_DIR=str(state / "vigil-cache"),
                        XDG_CACHE_HOME=str(state / "xdg-cache"))
        #: what any row reads: corpus, signatures, YARA rules, and the state (compiled caches, rules.yarc)
        self.inputs = [self.files, sigs, self.yara_dir, state]

    def emit(self, label: str, row: Row, check: str = "") -> Row:
        """Record a row; `check` = 'exact' (== manifest) or 'covers' (manifest found, extras allowed)."""
        row.label = label
        if check:
            stdout = (self.state / f"{label}.out").read_text(errors="replace")
            row.check = compare(check, self.expected, found(stdout, self.files))
        self.rows[label] = row
        rec = asdict(row) | {"run_id": self.run_id, "loadavg": os.getloadavg()}
        if row.per_corpus:
            rec |= {"MBps": self.mbps(row), "files_per_s": self.fps(row)}
        with open(self.args.out, "a", encoding="utf-8") as results:
            results.write(json.dumps(rec) + "\n")
        print(f"  {label}: {row.seconds} s, peak PSS {row.peak_pss_mb} MB, rc {row.rc}"
              + (f", {row.check.correct}/{row.check.expected} detections" if row.check else ""),
              flush=True)
        return row

    def mbps(self, row: Row) -> float:
        return round(self.nbytes / 1e6 / row.seconds, 3)

    def fps(self, row: Row) -> float:
        return round(self.nfiles / row.seconds, 3)

    def timed(self, label: str, cmd: Sequence[str], check: str = "", runs: int = 1,
              per_corpus: bool = True, env: dict[str, str] | None = None) -> Row:
        """Median of `runs` runs; the peak memory is the largest seen in any of them."""
        done = [run_cmd(cmd, env or self.env, self.state / f"{label}.out", warm=self.inputs)
                for _ in range(runs)]
        row = sorted(done, key=lambda r: r.seconds)[len(done) // 2]
        row.peak_pss_mb = max(r.peak_pss_mb for r in done)
        row.runs = [r.seconds for r in done] if runs > 1 else []
        row.per_corpus = per_corpus
        return self.emit(label, row, check)

    def clamscan(self) -> None:
        base = ["clamscan", "--no-summary", "-d", str(self.sigs)]
        self.timed("clamscan.startup", [*base, str(self.small)], runs=self.args.startup_runs,
                   per_corpus=False)
        self.timed("clamscan.scan", [*base, "-r", str(self.files)], check="exact")

    def clamd(self) -> None:
        warm_page_cache(self.inputs)
        with Clamd(self.sigs, self.state) as daemon:
            self.emit("clamd.load", daemon.load_row)
            cmd = ["clamdscan", "-c", str(daemon.conf), "--multiscan", "--no-summary", str(self.files)]
            for label in ("clamd.multiscan.1st", "clamd.multiscan.2nd"):
                row = run_cmd(cmd, self.env, self.state / f"{label}.out", extra_roots=[daemon.pid],
                              warm=self.inputs)
                self.emit(label, row, check="exact")

    def yara(self) -> None:
        compiled = self.state / "rules.yarc"
        self.timed("yara.compile", ["yarac", "-w", *self.yara_files, str(compiled)], per_corpus=False)
        self.timed("yara.startup", ["yara", "-w", "-C", str(compiled), str(self.small)],
                   runs=self.args.startup_runs, per_corpus=False)
        row = run_cmd(["yara", "-r", "-w", "-C", str(compiled), str(self.files)], self.env,
                      self.state / "yara.scan.out", warm=self.inputs)
        row.note = self.files_matched("yara.scan")
        self.emit("yara.scan", row)
        self.yarax_floor()

    def yarax_floor(self) -> None:
        """yara-x alone through its Python binding (bench/yarax_floor.py): the floor under vigil+yara."""
        floor = [str(Path(self.args.vigil).with_name("python")), str(REPO / "bench" / "yarax_floor.py")]
        rules = self.state / "rules.yarax"
        self.timed("yara-x.compile", [*floor, "compile", str(rules), *self.yara_files], per_corpus=False)
        row = run_cmd([*floor, "scan", str(rules), str(self.files), "-j", str(self.args.jobs)], self.env,
                      self.state / "yara-x.scan.out", warm=self.inputs)
        row.note = self.files_matched("yara-x.scan")
        self.emit("yara-x.scan", row)

    def files_matched(self, label: str) -> str:
        """Distinct files in a `rule path` listing (the yara CLI's output, and yarax_floor.py's)."""
        hits = (self.state / f"{label}.out").read_text(errors="replace").splitlines()
        return f"files matched: {len({line.partition(' ')[2] for line in hits})}"

    def vigil(self) -> None:
        vig, jobs = [str(self.args.vigil), "scan", "--no-summary"], ["-j", str(self.args.jobs)]
        db = ["-d", str(self.sigs)]
        # start-up rows scan the small file for real (--no-cache): answered from the scan cache, it
        # would not even map the database whose start-up the row is meant to time
        nocache = ["--no-cache"] if self.has_no_cache() else []
        self.timed("vigil.compile.cold", [*vig, *nocache, *db, str(self.small)], per_corpus=False)
        self.timed("vigil.startup.warm", [*vig, *nocache, *db, str(self.small)],
                   runs=self.args.startup_runs, per_corpus=False)
        scan = [*vig, "-r", *jobs, *db, str(self.files)]
        self.timed("vigil.scan.1st", scan, check="exact")
        self.timed("vigil.scan.2nd", scan, check="exact")
        self.rescans(vig, jobs, db)
        for n in (1, 2):
            self.timed(f"vigil.scan.j{n}" + (".nocache" if nocache else ""),
                       [*vig, "-r", "-j", str(n), *nocache, *db, str(self.files)], check="exact")
        both = [*db, "-d", str(self.yara_dir)]
        self.timed("vigil+yara.compile.cold", [*vig, *nocache, *both, str(self.small)], per_corpus=False)
        self.timed("vigil+yara.startup.warm", [*vig, *nocache, *both, str(self.small)],
                   runs=self.args.startup_runs, per_corpus=False)
        self.timed("vigil+yara.scan", [*vig, "-r", *jobs, *nocache, *both, str(self.files)], check="covers")

    def rescans(self, vig: list[str], jobs: list[str], db: list[str]) -> None:
        """The two other kinds of second pass. `scan.2nd` repeats the command over an unchanged tree,
        which Vigil replays from its record (cli.replay). `2nd.filewise` is another command line (a
        default spelled out), so the scan cache answers file by file; `2nd.one.changed` is the first
        command after one file's ctime moved (its content did not): the scan cache answers the rest and
        the database is mapped to scan that file."""
        spelled_out = ["--max-dir-recursion", "15"]
        self.timed("vigil.scan.2nd.filewise", [*vig, "-r", *spelled_out, *jobs, *db, str(self.files)],
                   check="exact")
        touched = next(path for path in sorted(self.files.rglob("*")) if path.is_file())
        touched.chmod(touched.stat().st_mode)
        self.timed("vigil.scan.2nd.one.changed", [*vig, "-r", *jobs, *db, str(self.files)], check="exact")

    def has_no_cache(self) -> bool:
        helptext = subprocess.run([str(self.args.vigil), "scan", "--help"], capture_output=True, text=True)
        return "--no-cache" in helptext.stdout


class Clamd:
    """A private clamd on a unix socket in the state directory; started, pinged, and stopped here."""

    def __init__(self, sigs: Path, state: Path) -> None:
        self.sock, self.conf = state / "clamd.sock", state / "clamd.conf"
        self.conf.write_text(
            f"LocalSocket {self.sock}\nDatabaseDirectory {sigs}\nMaxThreads 2\nForeground yes\n"
            f"LogFile {state / 'clamd.log'}\nTemporaryDirectory {state}\nPidFile {state / 'clamd.pid'}\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.load_row = Row("", "", 0.0, 0.0, 0)

    def __enter__(self) -> Clamd:
        cmd = ["clamd", "-c", str(self.conf), "--foreground"]
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        sampler = Sampler([self.pid])
        while not self.ping():
            if self.proc.poll() is not None:
                sampler.stop()
                raise RuntimeError(f"clamd exited ({self.proc.returncode}); see {self.conf.parent}/clamd.log")
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        self.load_row = Row("", " ".join(cmd) + "  (until PING answers PONG)", round(seconds, 3),
                            sampler.stop(), 0, per_corpus=False)
        return self

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(self.sock))
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- the report

Goal = Callable[[float, Row], bool]
# (comparison, Vigil row, peer row, kind, target, met?): "speed" ratio = peer s / Vigil s,
# "memory" ratio = Vigil PSS / peer PSS.
COMPARISONS: list[tuple[str, str, str, str, str, Goal]] = [
    ("vigil scan -r vs clamscan -r", "vigil.scan.1st", "clamscan.scan", "speed", ">= 10x",
     lambda r, v: r >= 10),
    ("vigil scan -r vs clamd multiscan 1st pass", "vigil.scan.1st", "clamd.multiscan.1st", "speed", ">= 3x",
     lambda r, v: r >= 3),
    ("start-up, 1 small file, warm cache", "vigil.startup.warm", "clamscan.startup", "speed", "<= 0.5 s",
     lambda r, v: v.seconds <= 0.5),
    ("2nd scan of unchanged corpus vs 1st", "vigil.scan.2nd", "vigil.scan.1st", "speed", ">= 20x",
     lambda r, v: r >= 20),
    ("2nd scan vs clamd 2nd pass (clean cache)", "vigil.scan.2nd", "clamd.multiscan.2nd", "speed", "-",
     lambda r, v: True),
    ("2nd scan, file by file (scan cache) vs 1st", "vigil.scan.2nd.filewise", "vigil.scan.1st", "speed", "-",
     lambda r, v: True),
    ("2nd scan, one file changed vs 1st", "vigil.scan.2nd.one.changed", "vigil.scan.1st", "speed", "-",
     lambda r, v: True),
    ("scaling: -j 2 vs -j 1", "vigil.scan.j2", "vigil.scan.j1", "speed", "-", lambda r, v: True),
    ("vigil + signature-base YARA vs yara CLI", "vigil+yara.scan", "yara.scan", "speed", ">= 1x",
     lambda r, v: r >= 1),
    ("yara-x alone (no Vigil) vs yara CLI", "yara-x.scan", "yara.scan", "speed", "-", lambda r, v: True),
    ("vigil + signature-base YARA vs yara-x alone", "vigil+yara.scan", "yara-x.scan", "speed", "-",
     lambda r, v: True),
    ("start-up with YARA loaded vs yara CLI", "vigil+yara.startup.warm", "yara.startup", "speed", "-",
     lambda r, v: True),
    ("peak PSS vs clamscan", "vigil.scan.1st", "clamscan.scan", "memory", "<= 1x", lambda r, v: r <= 1),
    ("peak PSS with YARA vs clamscan", "vigil+yara.scan", "clamscan.scan", "memory", "-", lambda r, v: True),
    ("cold compile peak PSS vs clamscan", "vigil.compile.cold", "clamscan.scan", "memory", "-",
     lambda r, v: True),
]


def detections(row: Row) -> str:
    c = row.check
    if c is None:
        return row.note
    missed, extra = len(c.missed), len(c.extra)
    text = f"{c.correct}/{c.expected}"
    if c.mode == "covers":
        return text + (f" (+{extra} YARA)" if extra else "")
    return text + (f", {missed} missed" if missed else "") + (f", {extra} extra" if extra else "")


def table(bench: Bench) -> str:
    lines = ["| row | seconds | MB/s | files/s | peak PSS MB | detections |", "|---|---:|---:|---:|---:|---|"]
    for label, row in bench.rows.items():
        rate = [f"{bench.mbps(row):.1f}", f"{bench.fps(row):.0f}"] if row.per_corpus else ["-", "-"]
        lines.append(f"| {label} | {row.seconds:.2f} | {' | '.join(rate)} | {row.peak_pss_mb:.0f} | "
                     f"{detections(row)} |")
    lines += ["", "| comparison (Vigil / peer) | Vigil | peer | ratio | target | met |",
              "|---|---|---|---:|---|---|"]
    for name, _, _, kind, target, met in COMPARISONS:
        found = _comparison(bench, name)
        if found is None:
            continue
        ratio, v, p = found
        if kind == "speed":
            vs, ps = f"{v.seconds:.2f} s", f"{p.seconds:.2f} s"
        else:
            vs, ps = f"{v.peak_pss_mb:.0f} MB", f"{p.peak_pss_mb:.0f} MB"
        ok = "-" if target == "-" else ("yes" if met(ratio, v) else "NO")
        lines.append(f"| {name} | {vs} | {ps} | {ratio:.2f}x | {target} | {ok} |")
    return "\n".join(lines)


def _comparison(bench: Bench, name: str) -> tuple[float, Row, Row] | None:
    """(ratio, Vigil row, peer row) of a named comparison, None when a row did not run."""
    _, mine, peer, kind, _, _ = next(c for c in COMPARISONS if c[0] == name)
    v, p = bench.rows.get(_alias(bench, mine)), bench.rows.get(_alias(bench, peer))
    if v is None or p is None:
        return None
    ratio = p.seconds / v.seconds if kind == "speed" else v.peak_pss_mb / p.peak_pss_mb
    return ratio, v, p


def rounds_table(benches: Sequence[Bench]) -> str:
    """Each round's own ratios beside each other: on a shared VM whose CPU speed swings, the spread
    says how far one round's ratio can be trusted."""
    head = "| comparison | " + " | ".join(f"round {n + 1}" for n in range(len(benches))) + " |"
    lines = [head, "|---|" + "---:|" * len(benches)]
    for name, *_ in COMPARISONS:
        found = [_comparison(bench, name) for bench in benches]
        if all(f is None for f in found):
            continue
        cells = ["-" if f is None else f"{f[0]:.2f}x" for f in found]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merged(benches: Sequence[Bench]) -> Bench:
    """A copy of the first round's Bench with, per row, the round of median seconds; `runs` lists every
    round, peak memory is the largest seen, and a detection check that failed in any round is kept.
    The rounds themselves stay as they ran (the per-round table reads them)."""
    bench = copy.copy(benches[0])
    rows: dict[str, Row] = {}
    for label in bench.rows:
        seen = [b.rows[label] for b in benches if label in b.rows]
        row = replace(sorted(seen, key=lambda r: r.seconds)[len(seen) // 2])
        row.runs = [r.seconds for r in seen] if len(seen) > 1 else row.runs
        row.peak_pss_mb = max(r.peak_pss_mb for r in seen)
        bad = [r.check for r in seen if r.check is not None and (r.check.missed or
                                                                 (r.check.mode == "exact" and r.check.extra))]
        row.check = bad[0] if bad else row.check
        rows[label] = row
    bench.rows = rows
    return bench


def _alias(bench: Bench, label: str) -> str:
    """Scaling rows are named .nocache when Vigil has --no-cache."""
    return label if label in bench.rows else label + ".nocache"


def header(bench: Bench) -> str:
    def version(cmd: list[str]) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True)
        return ((done.stdout + done.stderr).strip().splitlines() or ["?"])[0]
    load_end = os.getloadavg()
    return "\n".join([
        f"run {bench.run_id} on {os.uname().nodename}, {os.cpu_count()} CPUs; load average (1/5/15 min) "
        f"at start {bench.load_start[0]:.2f}/{bench.load_start[1]:.2f}/{bench.load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}",
        f"corpus {bench.corpus}: {bench.nfiles} files, {bench.nbytes / 1e6:.1f} MB, "
        f"{len(bench.expected)} planted detections; signatures {bench.sigs}; "
        f"YARA {len(bench.yara_files)} files from {bench.yara_dir}",
        f"{version(['clamscan', '--version'])}; yara {version(['yara', '--version'])}; "
        f"{version([str(bench.args.vigil), 'scan', '--version'])}",
    ])


def misses(bench: Bench) -> list[str]:
    out = []
    for label, row in bench.rows.items():
        if row.check is None:
            continue
        for path, (want, got) in row.check.missed.items():
            out.append(f"{label}: MISS {path} expected {want} got {got}")
        if row.check.mode == "exact":
            out += [f"{label}: EXTRA {path} {name}" for path, name in row.check.extra.items()]
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    tmp = os.environ.get("TMPDIR") or tempfile.gettempdir()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work-dir", default=os.path.join(tmp, "vigil-bench"), help="generated data goes here")
    ap.add_argument("--corpus-mb", type=int, default=100,
                    help="make_corpus.py --size-mb (its default, 1000, gives 942 MB)")
    ap.add_argument("--reuse", action="store_true", help="reuse a corpus and signatures made earlier")
    ap.add_argument("--corpus", help="use this make_corpus.py output as is (no generation)")
    ap.add_argument("--sigs", help="use this signature directory as is (no generation)")
    ap.add_argument("--hash", type=int, default=1_000_000, help="make_sigs.py --hash")
    ap.add_argument("--body", type=int, default=50_000, help="make_sigs.py --body")
    ap.add_argument("--logical", type=int, default=200, help="make_sigs.py --logical")
    ap.add_argument("--yara-dir", default=str(SHARED / "corpus/yara/signature-base"))
    ap.add_argument("--vigil", default=str(REPO / ".venv/bin/vigil"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="Vigil's -j for the main rows")
    ap.add_argument("--startup-runs", type=int, default=3, help="runs (median) of the one-small-file rows")
    ap.add_argument("--sections", default="clamscan,clamd,yara,vigil")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every section this many times, interleaved; each row reports its median")
    ap.add_argument("--out", help="JSON lines results file (appended; default WORK_DIR/results.jsonl)")
    ap.add_argument("--keep-state", action="store_true", help="keep caches, outputs and clamd.conf")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    args.out = args.out or str(work / "results.jsonl")
    corpus, sigs = generate(args, work)
    benches = []
    for number in range(args.rounds):
        if args.rounds > 1:
            print(f"=== round {number + 1} of {args.rounds}", flush=True)
        benches.append(run_round(args, corpus, sigs, work))
    bad = [line for b in benches for line in misses(b)]
    bench = merged(benches)
    report = header(bench) + "\n\n" + table(bench)
    if len(benches) > 1:
        note = f"\n(each row: the median of {len(benches)} interleaved rounds)\n\n"
        report = report.replace("\n\n", note, 1) + "\n\nper-round ratios:\n\n" + rounds_table(benches)
    print("\n" + report)
    (work / "latest-table.md").write_text(report + "\n")
    print("\n".join(["", "detection differences from the manifest:", *bad]) if bad else
          "\nall detections equal the manifest")
    return 1 if bad else 0


def run_round(args: argparse.Namespace, corpus: Path, sigs: Path, work: Path) -> Bench:
    """Every section once, in a fresh state directory (so the compiled and scan caches start empty)."""
    state = Path(tempfile.mkdtemp(prefix="state-", dir=work))
    try:
        bench = Bench(args, corpus, sigs, state)
        sections = {"clamscan": bench.clamscan, "clamd": bench.clamd, "yara": bench.yara,
                    "vigil": bench.vigil}
        for name in args.sections.split(","):
            print(f"== {name}", flush=True)
            sections[name]()
        return bench
    finally:
        if not args.keep_state:
            shutil.rmtree(state, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
