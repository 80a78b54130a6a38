"""exeinfo against sigtool --mdb/--imp and EP+0 body signatures under clamscan 1.4.6."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vigil.exeinfo import exec_info, pe_import_hash, pe_section_hashes
from vigil.types import FileType

TESTFILES = Path("/usr/share/clamav-testfiles")
CLAM_EXE = TESTFILES / "clam.exe"
needs_tools = pytest.mark.skipif(shutil.which("sigtool") is None or not CLAM_EXE.exists(), reason="no ClamAV")
# packers whose import table ClamAV does not read (sigtool prints an empty imphash); see the report
_IMPHASH_GAPS = {"clam-mew.exe", "clam-upx.exe", "clam-upack.exe"}


@needs_tools
def test_clam_exe_documented_values() -> None:
    data = CLAM_EXE.read_bytes()
    assert [(size, hashlib.md5(raw).hexdigest()) for size, raw in pe_section_hashes(data)] == [
        (512, "23db1dd3f77fae25610b6a32701313ae")
    ]
    assert pe_import_hash(data) == ("98c88d882f01a3f6ac1e5f7dfd761624", 39)
    info = exec_info(data, FileType.MSEXE)
    assert info is not None and info.sections[0].raw_offset == 0 and not info.is_pe32plus


def _sigtool(flag: str, path: Path) -> str:
    out = subprocess.run(["sigtool", flag, str(path)], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


@needs_tools
@pytest.mark.parametrize("path", sorted(p for p in TESTFILES.glob("*.exe")), ids=lambda p: p.name)
def test_against_sigtool(path: Path) -> None:
    data = path.read_bytes()
    expected = sorted(re.findall(r"Section\{\d+\}: (\d+:[0-9a-f]{32})", _sigtool("--mdb", path)))
    mine = sorted(f"{size}:{hashlib.md5(raw).hexdigest()}" for size, raw in pe_section_hashes(data))
    assert mine == expected
    if path.name not in _IMPHASH_GAPS:
        imp = re.findall(r"Imphash: ([0-9a-f]{32}):(\d+)", _sigtool("--imp", path))
        assert [(h, int(n)) for h, n in imp] == [pe_import_hash(data)]


@needs_tools
def test_entry_point_offset_with_clamscan(tmp_path: Path) -> None:
    data = CLAM_EXE.read_bytes()
    info = exec_info(data, FileType.MSEXE)
    assert info is not None and info.entry_offset is not None
    ep = info.entry_offset
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "ep.ndb").write_text(
        f"EP.Hit:1:EP+0:{data[ep:ep + 8].hex()}\nEP.Miss:1:EP+1:{data[ep:ep + 8].hex()}\n"
    )
    cmd = ["clamscan", "--allmatch", "--no-summary", "-d", str(tmp_path / "db"), str(CLAM_EXE)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    assert "EP.Hit.UNOFFICIAL FOUND" in out and "EP.Miss" not in out


@needs_tools
def test_elf_entry_point_with_clamscan(tmp_path: Path) -> None:
    binary = Path("/bin/ls")
    data = binary.read_bytes()
    info = exec_info(data, FileType.ELF)
    assert info is not None and info.entry_offset is not None and info.sections
    ep = info.entry_offset
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "ep.ndb").write_text(f"ELF.EP:6:EP+0:{data[ep:ep + 16].hex()}\n")
    out = subprocess.run(["clamscan", "--no-summary", "-d", str(tmp_path / "db"), str(binary)],
                         capture_output=True, text=True, timeout=60).stdout
    assert "ELF.EP.UNOFFICIAL FOUND" in out


def test_garbage_never_raises() -> None:
    blobs = (b"", b"MZ", b"MZ" + b"\xff" * 200, b"\x7fELF" + b"\x00" * 60, b"\x7fELF\x02\x01" + b"\xff" * 80)
    for blob in blobs:
        assert exec_info(blob, FileType.MSEXE) is None or blob.startswith(b"MZ")
        assert exec_info(blob, FileType.ELF) is None
        assert pe_section_hashes(blob) == []
        assert pe_import_hash(blob) is None
    assert exec_info(b"hello", FileType.ZIP) is None
