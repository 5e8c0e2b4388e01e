"""Refit the relevance weights on labelled hits: a logistic regression whose parameters
are the rules file's own numbers (bias, rule priors, each signal's weights), pulled
towards their current values so that a few hundred labels recalibrate rather than
overturn them. Pure: the caller supplies the samples (see `sample`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from bot.rules.model import RelevanceConfig

Param = tuple[str, ...]  # ("bias",), ("prior", rule id) or ("signal", name, weight index)


@dataclass(frozen=True)
class Sample:
    """One rule hit with a verdict: which rule, which weight of each signal applied, and
    whether the post is about the hit's topic. `group` says where it came from (a channel,
    for held-out splits); `post` and `topic` let hits be scored as posts."""

    rule_id: str
    levels: Mapping[str, int]
    label: bool
    group: str = ""
    post: str = ""
    topic: str = ""


@dataclass(frozen=True)
class Weights:
    """Every number the relevance stage adds up, by parameter."""

    values: dict[Param, float] = field(default_factory=dict)

    @classmethod
    def current(cls, config: RelevanceConfig, priors: Mapping[str, float], rules: Iterable[str]) -> Weights:
        """The weights of a rules file as they stand (rules without a prior start at 0)."""
        values: dict[Param, float] = {("bias",): config.bias}
        for rule_id in rules:
            values[("prior", rule_id)] = priors.get(rule_id, 0.0)
        for signal in config.signals:
            for i, w in enumerate(signal.weights):
                values[("signal", signal.name, str(i))] = w
        return cls(values)

    def logit(self, sample: Sample) -> float:
        """bias + the rule's prior + each applied signal weight."""
        z = self.values[("bias",)] + self.values.get(("prior", sample.rule_id), 0.0)
        for name, level in sample.levels.items():
            z += self.values.get(("signal", name, str(level)), 0.0)
        return z

    def score(self, sample: Sample) -> float:
        """The relevance score of a sample under these weights."""
        return _logistic(self.logit(sample))

    def apply(self, config: RelevanceConfig, priors: Mapping[str, float]) -> tuple[RelevanceConfig, dict[str, float]]:
        """A config and rule priors carrying these weights, rounded to 0.05 (what the rules
        file shows; finer digits would be noise from a few hundred labels)."""
        signals = tuple(
            replace(s, weights=tuple(_round(self.values[("signal", s.name, str(i))]) for i in range(len(s.weights))))
            for s in config.signals
        )
        new_priors = {
            param[1]: _round(value) for param, value in self.values.items() if param[0] == "prior"
        }
        new_priors.update({rule: p for rule, p in priors.items() if ("prior", rule) not in self.values})
        return replace(config, bias=_round(self.values[("bias",)]), signals=signals), new_priors


def _round(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2) + 0.0  # + 0.0: no "-0.0" in the file


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def pinned(config: RelevanceConfig) -> set[Param]:
    """Weights a refit leaves alone: "no word found" of a words signal that weighs nothing
    now (the file says `weight: -2`, meaning [0, -2]; only the bias may move that level)."""
    return {
        ("signal", s.name, "0") for s in config.signals
        if s.concepts and len(s.weights) > 1 and s.weights[0] == 0
    }


def fit(start: Weights, samples: Sequence[Sample], pull: float = 1.0, steps: int = 3000,
        rate: float = 0.5, fixed: Set[Param] = frozenset()) -> Weights:
    """Maximise the likelihood of the labels minus pull/2 · Σ (weight − its start)²:
    gradient descent on the mean loss, every parameter a sample touches free to move
    (but the fixed ones), the others left as they are."""
    if not samples:
        return start
    params = list(start.values)
    index = {p: i for i, p in enumerate(params)}
    theta = [start.values[p] for p in params]
    anchor = list(theta)
    rows: list[tuple[list[int], float]] = []
    for s in samples:
        used = [index[("bias",)]]
        if ("prior", s.rule_id) in index:
            used.append(index[("prior", s.rule_id)])
        used += [index[p] for name, level in s.levels.items() if (p := ("signal", name, str(level))) in index]
        rows.append((used, 1.0 if s.label else 0.0))
    n = len(rows)
    touched = sorted({i for used, _ in rows for i in used} - {index[p] for p in fixed if p in index})
    for _ in range(steps):
        grad = [0.0] * len(theta)
        for used, y in rows:
            g = _logistic(sum(theta[i] for i in used)) - y
            for i in used:
                grad[i] += g
        for i in touched:
            theta[i] -= rate * (grad[i] / n + pull * (theta[i] - anchor[i]) / n)
    return Weights(dict(zip(params, theta, strict=True)))


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of posts alerted per topic, at a threshold."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def post_scores(weights: Weights, samples: Sequence[Sample], threshold: float) -> Scores:
    """Score as analysts see it: a (post, topic) alerts when any of its hits reaches the
    threshold, and is right when the label says the post is about that topic."""
    alerted: dict[tuple[str, str], bool] = {}
    wanted: dict[tuple[str, str], bool] = {}
    for s in samples:
        key = (s.post, s.topic)
        alerted[key] = alerted.get(key, False) or weights.score(s) >= threshold
        wanted[key] = wanted.get(key, False) or s.label
    tp = sum(1 for k, a in alerted.items() if a and wanted[k])
    fp = sum(1 for k, a in alerted.items() if a and not wanted[k])
    fn = sum(1 for k, a in alerted.items() if not a and wanted[k])
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0, tp, fp, fn)
