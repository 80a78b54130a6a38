"""On-access protection: fanotify blocking and notify modes, with an inotify notify-only fallback."""

from vigil.watch.config import WatchConfig

__all__ = ["WatchConfig"]
