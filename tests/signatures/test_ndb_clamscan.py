"""Differential test: our `.ndb` parser + regex + offset window against the real clamscan 1.4.6."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clamscan_oracle import clamscan_allmatch
from ndb_cases import BAD_LINES, GOOD_SIGS, ODD_GOOD_LINES, TARGETS

from vigil.errors import SignatureError
from vigil.signatures.formats.ndb import BodySig, parse_ndb
from vigil.signatures.records import ParseContext

pytestmark = pytest.mark.skipif(shutil.which("clamscan") is None, reason="clamscan not installed")


_clamscan = clamscan_allmatch


def _load(line: str) -> list[BodySig]:
    return list(parse_ndb([(1, line)], ParseContext(file="t.ndb")))


def _predict(sig: BodySig, buf: bytes) -> bool:
    if sig.target != 0:
        return False  # every target is typed as binary data: no PE/ELF/text view
    window = sig.offset.window(len(buf), None)
    if window is None:
        return False
    regex = re.compile(sig.pattern.regex, re.DOTALL)
    return any(regex.match(buf, pos) for pos in range(window[0], min(window[1], len(buf) - 1) + 1))


def _db(tmp_path: Path, index: int, line: str) -> Path:
    db = tmp_path / f"db{index}"
    db.mkdir()
    (db / "t.ndb").write_text(line + "\n")
    return db


def test_matches_agree_with_clamscan(tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    for name, data in TARGETS.items():
        (targets / name).write_bytes(data)
    lines = [f"{name}:{target}:{offset}:{hexsig}" for name, target, offset, hexsig in GOOD_SIGS]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda il: _clamscan(_db(tmp_path, *il), targets), enumerate(lines)))
    expected: set[tuple[str, str]] = set()
    for line in lines:
        for sig in _load(line):
            expected |= {(t, sig.meta.name) for t, data in TARGETS.items() if _predict(sig, data)}
    actual = set().union(*(hits for _, hits in results))
    assert all(code in (0, 1) for code, _ in results)
    assert len(lines) * len(TARGETS) >= 150
    assert (sorted(actual - expected), sorted(expected - actual)) == ([], [])
    assert len(actual) >= 60  # the corpus really exercises hits, not only misses


@pytest.mark.parametrize("line", BAD_LINES + ODD_GOOD_LINES)
def test_load_errors_agree_with_clamscan(tmp_path: Path, line: str) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "x").write_bytes(TARGETS["hello"])
    code, _ = _clamscan(_db(tmp_path, 0, line), targets)
    try:
        _load(line)
        ours_ok = True
    except SignatureError:
        ours_ok = False
    assert ours_ok == (code != 2)
