"""Fold matches, limit hits and heuristic alerts into the detections a report shows.

Signature matches come first in walk order (already ranked per layer); heuristic alerts and limits come
after them, so a real signature name always wins the single reported slot in default mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vigil.layer import ScanContext
from vigil.types import Category, Detection, Match, ScanSettings

LIMIT_PREFIX = "Heuristics.Limits.Exceeded."

#: Heuristic alert name prefix -> the setting that enables it (None: always reported, as in clamscan).
_ALERT_SWITCHES: tuple[tuple[str, Callable[[ScanSettings], bool] | None], ...] = (
    ("Heuristics.Encrypted.", lambda s: s.alert_encrypted),
    ("Heuristics.Broken.", lambda s: s.alert_broken),
    ("Heuristics.OLE2.ContainsMacros", lambda s: s.alert_macros),
    ("Heuristics.", None),
)


def alert_enabled(name: str, settings: ScanSettings) -> bool:
    for prefix, switch in _ALERT_SWITCHES:
        if name.startswith(prefix):
            return switch is None or switch(settings)
    return True


def fold(
    matches: Sequence[Match], ctx: ScanContext, settings: ScanSettings, root: str
) -> tuple[Detection, ...]:
    detections = [Detection(m.name, m.category, m.layer_path, (m,)) for m in _dedupe(matches)]
    detections += [
        _synthetic(name, Category.HEURISTIC, root) for name in ctx.alerts if alert_enabled(name, settings)
    ]
    if settings.alert_exceeds_max:
        detections += [_synthetic(LIMIT_PREFIX + limit, Category.LIMIT, root) for limit in ctx.limits_hit]
    return tuple(detections if settings.allmatch else detections[:1])


def _dedupe(matches: Sequence[Match]) -> list[Match]:
    seen: set[tuple[str, str]] = set()
    unique: list[Match] = []
    for match in matches:
        key = (match.name, match.layer_path)
        if key not in seen:
            seen.add(key)
            unique.append(match)
    return unique


def _synthetic(name: str, category: Category, root: str) -> Detection:
    match = Match(name=name, kind=category.value, origin=None, layer_path=root, category=category)
    return Detection(name, category, root, (match,))
