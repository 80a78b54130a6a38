"""The `vigil` console script: subcommand dispatch from a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import vigil
from vigil.cli.options import build_parser, normalize_argv
from vigil.cli.scan import run_scan


def _scan(args: argparse.Namespace) -> int:
    if args.version:
        print(f"Vigil {vigil.__version__}")
        return 0
    return run_scan(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"scan": _scan}


def _binary_safe_streams() -> None:
    """File names are bytes; print undecodable ones back as the same bytes instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns clamscan's exit code (argparse errors exit 2, as clamscan's do)."""
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(normalize_argv(raw))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    _binary_safe_streams()
    return COMMANDS[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
