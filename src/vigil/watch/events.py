"""On-access events, logged as one line on stderr (journald-friendly) and optionally as JSON lines.

The stderr line is `vigil-watch: <EVENT> <path>: <detail>`; the JSON object carries the same facts
with fixed keys: {"schema": 1, "type": "watch", "event": ..., "time": ..., "path": ..., ...}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

SCHEMA = 1


class EventLog:
    def __init__(self, json_stream: TextIO | None, *, verbose: bool = False,
                 lines: TextIO | None = None) -> None:
        self._json = json_stream
        self._lines = lines if lines is not None else sys.stderr
        self._verbose = verbose
        self._lock = threading.Lock()

    def emit(self, event: str, path: str | None = None, *, quiet: bool = False, **facts: Any) -> None:
        """`quiet` events (every allowed open) are logged only in verbose mode."""
        if quiet and not self._verbose:
            return
        detail = " ".join(f"{key}={value}" for key, value in facts.items() if value is not None)
        shown = "" if path is None else " " + path.encode(errors="surrogateescape").decode(errors="replace")
        record = {"schema": SCHEMA, "type": "watch", "event": event, "time": time.time(), "path": path}
        record.update((key, value) for key, value in facts.items() if value is not None)
        with self._lock:
            print(f"vigil-watch: {event.upper()}{shown}{': ' + detail if detail else ''}", file=self._lines,
                  flush=True)
            if self._json is not None:
                self._json.write(json.dumps(record) + "\n")
                self._json.flush()
