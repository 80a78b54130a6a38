"""A rescan of an unchanged tree is answered by the scan cache without loading the database.

The compiled cache's manifest gives the database version, cache scope and signature count, so the run
reads it instead of mapping the database and importing the matchers; the output must be identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.engine import scancache

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PROBE = """
import json, sys
from vigil.cli.main import main
code = main(sys.argv[1:])
heavy = [m for m in ("vigil.engine.core", "vigil.engine.walk", "vigil.signatures.database", "hyperscan")
         if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "db"
    db.mkdir()
    filler = "".join(f"{hashlib.md5(b'%d' % i).hexdigest()}:{i + 10}:Filler.{i}\n" for i in range(22_000))
    (db / "big.hdb").write_text(filler)  # over the 1 MiB compiled-cache threshold
    (db / "eicar.ndb").write_text(f"Test.Eicar:0:*:{EICAR[:40].hex()}\n")
    files = tmp_path / "files"
    (files / "sub").mkdir(parents=True)
    (files / "eicar.com").write_bytes(EICAR)
    for index in range(20):
        (files / "sub" / f"clean{index}.txt").write_bytes(b"nothing to see %d\n" % index)
    old = 1_600_000_000
    for path in files.rglob("*"):
        os.utime(path, (old, old))
    time.sleep(scancache.RACY_SECONDS + 0.2)  # ctime too must be older than the racy-write guard
    return db, files


def _run(tmp_path: Path, db: Path, files: Path, *extra: str) -> tuple[str, dict[str, object]]:
    env = {**os.environ, "VIGIL_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "scan", "-r", "--no-summary", *extra, "-d", str(db), str(files)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.stdout, probe


def test_second_pass_loads_no_database_and_prints_the_same(tmp_path: Path) -> None:
    assert scancache.RACY_SECONDS < 10
    db, files = _tree(tmp_path)
    first, probe1 = _run(tmp_path, db, files, "--explain")
    # another command line than the first run's, so the scan cache answers, not a replay (cli.replay)
    second, probe2 = _run(tmp_path, db, files, "--explain", "-j", "1")
    assert probe1["code"] == probe2["code"] == 1
    assert "vigil.signatures.database" in probe1["heavy"]  # the first pass loaded the database
    assert probe2["heavy"] == []  # the rescan imported no matcher and loaded no database
    assert second == first
    assert "eicar.com: Test.Eicar.UNOFFICIAL FOUND" in second and "eicar.ndb:1" in second


def test_a_changed_file_loads_the_database_and_is_rescanned(tmp_path: Path) -> None:
    db, files = _tree(tmp_path)
    _run(tmp_path, db, files)
    (files / "sub" / "clean3.txt").write_bytes(EICAR)
    out, probe = _run(tmp_path, db, files, "-j", "2")
    assert "vigil.signatures.database" in probe["heavy"]
    assert "clean3.txt: Test.Eicar.UNOFFICIAL FOUND" in out and out.count("FOUND") == 2


def test_after_a_hash_only_update_the_engine_rechecks_and_the_next_rescan_is_fast(tmp_path: Path) -> None:
    """The main-process answer has no hash index, so a verdict stamped with older hashes is a miss
    there; the engine re-checks it without reading the file, re-stamps it, and the run after that is
    answered without the database again."""
    db, files = _tree(tmp_path)
    _run(tmp_path, db, files)
    with (db / "big.hdb").open("a") as fh:
        fh.write(f"{hashlib.md5(b'unrelated').hexdigest()}:77:Unrelated.Hash\n")
    out, probe = _run(tmp_path, db, files, "--json")
    assert "vigil.signatures.database" in probe["heavy"]
    results = [json.loads(line) for line in out.splitlines() if '"type":"result"' in line]
    clean = [r for r in results if r["status"] == "clean"]
    assert len(clean) == 20 and all(r["cached"] for r in clean)  # re-checked from stored digests
    infected = [r for r in results if r["status"] == "infected"]
    assert [r["cached"] for r in infected] == [False]  # a detection is only reused under its database
    _, probe = _run(tmp_path, db, files)
    assert probe["heavy"] == []


def test_a_database_broken_after_its_facts_were_read_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run reads the database's facts first and loads it only for a file that must be scanned; if
    a signature file got a bad line in between, that load fails with file and line, not a traceback."""
    from vigil.cli import database as run_database
    from vigil.cli.main import main

    db, files = _tree(tmp_path)
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["scan", "-r", "--no-summary", "-d", str(db), str(files)]) == 1
    (files / "sub" / "clean3.txt").write_bytes(b"changed, so it must be scanned\n")
    read_facts = run_database.cached_facts

    def facts_then_break(*args: object, **kwargs: object) -> object:
        facts = read_facts(*args, **kwargs)  # type: ignore[arg-type]
        with (db / "eicar.ndb").open("a") as fh:
            fh.write("Broken.Line:0:*:zz\n")
        return facts

    monkeypatch.setattr(run_database, "cached_facts", facts_then_break)
    capsys.readouterr()
    code = main(["scan", "-r", "--no-summary", "-d", str(db), str(files)])
    err = capsys.readouterr().err
    assert code in (1, 2) and "eicar.ndb:2" in err and "Traceback" not in err
