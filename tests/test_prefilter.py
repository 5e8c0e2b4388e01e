"""The Aho-Corasick prefilter skips posts no rule can match, and changes no result."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.matching import Morphology, build_matcher
from bot.rules import load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "Начался вывод войск из Сирии.",
    "Вывод средств на карту за 15 минут.",
    "Тартус опустел, корабли ушли на рейд.",
    "Эвакуацыя семей военнослужащих с Хмеймима продолжается.",
    "Na Hmeimime idet evakuatsiya, nashi uhodyat.",
    "Погода в Москве: снег, гололёд, до минус десяти.",
    "Окупанти тікають з лівобережжя, колони йдуть на південь.",
    "US troops withdrew from Niger; the last C-17 is wheels up.",
    "Hurricane evacuation orders for Tampa Bay.",
    "Вывели из строя два танка противника.",
    "Отступлние войск из Херсона началось.",  # a typo after the first letters
]


@pytest.fixture(scope="module")
def shipped(morph: Morphology) -> tuple[object, object]:
    rules = load_rules(ROOT / "config" / "rules.yaml")
    return build_matcher(rules, morph), build_matcher(rules, morph, prefilter=False)


@pytest.mark.parametrize("text", TEXTS)
def test_prefilter_changes_no_result_on_shipped_rules(shipped: tuple, text: str) -> None:
    with_pf, without = shipped
    got = [(h.rule_id, h.spans) for h in with_pf.match(text)]
    assert got == [(h.rule_id, h.spans) for h in without.match(text)]


def test_post_without_anchor_words_skips_analysis(shipped: tuple) -> None:
    with_pf, _ = shipped
    analysis = with_pf.analyse("Погода в Москве: снег, гололёд, до минус десяти.")
    assert analysis.tokens == [] and analysis.hits == []


RULES = """
topics: {withdrawal: x}
concepts:
  pullout: [вывести, эвакуация]
  where: [<place>]
rules:
  - id: r
    topic: withdrawal
    match: {match}
"""


def test_rule_anchored_only_on_place_names_disables_the_prefilter(morph: Morphology) -> None:
    rules = parse_rules(RULES.replace("{match}", "where OR NOT pullout AND where"), "t.yaml")
    assert build_matcher(rules, morph).prefilter is None


def test_anchor_is_the_selective_side_of_near(morph: Morphology) -> None:
    rules = parse_rules(RULES.replace("{match}", "pullout NEAR/5 where"), "t.yaml")
    matcher = build_matcher(rules, morph)
    assert matcher.prefilter is not None
    assert "вывес" in matcher.prefilter.literals or "выв" in str(matcher.prefilter.literals)
    # A typo after the first letters still reaches the fuzzy matcher.
    assert [h.rule_id for h in matcher.match("Эвакуацыя из Сирии")] == ["r"]
