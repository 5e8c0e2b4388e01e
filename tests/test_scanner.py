"""The candidate-word scan: looking up only the words it finds changes no result, and
posts without candidate words cost no lookups at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compiled import compiled_matcher
from bot.matching import Morphology, build_matcher
from bot.matching.scanner import romanised_heads, typo_heads
from bot.rules import load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "Начался вывод войск из Сирии.",
    "Вывод средств на карту за 15 минут.",
    "Тартус опустел, корабли ушли на рейд.",
    "Эвакуацыя семей военнослужащих с Хмеймима продолжается.",
    "Na Hmeimime idet evakuatsiya, nashi uhodyat.",
    "Rebyata, nashi ushli s pravogo berega, Kherson ostavili.",
    "Погода в Москве: снег, гололёд, до минус десяти.",
    "Окупанти тікають з лівобережжя, колони йдуть на південь.",
    "US troops withdrew from Niger; the last C-17 is wheels up.",
    "Hurricane evacuation orders for Tampa Bay.",
    "Вывели из строя два танка противника.",
    "Отступлние войск из Херсона началось.",  # a typo after the first letters
    "Эвкуация семей военных из Хмеймима.",  # a letter dropped near the start
    "Эвокуация посольства из Бейрута завершена.",  # a vowel swapped near the start
    "ВСУ оошли с позиций у Константиновки.",  # a suppletive form with a letter dropped
    "Группировка возвращается в пункты постоянной дислокации.",  # a phrase anchored mid-way
    "Сім'я військового евакуйована з Курахового, обов'язкова евакуація триває.",
    "Вывод: войска остаются. Ан-124s и Ил76 на перроне Хмеймима.",
    "Khmeimim today: two An-124s on the apron, Ka-52 blades removed, techs packing up.",
]


@pytest.fixture(scope="module")
def shipped(morph: Morphology) -> tuple[object, object]:
    rules = load_rules(ROOT / "config" / "rules.yaml")
    return compiled_matcher(rules, morph), compiled_matcher(rules, morph, exhaustive=True)


@pytest.mark.parametrize("text", TEXTS)
def test_scan_finds_what_looking_up_every_word_finds(shipped: tuple, text: str) -> None:
    scan, every = shipped
    got = [(h.rule_id, h.spans) for h in scan.match(text)]
    assert got == [(h.rule_id, h.spans) for h in every.match(text)]


def test_seeds_give_the_same_hits_either_way(shipped: tuple) -> None:
    import json

    scan, every = shipped
    for line in (ROOT / "seeds" / "posts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            text = json.loads(line)["text"]
            assert [(h.rule_id, h.spans) for h in scan.match(text)] == [
                (h.rule_id, h.spans) for h in every.match(text)
            ], text


def test_post_without_candidate_words_looks_nothing_up(shipped: tuple) -> None:
    scan, every = shipped
    text = "Погода в Москве: снег, гололёд, пробки до девяти утра."
    analysis = scan.analyse(text)
    assert analysis.words_looked_up == 0 and analysis.hits == [] and analysis.concepts == {}
    assert every.analyse(text).words_looked_up == 9


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


@pytest.mark.parametrize(
    ("match", "text", "hit"),
    [
        ("where", "Жара в Сирии.", True),  # a rule of place names alone still works
        ("where", "Жара повсюду.", False),
        ("NOT pullout AND where", "Сирия, Тартус: всё спокойно.", True),
        ("NOT pullout AND where", "Из Сирии вывели войска.", False),
        ("pullout NEAR/3 where", "Из Сирии вывели войска.", True),
        ("pullout NEAR/1 where", "Из Сирии спешно, ночью, вывели войска.", False),
        ("where NEAR/3 pullout", "Войска вывели из Сирии.", True),
        ("pullout AND where", "Войска вывели. Потом было лето в Сирии.", True),
    ],
)
def test_place_only_concepts_are_worked_out_when_a_rule_needs_them(
    morph: Morphology, match: str, text: str, hit: bool
) -> None:
    rules = parse_rules(RULES.replace("{match}", match), "t.yaml")
    scan = build_matcher(rules, morph)
    every = build_matcher(rules, morph, exhaustive=True)
    assert bool(scan.match(text)) is hit
    assert [h.spans for h in scan.match(text)] == [h.spans for h in every.match(text)]


def test_place_next_to_a_pullout_word_is_part_of_the_evidence(morph: Morphology) -> None:
    rules = parse_rules(RULES.replace("{match}", "pullout NEAR/3 where"), "t.yaml")
    (hit,) = build_matcher(rules, morph).match("Из Сирии вывели войска.")
    assert [t.surface for t in hit.terms] == ["Сирии", "вывели"]


def test_typo_variants_cover_dropped_doubled_swapped_and_sound_alike_letters() -> None:
    heads = typo_heads("эвакуац")
    assert {"эваку", "эвкуа", "эввак", "эвкау", "эвоку"} <= heads
    assert all(len(h) >= 4 for h in heads)


def test_romanisations_cover_common_spellings() -> None:
    assert {"khmei", "hmeim", "hmeym", "xmeim"} <= romanised_heads("хмеймим")
    assert {"voysk", "voisk"} <= romanised_heads("войск")


def test_every_occurrence_of_a_place_is_evidence(morph: Morphology) -> None:
    # Places are looked up once per distinct word; each place it occurs is reported.
    rules = parse_rules(RULES.replace("{match}", "pullout AND where"), "t.yaml")
    text = "Из Сирии вывели войска. В Сирии тихо; Сирии больше нечего ждать."
    (hit,) = build_matcher(rules, morph).match(text)
    assert [t.surface for t in hit.terms] == ["Сирии", "вывели", "Сирии", "Сирии"]
    assert hit.spans == build_matcher(rules, morph, exhaustive=True).match(text)[0].spans


@pytest.mark.parametrize(
    "word",
    ["херсона", "мали", "стали", "москвой", "києва", "дороге", "сирії", "усе", "тартус",
     "зеленолебедевки", "работино", "костянтинівку", "курахового", "готівки", "мандрівку",
     "подготовка", "падготовка"],
)
def test_place_reading_from_tags_agrees_with_full_analysis(word: str) -> None:
    fresh = Morphology()
    assert fresh.is_place(word) is Morphology().info(word).place


@pytest.mark.parametrize(
    ("word", "place"),
    [
        ("зеленолебедевки", True),  # unknown, a village's ending
        ("работино", True),
        ("малодубрівку", True),
        ("падготовка", True),  # a typo looks like a village too (typo matching still runs)
        ("костянтинівку", True),  # Ukrainian dictionary: a noun without plural, "-івка"
        ("курахового", True),
        ("готівки", False),  # "cash": has plural forms
        ("мандрівку", False),
        ("подготовка", False),  # known Russian word
        ("вывад", False),  # short
    ],
)
def test_village_names_without_a_dictionary_reading(morph: Morphology, word: str, place: bool) -> None:
    assert morph.info(word).place is place


@pytest.mark.parametrize(
    "word", ["херсона", "мали", "стали", "києва", "сирії", "дороге", "елки", "ушел", "війська", "вивели"]
)
def test_dictionary_words_read_like_pymorphy_parses_them(morph: Morphology, word: str) -> None:
    # Lemmas and place readings come from the dictionary entries directly; they must be
    # what pymorphy's full parse gives (ё-forms included: "елки" → ёлка → елка). A word
    # with Ukrainian letters that the Ukrainian dictionary knows is read as Ukrainian.
    import pymorphy3

    ru, uk = pymorphy3.MorphAnalyzer(lang="ru"), pymorphy3.MorphAnalyzer(lang="uk")
    read_as = [uk] if any(c in word for c in "іїєґ") and uk.word_is_known(word) else [ru, uk]
    expected, likeliest_place = {word}, False
    for analyzer in read_as:
        if analyzer.word_is_known(word):
            parses = analyzer.parse(word)
            expected |= {p.normal_form.replace("ё", "е") for p in parses}
            likeliest_place = likeliest_place or "Geox" in str(parses[0].tag)
    info = morph.info(word)
    assert info.known
    assert info.lemmas == expected
    assert info.place is likeliest_place
    assert Morphology().is_place(word) is likeliest_place


@pytest.mark.parametrize(
    "text",
    [
        "Объявлена эакуация жителей.",  # second letter dropped
        "Объявлена эвкауация жителей.",  # third and fourth letters swapped
        "Объявлена эвауация жителей.",  # fourth letter dropped
        "Объявлена эваккуация жителей.",  # fourth letter doubled
    ],
)
def test_typos_among_the_first_letters_reach_typo_matching(morph: Morphology, text: str) -> None:
    rules = parse_rules(RULES.replace("{match}", "pullout"), "t.yaml")
    (hit,) = build_matcher(rules, morph).match(text)
    assert hit.terms[0].kind == "fuzzy" and hit.terms[0].surface == text.split()[1]


def test_words_that_cannot_complete_a_rule_stop_before_phrases_are_checked(shipped: tuple) -> None:
    scan, every = shipped
    # "наши" is a term word, but no rule holds on it alone: nothing is worked out.
    text = "Наши ребята сегодня выиграли матч, болельщики довольны."
    analysis = scan.analyse(text)
    assert analysis.words_looked_up > 0 and analysis.concepts == {} and analysis.hits == []
    assert every.match(text) == []
    assert scan.analyse(text, all_concepts=True).concepts  # explain still lists them


@pytest.mark.parametrize(
    "text",
    [
        "Началась эвакуацияhttps://t.me/x",  # a link glued to the word before it
        "Началась эвакуацияwww.site.ru/evakuaciya",
        "эвакуация@chan_evakuaciya",  # a mention glued to it
        "Смотрите https://example.org/evakuaciya и @evakuaciya_news",  # only inside addresses
    ],
)
def test_words_glued_to_links_are_read_whole_and_addresses_are_not_words(morph: Morphology, text: str) -> None:
    rules = parse_rules(RULES.replace("{match}", "pullout"), "t.yaml")
    scan, every = build_matcher(rules, morph), build_matcher(rules, morph, exhaustive=True)
    hits = scan.match(text)
    assert bool(hits) is text.startswith(("Началась", "эвакуация@"))
    assert [h.spans for h in hits] == [h.spans for h in every.match(text)]


TERMS_ONLY = """
topics: {withdrawal: x}
concepts:
  c:
    ru: [{terms}]
    fuzzy: 0
