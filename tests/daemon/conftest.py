"""Session fixtures for the daemon tests: a real clamd and a vigild on the same database (daemon_env)."""

from __future__ import annotations

from daemon_env import clamd, tree, vigild

__all__ = ["clamd", "tree", "vigild"]
