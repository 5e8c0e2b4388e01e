"""Score each rule hit by the evidence around it: context words, who does the leaving,
peacetime causes, where in the post it stands. The weights come from the rules file."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from bot.domain import Evidence, Hit, Relevance
from bot.relevance.sentences import SentenceIndex
from bot.rules.model import RelevanceConfig, Signal


class Word(Protocol):
    """Where a concept's term stands in a text, and the lemma it matched."""

    @property
    def start(self) -> int: ...  # offsets into the original text
    @property
    def end(self) -> int: ...
    @property
    def lemma(self) -> str: ...


# (text, its normalised form or None) → each concept's words anywhere in the text.
Finder = Callable[[str, Any], Mapping[str, Sequence[Word]]]

_SCOPE_WORDS = {"post": "in the post", "sentence": "in its sentence", "around": "around it"}


def _logistic(z: float) -> float:
    """1 / (1 + e^-z), without overflow for any z."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class _Found:
    """The evidence words of one text, with the sentence each stands in."""

    def __init__(self, text: str, matches: Mapping[str, Sequence[Word]]) -> None:
        self.sentences = SentenceIndex(text)
        self.by_concept = {
            name: [(self.sentences.of(t.start), t) for t in terms] for name, terms in matches.items()
        }

    def words(self, concepts: Sequence[str], scope: str, near: frozenset[int]) -> list[Word]:
        """Term matches of the concepts in a scope: the post, the hit's sentences, or
        those sentences and one on either side."""
        out: list[Word] = []
        for name in concepts:
            found = self.by_concept.get(name)
            if not found:
                continue
            if scope == "post":
                out.extend(term for _, term in found)
            elif scope == "sentence":
                out.extend(term for sentence, term in found if sentence in near)
            else:
                out.extend(
                    term for sentence, term in found
                    if sentence in near or sentence - 1 in near or sentence + 1 in near
                )
        return out


def _distinct(terms: Sequence[Word]) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Distinct words (by lemma) in text order, and every span."""
    if not terms:
        return (), ()
    ordered = sorted(terms, key=lambda t: t.start)
    words = dict.fromkeys(t.lemma for t in ordered)
    spans = tuple(sorted({(t.start, t.end) for t in ordered}))
    return tuple(words), spans


