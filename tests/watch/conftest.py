"""Fixtures for on-access tests: a started watcher that is always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watch_helpers import WatchProcess, eicar_db


@pytest.fixture
def start_watch(tmp_path: Path) -> Iterator[Callable[..., WatchProcess]]:
    started: list[WatchProcess] = []
    db = eicar_db(tmp_path / "db")

    def start(*args: str) -> WatchProcess:
        watcher = WatchProcess(["-d", db, *args], tmp_path)
        started.append(watcher)
        watcher.wait_event("ready")
        return watcher

    yield start
    for watcher in started:
        watcher.stop()
