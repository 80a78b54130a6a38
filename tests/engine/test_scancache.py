"""The persistent scan cache: skips unchanged files, never hides a change, survives hash-only updates."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vigil.engine import Engine, ScanCache, scancache
from vigil.signatures import load_database
from vigil.types import ScanLimits, ScanSettings, ScanTarget, Verdict

CONTENT = b"\x00\x00\x00\x00\xff\xfe" + b"quite harmless bytes " * 20


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, ScanCache]:
    monkeypatch.setattr(scancache, "RACY_SECONDS", 0.0)
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    (db_dir / "base.ndb").write_text("Other.Body:0:*:6e6f7420696e2074686973\n")
    (db_dir / "base.hdb").write_text(f"{hashlib.md5(b'x').hexdigest()}:1:Other.Hash\n")
    target = tmp_path / "file.bin"
    target.write_bytes(CONTENT)
    return db_dir, target, ScanCache(tmp_path / "cache.sqlite")


def _scan(db_dir: Path, target: Path, cache: ScanCache):  # type: ignore[no-untyped-def]
    engine = Engine(load_database([str(db_dir)], cache=False), ScanSettings(), cache)
    report = engine.scan(ScanTarget(str(target), path=str(target)))
    cache.flush()  # what a finished run does; a fresh database below reads the cache from disk
    return report


def test_unchanged_file_is_answered_from_the_cache(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    first = _scan(db_dir, target, cache)
    second = _scan(db_dir, target, cache)
    assert (first.verdict, first.cached) == (Verdict.CLEAN, False)
    assert (second.verdict, second.cached) == (Verdict.CLEAN, True)
    assert second.sha256 == hashlib.sha256(CONTENT).hexdigest()


def test_content_change_with_the_same_size_and_mtime_is_rescanned(
    setup: tuple[Path, Path, ScanCache],
) -> None:
    db_dir, target, cache = setup
    (db_dir / "evil.ndb").write_text("Evil.Body:0:*:6576696c20627974657321\n")
    _scan(db_dir, target, cache)
    assert _scan(db_dir, target, cache).cached
    st = target.stat()
    evil = CONTENT[: -len(b"evil bytes!")] + b"evil bytes!"
    assert len(evil) == len(CONTENT)
    target.write_bytes(evil)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # only ctime betrays the write
    report = _scan(db_dir, target, cache)
    assert (report.cached, report.name) == (False, "Evil.Body.UNOFFICIAL")


def test_hash_only_update_rechecks_cached_digests(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    _scan(db_dir, target, cache)
    hdb = db_dir / "base.hdb"
    hdb.write_text(hdb.read_text() + f"{hashlib.md5(b'y').hexdigest()}:1:Unrelated.Hash\n")
    assert _scan(db_dir, target, cache).cached  # new hashes, none of them this file: still cached
    hdb.write_text(hdb.read_text() + f"{hashlib.md5(CONTENT).hexdigest()}:{len(CONTENT)}:Now.Known\n")
    report = _scan(db_dir, target, cache)
    assert (report.cached, report.name) == (False, "Now.Known.UNOFFICIAL")


def test_any_other_database_change_invalidates(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    _scan(db_dir, target, cache)
    (db_dir / "new.ndb").write_text("Other.Two:0:*:7a7a7a7a7a7a\n")
    assert not _scan(db_dir, target, cache).cached


def test_settings_are_part_of_the_key(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    db = load_database([str(db_dir)], cache=False)
    Engine(db, ScanSettings(), cache).scan(ScanTarget("t", path=str(target)))
    cache.flush()
    other = Engine(db, ScanSettings(allmatch=True), cache).scan(ScanTarget("t", path=str(target)))
    assert not other.cached


def test_recently_modified_file_is_not_cached(
    setup: tuple[Path, Path, ScanCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_dir, target, cache = setup
    monkeypatch.setattr(scancache, "RACY_SECONDS", 3600.0)
    _scan(db_dir, target, cache)
    assert not _scan(db_dir, target, cache).cached


def test_two_processes_share_the_cache(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    _scan(db_dir, target, cache)
    other = ScanCache(cache.path)  # a second scanner with its own connection
    assert _scan(db_dir, target, other).cached


def test_writes_are_buffered_and_flushed_in_one_transaction(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    engine = Engine(load_database([str(db_dir)], cache=False), ScanSettings(), cache)
    engine.scan(ScanTarget("t", path=str(target)))
    other = ScanCache(cache.path)
    assert not Engine(engine.db, ScanSettings(), other).scan(ScanTarget("t", path=str(target))).cached
    assert engine.scan(ScanTarget("t", path=str(target))).cached  # the writer sees its own pending entry
    cache.flush()
    assert Engine(engine.db, ScanSettings(), other).scan(ScanTarget("t", path=str(target))).cached


def test_limit_verdicts_are_cached_and_reported_again(setup: tuple[Path, Path, ScanCache]) -> None:
    """An archive over MaxFiles is reported again on a rescan without being unpacked again."""
    import zipfile

    db_dir, target, cache = setup
    with zipfile.ZipFile(target, "w") as archive:
        for index in range(5):
            archive.writestr(f"m{index}.txt", b"member %d" % index)
    engine = Engine(
        load_database([str(db_dir)], cache=False), ScanSettings(limits=ScanLimits(max_files=2)), cache
    )
    first = engine.scan(ScanTarget("z", path=str(target)))
    second = engine.scan(ScanTarget("z", path=str(target)))
    assert first.name == second.name == "Heuristics.Limits.Exceeded.MaxFiles"
    assert (first.cached, second.cached) == (False, True) and second.limits_hit == ("MaxFiles",)


def test_detections_are_cached_with_their_evidence(setup: tuple[Path, Path, ScanCache]) -> None:
    db_dir, target, cache = setup
    (db_dir / "evil.ndb").write_text("Evil.Body:0:*:717569746520686172\n")  # "quite har"
    first = _scan(db_dir, target, cache)
    second = _scan(db_dir, target, cache)
    assert (first.name, first.cached, second.cached) == ("Evil.Body.UNOFFICIAL", False, True)
    assert second.detections == first.detections  # names, origins (file:line), offsets, sample bytes
    assert second.layers == first.layers and second.sha256 == first.sha256
    assert second.detections[0].matches[0].evidence[0].offset == 6


def test_cached_detection_is_rescanned_after_a_hash_only_update(setup: tuple[Path, Path, ScanCache]) -> None:
    """A clean verdict survives new hashes (re-checked); a detection is only reused under its database."""
    db_dir, target, cache = setup
    (db_dir / "evil.ndb").write_text("Evil.Body:0:*:717569746520686172\n")
    _scan(db_dir, target, cache)
    assert _scan(db_dir, target, cache).cached
    hdb = db_dir / "base.hdb"
    hdb.write_text(hdb.read_text() + f"{hashlib.md5(CONTENT).hexdigest()}:{len(CONTENT)}:Now.Known\n")
    report = _scan(db_dir, target, cache)
    assert report.cached is False
    assert {d.name for d in report.detections} == {"Evil.Body.UNOFFICIAL"}  # body hit still ranks first


def test_an_entry_in_an_unknown_encoding_is_a_miss(setup: tuple[Path, Path, ScanCache]) -> None:
    from vigil.engine.cached import decode_report

    assert decode_report('{"v": 99, "detections": []}') is None
    assert decode_report("not json") is None
    assert decode_report('{"v": 1, "detections": [["x"]], "layers": []}') is None


def test_a_configured_cache_directory_holds_the_scan_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(tmp_path / "mine"))
    assert scancache.default_path().parent == tmp_path / "mine"
    monkeypatch.delenv("VIGIL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.geteuid() != 0:
        assert scancache.default_path() == tmp_path / "xdg" / "vigil" / "scan-cache-3.sqlite"
    else:
        assert scancache.default_path() == Path("/var/cache/vigil/scan-cache-3.sqlite")


def test_a_verdict_of_an_older_engine_is_not_reused(
    setup: tuple[Path, Path, ScanCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer Vigil may detect what an older one called clean in the same bytes and database."""
    db_dir, target, cache = setup
    _scan(db_dir, target, cache)
    assert _scan(db_dir, target, cache).cached
    monkeypatch.setattr(scancache, "DETECTION_REVISION", scancache.DETECTION_REVISION + 1)
    assert not _scan(db_dir, target, cache).cached
