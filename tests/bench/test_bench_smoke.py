"""Smoke run of bench/run_bench.py on a four-file corpus and a few-signature DB, so the script cannot rot.

The full benchmark takes minutes; this runs every section (clamscan, clamd + clamdscan, the yara CLI,
Vigil cold/warm/second pass/-j 1/-j 2/with YARA) on tiny inputs and checks the rows, the detections
against the manifest and the process-tree PSS sampler.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "run_bench.py"
TOOLS = ("clamscan", "clamd", "clamdscan", "yara", "yarac")
BODY = b"vigil-bench-smoke-body-marker-0123456789"
YARA_MARK = b"vigil-bench-smoke-yara-marker"

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="needs ClamAV and yara")


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def _corpus(root: Path) -> Path:
    """A make_corpus.py-shaped corpus: files/ plus manifest.json with ground truth and planted signatures."""
    files = root / "corpus" / "files"
    (files / "sub").mkdir(parents=True)
    hashed = b"a file planted by md5\n" * 40
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("inner/payload.bin", b"\0" * 100 + BODY + b"\0" * 100)
    contents = {"clean.txt": (b"nothing to see\n" * 100, None),
                "sub/hashed.bin": (hashed, "Vigil.Smoke.Hash"),
                "sub/body.zip": (inner.getvalue(), "Vigil.Smoke.Body"),
                "yara_only.txt": (b"text " + YARA_MARK + b" text\n", None)}
    for rel, (data, _) in contents.items():
        (files / rel).write_bytes(data)
    manifest = {"files": {rel: name for rel, (_, name) in contents.items()},
                "planted_sigs": {"hdb": [f"{hashlib.md5(hashed).hexdigest()}:{len(hashed)}:Vigil.Smoke.Hash"],
                                 "hsb": [], "ndb": [f"Vigil.Smoke.Body:0:*:{BODY.hex()}"], "ldb": []}}
    (root / "corpus" / "manifest.json").write_text(json.dumps(manifest))
    return root / "corpus"


def test_smoke_run_covers_every_section(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    rules = tmp_path / "yara"
    rules.mkdir()
    mark = YARA_MARK.decode()
    (rules / "smoke.yar").write_text(f'rule vigil_bench_smoke {{ strings: $a = "{mark}" condition: $a }}\n')
    out = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--work-dir", str(tmp_path / "work"), "--corpus", str(corpus),
         "--hash", "20", "--body", "20", "--logical", "2", "--yara-dir", str(rules), "--startup-runs", "1",
         "--vigil", str(Path(sys.executable).parent / "vigil"), "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {r["label"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) >= {"clamscan.startup", "clamscan.scan", "clamd.load", "clamd.multiscan.1st",
                         "clamd.multiscan.2nd", "yara.compile", "yara.startup", "yara.scan",
                         "vigil.compile.cold", "vigil.startup.warm", "vigil.scan.1st", "vigil.scan.2nd",
                         "vigil+yara.compile.cold", "vigil+yara.startup.warm", "vigil+yara.scan"}
    assert rows["yara.scan"]["note"] == "files matched: 1"
    assert rows["yara-x.scan"]["note"] == "files matched: 1"  # the floor finds what the yara CLI finds
    assert rows["yara-x.scan"]["rc"] == 0 and "yara-x.compile" in rows
    assert "| yara-x alone (no Vigil) vs yara CLI |" in proc.stdout
    assert {"vigil.scan.j1.nocache", "vigil.scan.j2.nocache"} <= set(rows)
    for label in ("clamscan.scan", "clamd.multiscan.1st", "clamd.multiscan.2nd", "vigil.scan.1st",
                  "vigil.scan.2nd", "vigil.scan.2nd.filewise", "vigil.scan.2nd.one.changed",
                  "vigil.scan.j1.nocache", "vigil.scan.j2.nocache"):
        check = rows[label]["check"]
        assert check["expected"] == check["detected"] == 2, label
        assert check["missed"] == {} and check["extra"] == {}, label
        assert rows[label]["rc"] == 1, label  # clamscan's "something found"
        assert rows[label]["peak_pss_mb"] > 1 and rows[label]["MBps"] > 0, label
    yara_extra = rows["vigil+yara.scan"]["check"]["extra"]
    assert list(yara_extra) == ["yara_only.txt"] and "vigil_bench_smoke" in yara_extra["yara_only.txt"]
    assert rows["clamd.load"]["peak_pss_mb"] > 0  # clamd may be sampled before its database is in
    assert "| vigil scan -r vs clamscan -r |" in proc.stdout
    assert "all detections equal the manifest" in proc.stdout
    hdb = next((tmp_path / "work").glob("sigs-*/vigil.hdb"))
    assert len(hdb.read_text().splitlines()) == 21  # make_sigs.py: 20 random + 1 planted
    assert not list((tmp_path / "work").glob("state-*"))  # caches and outputs are cleaned up


def test_tree_pss_counts_descendants(tmp_path: Path) -> None:
    """A shell whose child holds 64 MB of written memory: the tree's PSS must include the child."""
    bench = _module()
    ready = tmp_path / "ready"
    tmp = str(ready) + ".tmp"
    child = (f"import os, time; b = b'x' * (64 << 20); open({tmp!r}, 'w').write(str(os.getpid())); "
             f"os.replace({tmp!r}, {str(ready)!r}); time.sleep(30)")
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{child}"; true'])
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bench.tree_pss_kb([shell.pid]) > 60 * 1024
        assert bench._pss_kb(shell.pid) < 20 * 1024  # the shell alone is small
    finally:
        if ready.exists():
            os.kill(int(ready.read_text()), signal.SIGKILL)
        shell.kill()
        shell.wait()


