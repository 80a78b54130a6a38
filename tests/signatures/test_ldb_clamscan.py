"""Differential test: our `.ldb` parser and evaluator against the real clamscan 1.4.6.

Content positions are computed here with the subsignature's exact regex inside its offset window (the
engine's content matcher does the same with hyperscan in front), then `evaluate` does the rest.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clamscan_oracle import clamscan_allmatch
from ldb_cases import BAD_LINES, GOOD_LINES, HANDLER_LINE, SKIPPED, TARGETS

from vigil.errors import SignatureError
from vigil.signatures.formats.ldb import ContentSub, LogicalSig, parse_ldb
from vigil.signatures.match.logical import LayerFacts, evaluate, tdb_allows
from vigil.signatures.records import ParseContext
from vigil.types import FileType

pytestmark = pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")


_clamscan = clamscan_allmatch


def _load(line: str) -> list[LogicalSig]:
    return list(parse_ldb([(1, line)], ParseContext(file="t.ldb")))


def _content_hits(sub: ContentSub, buf: bytes) -> list[tuple[int, int]]:
    window = sub.offset.window(len(buf), None)
    if window is None:
        return []
    regex = re.compile(sub.pattern.regex, re.DOTALL)
    hits = []
    for pos in range(window[0], min(window[1], len(buf) - 1) + 1):
        found = regex.match(buf, pos)
        if found is not None:
            hits.append((pos, found.end()))
    return hits


def _predict(sig: LogicalSig, buf: bytes) -> bool:
    facts = LayerFacts(file_type=FileType.BINARY_DATA, size=len(buf), ancestry=(), exe=None)
    if sig.tdb.target != 0 or not tdb_allows(sig.tdb, facts):
        return False
    hits = [_content_hits(sub, buf) if isinstance(sub, ContentSub) else [] for sub in sig.subsigs]
    return evaluate(sig, hits, buf, facts) is not None


def _write_targets(tmp_path: Path) -> Path:
    targets = tmp_path / "targets"
    targets.mkdir()
    for name, data in TARGETS.items():
        (targets / name).write_bytes(data)
    return targets


def test_matches_agree_with_clamscan(tmp_path: Path) -> None:
    targets = _write_targets(tmp_path)
    lines = GOOD_LINES + SKIPPED
    db = tmp_path / "db"
    db.mkdir()
    (db / "t.ldb").write_text("\n".join(lines) + "\n")
    code, actual = _clamscan(db, targets)
    assert code in (0, 1)
    expected = set()
    for line in GOOD_LINES:
        sigs = _load(line)
        assert len(sigs) == 1, line
        expected |= {(name, sigs[0].meta.name) for name, buf in TARGETS.items() if _predict(sigs[0], buf)}
    wrong = sorted(expected ^ actual)
    assert not wrong, "\n".join(f"{'missed' if w in actual else 'extra '} {w}" for w in wrong)
    assert len(GOOD_LINES) >= 100 and len(actual) >= 60  # the cases exercise hits as well as misses


def test_handler_type_still_alerts(tmp_path: Path) -> None:
    """The manual says HandlerType sigs do not alert; clamscan 1.4.6 reports them (and rescans)."""
    targets = _write_targets(tmp_path)
    code, actual = _clamscan(_db(tmp_path, 0, HANDLER_LINE), targets)
    sig = _load(HANDLER_LINE)[0]
    assert code == 1
    assert actual == {(name, sig.meta.name) for name, buf in TARGETS.items() if _predict(sig, buf)}


@pytest.mark.parametrize("line", SKIPPED)
def test_silent_skips_load_nothing(line: str) -> None:
    assert _load(line) == []


def _db(tmp_path: Path, index: int, line: str) -> Path:
    db = tmp_path / f"db{index}"
    db.mkdir()
    (db / "t.ldb").write_text(line + "\n")
    return db


def test_rejected_lines_agree_with_clamscan(tmp_path: Path) -> None:
    targets = _write_targets(tmp_path)
    dbs = [_db(tmp_path, i, line) for i, line in enumerate(BAD_LINES)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda db: _clamscan(db, targets)[0], dbs))
    assert [line for line, code in zip(BAD_LINES, codes, strict=True) if code != 2] == []
    accepted = []
    for line in BAD_LINES:
        try:
            _load(line)
        except SignatureError:
            continue
        accepted.append(line)
    assert accepted == []
