"""The CLI tests' scan tree and tiny ClamAV databases, built in tmp_path for both tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import EICAR, ndb_line


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """tmp_path laid out as: db/ (one .ndb), tree/ (files, subdirs, an empty file), lone files."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "test.ndb").write_text(ndb_line("Eicar-Test", EICAR))
    (tmp_path / "db2").mkdir()
    two = ndb_line("Eicar-Test", EICAR) + ndb_line("Eicar-Part", b"EICAR")
    (tmp_path / "db2" / "two.ndb").write_text(two)
    tree = tmp_path / "tree"
    (tree / "sub" / "deep").mkdir(parents=True)
    (tree / "eicar.com").write_bytes(EICAR)
    (tree / "clean.txt").write_text("hello\n")
    (tree / "empty").write_bytes(b"")
    (tree / "sub" / "e2").write_bytes(b"prefix " + EICAR)
    (tree / "sub" / "c2").write_text("just text\n")
    (tree / "sub" / "deep" / "e3").write_bytes(EICAR + b"\nsuffix")
    (tmp_path / "eicar.com").write_bytes(EICAR)
    (tmp_path / "clean.txt").write_text("clean\n")
    (tmp_path / "list").write_text("eicar.com\nclean.txt\nmissing\ntree/sub\n")
    links = tmp_path / "links"
    (links / "real").mkdir(parents=True)
    (links / "real" / "e").write_bytes(EICAR)
    os.symlink("real", links / "dirlink")
    os.symlink("real/e", links / "filelink")
    os.symlink("/nonexistent-vigil-target", links / "broken")
    return tmp_path
