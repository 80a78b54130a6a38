"""The `vigil scan` command line: clamscan's option names and meanings, plus Vigil's own.

clamscan writes optional values as `--opt=value` only (`--detect-pua=yes`), never as a separate word, so
`--detect-pua FILE` must not swallow FILE. `normalize_argv` rewrites `--opt=yes|no` of the boolean
options into a bare flag or its hidden negation before argparse sees the line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

import vigil
from vigil.cli.commands import Command

_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_SIZE_FACTOR = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_YES = {"yes", "y", "true", "1", "on"}
_NO = {"no", "n", "false", "0", "off"}

# boolean options as (flag, dest, default); each also accepts `=yes` / `=no`
BOOLEAN_OPTIONS: tuple[tuple[str, str, bool], ...] = (
    ("--alert-exceeds-max", "alert_exceeds_max", True),  # Vigil fails loud (docs/compat.md D3)
    ("--alert-encrypted", "alert_encrypted", False),
    ("--alert-encrypted-archive", "alert_encrypted_archive", False),
    ("--alert-encrypted-doc", "alert_encrypted_doc", False),
    ("--alert-broken", "alert_broken", False),
    ("--alert-broken-media", "alert_broken_media", False),
    ("--alert-macros", "alert_macros", False),
    ("--alert-phishing-ssl", "alert_phishing_ssl", False),
    ("--alert-phishing-cloak", "alert_phishing_cloak", False),
    ("--alert-partition-intersection", "alert_partition_intersection", False),
    ("--detect-pua", "detect_pua", False),
    ("--normalize", "normalize", True),
    ("--scan-archive", "scan_archive", True),
    ("--cross-fs", "cross_fs", True),
    ("--allmatch", "allmatch", False),
    ("--recursive", "recursive", False),
    ("--infected", "infected", False),
    ("--suppress-ok-results", "suppress_ok", False),
    ("--remove", "remove", False),
)
_BOOLEAN_FLAGS = {flag for flag, _dest, _default in BOOLEAN_OPTIONS}
_SHORT = {"--recursive": "-r", "--infected": "-i", "--suppress-ok-results": "-o", "--allmatch": "-z"}

# (flag, dest, default) for clamscan's numeric limits; sizes take K/M/G suffixes
SIZE_LIMITS = (("--max-filesize", "max_filesize"), ("--max-scansize", "max_scansize"))
COUNT_LIMITS = (
    ("--max-files", "max_files"),
    ("--max-recursion", "max_recursion"),
    ("--max-scantime", "max_scantime"),
)


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"Incorrect argument format: {text!r}")
    return int(match.group(1)) * _SIZE_FACTOR[match.group(2).lower()]


def parse_count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"Incorrect argument format: {text!r}")
    return int(text)


def parse_follow(text: str) -> int:
    if text not in {"0", "1", "2"}:
        raise argparse.ArgumentTypeError("Invalid argument (use 0, 1 or 2)")
    return int(text)


def _negation(flag: str) -> str:
    return "--no-" + flag[2:]


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Turn `--bool=yes|no` into `--bool` / `--no-bool`; everything else passes unchanged."""
    out: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            return out + list(argv[index:])
        flag, sep, value = arg.partition("=")
        if sep and flag in _BOOLEAN_FLAGS:
            word = value.lower()
            if word not in _YES | _NO:
                raise argparse.ArgumentTypeError(f"{flag}: Invalid argument {value!r}")
            out.append(flag if word in _YES else _negation(flag))
        else:
            out.append(arg)
    return out


def _add_booleans(parser: argparse.ArgumentParser) -> None:
    for flag, dest, default in BOOLEAN_OPTIONS:
        names = [_SHORT[flag], flag] if flag in _SHORT else [flag]
        parser.add_argument(*names, dest=dest, action="store_true", default=default)
        parser.add_argument(_negation(flag), dest=dest, action="store_false", help=argparse.SUPPRESS)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-summary", action="store_true", help="do not print the SCAN SUMMARY block")
    parser.add_argument("--stdout", action="store_true", help="write warnings and errors to stdout")
    parser.add_argument("-l", "--log", metavar="FILE", help="append results (not OK lines) to FILE")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-a", "--archive-verbose", action="store_true", help="show the member a hit was in")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout (docs/json-schema.md)")
    parser.add_argument("--explain", action="store_true", help="show signature, offsets and bytes per hit")
    parser.add_argument("-V", "--version", action="store_true")


def _add_walk(parser: argparse.ArgumentParser) -> None:
    for flag in ("--exclude", "--exclude-dir", "--include", "--include-dir"):
        parser.add_argument(flag, action="append", default=[], metavar="REGEX")
    parser.add_argument("-f", "--file-list", metavar="FILE")
    parser.add_argument("--max-dir-recursion", type=parse_count, default=15)
    parser.add_argument("--follow-dir-symlinks", type=parse_follow, default=1)
    parser.add_argument("--follow-file-symlinks", type=parse_follow, default=1)


def _add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--database", action="append", default=[], metavar="FILE|DIR")
    for flag, dest in SIZE_LIMITS:
        parser.add_argument(flag, dest=dest, type=parse_size, default=None)
    for flag, dest in COUNT_LIMITS:
        parser.add_argument(flag, dest=dest, type=parse_count, default=None)
    parser.add_argument("-j", "--jobs", type=parse_count, default=os.cpu_count() or 1)
    parser.add_argument("--no-cache", action="store_true", help="do not use the scan cache")
    parser.add_argument("--move", metavar="DIR")
    parser.add_argument("--copy", metavar="DIR")
    parser.add_argument("--quarantine", action="store_true", help="move infected files into the vault")


def build_scan_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    _add_booleans(parser)
    _add_output(parser)
    _add_walk(parser)
    _add_engine(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; `-` is stdin")
    return parser


class _HelpFormatter(argparse.HelpFormatter):
    """argparse builds a formatter for every `add_argument` (to check its metavar), and each one asks
    `shutil` for the terminal's width: ~100 queries and the import of shutil with its compression
    modules, a tenth of a cached rescan's start-up. The width is asked once here, without shutil."""

    _terminal_width: int | None = None

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _HelpFormatter.width())

    @staticmethod
    def width() -> int:
        """As `shutil.get_terminal_size` decides it ($COLUMNS, then the terminal, then 80), minus 2."""
        if _HelpFormatter._terminal_width is None:
            columns = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else 0
            if columns <= 0:
                try:
                    columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
                except (AttributeError, ValueError, OSError):
                    columns = 80
            _HelpFormatter._terminal_width = (columns or 80) - 2
        return _HelpFormatter._terminal_width


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description=vigil.__doc__, formatter_class=_HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in commands:
        command.configure(
            subparsers.add_parser(command.name, help=command.help, formatter_class=_HelpFormatter)
        )
    return parser
