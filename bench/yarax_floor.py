#!/usr/bin/env python3
"""yara-x alone, without Vigil: the floor under Vigil's YARA row.

Vigil matches YARA rules through yara-x's Python binding. This script does only that: the same rule
files compiled the same way (one namespace per file), the same files, one yara-x Scanner per worker
process, no unpacking, no ClamAV signatures, no reports. Whatever Vigil with YARA costs beyond this row
is Vigil's; what this row costs beyond the yara CLI is yara-x's (per scan it evaluates every rule's
condition and hands every module's output to Python, which Vigil cannot skip).

  yarax_floor.py compile OUT RULE_FILE...      # serialised rules, as Vigil's compiled cache holds them
  yarax_floor.py scan OUT DIR [-j N]           # prints `rule path` per match, as the yara CLI does
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Iterator

import yara_x

CHUNK = 64
_scanner: yara_x.Scanner | None = None


def compile_rules(out: str, rule_files: list[str]) -> int:
    compiler = yara_x.Compiler()
    skipped = 0
    for path in rule_files:
        compiler.new_namespace(path)
        with open(path, encoding="utf-8", errors="replace") as source:
            try:
                compiler.add_source(source.read(), origin=path)
            except yara_x.CompileError:
                skipped += 1
    with open(out, "wb") as sink:
        compiler.build().serialize_into(sink)
    print(f"compiled {len(rule_files) - skipped} of {len(rule_files)} files", file=sys.stderr)
    return 0


def _init(rules_path: str) -> None:
    global _scanner
    with open(rules_path, "rb") as source:
        _scanner = yara_x.Scanner(yara_x.Rules.deserialize_from(source))


def _scan(paths: list[str]) -> list[str]:
    assert _scanner is not None
    lines = []
    for path in paths:
        with open(path, "rb") as f:
            results = _scanner.scan(f.read())
        lines += [f"{rule.identifier} {path}" for rule in results.matching_rules]
    return lines


def _chunks(top: str) -> Iterator[list[str]]:
    chunk: list[str] = []
    for dirpath, _, names in os.walk(top):
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                chunk.append(path)
                if len(chunk) == CHUNK:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk


def scan(rules_path: str, top: str, jobs: int) -> int:
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_init, initargs=(rules_path,)) as pool:
        for lines in pool.imap(_scan, _chunks(top)):
            for line in lines:
                print(line)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    comp = sub.add_parser("compile")
    comp.add_argument("out")
    comp.add_argument("rule_files", nargs="+")
    sc = sub.add_parser("scan")
    sc.add_argument("rules")
    sc.add_argument("dir")
    sc.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    if args.command == "compile":
        return compile_rules(args.out, args.rule_files)
    return scan(args.rules, args.dir, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
