"""The logical expression of an `.ldb` signature (and of PCRE triggers): parsing and evaluation.

clamscan 1.4.6 semantics, measured rather than taken from the manual:
- there is no operator precedence. Outside parentheses an expression splits at its **first** `&`/`|` and
  the right side is parsed again (`0&1|2` is `0&(1|2)`), but a parenthesised block splits at its **last**
  operator (`(0&1|2)` is `(0&1)|2`, `(0&1|2&3)` is `(0&(1|2))&3`);
- a false node contributes no matches to an enclosing count: `(0=3|1)=5` misses when 0 has 4 matches;
- `,M` counts distinct subsignatures of true leaves (a true `1=0` counts) and is ignored on a leaf;
- a block with a count must hold an operator directly inside: `(0)=4` is a load error, `(0)` is not;
- repeated counts on one leaf keep the last (`0=5=4` is `0=4`); whitespace between tokens is ignored.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class LogicError(ValueError):
    """A logical expression clamscan would refuse to load."""


@dataclass(frozen=True, slots=True)
class Count:
    """`=N`, `<N`, `>N`, optionally with `,M` (at least M distinct subsignatures, blocks only)."""

    op: str
    value: int
    distinct: int = 0


@dataclass(frozen=True, slots=True)
class Ref:
    index: int
    count: Count | None = None


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "&" | "|"
    left: LogicExpr
    right: LogicExpr


@dataclass(frozen=True, slots=True)
class Block:
    inner: LogicExpr
    count: Count | None = None


LogicExpr = Ref | Binary | Block

_COMPARE: dict[str, Callable[[int, int], bool]] = {"=": operator.eq, "<": operator.lt, ">": operator.gt}
_OPERATORS = frozenset("&|")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def number(self, after: str) -> int:
        self.peek()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        if start == self.pos:
            raise LogicError(f"missing number after {after!r} in {self.text!r}")
        return int(self.text[start : self.pos])

    def sequence(self) -> tuple[list[LogicExpr], list[str]]:
        """Operands and operators at one parenthesis depth, left to right."""
        terms, ops = [self.term()], []
        while (op := self.peek()) in _OPERATORS:
            self.pos += 1
            if self.peek() in ("", ")"):
                raise LogicError(f"missing right argument of {op!r} in {self.text!r}")
            ops.append(op)
            terms.append(self.term())
        return terms, ops

    def term(self) -> LogicExpr:
        ch = self.peek()
        if ch == "(":
            self.pos += 1
            terms, ops = self.sequence()
            if self.peek() != ")":
                raise LogicError(f"missing closing parenthesis in {self.text!r}")
            self.pos += 1
            count = self.counts(leaf=False)
            if count is not None and not ops:
                raise LogicError(f"a counted block needs an operator inside in {self.text!r}")
            inner = Binary(ops[-1], _fold_right(terms[:-1], ops[:-1]), terms[-1]) if ops else terms[0]
            return Block(inner, count)
        if ch.isdigit():
            return Ref(self.number("("), self.counts(leaf=True))
        raise LogicError(f"cannot parse {self.text[self.pos:]!r} in {self.text!r}")

    def counts(self, leaf: bool) -> Count | None:
        count: Count | None = None
        while (op := self.peek()) in _COMPARE:
            self.pos += 1
            value = self.number(op)
            distinct = 0
            if self.peek() == ",":
                self.pos += 1
                # clamscan accepts `0=4,`; M means nothing on a leaf anyway
                distinct = 0 if leaf and not self.peek().isdigit() else self.number(",")
            count = Count(op, value, distinct)
        return count


def _fold_right(terms: list[LogicExpr], ops: list[str]) -> LogicExpr:
    """`t0 op t1 op t2` as `t0 op (t1 op t2)`: how clamscan splits outside parentheses."""
    expr = terms[-1]
    for op, term in zip(reversed(ops), reversed(terms[:-1]), strict=True):
        expr = Binary(op, term, expr)
    return expr


def parse_logic(text: str) -> LogicExpr:
    """Parse a logical expression; raises LogicError for anything clamscan rejects (and some it tolerates)."""
    parser = _Parser(text)
    if parser.peek() in _OPERATORS:
        raise LogicError(f"missing left argument in {text!r}")
    expr = _fold_right(*parser.sequence())
    rest = parser.peek()
    if rest:
        what = "missing opening parenthesis" if rest == ")" else f"unexpected {rest!r}"
        raise LogicError(f"{what} in {text!r}")
    return expr


def indices(expr: LogicExpr) -> frozenset[int]:
    """Every subsignature index the expression mentions."""
    if isinstance(expr, Ref):
        return frozenset((expr.index,))
    if isinstance(expr, Binary):
        return indices(expr.left) | indices(expr.right)
    return indices(expr.inner)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A node's truth, the matches it contributes to an enclosing count, and its true leaves."""

    ok: bool
    total: int = 0
    ids: frozenset[int] = frozenset()


_FALSE = Outcome(False)


def _holds(count: Count, total: int) -> bool:
    return _COMPARE[count.op](total, count.value)


def _ref(expr: Ref, counts: Sequence[int]) -> Outcome:
    total = counts[expr.index] if expr.index < len(counts) else 0
    ok = _holds(expr.count, total) if expr.count is not None else total > 0
    return Outcome(True, total, frozenset((expr.index,))) if ok else _FALSE


def _binary(expr: Binary, counts: Sequence[int]) -> Outcome:
    left, right = outcome(expr.left, counts), outcome(expr.right, counts)
    ok = (left.ok and right.ok) if expr.op == "&" else (left.ok or right.ok)
    return Outcome(True, left.total + right.total, left.ids | right.ids) if ok else _FALSE


def _block(expr: Block, counts: Sequence[int]) -> Outcome:
    inner = outcome(expr.inner, counts)
    count = expr.count
    if count is None:
        return inner
    ok = _holds(count, inner.total) and len(inner.ids) >= count.distinct
    return Outcome(True, inner.total, inner.ids) if ok else _FALSE


def outcome(expr: LogicExpr, counts: Sequence[int]) -> Outcome:
    """Evaluate with per-subsignature match counts (overlapping matches included)."""
    match expr:
        case Ref():
            return _ref(expr, counts)
        case Binary():
            return _binary(expr, counts)
        case Block():
            return _block(expr, counts)


def evaluate_logic(expr: LogicExpr, counts: Sequence[int]) -> bool:
    return outcome(expr, counts).ok
