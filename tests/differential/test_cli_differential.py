"""The real `vigil scan` CLI against clamscan's stdout and exit code on a subset of the groups."""

from __future__ import annotations

import functools

import pytest
from conftest import Workspace
from diff_cases import KNOWN_CLI, all_groups
from diff_runner import run_clamscan, run_vigil_cli, vigil_cli_available


@functools.cache
def _cli_ready() -> bool:
    return vigil_cli_available()


def _marks(key: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(strict=True, reason=KNOWN_CLI[key])] if key in KNOWN_CLI else []


CLI_CASES = [
    pytest.param(g.name, mode, id=f"{g.name}/{mode}", marks=_marks(f"{g.name}/{mode}"))
    for g in all_groups() if g.cli for mode in g.modes
]


@pytest.mark.parametrize(("group", "mode"), CLI_CASES)
def test_cli_output_matches_clamscan(workspace: Workspace, group: str, mode: str) -> None:
    if not _cli_ready():
        pytest.skip("`vigil scan` is not available yet (CLI not installed in this virtualenv)")
    dbdir, tdir = workspace.paths[group]
    spec = workspace.groups[group]
    clam = run_clamscan(spec, mode, dbdir, tdir)
    vigil = run_vigil_cli(spec, mode, dbdir, tdir)
    diff = {t: (sorted(clam.answer(t)), sorted(vigil.answer(t)))
            for t in spec.targets if clam.answer(t) != vigil.answer(t)}
    assert not diff, f"target: (clamscan, vigil) {diff}; vigil stderr: {vigil.detail[:300]!r}"
    assert vigil.rc == clam.rc, vigil.detail
