"""Rule conditions as data: which concepts a rule needs, and NEAR distances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.rules.model import And, Expr, Near, Not, Or, Ref

if TYPE_CHECKING:
    from bot.matching.matcher import Occurrence


def requirements(expr: Expr, lazy: frozenset[str] = frozenset()) -> list[frozenset[str]]:
    """Groups of concept names such that expr can only hold when the scan finds a
    concept of every group (a NOT, or a concept of tag-only terms, requires nothing)."""
    if isinstance(expr, Ref):
        return [] if expr.name in lazy else [frozenset({expr.name})]
    if isinstance(expr, Not):
        return []
    if isinstance(expr, Or):
        parts = [requirements(op, lazy) for op in expr.operands]
        if any(not p for p in parts):
            return []
        # (a1 and a2) or b  ⇒  (a1 or b) and (a2 or b): every pick of one group per
        # operand, unless that grows too large; then each operand's smallest group.
        n_combos = 1
        for p in parts:
            n_combos *= len(p)
        if n_combos > 16:
            return [frozenset().union(*(min(p, key=len) for p in parts))]
        combos: list[frozenset[str]] = [frozenset()]
        for p in parts:
            combos = [c | g for c in combos for g in p]
        return combos
    if isinstance(expr, And):
        return [g for op in expr.operands for g in requirements(op, lazy)]
    sides = [expr.left] if expr.negated else [expr.left, expr.right]
    return [g for side in sides for g in requirements(side, lazy)]


def windowable_lazy(expr: Expr, lazy: frozenset[str]) -> bool:
    """True when expr mentions a tag-only concept, reached through ORs only (an AND or
    NOT below would make its truth depend on words outside a window)."""
    if isinstance(expr, Ref):
        return expr.name in lazy
    if isinstance(expr, Or):
        if any(not isinstance(op, (Ref, Or)) and any(n in lazy for n in refs(op)) for op in expr.operands):
            return False
        return any(windowable_lazy(op, lazy) for op in expr.operands)
    return False


def refs(expr: Expr) -> Iterator[str]:
    """Every concept name an expression mentions."""
    if isinstance(expr, Ref):
        yield expr.name
    elif isinstance(expr, Not):
        yield from refs(expr.operand)
    elif isinstance(expr, (And, Or)):
        for op in expr.operands:
            yield from refs(op)
    else:
        yield from refs(expr.left)
        yield from refs(expr.right)


def close(a: Occurrence, b: Occurrence, near: Near) -> bool:
    """Within n words of each other, in any order; one word never pairs with itself."""
    if a.first == b.first and a.last == b.last:
        return False
    if near.same_sentence and (a.s_last < b.s_first or b.s_last < a.s_first):
        return False
    n = near.distance
    if a.last < b.first:
        return b.first - a.last <= n
    if b.last < a.first:
        return a.first - b.last <= n
    return True
