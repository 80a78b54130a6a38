"""A progress line on stderr, only when stderr is a terminal (never in pipes or logs)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _noop() -> None:
    """Progress disabled: ticking costs nothing."""


@contextmanager
def progress_display(*, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield a `tick()` to call per finished item; stdout lines print above the live display."""
    if not enabled:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = (SpinnerColumn(), TextColumn("scanned {task.completed} items"), TimeElapsedColumn())
    # results must stay on stdout: only reroute them through the live display when both streams are
    # the same terminal, otherwise `vigil scan ... > file` would lose its lines to the screen
    shared_tty = sys.stdout.isatty()
    with Progress(*columns, console=console, transient=True, redirect_stdout=shared_tty,
                  redirect_stderr=False) as progress:
        task = progress.add_task("scan", total=None)

        def tick() -> None:
            progress.advance(task)

        yield tick
