"""Where each kind of line goes, following clamscan's streams.

Result lines go to stdout; warnings/errors to stderr (stdout with --stdout); the bare `path: strerror`
line of a missing path always to stderr. The --log file gets everything but OK lines, as clamscan's
logg/mprintf split does. -i hides all but FOUND lines, -o hides OK lines.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

LOG_HEADER = "\n" + "-" * 79 + "\n\n"
#: OK lines are flushed at least this often (seconds), so a reader of a pipe still sees progress.
OK_FLUSH_INTERVAL = 0.2


@dataclass
class Output:
    infected_only: bool = False
    suppress_ok: bool = False
    warnings_to_stdout: bool = False
    log: TextIO | None = None
    #: every line written, as (to stderr, line), while a replay of this run is being recorded (cli.replay)
    journal: list[tuple[bool, str]] | None = None
    _ok_flushed: float = field(default_factory=time.monotonic, init=False, repr=False)

    @staticmethod
    def _stdout() -> TextIO:
        return sys.stdout  # looked up per write so a progress display may redirect it

    def _write(self, stream: TextIO, line: str, *, logged: bool = True) -> None:
        stream.write(line + "\n")
        stream.flush()
        if logged and self.log is not None:
            self.log.write(line + "\n")
        if self.journal is not None:
            self.journal.append((stream is sys.stderr, line))

    def found(self, line: str) -> None:
        self._write(self._stdout(), line)

    def ok(self, line: str) -> None:
        """Not flushed line by line: a cached rescan prints thousands per second, each flush a system
        call. Every other kind of line flushes, and with it the OK lines before it."""
        if self.infected_only or self.suppress_ok:
            return
        stream = self._stdout()
        stream.write(line + "\n")
        if self.journal is not None:
            self.journal.append((False, line))
        now = time.monotonic()
        if now - self._ok_flushed >= OK_FLUSH_INTERVAL:
            stream.flush()
            self._ok_flushed = now

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
        self._stdout().flush()  # OK lines before it come first when both streams share a file
        self._write(self._stdout() if self.warnings_to_stdout else sys.stderr, line)

    def warning(self, message: str) -> None:
        self._diagnostic(f"WARNING: {message}")

    def error(self, message: str) -> None:
        self._diagnostic(f"ERROR: {message}")

    def stderr(self, line: str) -> None:
        """A line for stderr whatever --stdout says, never logged: the bare `path: strerror` line of a
        missing path, the database's warnings."""
        self._stdout().flush()
        self._write(sys.stderr, line, logged=False)
