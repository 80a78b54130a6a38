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


#: Factories by name, so a subcommand's imports cost nothing unless it runs.
COMMANDS: dict[str, Callable[[], Command]] = {
    "scan": _scan_command,
    "update": lambda: import_module("vigil.cli.update").COMMAND,
    "db": lambda: import_module("vigil.cli.db").COMMAND,
    "watch": lambda: import_module("vigil.cli.watch").COMMAND,
    "quarantine": lambda: import_module("vigil.cli.quarantine").COMMAND,
}
