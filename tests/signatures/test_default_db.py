"""Vigil's bundled default signatures (`src/vigil/data/`) are valid ClamAV databases that find their targets.

clamscan is the oracle: it must load every file (exit 0/1, never 2) and report the intended names. Because the
files are not a signed CVD, clamscan appends `.UNOFFICIAL`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pefile
import pytest

from vigil.signatures.formats.yara import read_yara_source
from vigil.signatures.match.yara import YaraMatcher

DATA = Path(__file__).resolve().parents[2] / "src" / "vigil" / "data"
TESTFILES = Path("/usr/share/clamav-testfiles")
CLAM_EXE = TESTFILES / "clam.exe"
# Split so this test file is not itself an EICAR file for any scanner reading the repository.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
YARA_MARKER = b"VIGIL-YARA-TEST-MARKER-" + b"2f9c41d7"
WEBSHELL = b"<?php @EVAL(base64_decode($_POST['cmd'])); ?>\n"
DB_FILES = ("vigil.hdb", "vigil.ndb", "vigil.ldb", "vigil.yar")


def _clamscan(db: Path, *targets: Path) -> dict[str, str]:
    """`name -> detection` ("OK" when clean) for every file clamscan reports; fails on exit code 2."""
    proc = subprocess.run(
        ["clamscan", "--no-summary", "-r", "-d", str(db), *map(str, targets)], capture_output=True, text=True
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    results: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        found = re.fullmatch(r"(.*): (\S+) FOUND|(.*): OK", line)
        if found:
            results[Path(found.group(1) or found.group(3)).name] = found.group(2) or "OK"
    return results


def _only(tmp_path: Path, *names: str) -> Path:
    """A database directory holding just some of the default files, to prove each kind works on its own."""
    db = tmp_path / ("db-" + "-".join(names))
    db.mkdir()
    for name in names:
        shutil.copy(DATA / name, db / name)
    return db


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    root.mkdir()
    (root / "eicar.com").write_bytes(EICAR)
    (root / "eicar_newline.com").write_bytes(EICAR + b"\r\n")
    with zipfile.ZipFile(root / "eicar.zip", "w") as archive:
        archive.writestr("inner/eicar.txt", EICAR)
    shutil.copy(CLAM_EXE, root / "clam.exe")
    (root / "shell.php").write_bytes(WEBSHELL)
    (root / "marker.txt").write_bytes(b"before " + YARA_MARKER + b" after")
    (root / "clean.txt").write_bytes(b"<?php echo 'hello'; eval('1+1'); ?>\n")
    return root


def test_files_exist_and_are_plain_lines() -> None:
    for name in DB_FILES:
        raw = (DATA / name).read_bytes()
        assert raw.endswith(b"\n") and b"\r" not in raw, name
        raw.decode("ascii")


def test_clamscan_loads_defaults_and_detects(samples: Path) -> None:
    results = _clamscan(DATA, samples, DATA)
    assert results["eicar.com"] == "Vigil.Test.EICAR.UNOFFICIAL"
    assert results["eicar_newline.com"] == "Vigil.Test.EICAR.UNOFFICIAL"
    assert results["eicar.zip"] == "Vigil.Test.EICAR.UNOFFICIAL"
    assert results["clam.exe"] == "Vigil.Test.ClamExe.UNOFFICIAL"
    assert results["shell.php"] == "Vigil.PHP.Webshell.EvalRequest.UNOFFICIAL"
    assert results["marker.txt"] == "YARA.Vigil_Test_YARA_Marker.UNOFFICIAL"
    assert results["clean.txt"] == "OK"
    for name in DB_FILES:  # the databases must not detect themselves
        assert results[name] == "OK", name


def test_hash_sigs_alone(tmp_path: Path, samples: Path) -> None:
    results = _clamscan(_only(tmp_path, "vigil.hdb"), samples)
    assert results["eicar.com"] == "Vigil.Test.EICAR.UNOFFICIAL"
    assert results["clam.exe"] == "Vigil.Test.ClamExe.UNOFFICIAL"
    assert results["eicar_newline.com"] == "OK"  # a different file: only the body sig may catch it


def test_hash_lines_are_the_real_digests() -> None:
    lines = (DATA / "vigil.hdb").read_text().splitlines()
    for data, name in ((EICAR, "Vigil.Test.EICAR"), (CLAM_EXE.read_bytes(), "Vigil.Test.ClamExe")):
        for algo in ("md5", "sha256"):
            assert f"{hashlib.new(algo, data).hexdigest()}:{len(data)}:{name}" in lines


def test_clam_exe_body_sig_is_code_inside_its_section() -> None:
    """The pattern is clam.exe's entry-point code, so it survives unpacking that restores the image."""
    lines = (DATA / "vigil.ndb").read_text().splitlines()
    (line,) = [ln for ln in lines if ln.startswith("Vigil.Test.ClamExe:")]
    pattern = bytes.fromhex(line.split(":")[3])
    image = CLAM_EXE.read_bytes()
    pe = pefile.PE(data=image)
    entry_offset = pe.get_offset_from_rva(pe.OPTIONAL_HEADER.AddressOfEntryPoint)
    assert image.find(pattern) == entry_offset and len(pattern) >= 32
    (section,) = pe.sections
    start = section.PointerToRawData & ~0x1FF  # aligned down, as ClamAV's PE parser reads it
    assert start <= entry_offset and entry_offset + len(pattern) <= start + section.SizeOfRawData


def test_body_sigs_alone_find_unpacked_and_archived_variants(tmp_path: Path, samples: Path) -> None:
    variants = sorted(TESTFILES.glob("clam*"))
    assert len(variants) >= 40
    results = _clamscan(_only(tmp_path, "vigil.ndb"), samples, *variants)
    missed = [v.name for v in variants if results.get(v.name) != "Vigil.Test.ClamExe.UNOFFICIAL"]
    assert missed == []
    assert results["eicar_newline.com"] == "Vigil.Test.EICAR.UNOFFICIAL"
    assert results["shell.php"] == "OK"


def test_logical_sig_alone(tmp_path: Path, samples: Path) -> None:
    results = _clamscan(_only(tmp_path, "vigil.ldb"), samples)
    assert results["shell.php"] == "Vigil.PHP.Webshell.EvalRequest.UNOFFICIAL"
    assert results["clean.txt"] == "OK" and results["eicar.com"] == "OK"


def test_default_yara_rule_through_vigil() -> None:
    matcher = YaraMatcher.build([read_yara_source(str(DATA / "vigil.yar"))])
    (hit,) = matcher.match(b"xx " + YARA_MARKER + b" yy")
    assert hit.reported == "YARA.Vigil_Test_YARA_Marker.UNOFFICIAL"
    assert hit.origin.line > 1
    assert matcher.match((DATA / "vigil.yar").read_bytes()) == []
