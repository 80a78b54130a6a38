"""Disagreements with clamscan, each explained in docs/compat.md (D = deliberate, K = known, to fix).

The expectation stays clamscan's answer; these cases are strict xfails, so a fix turns them into failures
until the entry is removed here (and from docs/compat.md).
"""

from __future__ import annotations

D4 = ("D4 (deliberate): a hash listed twice under two names reports the later line; "
      "clamscan's pick follows its sort")
D1 = "D1 (deliberate): YARA rules without strings alert, as in the yara tools; clamscan drops them"

# Archive, document and mail cases (diff_gen_archives.py, issue 4)
A1 = ("A1 (deliberate): Vigil decodes zip method 14 (LZMA) as issue 4 asks; clamscan 1.4.6's cli_unzip "
      "has no LZMA decoder and skips such members silently")
A4 = ("A4: quoted-printable parts: clamscan keeps the line break before the closing boundary (payload +"
      " LF: the .hdb misses) and decodes =0D as LF (clam.exe's CR at 91 becomes LF: its entry-point sig"
      " misses); Vigil decodes exactly (RFC 2045/2046)")
A5 = ("A5: several uuencoded files in one text part, default mode: clamscan's name varies from run to run "
      "(A.PeCode, A.Body and A.Logic in six runs): it scans the decoded files in temp-directory order")
_LZMA = tuple(f"{k}.lzma.zip" for k in ("body", "hash", "logic", "inzip", "pe", "all"))
_QP = ("hash.qp.eml", "pe.qp.eml")

KNOWN_BY_GROUP: dict[str, tuple[str, tuple[str, ...]]] = {
    "arc-zip/default": (A1, _LZMA),
    "arc-zip/allmatch": (A1, _LZMA),
    "mail/allmatch": (A4, (*_QP, "all.qp.eml")),
    "hash-formats/default": (D4, ("h0", "h10", "h0.zip", "h0.gz", "h0.tgz")),
    "hash-formats/allmatch": (D4, ("h0", "h10", "h0.zip", "h0.gz", "h0.tgz")),
    "yara-rules/default": (D1, ("hidden",)),
    "yara-rules/allmatch": (D1, ("hidden",)),
}

KNOWN: dict[str, str] = {
    f"{key}/{target}": reason for key, (reason, targets) in KNOWN_BY_GROUP.items() for target in targets
} | {f"mail/default/{target}": A4 for target in _QP} | {"mail/default/all.uu.eml": A5}

# Cases whose outcome may vary between runs (clamscan's own answer does: A5); non-strict xfails.
NONDETERMINISTIC: frozenset[str] = frozenset({"mail/default/all.uu.eml"})

# CLI groups whose line-by-line comparison contains one of the cases above
KNOWN_CLI: dict[str, str] = {key: reason for key, (reason, _) in KNOWN_BY_GROUP.items()}
