"""Session fixtures: generate every group once, write it to disk, ask clamscan once per group and mode."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from diff_cases import all_groups
from diff_model import Group
from diff_runner import CLAMSCAN, Outcome, materialise, run_clamscan, run_vigil

Key = tuple[str, str]


class Workspace:
    """Materialised groups, clamscan's answers, and Vigil's answers computed on first use."""

    def __init__(self, root: Path) -> None:
        self.paths: dict[str, tuple[Path, Path]] = {}
        self.groups: dict[str, Group] = {g.name: g for g in all_groups()}
        for group in self.groups.values():
            self.paths[group.name] = materialise(group, root)
        keys = [(g.name, mode) for g in self.groups.values() for mode in g.modes]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = pool.map(lambda key: self._run(run_clamscan, key), keys)
            self.clamscan: dict[Key, Outcome] = dict(zip(keys, answers, strict=True))
        self._vigil: dict[Key, Outcome | BaseException] = {}

    def _run(self, runner: Callable[[Group, str, Path, Path], Outcome], key: Key) -> Outcome:
        dbdir, tdir = self.paths[key[0]]
        return runner(self.groups[key[0]], key[1], dbdir, tdir)

    def vigil(self, key: Key) -> Outcome:
        """Vigil's in-process answer; an import or engine failure is re-raised for every case of the group."""
        if key not in self._vigil:
            try:
                self._vigil[key] = self._run(run_vigil, key)
            except (ImportError, AttributeError, TypeError) as exc:
                self._vigil[key] = exc
        found = self._vigil[key]
        if isinstance(found, BaseException):
            raise found
        return found


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    if CLAMSCAN is None:
        pytest.skip("clamscan (the oracle) is not installed")
    return Workspace(tmp_path_factory.mktemp("differential"))
