"""Unit tests for the walker, the option parser and the ordered scheduler (no database needed)."""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import pytest

from vigil.cli.commands import COMMANDS
from vigil.cli.options import build_parser, normalize_argv, parse_size
from vigil.cli.settings import scan_settings
from vigil.scheduler import BATCH_FILES, InlineBackend, batches, interleave, make_backend
from vigil.sources import FileItem, Notice, Problem, Walker, WalkPolicy, WalkStats, match_regex
from vigil.types import ScanReport, ScanSettings, ScanTarget, Verdict


def test_sizes_take_clamscan_suffixes() -> None:
    assert parse_size("10") == 10
    assert parse_size("2K") == 2048
    assert parse_size("3m") == 3 * 1024 * 1024
    assert parse_size("1G") == 1024**3
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("1X")


def test_boolean_options_take_yes_no_without_eating_paths() -> None:
    argv = normalize_argv(["scan", "--detect-pua", "file", "--scan-archive=no", "--alert-broken=yes"])
    args = build_parser([make() for make in COMMANDS.values()]).parse_args(argv)
    assert args.paths == ["file"]
    settings = scan_settings(args)
    assert settings.detect_pua and not settings.scan_archive and settings.alert_broken
    assert settings.alert_exceeds_max  # Vigil fails loud by default (docs/compat.md D3)


def test_limits_reach_settings() -> None:
    args = build_parser([make() for make in COMMANDS.values()]).parse_args(
        ["scan", "--max-filesize=5M", "--max-recursion=3", "--max-scantime=10"]
    )
    limits = scan_settings(args).limits
    assert (limits.max_filesize, limits.max_recursion, limits.max_scantime_ms) == (5 << 20, 3, 10)
    assert limits.max_files == ScanSettings().limits.max_files


def test_regex_with_trailing_slash_matches_directory_form() -> None:
    assert match_regex("a/sub", "sub/")
    assert not match_regex("a/subway", "sub/$")
    assert match_regex("a/x.com", r"\.com$")


def test_walk_order_and_notices(tmp_path: Path) -> None:
    (tmp_path / "d" / "s").mkdir(parents=True)
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "s" / "g").write_text("y")
    (tmp_path / "d" / "empty").write_bytes(b"")
    stats = WalkStats()
    walker = Walker(WalkPolicy(recursive=True), stats)
    items = list(walker.walk([str(tmp_path / "d"), str(tmp_path / "nope")]))
    files = [item.target.display for item in items if isinstance(item, FileItem)]
    assert sorted(files) == sorted([str(tmp_path / "d" / "f"), str(tmp_path / "d" / "s" / "g")])
    assert Notice(str(tmp_path / "d" / "empty"), "Empty file") in items
    assert isinstance(items[-1], Problem) and items[-1].path == str(tmp_path / "nope")
    assert stats.dirs == 2 and stats.failed_args == 1


def _preorder(path: str, depth: int, limit: int, skip: str) -> list[tuple[str, str]]:
    """clamscan's order, by plain recursion: each entry in readdir order, a directory's items in place."""
    if depth > limit:
        return []
    out: list[tuple[str, str]] = []
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            inside = _preorder(entry.path, depth + 1, limit, skip)
            out += [("excluded", entry.path)] if entry.name == skip else inside
        elif entry.stat(follow_symlinks=False).st_size:
            out.append(("file", entry.path))
    return out


def test_iterative_walk_keeps_clamscan_order_depth_limit_and_exclusions(tmp_path: Path) -> None:
    """Files before, between and after nested directories; an excluded and a too-deep directory in the
    middle of a listing must not end it."""
    for top in ("a", "b", "c"):
        (tmp_path / top / "x" / "y" / "z").mkdir(parents=True)
        (tmp_path / top / "skip").mkdir()
        (tmp_path / top / "skip" / "hidden").write_text("h")
        for where in ("", "x", "x/y", "x/y/z"):
            for name in ("f1", "f2", "f3"):
                (tmp_path / top / where / name).write_text(f"{top}{where}{name}")
    policy = WalkPolicy(recursive=True, exclude_dir=("/skip$",), max_dir_recursion=3)
    items = list(Walker(policy, WalkStats()).walk([str(tmp_path)]))
    walked = [
        ("file", item.target.display) if isinstance(item, FileItem) else ("excluded", item.path)
        for item in items
        if isinstance(item, (FileItem, Notice))
    ]
    assert walked == _preorder(str(tmp_path), 1, 3, "skip")
    # the root is depth 1, so x/y (depth 4) and below are not walked; each skip/ is one notice
    assert [kind for kind, _ in walked].count("file") == 3 * 3 * 2
    assert [kind for kind, _ in walked].count("excluded") == 3


def test_walked_files_carry_the_metadata_the_walk_saw(tmp_path: Path) -> None:
    """The scan cache keys an unchanged file by this, without a second stat."""
    (tmp_path / "f").write_text("x")
    (item,) = Walker(WalkPolicy(recursive=True), WalkStats()).walk([str(tmp_path)])
    assert isinstance(item, FileItem) and item.target.seen is not None
    assert item.target.seen.st_ino == os.stat(tmp_path / "f").st_ino


