"""Time activating a large signed update (download excluded) and rolling it back.

    python3 bench/update_activation.py [--hash 500000] [--body 50000] [--workdir DIR] [--vigild]

Generates signatures with ../shared/bench/make_sigs.py (`.hdb` + `.hsb` = 2 x --hash hashes, --body
`.ndb` bodies), packs and signs them as a bundle, imports a small bundle as version 1, then times
`import_bundle` of the big one as version 2 (signature check, unpack and digests, staging, test-load
with load_database, link swap), split into phases, and `rollback`. Targets: activation < 10 s,
rollback < 2 s. With `--vigild`, a real vigild serves `ROOT/current` under a steady stream of requests
(`vigild_load.py`) throughout, is told to reload by the update, and must answer every request; the time
until it detects a sample only the new version knows is reported too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigil.signatures import load_database
from vigil.update import minisign, pipeline, trust
from vigil.update.bundle import build_bundle, read_bundle, read_dir_files
from vigil.update.config import UpdateConfig
from vigil.update.fetch import FetchPolicy
from vigil.update.install import bundle_comment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vigild_load import PROBE, PROBE_NAME, DaemonUnderLoad

MAKE_SIGS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_sigs.py"


def _write_bundle(path: Path, key: minisign.SecretKey, files: dict[str, bytes], version: int) -> None:
    data = build_bundle(files, name="vigil", version=version, created=1_700_000_000 + version)
    path.write_bytes(data)
    signature = minisign.sign(key, data, bundle_comment("vigil", version, 1_700_000_000 + version))
    Path(str(path) + ".minisig").write_text(signature.to_text())


def _timed(label: str, func, results: dict[str, float]):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = func()
    results[label] = time.perf_counter() - start
    return value


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hash", type=int, default=500_000, help=".hdb and .hsb entries each")
    ap.add_argument("--body", type=int, default=50_000)
    ap.add_argument("--workdir")
    ap.add_argument("--vigild", action="store_true", help="activate under a running, loaded vigild")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vigil-upd-bench-"))
    sigs = work / "sigs"
    if not (sigs / "vigil.hdb").exists():
        cmd = [sys.executable, str(MAKE_SIGS), str(sigs), "--hash", str(args.hash), "--body", str(args.body)]
        subprocess.run([*cmd, "--logical", "0"], check=True)
    files = {n: d for n, d in read_dir_files(str(sigs)).items() if n.endswith((".hdb", ".hsb", ".ndb"))}
    files["probe.hdb"] = f"{hashlib.md5(PROBE).hexdigest()}:{len(PROBE)}:{PROBE_NAME}\n".encode()
    key = minisign.generate_key()
    store = work / "trusted-keys"
    trust.add_key(str(store), key.public())
    small, big = work / "small.tar.gz", work / "big.tar.gz"
    times: dict[str, float] = {}
    _write_bundle(small, key, {"seed.hdb": b"44d88612fea8a8f36de82e1278abb02f:68:Seed\n"}, 1)
    _timed("build+sign bundle", lambda: _write_bundle(big, key, files, 2), times)
    root = work / "db"
    daemon = DaemonUnderLoad(work, root / "current") if args.vigild else None
    config = UpdateConfig(
        root=str(root), trust_store=str(store), keep=3, policy=FetchPolicy(max_bytes=4 << 30),
        daemon_socket=daemon.sock if daemon is not None else "",
    )
    pipeline.import_bundle(config, str(small))

    data = big.read_bytes()
    _timed("phase: unpack+digests", lambda: read_bundle(data), times)
    staged = work / "loadcheck"
    staged.mkdir(exist_ok=True)
    for name, blob in files.items():
        (staged / name).write_bytes(blob)
    _timed("phase: load_database", lambda: load_database([str(staged)]), times)
    if daemon is None:
        outcome = _timed("activation total", lambda: pipeline.import_bundle(config, str(big)), times)
        assert outcome.changed
        _timed("rollback", lambda: pipeline.rollback(config), times)
    else:
        with daemon:
            _activate_under_load(config, big, daemon, times)

    hashes = sum(d.count(b"\n") for n, d in files.items() if n.endswith((".hdb", ".hsb")))
    bodies = sum(d.count(b"\n") for n, d in files.items() if n.endswith(".ndb"))
    print(
        f"signatures: {hashes} hashes, {bodies} bodies; bundle {len(data) / 1e6:.1f} MB; "
        f"cores {os.cpu_count()}"
    )
    for label, seconds in times.items():
        print(f"{label:24s} {seconds:8.2f} s")
    if daemon is not None:
        print(daemon.summary())
    verdict_a = "PASS" if times["activation total"] < 10 else "FAIL"
    verdict_r = "PASS" if times["rollback"] < 2 else "FAIL"
    print(f"activation < 10 s: {verdict_a}; rollback < 2 s: {verdict_r}")
    return 0


def _activate_under_load(config: UpdateConfig, big: Path, daemon: DaemonUnderLoad,
                         times: dict[str, float]) -> None:
    time.sleep(1)  # some traffic on the old version first
    start = time.time()
    outcome = _timed("activation total", lambda: pipeline.import_bundle(config, str(big)), times)
    assert outcome.changed
    daemon.wait_reloads(1)
    times["vigild: new db serving"] = daemon.first_detection_after(start)
    time.sleep(1)
    _timed("rollback", lambda: pipeline.rollback(config), times)
    daemon.wait_reloads(2)
    time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
