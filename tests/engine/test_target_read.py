"""Reading a small target: from offset 0 to the real end, whatever size fstat reported before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vigil.engine.target import _read_all, target_bytes
from vigil.types import ScanTarget


@pytest.mark.parametrize("reported", [0, 1, 999, 1000, 1001, 70_000, 200_000])
def test_whole_file_whatever_size_was_reported(tmp_path: Path, reported: int) -> None:
    """A file that grew or shrank after its fstat is still read to its end, and only to its end."""
    content = os.urandom(1000) * 131  # 131,000 bytes: more than the 64 KiB follow-up reads
    path = tmp_path / "f"
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 500, os.SEEK_SET)  # a passed descriptor may be anywhere: reading starts at 0
        assert _read_all(fd, reported) == content
    finally:
        os.close(fd)


def test_an_empty_file_reads_empty(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    with target_bytes(ScanTarget(display="e", path=str(tmp_path / "e"))) as opened:
        assert opened.data == b""
