"""Every generated group, in a fixed order, plus the known disagreements (kept honest: strict xfail)."""

from __future__ import annotations

import functools

import diff_gen_archives
import diff_gen_cdb
import diff_gen_errors
import diff_gen_hash
import diff_gen_ldb
import diff_gen_lmd
import diff_gen_misc
import diff_gen_ndb
from diff_known import KNOWN, KNOWN_CLI, NONDETERMINISTIC
from diff_model import Group

GENERATORS = (diff_gen_ndb, diff_gen_hash, diff_gen_ldb, diff_gen_misc, diff_gen_errors, diff_gen_lmd,
              diff_gen_archives, diff_gen_cdb)

__all__ = ["KNOWN", "KNOWN_CLI", "NONDETERMINISTIC", "all_groups", "case_ids", "group_named"]


@functools.cache
def all_groups() -> tuple[Group, ...]:
    groups = tuple(g for gen in GENERATORS for g in gen.groups())
    names = [g.name for g in groups]
    assert len(names) == len(set(names)), "group names must be unique"
    return groups


def case_ids() -> list[tuple[str, str, str]]:
    return [(g.name, mode, t) for g in all_groups() for mode in g.modes for t in g.targets]


def group_named(name: str) -> Group:
    return next(g for g in all_groups() if g.name == name)
