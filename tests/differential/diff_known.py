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
A2 = ("A2: xar with several zlib members: Vigil's libarchive worker yields each later member with the "
      "earlier members' bytes in front (all.xar>hash.bin is 179 = 88 + 91 bytes; bsdtar -x gives 91), "
      "so its .hdb misses")
A3 = ("A3: Container:CL_TYPE_ZIP: clamscan gives members of an OOXML document the container type "
      "CL_TYPE_ZIP, Vigil CL_TYPE_OOXML_WORD, so the logical signature misses in Vigil")
A4 = ("A4: quoted-printable parts: clamscan keeps the line break before the closing boundary (payload +"
      " LF: the .hdb misses) and decodes =0D as LF (clam.exe's CR at 91 becomes LF: its entry-point sig"
      " misses); Vigil decodes exactly (RFC 2045/2046)")
A5 = ("A5: several uuencoded files in one text part, default mode: clamscan's name varies from run to run "
      "(A.PeCode, A.Body and A.Logic in six runs): it scans the decoded files in temp-directory order")
A6 = ("A6: HTML script: clamscan matches type 3 `arcbody html` (its normalised JavaScript view) but not"
      " the raw type-0 `document.write('arcbody html')`; Vigil has no JS-normalised view and matches "
      "the raw text")
_LZMA = tuple(f"{k}.lzma.zip" for k in ("body", "hash", "logic", "inzip", "pe", "all"))
_QP = ("hash.qp.eml", "pe.qp.eml")

KNOWN_BY_GROUP: dict[str, tuple[str, tuple[str, ...]]] = {
    "arc-zip/default": (A1, _LZMA),
    "arc-zip/allmatch": (A1, _LZMA),
    "arc-libarchive/allmatch": (A2, ("all.xar",)),
    "doc-ooxml/default": (A3, ("inzip.docx",)),
    "doc-ooxml/allmatch": (A3, ("inzip.docx", "all.docx")),
    "mail/allmatch": (A4, (*_QP, "all.qp.eml")),
    "doc-html/default": (A6, ("page.html", "page.html.zip")),
    "doc-html/allmatch": (A6, ("page.html", "page.html.zip")),
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
