"""`milwatch train`: refit the relevance weights of a rules file on labelled posts and on
the analysts' ✅/❌ marks, measure before and after on channels held out, and write the
result to a copy of the rules file for a backtest before it goes live."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.domain import Post
from bot.matching import Matcher
from bot.relevance.train import Sample, Scores, Weights, fit, pinned, post_scores
from bot.rules import RuleSet
from bot.rules.editor import set_weights


@dataclass(frozen=True)
class Labelled:
    """A post and, per topic, whether it is about it (topics not judged are left out)."""

    post: Post
    topics: dict[str, bool]


def samples(matcher: Matcher, posts: Iterable[Labelled]) -> list[Sample]:
    """One sample per rule hit of a judged topic, with the signal weights it used."""
    stage = matcher.relevance
    if stage is None:
        raise ValueError("the rules file has no relevance section to fit")
    out: list[Sample] = []
    for item in posts:
        analysis = matcher.analyse(item.post.text)
        hits = [h for h in analysis.hits if h.topic in item.topics]
        post_id = f"{item.post.channel}/{item.post.msg_id}"
        for hit, levels in zip(hits, stage.levels(item.post.text, hits, analysis.normalized), strict=True):
            out.append(Sample(hit.rule_id, levels, item.topics[hit.topic], item.post.channel, post_id, hit.topic))
    return out


def held_out_channels(samples_: Sequence[Sample], chosen: set[str] | None) -> set[str]:
    """The channels to measure on: the ones chosen, else every third channel by name
    (none when fewer than three channels have samples)."""
    if chosen is not None:
        return chosen
    channels = sorted({s.group for s in samples_})
    return {c for i, c in enumerate(channels) if i % 3 == 2} if len(channels) >= 3 else set()


@dataclass(frozen=True)
class Refit:
    """Weights before and after, and how posts score with each on both parts of the data."""

    before: Weights
    after: Weights
    train: tuple[Scores, Scores]
    held_out: tuple[Scores, Scores] | None
    train_samples: int
    held_out_samples: int
    held_out_channels: tuple[str, ...]


def refit(ruleset: RuleSet, samples_: Sequence[Sample], held_out: set[str], pull: float) -> Refit:
    """Fit on the samples outside the held-out channels; score both parts before and after."""
    config = ruleset.relevance
    if config is None:
        raise ValueError("the rules file has no relevance section to fit")
    priors = {r.id: r.prior for r in ruleset.rules}
    before = Weights.current(config, priors, [r.id for r in ruleset.rules])
    train = [s for s in samples_ if s.group not in held_out]
    test = [s for s in samples_ if s.group in held_out]
    after = fit(before, train, pull=pull, fixed=pinned(config))
    # What the file will hold: rounded as written.
    rounded_config, rounded_priors = after.apply(config, priors)
    after = Weights.current(rounded_config, rounded_priors, [r.id for r in ruleset.rules])
    at = config.alert_at
    return Refit(
        before=before,
        after=after,
        train=(post_scores(before, train, at), post_scores(after, train, at)),
        held_out=(post_scores(before, test, at), post_scores(after, test, at)) if test else None,
        train_samples=len(train),
        held_out_samples=len(test),
        held_out_channels=tuple(sorted(held_out & {s.group for s in samples_})),
    )


def _scores(s: Scores) -> str:
    return f"P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f} (tp {s.tp}, fp {s.fp}, fn {s.fn})"


def format_refit(result: Refit) -> str:
    """The before/after figures and every weight that moved."""
    lines = [f"fitted on {result.train_samples} rule hits"]
    if result.held_out is not None:
        lines[0] += (f"; measured on {result.held_out_samples} hits of channels held out: "
                     f"{', '.join(result.held_out_channels)}")
        lines.append(f"held out  before: {_scores(result.held_out[0])}")
        lines.append(f"held out  after:  {_scores(result.held_out[1])}")
    else:
        lines[0] += " (too few channels to hold some out: the figures below are on the same posts)"
    lines.append(f"fitted on before: {_scores(result.train[0])}")
    lines.append(f"fitted on after:  {_scores(result.train[1])}")
    lines.append("weights that moved (log-odds, before → after):")
    moved = 0
    for param, old in result.before.values.items():
        new = result.after.values.get(param, old)
        if abs(new - old) >= 0.05:
            label = {"bias": "bias", "prior": "prior of {}", "signal": "{} [weight {}]"}[param[0]]
            lines.append(f"  {label.format(*param[1:]):<52} {old:+.2f} → {new:+.2f}")
            moved += 1
    if not moved:
        lines.append("  none (the labels agree with the weights as they are)")
    return "\n".join(lines)


def write_rules(ruleset: RuleSet, result: Refit, path: Path) -> str:
    """Write a copy of the rules file with the refitted weights, each number changed where
    it stands (a diff shows only them); returns the new text, validated."""
    values = result.after.values
    config = ruleset.relevance
    assert config is not None
    text = set_weights(
        ruleset.source,
        values[("bias",)],
        {s.name: [values[("signal", s.name, str(i))] for i in range(len(s.weights))] for s in config.signals},
        {p[1]: v for p, v in values.items() if p[0] == "prior"},
        filename=str(path),
    )
    path.write_text(text, encoding="utf-8")
    return text


