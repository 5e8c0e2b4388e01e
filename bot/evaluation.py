"""Scoring a matcher against labelled posts: per-topic precision, recall and F1, pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ANY = "any"  # the pseudo-topic "flagged for something" vs "labelled with something"


@dataclass(frozen=True)
class TopicScore:
    """Confusion counts and scores for one topic, with the ids behind the errors."""

    topic: str
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    missed: tuple[str, ...]  # expected but not predicted, in input order
    false_alarms: tuple[str, ...]  # predicted but not expected, in input order


@dataclass(frozen=True)
class EvalReport:
    """Scores of one evaluation run: every topic, "any topic", and macro F1 over topics."""

    topics: tuple[TopicScore, ...]
    any: TopicScore
    macro_f1: float  # mean F1 of `topics`; `any` is left out so it cannot mask a weak topic
    posts: int

    def score(self, topic: str) -> TopicScore:
        """The score of one topic by name ("any" included)."""
        if topic == ANY:
            return self.any
        for score in self.topics:
            if score.topic == topic:
                return score
        raise KeyError(topic)


def _ratio(hits: int, total: int, other_side: int) -> float:
    """hits/total, or the convention when total is 0: 1.0 if the other side is empty too."""
    if total:
        return hits / total
    # No predictions (or no positives) is perfect only when there was nothing to find (or flag).
    return 1.0 if other_side == 0 else 0.0


def _score(topic: str, missed: list[str], false_alarms: list[str], tp: int) -> TopicScore:
    """A TopicScore from its true positives and the ids of its errors."""
    fp, fn = len(false_alarms), len(missed)
    precision = _ratio(tp, tp + fp, tp + fn)
    recall = _ratio(tp, tp + fn, tp + fp)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TopicScore(
        topic=topic,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        missed=tuple(missed),
        false_alarms=tuple(false_alarms),
    )


def evaluate(
    rows: Iterable[tuple[str, frozenset[str], frozenset[str]]],
    topics: Sequence[str],
) -> EvalReport:
    """Score (post id, expected topics, predicted topics) rows on `topics` and on "any topic"."""
    names = list(dict.fromkeys(topics))  # keep the caller's order, drop repeats
    wanted = frozenset(names)
    tp = {name: 0 for name in names + [ANY]}
    missed: dict[str, list[str]] = {name: [] for name in names + [ANY]}
    false_alarms: dict[str, list[str]] = {name: [] for name in names + [ANY]}
    posts = 0
    for post_id, expected, predicted in rows:
        posts += 1
        # Topics outside the evaluated set (a rule set may have more) neither help nor hurt,
        # "any" included: the labels say nothing about them.
        exp, pred = expected & wanted, predicted & wanted
        for name in names:
            _tally(name, name in exp, name in pred, post_id, tp, missed, false_alarms)
        _tally(ANY, bool(exp), bool(pred), post_id, tp, missed, false_alarms)

    scores = tuple(_score(name, missed[name], false_alarms[name], tp[name]) for name in names)
    macro = sum(s.f1 for s in scores) / len(scores) if scores else 0.0
    return EvalReport(
        topics=scores,
        any=_score(ANY, missed[ANY], false_alarms[ANY], tp[ANY]),
        macro_f1=macro,
        posts=posts,
    )


def _tally(
    name: str,
    expected: bool,
    predicted: bool,
    post_id: str,
    tp: dict[str, int],
    missed: dict[str, list[str]],
    false_alarms: dict[str, list[str]],
) -> None:
    """Count one post for one topic."""
    if expected and predicted:
        tp[name] += 1
    elif expected:
        missed[name].append(post_id)
    elif predicted:
        false_alarms[name].append(post_id)


def format_report(report: EvalReport) -> str:
    """A plain-text table of the scores, the ids of every error, and a final F1(macro) line."""
    rows = [*report.topics, report.any]
    width = max([len("topic"), *(len(s.topic) for s in rows)])
    lines = [
        f"posts: {report.posts}",
        f"{'topic':<{width}}  {'P':>5}  {'R':>5}  {'F1':>5}  {'TP':>5}  {'FP':>5}  {'FN':>5}",
    ]
    for s in rows:
        lines.append(
            f"{s.topic:<{width}}  {s.precision:5.3f}  {s.recall:5.3f}  {s.f1:5.3f}"
            f"  {s.tp:5d}  {s.fp:5d}  {s.fn:5d}"
        )
    for s in rows:
        lines.append(f"misses ({s.topic}): {' '.join(s.missed) or '-'}")
        lines.append(f"false alarms ({s.topic}): {' '.join(s.false_alarms) or '-'}")
    # Scripts and CI grep this exact last line.
    lines.append(f"F1(macro)={report.macro_f1:.3f}")
    return "\n".join(lines)