rules:
  - id: r
    topic: withdrawal
    match: c
"""


@pytest.mark.parametrize(
    ("terms", "text", "surface"),
    [
        # A term no dictionary knows: its inflections still match by lemma, typo matching off.
        ("Хмеймим", "Самолёты ушли с Хмеймима.", "Хмеймима"),
        ("Хмеймим", "Колонна на Хмеймиме.", "Хмеймиме"),
        # A Russian term, a Ukrainian post: the same lemma in the other dictionary.
        ("нанести удар", "Вирішили нанести ударів по колоні.", "нанести ударів"),
    ],
)
def test_inflections_match_by_lemma_without_typo_matching(
    morph: Morphology, terms: str, text: str, surface: str
) -> None:
    rules = parse_rules(TERMS_ONLY.replace("{terms}", terms), "t.yaml")
    (hit,) = build_matcher(rules, morph).match(text)
    assert [(t.surface, t.kind) for t in hit.terms] == [(surface, "lemma")]
    assert hit.spans == build_matcher(rules, morph, exhaustive=True).match(text)[0].spans


def test_rules_are_evaluated_exactly_when_every_requirement_group_is_met(morph: Morphology) -> None:
    # The bit-indexed pre-selection must pick the same rules as checking each rule's
    # requirement groups against the concepts found, for any set of concepts.
    import random

    from bot.bench.large_rules import large_rules_yaml
    from bot.matching.conditions import requirements

    for ruleset in (load_rules(ROOT / "config" / "rules.yaml"), parse_rules(large_rules_yaml(seed=3), "<large>")):
        matcher = compiled_matcher(ruleset, morph)
        names = sorted(matcher._bit)
        needs = [requirements(r.match, matcher._lazy) for r in matcher.rules]
        rnd = random.Random(5)
        for _ in range(3000):
            present = set(rnd.sample(names, rnd.randint(0, min(len(names), 12))))
            expected = tuple(i for i, groups in enumerate(needs) if all(g & present for g in groups))
            assert matcher._todo(present)[0] == expected
