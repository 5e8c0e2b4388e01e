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


# -- a whole evaluation run: labelled and unlabelled posts, marginal labels, alert rates --


@dataclass(frozen=True)
class EvalPost:
    """One post of an evaluation run: its labels (None: unlabelled), what alerted, and
    what the relevance stage kept quiet."""

    post_id: str
    channel: str
    expected: frozenset[str] | None
    predicted: frozenset[str]
    marginal: bool = False  # the labellers were in doubt
    quiet: frozenset[str] = frozenset()
    score: float | None = None  # the highest relevance among its hits
    excerpt: str = ""


@dataclass(frozen=True)
class ChannelRate:
    """Alerts per 1,000 posts of one channel."""

    channel: str
    posts: int
    alerted: int
    quiet: int

    @property
    def per_1000(self) -> float:
        """Posts alerted per 1,000 posts."""
        return 1000 * self.alerted / self.posts if self.posts else 0.0


@dataclass(frozen=True)
class RunReport:
    """Scores on the clear labels, on every label, and alert rates per channel."""

    clear: EvalReport | None  # marginal posts left out
    with_marginal: EvalReport | None  # None when no post is marginal
    rates: tuple[ChannelRate, ...]
    flagged_unlabelled: tuple[EvalPost, ...]
    posts: int
    unlabelled: int = 0


def evaluate_run(posts: Iterable[EvalPost], topics: Sequence[str]) -> RunReport:
    """Score a run: precision/recall on labelled posts (without and with marginal ones),
    alerts per 1,000 posts per channel, and the unlabelled posts that alerted."""
    rows = list(posts)
    labelled = [p for p in rows if p.expected is not None]
    clear_rows = [(p.post_id, p.expected or frozenset(), p.predicted) for p in labelled if not p.marginal]
    all_rows = [(p.post_id, p.expected or frozenset(), p.predicted) for p in labelled]
    clear = evaluate(clear_rows, topics) if labelled else None
    with_marginal = evaluate(all_rows, topics) if any(p.marginal for p in labelled) else None
    counts: dict[str, list[int]] = {}
    for p in rows:
        c = counts.setdefault(p.channel, [0, 0, 0])
        c[0] += 1
        c[1] += bool(p.predicted)
        c[2] += bool(p.quiet) and not p.predicted
    rates = tuple(
        sorted((ChannelRate(ch, n, a, q) for ch, (n, a, q) in counts.items()), key=lambda r: (-r.per_1000, r.channel))
    )
    flagged = tuple(p for p in rows if p.expected is None and p.predicted)
    unlabelled = sum(1 for p in rows if p.expected is None)
    return RunReport(clear, with_marginal, rates, flagged, len(rows), unlabelled)


def format_run(report: RunReport, review: int = 20, rates: bool = False) -> str:
    """The report as text: scores with marginal posts, alert rates per channel (with
    rates, or when nothing is labelled), unlabelled posts that alerted, then the scores on
    the clear labels (last line: F1(macro))."""
    lines: list[str] = []
    if report.with_marginal is not None:
        lines.append("with marginal posts counted as labelled:")
        table = format_report(report.with_marginal).splitlines()
        lines.extend("  " + line for line in table[: 3 + len(report.with_marginal.topics)])
        lines.append(f"  F1(macro) incl. marginal={report.with_marginal.macro_f1:.3f}")
    total = sum(r.posts for r in report.rates)
    if report.clear is None or rates:
        alerted = sum(r.alerted for r in report.rates)
        quiet = sum(r.quiet for r in report.rates)
        lines.append(
            f"posts: {total:,}; alerted: {alerted:,} ({1000 * alerted / total if total else 0:.2f} per 1,000);"
            f" kept quiet by relevance: {quiet:,}"
        )
        lines.append("alerts per 1,000 posts, by channel:")
        width = max(len(r.channel) for r in report.rates)
        for r in report.rates:
            lines.append(f"  {r.channel:<{width}}  {r.per_1000:6.2f}  ({r.alerted} of {r.posts:,}; {r.quiet} quiet)")
    if report.flagged_unlabelled:
        shown = report.flagged_unlabelled[:review]
        lines.append(f"unlabelled posts that alerted ({len(report.flagged_unlabelled)}; review them):")
        for p in shown:
            score = f" {p.score:.0%}" if p.score is not None else ""
            lines.append(f"  {p.post_id} [{p.channel}] {'+'.join(sorted(p.predicted))}{score}: {p.excerpt}")
        if len(report.flagged_unlabelled) > len(shown):
            lines.append(f"  … and {len(report.flagged_unlabelled) - len(shown)} more (--review N)")
    if report.clear is not None:
        if report.with_marginal is not None:
            lines.append("without marginal posts:")
        lines.append(format_report(report.clear))
    return "\n".join(lines)
