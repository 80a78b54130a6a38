"""Disagreements with clamscan, each explained in docs/compat.md (D = deliberate, K = known, to fix).

The expectation stays clamscan's answer; these cases are strict xfails, so a fix turns them into failures
until the entry is removed here (and from docs/compat.md).
"""

from __future__ import annotations

D4 = "D4 (deliberate): a hash listed twice under two names reports the later line; clamscan's pick follows its sort"
D1 = "D1 (deliberate): YARA rules without strings alert, as in the yara tools; clamscan drops them"

KNOWN_BY_GROUP: dict[str, tuple[str, tuple[str, ...]]] = {
    "hash-formats/default": (D4, ("h0", "h10", "h0.zip", "h0.gz", "h0.tgz")),
    "hash-formats/allmatch": (D4, ("h0", "h10", "h0.zip", "h0.gz", "h0.tgz")),
    "yara-rules/default": (D1, ("hidden",)),
    "yara-rules/allmatch": (D1, ("hidden",)),
}

KNOWN: dict[str, str] = {
    f"{key}/{target}": reason for key, (reason, targets) in KNOWN_BY_GROUP.items() for target in targets
}

# Cases whose outcome may vary between runs (none at present: the hash-kind order is pinned).
NONDETERMINISTIC: frozenset[str] = frozenset()

# CLI groups whose line-by-line comparison contains one of the cases above
KNOWN_CLI: dict[str, str] = {key: reason for key, (reason, _) in KNOWN_BY_GROUP.items()}
