"""The `vigil` console script: subcommand dispatch from a table."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence


def _configure_streams() -> None:
    """File names are bytes: print undecodable ones back as the same bytes instead of crashing.
    Output flushes by its own rules (cli.output), so PYTHONUNBUFFERED, common in container images,
    must not turn every OK line of a cached rescan back into a write call."""
    settings = (
        (sys.stdout, {"errors": "surrogateescape", "write_through": False}),
        (sys.stderr, {"errors": "surrogateescape"}),
    )
    for stream, options in settings:
        reconfigure = getattr(stream, "reconfigure", None)  # absent when a test swaps in a StringIO
        if reconfigure is not None:
            reconfigure(**options)


def _parsers_needed(argv: Sequence[str], known: Sequence[str]) -> list[str]:
    """Only the subcommand named first: building every subcommand's parser imports all of them, a
    third of a cached rescan's start-up. `vigil --help`, a typo or no command still get the full list."""
    first = argv[0] if argv else ""
    return [first] if first in known else list(known)


def _replayed(raw: list[str]) -> int | None:
    """The exit code of a scan answered by replaying its record (cli.replay), before anything else of
    Vigil is imported; None when it must run."""
    if raw[:1] != ["scan"]:
        return None
    from vigil.cli.replay import replay

    return replay(raw)


def _run(raw: list[str]) -> int:
    import argparse

    from vigil.cli.commands import COMMANDS
    from vigil.cli.options import build_parser, normalize_argv

    commands = {name: COMMANDS[name]() for name in _parsers_needed(raw, list(COMMANDS))}
    parser = build_parser(list(commands.values()))
    try:
        args = parser.parse_args(normalize_argv(raw))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    args.invocation = raw  # the command line as given: the key of a replay record
    # The modules imported so far live for the whole run: later collections need not walk them again
    # (a cached rescan of 4,262 files: 188 -> 180 ms).
    gc.freeze()
    return commands[args.command].run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns clamscan's exit code (argparse errors exit 2, as clamscan's do)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    _configure_streams()
    try:
        status = _replayed(raw)
        if status is None:
            status = _run(raw)
        sys.stdout.flush()  # buffered result lines: a closed pipe is reported here, not at exit
        return status
    except BrokenPipeError:
        # the reader went away (`vigil scan ... | head`): stop quietly like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
