"""`.ftm` and `.cdb` parsers: records, and which files clamscan 1.4.6 refuses to load."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vigil.errors import SignatureError
from vigil.signatures.formats.cdb import ContainerSig, parse_cdb
from vigil.signatures.formats.ftm import MagicRule, parse_ftm
from vigil.signatures.loader import load_paths
from vigil.signatures.records import ParseContext
from vigil.types import FileType

CLAMSCAN = shutil.which("clamscan")


def ftm(*texts: str) -> list[MagicRule]:
    return list(parse_ftm(list(enumerate(texts, start=1)), ParseContext("x.ftm")))


def cdb(*texts: str, ignored=None) -> list[ContainerSig]:  # type: ignore[no-untyped-def]
    ctx = ParseContext("x.cdb")
    if ignored is not None:
        ctx.is_ignored = ignored
    return list(parse_cdb(list(enumerate(texts, start=1)), ctx))


def test_ftm_rules_keep_text_and_types() -> None:
    raw, body = ftm(
        "0:0:00010203:MyType:CL_TYPE_ANY:CL_TYPE_HTML", "1:*:737461727420:Body:CL_TYPE_ANY:CL_TYPE_GRAPHICS"
    )
    assert (raw.magictype, raw.offset, raw.magic, raw.ftype) == (0, "0", "00010203", FileType.HTML)
    assert (body.magictype, body.offset, body.rtype, body.ftype) == (1, "*", FileType.ANY, FileType.GRAPHICS)


def test_ftm_skips_unsupported_modes_and_levels_but_not_everything() -> None:
    rules = ftm(
        "2:0:00:X:CL_TYPE_ANY:CL_TYPE_HTML",
        "0:0:0001:Y:CL_TYPE_ANY:CL_TYPE_PDF:300",
        "4:0:55aa:P:CL_TYPE_ANY:CL_TYPE_MBR",
    )
    assert [r.name for r in rules] == ["P"]
    with pytest.raises(SignatureError, match="Empty external filetype database"):
        ftm("2:0:00:X:CL_TYPE_ANY:CL_TYPE_HTML")


def test_cdb_fields() -> None:
    (sig,) = cdb(r"C:CL_TYPE_ZIP:10-20:evil\.bin:*:5:0:1:ABC:*")
    assert sig.container is FileType.ZIP and sig.container_size == (10, 20) and sig.real_size == (5, 5)
    assert sig.encrypted is False and sig.filepos == (1, 1) and sig.res1 == "ABC" and sig.res2 is None
    assert sig.name_matches("dir/evil.bin") and not sig.name_matches("evilxbin")
    assert sig.meta.reported == "C.UNOFFICIAL"
    (anything,) = cdb("D:*:*:*:*:*:*:*:*:*:1:255")
    assert anything.container is FileType.ANY and anything.name_regex is None and anything.encrypted is None


def test_cdb_ignore_sees_the_bare_name() -> None:
    seen: list[tuple[str, str]] = []
    cdb("C:*:*:*:*:*:*:*:*:*", ignored=lambda n, t: seen.append((n, t)) or True)
    assert seen == [("C", "C")]


FTM_CASES = [
    "0:0:00010203:MyType:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:737461727420:Body:CL_TYPE_ANY:CL_TYPE_GRAPHICS",
    "2:0:00:X:CL_TYPE_ANY:CL_TYPE_HTML\n0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF",
    "2:0:00:X:CL_TYPE_ANY:CL_TYPE_HTML",
    "# only a comment",
    "0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_BOGUS",
    "0:0:010:Y:CL_TYPE_ANY:CL_TYPE_PDF",
    "0:x:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF",
    "0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF:300",
    "0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF:x",
    "0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF:1:x",
    "0:0:0102:Y:CL_TYPE_ANY",
    "x:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF",
    "0:0:0102:Y:CL_TYPE_ANY:CL_TYPE_PDF:1:255:9",
    "4:0:55aa:P:CL_TYPE_ANY:CL_TYPE_MBR",
]

CDB_CASES = [
    r"C:CL_TYPE_ZIP:*:evil\.bin:*:*:0:*:*:*",
    "C:*:*:*:*:*:*:*:*:*",
    "C:*:1-5:*:2-3:4:*:1:*:*:1:255",
    "C:*:*:*:*:*:2:*:*:*",
    "C:CL_TYPE_BOGUS:*:*:*:*:*:*:*:*",
    "C:*:*:*:*:*:*:*:*",
    "C:*:*:*:*:*:*:*:*:*:1:2:3",
    "C:*:a-b:*:*:*:*:*:*:*",
    "C:*:x:*:*:*:*:*:*:*",
    "C:*:*:*:*:*:*:*:*:*:x",
    "C:*:*:(:*:*:*:*:*:*",
    ":*:*:*:*:*:*:*:*:*",
    "C:*:*:*:*:*:*:*:zz:*",
    "C:*:*:*:*:*:*:*:*:*:300",
]


def _clamscan_rejects(db: Path, target: Path) -> bool:
    assert CLAMSCAN is not None
    proc = subprocess.run([CLAMSCAN, "--no-summary", f"-d{db}", str(target)], capture_output=True, timeout=60)
    return proc.returncode == 2


def _vigil_rejects(db: Path) -> bool:
    try:
        load_paths([str(db)])
    except SignatureError:
        return True
    return False


@pytest.mark.skipif(CLAMSCAN is None, reason="clamscan not installed")
def test_ftm_and_cdb_load_errors_match_clamscan(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_bytes(b"hello\n")
    dbs = []
    for suffix, cases in ((".ftm", FTM_CASES), (".cdb", CDB_CASES)):
        for i, text in enumerate(cases):
            db = tmp_path / f"db{suffix[1:]}{i}{suffix}"
            db.write_bytes((text + "\n").encode())
            dbs.append(db)
    with ThreadPoolExecutor(max_workers=8) as pool:
        oracle = list(pool.map(lambda db: _clamscan_rejects(db, target), dbs))
    assert any(oracle) and not all(oracle)
    mismatches = [
        db.read_text() for db, expected in zip(dbs, oracle, strict=True) if _vigil_rejects(db) != expected
    ]
    assert mismatches == []
