"""The `vigil` subcommands, one table row each.

A subcommand lives in its own module and exposes a `Command`; adding one is one line in `COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], object]  # adds the subcommand's arguments
    run: Callable[[argparse.Namespace], int]  # returns the exit code


def _scan_command() -> Command:
    from vigil.cli.options import build_scan_parser
    from vigil.cli.scan import run_version_or_scan

    return Command("scan", "scan files like clamscan", build_scan_parser, run_version_or_scan)


#: Factories, so a subcommand's imports cost nothing unless it runs.
COMMANDS: tuple[Callable[[], Command], ...] = (
    _scan_command,
    lambda: import_module("vigil.cli.update").COMMAND,
    lambda: import_module("vigil.cli.db").COMMAND,
    lambda: import_module("vigil.cli.watch").COMMAND,
    lambda: import_module("vigil.cli.quarantine").COMMAND,
)