class RelevanceStage:
    """Scores hits with a RelevanceConfig; `assess` returns them with their Relevance."""

    def __init__(self, config: RelevanceConfig, priors: Mapping[str, float], find: Finder) -> None:
        """find: the evidence concepts' matches in a text (a matcher of those concepts)."""
        self.config = config
        self._priors = dict(priors)
        self._find = find

    def assess(self, text: str, hits: Sequence[Hit], normalized: Any = None) -> list[Hit]:
        """The hits with their relevance (the text is analysed once for all of them);
        normalized: the text's normalised form, when the caller has it (saves redoing it)."""
        return [
            replace(hit, relevance=self._score(hit.rule_id, weight, evidence))
            for hit, (weight, evidence, _) in zip(hits, self._weigh(text, hits, normalized), strict=True)
        ]

    def levels(self, text: str, hits: Sequence[Hit], normalized: Any = None) -> list[dict[str, int]]:
        """Per hit, which weight of each signal applied (its index in the signal's weights);
        signals that do not apply or are cancelled are left out. For refitting weights."""
        return [levels for _, _, levels in self._weigh(text, hits, normalized)]

    def _weigh(
        self, text: str, hits: Sequence[Hit], normalized: Any
    ) -> list[tuple[float, tuple[Evidence, ...], dict[str, int]]]:
        """Per hit: the signals' summed weight, their evidence, and the weight index each used."""
        if not hits:
            return []
        found = _Found(text, self._find(text, normalized))
        by_topic: dict[str, set[int]] = {}
        hit_sentences = []
        for hit in hits:
            own = frozenset(found.sentences.of(t.start) for t in hit.terms) or frozenset({0})
            hit_sentences.append(own)
            by_topic.setdefault(hit.topic, set()).update(own)
        # Hits of a topic in the same sentences (several rules on the same words) weigh the
        # same signals: work them out once.
        signals: dict[tuple[str, frozenset[int]], tuple[float, tuple[Evidence, ...], dict[str, int]]] = {}
        out = []
        for hit, own in zip(hits, hit_sentences, strict=True):
            key = (hit.topic, own)
            if key not in signals:
                signals[key] = self._signals(hit.topic, own, by_topic[hit.topic], found)
            out.append(signals[key])
        return out

    def _score(self, rule_id: str, weight: float, evidence: tuple[Evidence, ...]) -> Relevance:
        """The relevance of one hit: bias + its rule's prior + its signals, through the logistic."""
        prior = self._priors.get(rule_id, 0.0)
        if prior:
            evidence = (Evidence("rule", prior, note=f"prior of {rule_id}"), *evidence)
        return Relevance(_logistic(self.config.bias + prior + weight), self.config.alert_at, evidence)

    def _signals(
        self, topic: str, own: frozenset[int], topic_sentences: set[int], found: _Found
    ) -> tuple[float, tuple[Evidence, ...], dict[str, int]]:
        """The summed weight, the evidence and the weight index of every signal for a hit
        of a topic."""
        total = 0.0
        evidence: list[Evidence] = []
        levels: dict[str, int] = {}
        for signal in self.config.signals:
            if signal.topics and topic not in signal.topics:
                continue
            level, item = self._signal(signal, own, topic_sentences, found)
            if level is not None:
                levels[signal.name] = level
            if item is not None:
                total += item.weight
                evidence.append(item)
        return total, tuple(evidence), levels

    def _signal(
        self, signal: Signal, own: frozenset[int], topic_sentences: set[int], found: _Found
    ) -> tuple[int | None, Evidence | None]:
        """One signal for a hit: the index of the weight it applies (None: it does not
        apply, or is cancelled) and its evidence (None when it neither fires nor weighs)."""
        scope = signal.scope if signal.concepts else "sentence"
        blockers = found.words(signal.unless, scope, own) if signal.unless else []
        if signal.concepts:
            words, spans = _distinct(found.words(signal.concepts, signal.scope, own))
            count = len(words)
            note = f"{count} word{'s' if count != 1 else ''} {_SCOPE_WORDS[signal.scope]}"
        else:
            words, spans = (), ()
            position = self._position(signal, own, topic_sentences, found)
            if position is None:
                return None, None
            count = position
            note = {
                "first_sentence": "in the first sentence",
                "buried": f"once, deep in a post of {found.sentences.count} sentences",
                "repeated": f"in {count} sentence{'s' if count != 1 else ''}",
            }[signal.position]
        level = min(count, len(signal.weights) - 1)
        weight = signal.weights[level]
        if blockers and (weight or words):
            cancelled, _ = _distinct(blockers)
            return None, Evidence(signal.name, 0.0, words, spans, f"{note}; cancelled by {', '.join(cancelled)}")
        if not weight and not words:
            return level, None
        return level, Evidence(signal.name, weight, words, spans, note)

    @staticmethod
    def _position(signal: Signal, own: frozenset[int], topic_sentences: set[int], found: _Found) -> int | None:
        """The count a position signal is weighed by (None: it does not apply)."""
        if signal.position == "first_sentence":
            return 0 if 0 in own else None
        if signal.position == "buried":
            alone = len(topic_sentences) == 1
            deep = min(topic_sentences) >= signal.after and found.sentences.count >= signal.min_sentences
            return 0 if alone and deep else None
        return len(topic_sentences)  # repeated


def describe(relevance: Relevance) -> str:
    """Lines explaining a relevance score: the score, then each weighed signal."""
    verdict = "alert" if relevance.alert else "quiet"
    lines = [f"relevance {relevance.score:.0%} ({verdict}; alerts at {relevance.threshold:.0%})"]
    for e in relevance.evidence:
        words = f": {', '.join(e.words)}" if e.words else ""
        lines.append(f"    {e.weight:+.2f} {e.name}{words} ({e.note})")
    return "\n".join(lines)
