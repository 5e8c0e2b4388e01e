"""The rule set as operators write it, after validation: topics, concepts, rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.domain import Severity

LANGS = ("ru", "uk", "en", "any")


@dataclass(frozen=True)
class Problem:
    """One error in a rules file, located for `FILE:LINE:COL: message`."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RulesError(Exception):
    """A rules file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class WordSpec:
    """One word of a term: matched by lemma (any form), exactly, or as a prefix."""

    kind: str  # "lemma", "exact", "prefix" or "tag" (<place>, <village>)
    text: str  # normalised word (prefix without the "*")
    fuzzy: float | None = None  # minimum similarity 0-100 for typos; None = off
    max_edits: int | None = None  # Lucene-style "word~1": at most this many edits


@dataclass(frozen=True)
class Term:
    """A single word or a phrase (consecutive words) from a concept list."""

    raw: str  # as written by the operator
    words: tuple[WordSpec, ...]
    lang: str
    concept: str
    line: int
    col: int


@dataclass(frozen=True)
class Concept:
    """A named list of terms per language, reused across rules."""

    name: str
    terms: tuple[Term, ...]
    description: str = ""


# Condition expressions over concepts.
@dataclass(frozen=True)
class Ref:
    """A concept name, or an inline term written in quotes inside the expression."""

    name: str


@dataclass(frozen=True)
class Not:
    """True when the operand matches nowhere in the post."""

    operand: "Expr"


@dataclass(frozen=True)
class And:
    """All operands match somewhere in the post."""

    operands: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    """Any operand matches."""

    operands: tuple["Expr", ...]


@dataclass(frozen=True)
class Near:
    """left within `distance` words of right, any order; NEAR keeps to one sentence,
    WITHIN may cross sentences; `negated` is "left NOT NEAR right"."""

    left: "Expr"
    right: "Expr"
    distance: int
    negated: bool = False
    same_sentence: bool = True


Expr = Ref | Not | And | Or | Near


@dataclass(frozen=True)
class Rule:
    """When `match` holds (and `unless` does not), the post gets a hit on `topic`."""

    id: str
    topic: str
    severity: Severity
    route: str
    match: Expr
    match_text: str
    unless: Expr | None = None
    unless_text: str = ""
    description: str = ""
    enabled: bool = True
    line: int = 0
    prior: float = 0.0  # log-odds the relevance stage starts this rule's hits from


SIGNAL_SCOPES = ("post", "sentence", "around")
SIGNAL_POSITIONS = ("first_sentence", "buried", "repeated")


@dataclass(frozen=True)
class Signal:
    """One piece of evidence the relevance stage weighs for a hit.

    Either words (distinct words of some concepts found in a scope around the hit; the
    weight is looked up by their count) or a position (the hit in the first sentence,
    buried once deep in a long post, or repeated over several sentences).
    """

    name: str
    concepts: tuple[str, ...] = ()  # words signals
    scope: str = "post"  # post | sentence (the hit's sentences) | around (± one sentence)
    position: str = ""  # first_sentence | buried | repeated
    weights: tuple[float, ...] = (0.0,)  # by count (words, repeated); one weight otherwise
    topics: tuple[str, ...] = ()  # empty: every topic
    unless: tuple[str, ...] = ()  # concepts in the hit's sentences (or the scope) that cancel it
    after: int = 3  # buried: not among the first `after` sentences …
    min_sentences: int = 8  # … of a post at least this long
    line: int = 0

    def weight_for(self, count: int) -> float:
        """The weight for a count (the last weight for every count beyond the list)."""
        return self.weights[min(max(count, 0), len(self.weights) - 1)]


@dataclass(frozen=True)
class RelevanceConfig:
    """The relevance stage of a rules file: hits start from bias + the rule's prior,
    each signal adds its weight, and the logistic of the sum is the score."""

    alert_at: float = 0.5
    bias: float = 0.0
    signals: tuple[Signal, ...] = ()

    def concepts(self) -> frozenset[str]:
        """Every concept a signal looks for."""
        return frozenset(c for s in self.signals for c in (*s.concepts, *s.unless))


@dataclass(frozen=True)
class Defaults:
    """File-wide defaults, overridable per rule or concept."""

    severity: Severity = Severity.MEDIUM
    route: str = "default"
    near: int = 8
    fuzzy: float = 86.0


@dataclass(frozen=True)
class RuleSet:
    """A validated rules file; `version` identifies its exact text."""

    topics: dict[str, str]
    concepts: dict[str, Concept]
    rules: tuple[Rule, ...]
    routes: dict[str, str]
    defaults: Defaults
    version: str
    source: str = ""
    path: Path | None = None
    inline_concepts: dict[str, Concept] = field(default_factory=dict)
    relevance: RelevanceConfig | None = None

    @property
    def written_terms(self) -> int:
        """Terms as written in the file: a concept included into another ("@name") keeps
        its terms' line and column, so its copies are not counted again."""
        return len({(t.line, t.col) for c in self.concepts.values() for t in c.terms})

    def summary(self) -> str:
        """One paragraph for /rules and the CLI: version, topics, counts."""
        active = [r for r in self.rules if r.enabled]
        terms = self.written_terms
        return (
            f"rules version {self.version}: {len(active)} active rules "
            f"({len(self.rules) - len(active)} disabled), {len(self.concepts)} concepts, "
            f"{terms} terms; topics: {', '.join(self.topics)}"
        )
