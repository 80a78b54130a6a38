"""Where each kind of line goes, following clamscan's streams.

Result lines go to stdout; warnings/errors to stderr (stdout with --stdout); the bare `path: strerror`
line of a missing path always to stderr. The --log file gets everything but OK lines, as clamscan's
logg/mprintf split does. -i hides all but FOUND lines, -o hides OK lines.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

LOG_HEADER = "\n" + "-" * 79 + "\n\n"


@dataclass
class Output:
    infected_only: bool = False
    suppress_ok: bool = False
    warnings_to_stdout: bool = False
    log: TextIO | None = None

    @staticmethod
    def _stdout() -> TextIO:
        return sys.stdout  # looked up per write so a progress display may redirect it

    def _write(self, stream: TextIO, line: str, *, logged: bool = True) -> None:
        stream.write(line + "\n")
        stream.flush()
        if logged and self.log is not None:
            self.log.write(line + "\n")

    def found(self, line: str) -> None:
        self._write(self._stdout(), line)

    def ok(self, line: str) -> None:
        if not (self.infected_only or self.suppress_ok):
            self._write(self._stdout(), line, logged=False)

    def status(self, line: str) -> None:
        """Excluded, Symbolic link, Empty file, Access denied, ERROR: hidden by -i only."""
        if not self.infected_only:
            self._write(self._stdout(), line)

    def info(self, line: str) -> None:
        """Lines clamscan always prints on stdout (action results, explanations, the summary)."""
        self._write(self._stdout(), line)

    def plain(self, line: str) -> None:
        """JSON lines and -v chatter: stdout only, never logged."""
        self._write(self._stdout(), line, logged=False)

    def _diagnostic(self, line: str) -> None:
        self._write(self._stdout() if self.warnings_to_stdout else sys.stderr, line)

    def warning(self, message: str) -> None:
        self._diagnostic(f"WARNING: {message}")

    def error(self, message: str) -> None:
        self._diagnostic(f"ERROR: {message}")

    def perror(self, line: str) -> None:
        self._write(sys.stderr, line, logged=False)