def test_rounds_report_medians_and_keep_any_failed_check() -> None:
    """`--rounds N`: each row is the round of median seconds, every round's time is listed, memory is
    the largest seen, and a detection that went wrong in any round is not hidden by the median."""
    bench = _module()
    good = bench.Verified("exact", 2, 2, {}, {})
    bad = bench.Verified("exact", 2, 1, {"a": ("X", None)}, {})
    rounds = []
    for seconds, pss, check in ((3.0, 10.0, good), (1.0, 30.0, bad), (2.0, 20.0, good)):
        row = bench.Row("vigil.scan.1st", "cmd", seconds, pss, 1, check=check)
        peer = bench.Row("clamscan.scan", "cmd", 10 * seconds, 5.0, 1, check=good)
        rounds.append(SimpleNamespace(rows={"vigil.scan.1st": row, "clamscan.scan": peer}))
    merged = bench.merged(rounds)
    assert rounds[0].rows["vigil.scan.1st"].seconds == 3.0  # the rounds are left as they ran
    row = merged.rows["vigil.scan.1st"]
    assert (row.seconds, row.runs, row.peak_pss_mb) == (2.0, [3.0, 1.0, 2.0], 30.0)
    assert row.check is bad
    per_round = bench.rounds_table(rounds)
    assert "| vigil scan -r vs clamscan -r | 10.00x | 10.00x | 10.00x |" in per_round
    assert "| peak PSS vs clamscan | 2.00x | 6.00x | 4.00x |" in per_round  # each round its own


def test_two_rounds_run_end_to_end(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    rules = tmp_path / "yara"
    rules.mkdir()
    (rules / "smoke.yar").write_text('rule never { strings: $a = "never-present-marker" condition: $a }\n')
    out = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--work-dir", str(tmp_path / "work"), "--corpus", str(corpus),
         "--hash", "20", "--body", "20", "--logical", "2", "--yara-dir", str(rules), "--startup-runs", "1",
         "--vigil", str(Path(sys.executable).parent / "vigil"), "--out", str(out),
         "--sections", "clamscan,vigil", "--rounds", "2"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    labels = [json.loads(line)["label"] for line in out.read_text().splitlines()]
    assert labels.count("vigil.scan.1st") == 2 and labels.count("clamscan.scan") == 2
    assert "(each row: the median of 2 interleaved rounds)" in proc.stdout
    assert "| vigil scan -r vs clamscan -r |" in proc.stdout.split("per-round ratios:")[1]
    assert not list((tmp_path / "work").glob("state-*"))


def test_tree_finds_a_child_started_by_a_thread_and_matches_the_full_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sampler asks each thread of the tree for its children (a pool thread may start a subprocess);
    the answer must equal the fallback that reads every process's stat."""
    bench = _module()
    ready = tmp_path / "ready"
    parent = (
        "import subprocess, threading, time, os\n"
        "def spawn():\n"
        "    child = subprocess.Popen(['sleep', '30'])\n"
        f"    open({str(ready)!r} + '.tmp', 'w').write(str(child.pid))\n"
        f"    os.replace({str(ready)!r} + '.tmp', {str(ready)!r})\n"
        "    child.wait()\n"
        "threading.Thread(target=spawn).start()\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(ready.read_text())
        assert bench._tree([proc.pid]) == {proc.pid, child}
        monkeypatch.setattr(bench, "_task_children", lambda pid: None)
        assert bench._tree([proc.pid]) == {proc.pid, child}
    finally:
        if ready.exists():
            os.kill(int(ready.read_text()), signal.SIGKILL)
        proc.kill()
        proc.wait()
