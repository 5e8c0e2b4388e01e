"""Parse rule conditions: concepts combined with AND, OR, NOT, NEAR/n, NOT NEAR/n."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.rules.model import And, Expr, Near, Not, Or, Ref

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<near>(?:NOT\s+)?(?:NEAR|WITHIN)(?:/(?P<n>\d+))?)(?![\w/])
      | (?P<nearbad>(?:NOT\s+)?(?:NEAR|WITHIN)/\S*)
      | (?P<op>AND|OR|NOT)(?!\w)
      | (?P<lp>\()
      | (?P<rp>\))
      | (?P<quoted>"[^"]*"|'[^']*'|«[^»]*»)
      | (?P<name>[^\W\d][\w.-]*)
      | (?P<bad>\S+)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


# Deeper than any condition a person writes, and far below Python's recursion limit
# (each level costs the parser five frames, and the matcher walks the tree again).
MAX_DEPTH = 40
# NEAR/n takes 1-100; more digits than this are refused before int() reads them
# (int() of a 5,000-digit string raises ValueError).
_MAX_DIGITS = 6


class ExprSyntaxError(ValueError):
    """A condition that cannot be parsed; `offset` points into the condition text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: str
    offset: int
    n: int | None = None


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the "bad" branch matches anything
            raise ExprSyntaxError("cannot read the condition here", pos)
        start = m.start(m.lastgroup or 0)
        if m.group("near"):
            negated = m.group("near").upper().startswith("NOT")
            digits = m.group("n")
            if digits and len(digits) > _MAX_DIGITS:
                raise ExprSyntaxError(
                    f"NEAR/{digits[:_MAX_DIGITS]}…: the distance must be 1 to 100 words", start
                )
            n = int(digits) if digits else None
            kind = "notnear" if negated else "near"
            if "WITHIN" in m.group("near").upper():
                kind += "+"  # may cross sentence boundaries
            toks.append(_Tok(kind, m.group("near"), start, n))
        elif m.group("op"):
            toks.append(_Tok(m.group("op").upper(), m.group("op"), start))
        elif m.group("lp"):
            toks.append(_Tok("(", "(", start))
        elif m.group("rp"):
            toks.append(_Tok(")", ")", start))
        elif m.group("quoted"):
            toks.append(_Tok("quoted", m.group("quoted"), start))
        elif m.group("name"):
            toks.append(_Tok("name", m.group("name"), start))
        elif m.group("nearbad"):
            written = m.group("nearbad")
            operator = written.split("/", 1)[0]
            raise ExprSyntaxError(
                f"{written!r}: write the distance in words after the slash, e.g. {operator}/5", start
            )
        else:
            bad = m.group("bad")
            hint = " (write NEAR/5, with a number)" if bad.upper().startswith("NEAR") else ""
            raise ExprSyntaxError(f"unexpected {bad!r} in condition{hint}", start)
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, text: str, default_near: int) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.default_near = default_near
        self.depth = 0  # open parentheses, NOTs and chained NEARs around the current token

    def enter(self, tok: _Tok) -> None:
        """One level deeper; refuse before the recursion gets anywhere near Python's limit."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError(
                f"the condition is nested more than {MAX_DEPTH} levels deep "
                "(parentheses, NOTs and chained NEARs); split it into concepts",
                tok.offset,
            )

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def end_offset(self) -> int:
        return len(self.text.rstrip())

    def parse(self) -> Expr:
        if not self.toks:
            raise ExprSyntaxError("empty condition", 0)
        expr = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise ExprSyntaxError(
                f"unexpected {tok.value!r}: join conditions with AND, OR or NEAR/n", tok.offset
            )
        return expr

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_not()]
        while (tok := self.peek()) is not None and tok.kind == "AND":
            self.take()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Expr:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.take()
            self.enter(tok)
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand)
        return self.parse_near()

    def parse_near(self) -> Expr:
        left = self.parse_atom()
        chained = 0
        while (tok := self.peek()) is not None and tok.kind in ("near", "notnear", "near+", "notnear+"):
            self.take()
            # "a NEAR b NEAR c …" nests to the left: each link is a level of the tree.
            if chained:
                self.enter(tok)
            chained += 1
            right = self.parse_atom()
            n = tok.n if tok.n is not None else self.default_near
            if n < 1 or n > 100:
                raise ExprSyntaxError(f"NEAR/{n}: the distance must be 1 to 100 words", tok.offset)
            for side in (left, right):
                if isinstance(side, Not):
                    raise ExprSyntaxError(
                        "NEAR/WITHIN need words on both sides; use 'A NOT NEAR/n B' to exclude",
                        tok.offset,
                    )
            left = Near(
                left,
                right,
                n,
                negated=tok.kind.startswith("not"),
                same_sentence=not tok.kind.endswith("+"),
            )
        self.depth -= max(chained - 1, 0)
        return left

    def parse_atom(self) -> Expr:
        tok = self.peek()
        if tok is None:
            raise ExprSyntaxError("the condition ends too early: a concept is missing", self.end_offset())
        self.take()
        if tok.kind == "(":
            self.enter(tok)
            inner = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise ExprSyntaxError("missing ')'", tok.offset)
            self.take()
            self.depth -= 1
            return inner
        if tok.kind == "name":
            return Ref(tok.value)
        if tok.kind == "quoted":
            return Ref(tok.value)
        if tok.kind == "NOT":
            self.enter(tok)
            operand = self.parse_atom()
            self.depth -= 1
            return Not(operand)
        raise ExprSyntaxError(f"expected a concept name, found {tok.value!r}", tok.offset)


def parse_expr(text: str, default_near: int) -> Expr:
    """Parse a condition string; raises ExprSyntaxError with an offset on bad input."""
    return _Parser(text, default_near).parse()


def refs(expr: Expr) -> list[str]:
    """All concept names and inline terms an expression mentions, in order."""
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, Not):
        return refs(expr.operand)
    if isinstance(expr, (And, Or)):
        return [r for op in expr.operands for r in refs(op)]
    return refs(expr.left) + refs(expr.right)


def has_positive(expr: Expr) -> bool:
    """True when the expression can match on words (is not purely a negation)."""
    if isinstance(expr, Ref):
        return True
    if isinstance(expr, Not):
        return False
    if isinstance(expr, And):
        return any(has_positive(op) for op in expr.operands)
    if isinstance(expr, Or):
        return all(has_positive(op) for op in expr.operands)
    return True
