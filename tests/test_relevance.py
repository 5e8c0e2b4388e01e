"""The relevance stage: the `relevance:` section of a rules file, and how hits are scored.

Small rules files written here, so each signal can be seen on its own; the shipped
configuration's behaviour on whole posts is in tests/test_relevance_families.py.
"""

from __future__ import annotations

import math

import pytest
from conftest import matcher_from_yaml

from bot.domain import Hit
from bot.matching import Matcher, Morphology
from bot.relevance import SentenceIndex, describe
from bot.rules import RulesError, parse_rules

HEAD = """
version: 1
topics:
  withdrawal: troops leaving
concepts:
  pullout:
    ru: [вывод, вывести]
  troops:
    ru: [войска, армия]
  context:
    ru: [фронт, обстрел, ВСУ, Сирия]
  money:
    ru: [деньги, средства]
  attack:
    ru: [обстрел]
rules:
  - id: w.pullout
    topic: withdrawal
    match: pullout
"""


def rules(relevance: str, prior: float | None = None) -> str:
    """HEAD with a relevance section (and optionally a prior on its one rule)."""
    text = HEAD + (f"    prior: {prior}\n" if prior is not None else "")
    return text + "relevance:\n" + relevance


def only_hit(matcher: Matcher, text: str) -> Hit:
    (hit,) = matcher.match(text)
    assert hit.relevance is not None
    return hit


def logistic(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# -- the section in the rules file ---------------------------------------------------------


def test_without_a_relevance_section_every_hit_alerts(morph: Morphology) -> None:
    matcher = matcher_from_yaml(HEAD, morph)
    (hit,) = matcher.match("Вывод средств со счёта")
    assert hit.relevance is None and hit.alerts


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  alert_at: 1.5\n", "relevance 'alert_at' must be a number 0 to 1, not 1.5"),
        ("  alert_at: .nan\n", "relevance 'alert_at' must be a number 0 to 1, not nan"),
        ("  bias: 1e9\n", "relevance 'bias' must be a number -50 to 50, not 1000000000.0"),
        ("  signals:\n    - name: x\n      words: [nothing]\n      weight: 1\n",
         "relevance signal 'x': unknown concept 'nothing'"),
        ("  signals:\n    - name: x\n      words: [troops]\n      position: buried\n      weight: 1\n",
         "relevance signal 'x': give either 'words' (concepts) or 'position'"),
        ("  signals:\n    - name: x\n      position: middle\n      weight: 1\n",
         "relevance signal 'x': unknown position 'middle'"),
        ("  signals:\n    - name: x\n      words: [troops]\n      in: paragraph\n      weight: 1\n",
         "relevance signal 'x': 'in' must be one of post, sentence, around, not 'paragraph'"),
        ("  signals:\n    - name: x\n      words: [troops]\n      weights: [0, 'a lot']\n",
         "relevance signal 'x': weight 2 must be a number -50 to 50, not 'a lot'"),
        ("  signals:\n    - name: x\n      words: [troops]\n",
         "relevance signal 'x': no 'weights' or 'weight'"),
        ("  signals:\n    - name: x\n      words: [troops]\n      topics: [weather]\n      weight: 1\n",
         "relevance signal 'x': unknown topic 'weather'"),
        ("  signals:\n    - name: x\n      words: [troops]\n      weight: 1\n"
         "    - name: x\n      words: [context]\n      weight: 1\n",
         "duplicate relevance signal name 'x'"),
        ("  thresholds: 3\n", "unknown key 'thresholds' in relevance"),
    ],
)
def test_a_broken_section_names_the_problem_and_where(section: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(rules(section), "r.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any(message in p for p in problems), problems
    assert all(p.startswith("r.yaml:") and p.split(":")[1] != "0" for p in problems), problems


def test_a_broken_prior_is_reported_on_its_line() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(rules("  alert_at: 0.5\n", prior=99), "r.yaml")
    (problem,) = caught.value.problems
    assert "rule 'w.pullout': 'prior' must be a number -50 to 50 (log-odds), not 99" in str(problem)
    assert problem.line == HEAD.count("\n") + 1


# -- the signals -----------------------------------------------------------------------------


def test_words_in_the_post_are_weighed_by_how_many_distinct_words(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  alert_at: 0.5\n  signals:\n    - name: context\n      words: [context]\n      in: post\n"
        "      weights: [-2, -1, 0.5, 1.5]\n"), morph)
    none = only_hit(matcher, "Вывод средств со счёта.")
    assert none.relevance is not None and none.relevance.score == pytest.approx(logistic(-2))
    assert not none.alerts
    # Two distinct words ("ВСУ" twice counts once), anywhere in the post.
    two = only_hit(matcher, "ВСУ отошли. Начался вывод. На фронте ВСУ держатся.")
    assert two.relevance is not None and two.relevance.score == pytest.approx(logistic(0.5))
    (evidence,) = two.relevance.evidence
    assert (evidence.name, evidence.weight, evidence.words) == ("context", 0.5, ("всу", "фронт"))
    assert evidence.note == "2 words in the post"
    # More words than weights take the last weight.
    many = only_hit(matcher, "Вывод. ВСУ, фронт, обстрел, Сирия.")
    assert many.relevance is not None and many.relevance.score == pytest.approx(logistic(1.5))


def test_sentence_and_around_scopes_look_near_the_hit(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  signals:\n"
        "    - name: in sentence\n      words: [troops]\n      in: sentence\n      weight: 1\n"
        "    - name: around\n      words: [context]\n      in: around\n      weight: 2\n"), morph)
    text = "Армия стоит. Фронт рядом. Начался вывод. Погода ясная. Обстрел был вчера."
    hit = only_hit(matcher, text)
    assert hit.relevance is not None
    # "армия" is two sentences away (not in the hit's sentence); "фронт" is next to it.
    assert [(e.name, e.weight, e.words) for e in hit.relevance.evidence] == [("around", 2.0, ("фронт",))]
    same = only_hit(matcher, "Начался вывод, армия уходит.")
    assert same.relevance is not None
    assert [(e.name, e.words) for e in same.relevance.evidence] == [("in sentence", ("армия",))]


