"""Aho-Corasick prefilter: skip the word-by-word analysis of posts no rule can match.

Every rule needs at least one word of some "anchor" concept (for `a NEAR b` either side,
for `a OR b` both, for `a AND NOT b` the a). The prefilter holds short literals that
any occurrence of an anchor term must contain: the stem shared by all the term's word
forms, cut to its first letters so that typos further in do not break it, and its
romanisation.
Typos inside the first letters of short stems can still make a post skip the analysis:
`milwatch bench` reports how many hits the prefilter loses on its corpus. A post containing none of them
cannot produce a hit, so it skips tokenising, lemmatising and rule evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import ahocorasick

from bot.matching.morph import Morphology
from bot.matching.translit import to_latin
from bot.rules.model import And, Concept, Expr, Near, Not, Or, Ref, RuleSet, Term

_MIN_LITERAL = 4
_HEAD = 5


def _common_prefix(words: Iterable[str]) -> str:
    items = list(words)
    return os.path.commonprefix(items) if items else ""


def _head(stem: str) -> str:
    """The first letters of a stem: typos sit mostly further in ("эвакуция" keeps "эваку")."""
    return stem[:_HEAD]


def term_literals(term: Term, morph: Morphology) -> set[str] | None:
    """Literals one of which any match of the term contains; None if none can be given."""
    best: set[str] | None = None
    best_key: tuple[int, int] = (0, 0)
    for spec in term.words:
        if spec.kind == "tag":
            continue  # "<place>" has no literal; another word of a phrase may
        if spec.kind in ("exact", "prefix"):
            lits = {spec.text}
        else:
            forms = morph.forms(spec.text, term.lang) | {spec.text}
            stem = _common_prefix(forms)
            if len(stem) < _MIN_LITERAL:
                # Suppletive or short words (уйти/ушли): the head of every form.
                lits = {_head(f) for f in forms}
            else:
                lits = {_head(stem)}
                fuzzy = spec.fuzzy is not None or spec.max_edits is not None
                if fuzzy and len(stem) >= _HEAD and not stem.isascii():
                    # Romanised posts ("evakuatsiya", "Hmeimim") must still pass the filter.
                    latin = to_latin(stem)
                    lits.update({_head(latin), _head(latin.replace("kh", "h"))})
        lits = {w for w in lits if w}
        # In a phrase, the longest word is the most selective anchor ("развертывания"
        # rather than "районы"); its literal is cut, so judge by the word itself.
        key = (len(spec.text), -len(lits))
        if best is None or key > best_key:
            best, best_key = lits, key
    return best


def concept_literals(concept: Concept, morph: Morphology) -> set[str] | None:
    """Literals covering every term of a concept, or None if a term has none."""
    out: set[str] = set()
    for term in concept.terms:
        lits = term_literals(term, morph)
        if lits is None:
            return None
        out |= lits
    return out


def _anchors(expr: Expr, lits: dict[str, set[str] | None]) -> set[str] | None:
    """Literals one of which must occur for expr to match, or None if unknown."""
    if isinstance(expr, Ref):
        return lits.get(expr.name)
    if isinstance(expr, Not):
        return None
    if isinstance(expr, Or):
        out: set[str] = set()
        for op in expr.operands:
            part = _anchors(op, lits)
            if part is None:
                return None
            out |= part
        return out
    options: list[set[str]]
    if isinstance(expr, And):
        options = [a for op in expr.operands if (a := _anchors(op, lits)) is not None]
    else:
        assert isinstance(expr, Near)
        sides = [expr.left] if expr.negated else [expr.left, expr.right]
        options = [a for side in sides if (a := _anchors(side, lits)) is not None]
    if not options:
        return None
    # Any one required operand will do: take the one that lets the fewest posts through.
    # A literal of n letters turns up by chance roughly 30**-n of the time, so short
    # ones ("мы", "out") dominate the estimate.
    return min(options, key=lambda s: sum(30.0 ** -len(lit) for lit in s))


class Prefilter:
    """Answers "could any rule match this normalised text?" in one C-level scan."""

    def __init__(self, literals: set[str]) -> None:
        self.literals = literals
        self._automaton = ahocorasick.Automaton()
        for lit in literals:
            self._automaton.add_word(lit, lit)
        self._automaton.make_automaton()

    def may_match(self, normalized_text: str) -> bool:
        """False only when no anchor literal occurs in the text."""
        return next(self._automaton.iter(normalized_text), None) is not None


def build_prefilter(ruleset: RuleSet, morph: Morphology) -> Prefilter | None:
    """The prefilter for the enabled rules, or None when some rule cannot be anchored."""
    concepts = {**ruleset.concepts, **ruleset.inline_concepts}
    lits = {name: concept_literals(c, morph) for name, c in concepts.items()}
    needed: set[str] = set()
    for rule in ruleset.rules:
        if not rule.enabled:
            continue
        anchors = _anchors(rule.match, lits)
        if not anchors:
            return None
        needed |= anchors
    return Prefilter(needed) if needed else None
