"""The clamav-testfiles table of docs/formats.md, computed from the current code and the real clamscan.

Each of the 44 files is scanned by clamscan and by Vigil (in-process) with two one-line databases: the
`.hdb` hash of clam.exe and the body signature of its entry-point code (the same two the matrix test in
tests/unpack/test_testfiles_matrix.py uses; that module is the single source of the file list, the
signature and the reasons for the misses). Output: a Markdown table plus the counts, on stdout or into
`--out`.

    .venv/bin/python bench/testfiles_matrix.py              # print the table
    .venv/bin/python bench/testfiles_matrix.py --check docs/formats.md   # exit 1 if the doc is stale
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from vigil.engine import Engine
from vigil.signatures import load_database
from vigil.types import ScanTarget

ROOT = Path(__file__).resolve().parent.parent
FILES = Path("/usr/share/clamav-testfiles")
BEGIN, END = "<!-- testfiles-table:begin -->", "<!-- testfiles-table:end -->"


def _matrix() -> ModuleType:
    """The matrix test module, loaded by path: it holds NAMES, BODY, DETECTION and PENDING."""
    path = ROOT / "tests" / "unpack" / "test_testfiles_matrix.py"
    spec = importlib.util.spec_from_file_location("testfiles_matrix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _databases(root: Path, body: str) -> dict[str, Path]:
    exe = (FILES / "clam.exe").read_bytes()
    lines = {"hdb": f"{hashlib.md5(exe).hexdigest()}:{len(exe)}:Matrix.ClamExe.Hash\n",
             "ndb": f"Matrix.ClamExe.Body:1:*:{body}\n"}
    dirs = {}
    for kind, line in lines.items():
        dirs[kind] = root / kind
        dirs[kind].mkdir()
        (dirs[kind] / f"matrix.{kind}").write_text(line)
    return dirs


def _clamscan(db: Path, names: tuple[str, ...]) -> dict[str, str]:
    out = subprocess.run(["clamscan", "--no-summary", "-d", str(db), *(str(FILES / n) for n in names)],
                         capture_output=True, text=True, check=False, timeout=300).stdout
    pairs = (line.rpartition(": ") for line in out.splitlines())
    return {Path(path).name: verdict.removesuffix(" FOUND") for path, _, verdict in pairs}


def _clam_type(db: Path, name: str) -> str:
    """clamscan's word for the top-level type: first `Recognized` debug line, first raw-scan magic hit."""
    err = subprocess.run(["clamscan", "--debug", "--no-summary", "-d", str(db), str(FILES / name)],
                         capture_output=True, text=True, check=False, timeout=120).stderr
    top = err.split("recursion_level: 1/", 1)[0]
    found = re.search(r"Recognized (.+?)(?: file)?$", top, re.M)
    kind = found.group(1) if found else "?"
    embedded = re.findall(r"Matched signature for file type (.+?) at (\d+)", top)
    return kind + "".join(f", {t} at {at}" for t, at in embedded[:1])


def _vigil(db: Path, names: tuple[str, ...]) -> dict[str, tuple[str, str, str]]:
    """(detection name or OK, top-level CL_TYPE, layer path of the hit) per file."""
    engine = Engine(load_database([str(db)]))
    out = {}
    for name in names:
        report = engine.scan(ScanTarget(display=name, path=str(FILES / name)))
        ftype = report.layers[0].file_type.value if report.layers else "?"
        where = report.detections[0].layer_path if report.detections else ""
        out[name] = (report.name or "OK", ftype, where)
    return out


def _why(name: str, kind: str, pending: dict[tuple[str, str], str], got: str) -> str:
    if (name, kind) in pending:
        return f"{kind}: {pending[name, kind]}"
    return f"{kind}: not found (Vigil said {got}; no recorded reason: the matrix test fails)"


def build_table() -> str:
    matrix = _matrix()
    names: tuple[str, ...] = matrix.NAMES
    with tempfile.TemporaryDirectory() as tmp:
        dbs = _databases(Path(tmp), matrix.BODY)
        clam = {kind: _clamscan(db, names) for kind, db in dbs.items()}
        vig = {kind: _vigil(db, names) for kind, db in dbs.items()}
        types = {name: _clam_type(dbs["hdb"], name) for name in names}
    rows = ["| file | clamscan type | Vigil type | hash | body | where Vigil finds it, or why not |",
            "|---|---|---|---|---|---|"]
    counts = {"hdb": 0, "ndb": 0, "clam-hdb": 0, "clam-ndb": 0}
    for name in names:
        cells, notes = [], []
        for kind in ("hdb", "ndb"):
            got, _, where = vig[kind][name]
            hit = got == matrix.DETECTION[kind]
            counts[kind] += hit
            counts[f"clam-{kind}"] += clam[kind].get(name) == matrix.DETECTION[kind]
            cells.append("yes" if hit else "**no**")
            if not hit:
                notes.append(_why(name, kind, matrix.PENDING, got))
        where = vig["ndb"][name][2] or vig["hdb"][name][2]
        note = "; ".join(notes) if notes else f"`{where}`"
        vtype = vig["hdb"][name][1]
        rows.append(f"| `{name}` | {types[name]} | `{vtype}` | {cells[0]} | {cells[1]} | {note} |")
    total = len(names)
    summary = (f"Vigil: **{counts['ndb']}/{total} with the body signature, {counts['hdb']}/{total} with the "
               f"hash signature**; clamscan 1.4.6 with the same databases: {counts['clam-ndb']}/{total} "
               f"body, {counts['clam-hdb']}/{total} hash.")
    return "\n".join([summary, "", *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="compare with the table between the markers in this file")
    parser.add_argument("--write", type=Path, help="replace the table between the markers in this file")
    args = parser.parse_args(argv)
    table = build_table()
    if args.check or args.write:
        doc_path = args.check or args.write
        text = doc_path.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        fresh = f"{head}{BEGIN}\n{table}\n{END}{tail}"
        if args.write:
            doc_path.write_text(fresh)
            return 0
        if fresh != text:
            print(f"{doc_path} is stale; run bench/testfiles_matrix.py --write {doc_path}", file=sys.stderr)
            return 1
        return 0
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