def test_stdin_target() -> None:
    stats = WalkStats()
    items = list(Walker(WalkPolicy(), stats, stdin=io.BytesIO(b"abc")).walk(["-"]))
    assert items == [FileItem(ScanTarget(display="stdin", data=b"abc"), 3)]


class _EchoEngine:
    def __init__(self, db: object, settings: ScanSettings) -> None:
        self.seen: list[str] = []

    def scan(self, target: ScanTarget) -> ScanReport:
        return ScanReport(target.display, Verdict.CLEAN, (), 0, "")


def test_interleave_keeps_notices_in_place() -> None:
    first, second = ScanTarget("a", data=b"1"), ScanTarget("b", data=b"2")
    items: list[str | ScanTarget] = ["n1", first, "n2", "n3", second, "n4"]
    backend = InlineBackend(None, ScanSettings(), _EchoEngine)
    pairs = list(interleave(items, lambda i: i if isinstance(i, ScanTarget) else None, backend))
    assert [(i if isinstance(i, str) else i.display, r.target if r else None) for i, r in pairs] == [
        ("n1", None),
        ("a", "a"),
        ("n2", None),
        ("n3", None),
        ("b", "b"),
        ("n4", None),
    ]


class _SlowOnOddEngine:
    """Odd-numbered targets take a while, so a pool finishes batches out of order."""

    def __init__(self, db: object, settings: ScanSettings) -> None:
        pass

    def scan(self, target: ScanTarget) -> ScanReport:
        if int(target.display) % 2:
            time.sleep(0.002)
        return ScanReport(target.display, Verdict.CLEAN, (), 0, "scanned")


class _PidEngine:
    """Reports which worker process scanned each target, slowly enough that one worker cannot take all."""

    def __init__(self, db: object, settings: ScanSettings) -> None:
        pass

    def scan(self, target: ScanTarget) -> ScanReport:
        time.sleep(0.02)
        return ScanReport(target.display, Verdict.CLEAN, (), 0, str(os.getpid()))


def test_pool_keeps_order_when_the_precheck_answers_some_targets() -> None:
    """Answers the precheck gives (a cached rescan) come out in place among files scanned by workers,
    whether or not anything is in flight before them."""
    targets = [ScanTarget(str(i), data=b"x") for i in range(200)]
    answered = {i for i in range(200) if i % 3 == 0 or 100 <= i < 140}

    def precheck(target: ScanTarget) -> ScanReport | None:
        if int(target.display) in answered:
            return ScanReport(target.display, Verdict.CLEAN, (), 0, "cached")
        return None

    backend = make_backend(None, ScanSettings(), 2, _SlowOnOddEngine, precheck=precheck)
    try:
        reports = list(backend.run(iter(targets)))
    finally:
        backend.close()
    assert [r.target for r in reports] == [str(i) for i in range(200)]
    assert [r.sha256 == "cached" for r in reports] == [i in answered for i in range(200)]


def test_batches_preserve_order_and_split_big_files() -> None:
    targets = [ScanTarget(str(i), data=b"x" * (5 << 20 if i == 3 else 10)) for i in range(200)]
    groups = list(batches(targets))
    assert [t.display for group in groups for t in group] == [str(i) for i in range(200)]
    assert any(len(group) == 1 and group[0].display == "3" for group in groups)
    assert max(len(group) for group in groups) == BATCH_FILES
    assert max(len(group) for group in batches(targets, 4)) == 4


def test_a_short_run_still_reaches_every_worker() -> None:
    """Batches start small and grow: a run of a dozen files must not travel as one batch to one worker."""
    backend = make_backend(None, ScanSettings(), 2, _PidEngine)
    try:
        reports = list(backend.run(ScanTarget(str(i), data=b"x") for i in range(12)))
    finally:
        backend.close()
    assert [r.target for r in reports] == [str(i) for i in range(12)]
    assert len({r.sha256 for r in reports}) == 2, "both workers scanned"
    assert os.getpid() not in {int(r.sha256) for r in reports}


def test_a_named_subcommand_imports_only_itself() -> None:
    """`vigil scan` builds the scan parser alone (the others' modules are not imported: a cached rescan
    starts faster); `vigil --help` and an unknown command still list every subcommand."""
    import subprocess
    import sys

    probe = (
        "import sys; from vigil.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('vigil.cli.')))"
    )
    scan = subprocess.run([sys.executable, "-c", probe, "scan", "-V"], capture_output=True, text=True)
    assert "vigil.cli.watch" not in scan.stdout and "vigil.cli.update" not in scan.stdout, scan.stdout
    assert "Vigil " in scan.stdout
    for argv in (["--help"], ["bogus"]):
        every = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
        assert "{scan,update,db,watch,quarantine}" in every.stdout + every.stderr