def test_unless_cancels_a_signal_in_the_same_place(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  signals:\n    - name: money\n      words: [money]\n      in: around\n      unless: [attack]\n"
        "      weight: -3\n"), morph)
    plain = only_hit(matcher, "Вывод средств на карту.")
    assert plain.relevance is not None and plain.relevance.score == pytest.approx(logistic(-3))
    cancelled = only_hit(matcher, "Вывод средств после обстрела банка.")
    assert cancelled.relevance is not None and cancelled.relevance.score == pytest.approx(0.5)
    (evidence,) = cancelled.relevance.evidence
    assert evidence.weight == 0 and "cancelled by обстрел" in evidence.note


def test_positions_first_sentence_buried_and_repeated(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  signals:\n"
        "    - name: headline\n      position: first_sentence\n      weight: 1\n"
        "    - name: buried\n      position: buried\n      after: 2\n      min_sentences: 5\n"
        "      unless: [troops]\n      weight: -2\n"
        "    - name: repeated\n      position: repeated\n      weights: [0, 0, 0.5, 1]\n"), morph)
    first = only_hit(matcher, "🔥🔥🔥\nНачался вывод.\nПодробности позже.")
    assert first.relevance is not None  # an emoji line is not a sentence: the hit leads
    assert [e.name for e in first.relevance.evidence] == ["headline"]
    filler = "Погода. Дороги. Цены. Новости. "
    buried = only_hit(matcher, filler + "Потом был вывод. Всё.")
    assert buried.relevance is not None
    assert [(e.name, e.weight) for e in buried.relevance.evidence] == [("buried", -2.0)]
    assert "once, deep in a post of 6 sentences" in buried.relevance.evidence[0].note
    saved = only_hit(matcher, filler + "Потом был вывод, армия ушла. Всё.")
    assert saved.relevance is not None and saved.relevance.evidence[0].weight == 0  # unless
    twice = only_hit(matcher, "Вывод начался. Погода. Вывод продолжается. Вывести всех.")
    assert twice.relevance is not None
    assert [(e.name, e.weight) for e in twice.relevance.evidence] == [("headline", 1.0), ("repeated", 1.0)]


def test_bias_prior_and_threshold_make_the_score(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules("  alert_at: 0.8\n  bias: -1\n", prior=2.5), morph)
    hit = only_hit(matcher, "Вывод средств.")
    assert hit.relevance is not None
    assert hit.relevance.score == pytest.approx(logistic(1.5))
    assert hit.relevance.threshold == 0.8 and hit.alerts
    assert [(e.name, e.weight) for e in hit.relevance.evidence] == [("rule", 2.5)]
    assert describe(hit.relevance).splitlines() == [
        "relevance 82% (alert; alerts at 80%)",
        "    +2.50 rule (prior of w.pullout)",
    ]


def test_a_score_never_overflows(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  bias: -50\n  signals:\n    - name: x\n      words: [context]\n      weights: [-50]\n"), morph)
    hit = only_hit(matcher, "Вывод.")
    assert hit.relevance is not None and 0 <= hit.relevance.score < 1e-30 and not hit.alerts


def test_concepts_only_the_relevance_stage_uses_are_not_scanned_for_every_post(morph: Morphology) -> None:
    matcher = matcher_from_yaml(rules(
        "  signals:\n    - name: context\n      words: [context]\n      weight: 1\n"), morph)
    assert "context" not in {t.concept for t in matcher.terms}  # looked for after a hit only
    assert "pullout" in {t.concept for t in matcher.terms}
    assert matcher.match("ВСУ на фронте, обстрел.") == []  # no rule: nothing to weigh


# -- sentences -------------------------------------------------------------------------------


def test_sentences_are_split_at_line_breaks_and_sentence_punctuation() -> None:
    text = "**Заголовок**\n\nПервое предложение. Второе! Третье?\n—\nЧетвёртое… пятое"
    index = SentenceIndex(text)
    assert index.count == 6
    assert [index.of(text.index(w)) for w in ("Заголовок", "Первое", "Второе", "Третье", "Четвёртое", "пятое")] \
        == [0, 1, 2, 3, 4, 5]
    assert index.of(text.index("—")) == 3  # a line without letters belongs to the sentence before
    assert SentenceIndex("").count == 0
