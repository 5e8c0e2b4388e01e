"""The matcher: (a) engine semantics on small inline rule sets, (b) the shipped
config/rules.yaml on hand-written ru/uk/en posts (positives and hard negatives)."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.compiled import compiled_matcher
from bot.domain import Hit
from bot.matching import Matcher, Morphology, build_matcher
from bot.rules import parse_rules
from bot.rules.loader import load_rules

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "rules.yaml"

_CACHE: dict[tuple[str, str, str | None], Matcher] = {}


def rules_yaml(concepts: str, match: str, unless: str | None = None) -> str:
    """A one-rule file: `concepts` is one `name: {...}` per line, conditions are folded."""
    body = "\n".join(f"  {line.strip()}" for line in concepts.strip().splitlines())
    text = (
        "version: 1\n"
        "topics:\n  t: test topic\n"
        f"concepts:\n{body}\n"
        "rules:\n"
        "  - id: r\n"
        "    topic: t\n"
        f"    match: >-\n      {match}\n"
    )
    if unless is not None:
        text += f"    unless: >-\n      {unless}\n"
    return text


def engine(morph: Morphology, concepts: str, match: str, unless: str | None = None) -> Matcher:
    key = (concepts, match, unless)
    if key not in _CACHE:
        ruleset = parse_rules(rules_yaml(concepts, match, unless), "t.yaml")
        # The matcher as shipped (candidate words from the scan); tests/test_scanner.py
        # compares the scan with looking up every word.
        _CACHE[key] = build_matcher(ruleset, morph)
    return _CACHE[key]


def check_spans(text: str, hits: list[Hit]) -> None:
    """Every term match points at its own surface in the original text."""
    for hit in hits:
        for tm in hit.terms:
            assert 0 <= tm.start < tm.end <= len(text)
            assert text[tm.start : tm.end] == tm.surface


# =======================================================================================
# (a) ENGINE semantics
# =======================================================================================
LEMMA = "a: {ru: [вывести], uk: [виводити], en: [withdraw]}"
EXACT = 'a: {ru: ["выводы", "вывод войск"]}'
PREFIX = "a: {ru: [эвакуац*]}"
PHRASE = "a: {ru: [вывод войск]}"
AB = "a: {any: [альфа]}\nb: {any: [бета]}"
OUT = "a: {ru: [вывод]}\nb: {ru: [средства]}"
INCLUDE = 'a: {any: [альфа]}\nb: {any: ["@a", бета]}'
PLACE = "a: {any: [<place>]}"
VILLAGE = "a: {any: [<village>]}"
FUZZY = "a: {ru: [эвакуация, вывод, выводить, покидать]}"
NOFUZZY = "a: {fuzzy: 0, ru: [эвакуация, вывод]}"
EDITS = "a: {ru: [эвакуация~1], en: [withdraw~1]}"
TRANSLIT = "a: {ru: [эвакуация, Хмеймим, вывод войск]}"

ENGINE_CASES = [
    # lemma terms: every form of the listed word (aspect partners are other words)
    ("ru-past", LEMMA, "a", None, "Войска вывели ночью", True),
    ("ru-future", LEMMA, "a", None, "войска выведут", True),
    ("ru-participle", LEMMA, "a", None, "выведенные части", True),
    ("ru-infinitive", LEMMA, "a", None, "ВЫВЕСТИ", True),
    ("ru-other-aspect", LEMMA, "a", None, "войска выводят", False),
    ("ru-noun", LEMMA, "a", None, "вывод", False),
    ("uk-present", LEMMA, "a", None, "окупанти виводять", True),
    ("uk-past", LEMMA, "a", None, "виводили", True),
    ("en-past", LEMMA, "a", None, "Russia withdrew", True),
    ("en-participle", LEMMA, "a", None, "has withdrawn", True),
    ("en-gerund", LEMMA, "a", None, "withdrawing", True),
    ("en-3sg", LEMMA, "a", None, "withdraws", True),
    # quoted items: that exact form only (case and ё aside)
    ("exact-form", EXACT, "a", None, "Выводы", True),
    ("exact-other-form", EXACT, "a", None, "выводов", False),
    ("exact-lemma", EXACT, "a", None, "вывод", False),
    ("exact-phrase", EXACT, "a", None, "ВЫВОД ВОЙСК", True),
    ("exact-phrase-inflected", EXACT, "a", None, "выводе войск", False),
    # prefix*
    ("prefix-noun", PREFIX, "a", None, "Эвакуация", True),
    ("prefix-adjective", PREFIX, "a", None, "эвакуационный", True),
    ("prefix-bare", PREFIX, "a", None, "эвакуац", True),
    ("prefix-tow-truck", PREFIX, "a", None, "эвакуатор", False),
    # phrases: consecutive words, each in any form, in order
    ("phrase-inflected", PHRASE, "a", None, "при выводе войск", True),
    ("phrase-both-inflected", PHRASE, "a", None, "выводу войсками", True),
    ("phrase-reversed", PHRASE, "a", None, "войск вывод", False),
    ("phrase-gap", PHRASE, "a", None, "вывод наших войск", False),
    # NEAR/n: any order, token positions at most n apart, one sentence
    ("near-adjacent", AB, "a NEAR/3 b", None, "альфа бета", True),
    ("near-reversed", AB, "a NEAR/3 b", None, "бета альфа", True),
    ("near-exactly-n", AB, "a NEAR/3 b", None, "альфа x y бета", True),
    ("near-n-plus-1", AB, "a NEAR/3 b", None, "альфа x y z бета", False),
    ("near-reversed-n", AB, "a NEAR/3 b", None, "бета x y альфа", True),
    ("near-reversed-n-plus-1", AB, "a NEAR/3 b", None, "бета x y z альфа", False),
    ("near-comma", AB, "a NEAR/3 b", None, "альфа, бета", True),
    ("near-full-stop", AB, "a NEAR/3 b", None, "альфа. бета", False),
    ("near-newline", AB, "a NEAR/3 b", None, "альфа\nбета", False),
    ("near-semicolon", AB, "a NEAR/3 b", None, "альфа; бета", False),
    ("near-one-word", AB, "a NEAR/3 b", None, "альфа", False),
    # WITHIN/n crosses sentences, same distance
    ("within-full-stop", AB, "a WITHIN/3 b", None, "альфа. бета", True),
    ("within-newline", AB, "a WITHIN/3 b", None, "альфа\nбета", True),
    ("within-too-far", AB, "a WITHIN/3 b", None, "альфа. x y z бета", False),
    # A NOT NEAR/3 B: local exclusion; `unless`: whole-post veto
    ("notnear-excluded", OUT, "a NOT NEAR/3 b", None, "вывод средств", False),
    ("notnear-far", OUT, "a NOT NEAR/3 b", None, "вывод x y z средств", True),
    ("notnear-other-occurrence", OUT, "a NOT NEAR/3 b", None,
     "вывод средств один два три четыре вывод", True),
    ("notnear-alone", OUT, "a NOT NEAR/3 b", None, "вывод", True),
    ("unless-near", OUT, "a", "b", "вывод средств", False),
    ("unless-far", OUT, "a", "b", "вывод средств один два три четыре вывод", False),
    ("unless-other-sentence", OUT, "a", "b", "Вывод. Очень много других слов. Средства.", False),
    ("unless-absent", OUT, "a", "b", "вывод", True),
    # NOT, AND, OR
    ("and-not-yes", AB, "a AND NOT b", None, "альфа", True),
    ("and-not-no", AB, "a AND NOT b", None, "альфа бета", False),
    ("and-across-sentences", AB, "a AND b", None, "альфа. Много. Бета", True),
    ("and-missing", AB, "a AND b", None, "альфа", False),
    ("or-left", AB, "a OR b", None, "альфа", True),
    ("or-right", AB, "a OR b", None, "бета", True),
    ("or-none", AB, "a OR b", None, "гамма", False),
    ("grouping", AB, "(a OR b) AND NOT (a AND b)", None, "бета", True),
    ("grouping-both", AB, "(a OR b) AND NOT (a AND b)", None, "альфа бета", False),
    # @concept includes
    ("include-included", INCLUDE, "b", None, "альфа", True),
    ("include-own", INCLUDE, "b", None, "бета", True),
    ("include-not-reverse", INCLUDE, "a", None, "бета", False),
    # inline terms in a condition: "double" exact, 'single' any form
    ("inline-exact", AB, "\"выводы\" OR 'вывести'", None, "Выводы", True),
    ("inline-exact-other-form", AB, "\"выводы\" OR 'вывести'", None, "вывод", False),
    ("inline-any-form", AB, "\"выводы\" OR 'вывести'", None, "вывели", True),
    # <place>: any geographic name the dictionary knows
    ("place-syria", PLACE, "a", None, "из Сирии", True),
    ("place-tartus", PLACE, "a", None, "до Тартуса", True),
    ("place-kherson", PLACE, "a", None, "из Херсона", True),
    ("place-not-a-place", PLACE, "a", None, "со стола", False),
    # <village>: a place name shaped like a village's, written with a capital letter
    ("village-unknown-shape", VILLAGE, "a", None, "у Красногоровки", True),
    ("village-dictionary-shape", VILLAGE, "a", None, "из Новоалександровки", True),
    ("village-uk-dictionary", VILLAGE, "a", None, "біля Олександрівки", True),
    ("village-lower-case", VILLAGE, "a", None, "у новоалександровки", False),
    ("village-slang-lower-case", VILLAGE, "a", None, "кринжово вышло", False),
    ("village-not-a-village", VILLAGE, "a", None, "из Москвы", False),
    # typos of words no dictionary knows; real words never fuzzy-match
    ("fuzzy-evac", FUZZY, "a", None, "эвакуацыю", True),
    ("fuzzy-evac-vowel", FUZZY, "a", None, "эвокуация", True),
    ("fuzzy-vyvod", FUZZY, "a", None, "выводде", True),
    ("fuzzy-dict-vhodit", FUZZY, "a", None, "входит", False),
    ("fuzzy-dict-kidat", FUZZY, "a", None, "кидать", False),
    ("fuzzy-dict-vyhod", FUZZY, "a", None, "выход", False),
    ("fuzzy-dict-tow-truck", FUZZY, "a", None, "эвакуатор", False),
    ("fuzzy-short", FUZZY, "a", None, "выв", False),
    # fuzzy: 0 on a concept turns typo and transliteration matching off
    ("nofuzzy-typo", NOFUZZY, "a", None, "эвакуацыю", False),
    ("nofuzzy-translit", NOFUZZY, "a", None, "evakuatsiya", False),
    ("nofuzzy-typo-vyvod", NOFUZZY, "a", None, "выводде", False),
    ("nofuzzy-lemma-still", NOFUZZY, "a", None, "эвакуации", True),
    # word~1: at most one edit
    ("edits-ru-1", EDITS, "a", None, "эвакуацыя", True),
    ("edits-ru-2", EDITS, "a", None, "эвакуцыя", False),
    ("edits-en-insert", EDITS, "a", None, "withdraww", True),
    ("edits-en-delete", EDITS, "a", None, "witdraw", True),
    ("edits-en-transpose", EDITS, "a", None, "wihtdraw", False),
    ("edits-en-form", EDITS, "a", None, "withdrew", True),
    # transliteration of Cyrillic terms
    ("translit-evac-ts", TRANSLIT, "a", None, "evakuatsiya", True),
    ("translit-evac-c", TRANSLIT, "a", None, "evakuaciya", True),
    ("translit-hmeimim", TRANSLIT, "a", None, "Hmeimim", True),
    ("translit-khmeimim", TRANSLIT, "a", None, "Khmeimim", True),
    ("translit-hmeymim", TRANSLIT, "a", None, "Hmeymim", True),
    ("translit-phrase", TRANSLIT, "a", None, "vyvod voisk", True),
    ("translit-phrase-y", TRANSLIT, "a", None, "vyvod voysk", True),
    ("translit-unrelated", TRANSLIT, "a", None, "weather forecast", False),
]


@pytest.mark.parametrize(
    ("concepts", "match", "unless", "text", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ENGINE_CASES],
)
def test_engine(
    morph: Morphology, concepts: str, match: str, unless: str | None, text: str, expected: bool
) -> None:
    hits = engine(morph, concepts, match, unless).match(text)
    assert bool(hits) is expected, [(h.rule_id, [t.surface for t in h.terms]) for h in hits]
    check_spans(text, hits)


@pytest.mark.parametrize("text", ["Вывод. Войска готовы", "Вывод: войска готовы", "вывод\nвойск"])
def test_phrase_does_not_cross_a_sentence_end(morph: Morphology, text: str) -> None:
    assert engine(morph, PHRASE, "a").match(text) == []


_SEED_SCRIPT = """
from bot.matching.morph import Morphology
from bot.matching.matcher import build_matcher
from bot.rules.loader import parse_rules
y = "topics:\\n  t: x\\nconcepts:\\n  a: {ru: [вывод войск]}\\nrules:\\n  - id: r\\n    topic: t\\n    match: a\\n"
m = build_matcher(parse_rules(y, "t.yaml"), Morphology(use_ukrainian=False))
(hit,) = m.match("при выводе войск")
print(hit.words, [t.lemma for t in hit.terms])
"""


def test_reported_lemmas_do_not_depend_on_the_hash_seed() -> None:
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _SEED_SCRIPT], capture_output=True, text=True, env=env,
            cwd=ROOT, timeout=60, check=True,
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1, outputs


def test_unless_records_the_vetoed_rule(morph: Morphology) -> None:
    analysis = engine(morph, OUT, "a", "b").analyse("вывод средств")
    assert analysis.hits == []
    assert analysis.suppressed == ["r"]


@pytest.mark.parametrize(
    ("concepts", "text", "surface", "kind", "lemmas"),
    [
        (LEMMA, "Они вывели", "вывели", "lemma", {"вывести"}),
        (EXACT, "Выводы", "Выводы", "exact", {"выводы"}),
        (PREFIX, "эвакуационный", "эвакуационный", "prefix", {"эвакуационный"}),
        (PLACE, "из Сирии", "Сирии", "place", {"сирии"}),
        # which of the two readings is reported varies (see the hash-seed test below)
        (PHRASE, "при выводе войск", "выводе войск", "lemma", {"вывод войск", "вывод войско"}),
    ],
)
def test_term_match_kind_and_full_score(
    morph: Morphology, concepts: str, text: str, surface: str, kind: str, lemmas: set[str]
) -> None:
    (hit,) = engine(morph, concepts, "a").match(text)
    (tm,) = hit.terms
    assert (tm.surface, tm.kind, tm.score) == (surface, kind, 100.0)
    assert tm.lemma in lemmas
    assert text[tm.start : tm.end] == surface


@pytest.mark.parametrize(
    ("concepts", "text", "kind"),
    [
        (FUZZY, "эвакуацыю", "fuzzy"),
        (FUZZY, "выводде", "fuzzy"),
        (EDITS, "эвакуацыя", "fuzzy"),
        (EDITS, "witdraw", "fuzzy"),
        (TRANSLIT, "Khmeimim", "translit"),
    ],
)
def test_fuzzy_hits_report_kind_and_a_score_below_100(
    morph: Morphology, concepts: str, text: str, kind: str
) -> None:
    (hit,) = engine(morph, concepts, "a").match(text)
    kinds = {tm.kind for tm in hit.terms}
    assert kind in kinds
    for tm in hit.terms:
        assert tm.surface == text
        if tm.kind == "fuzzy":
            assert 50 <= tm.score < 100


def test_translit_score_is_a_percentage(morph: Morphology) -> None:
    (hit,) = engine(morph, TRANSLIT, "a").match("evakuatsiya")
    (tm,) = hit.terms
    assert tm.kind == "translit"
    assert 0 < tm.score <= 100


@pytest.mark.parametrize(
    ("text", "surfaces"),
    [
        ("Начался вывoд вo\u200bйск из Сирии", ["вывoд", "вo\u200bйск"]),
        ("\u200bВЫВОД\u200b войск", ["ВЫВОД", "войск"]),
        ("Срочно! В Ы В О Д войск", ["В Ы В О Д", "войск"]),
        ("Начался вы-\nвод вoйск", ["вы-\nвод", "вoйск"]),
        ("ＢЫВОД войск", ["ＢЫВОД", "войск"]),  # fullwidth Latin B as a look-alike of В
    ],
)
def test_spans_point_at_the_original_words(
    morph: Morphology, text: str, surfaces: list[str]
) -> None:
    hits = engine(morph, "a: {ru: [вывод]}\nb: {ru: [войско]}", "a NEAR/3 b").match(text)
    assert hits, text
    (hit,) = hits
    assert [t.surface for t in hit.terms] == surfaces
    assert [text[s:e] for s, e in hit.spans] == surfaces
    check_spans(text, hits)


def test_hit_spans_merge_and_words_dedupe(morph: Morphology) -> None:
    text = "вывод войск и ещё вывод войск"
    (hit,) = engine(morph, "a: {ru: [вывод]}\nb: {ru: [войско]}", "a NEAR/3 b").match(text)
    assert hit.spans == [(0, 5), (6, 11), (18, 23), (24, 29)]
    assert hit.words == ["вывод", "войско"]
    assert hit.rule_id == "r" and hit.topic == "t"


def test_match_is_stable_across_calls(morph: Morphology) -> None:
    m = engine(morph, FUZZY, "a")
    first = m.match("эвакуацыю объявили")
    assert m.match("эвакуацыю объявили") == first  # the per-word cache changes nothing


# =======================================================================================
# (b) SHIPPED RULES: config/rules.yaml on hand-written posts
# =======================================================================================
W = frozenset({"withdrawal"})
E = frozenset({"evacuation"})
WE = frozenset({"withdrawal", "evacuation"})
NONE: frozenset[str] = frozenset()


def rules_gap(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"RULES: {reason}")


def engine_bug(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"BUG: {reason}")


POSITIVES = [
    # --- withdrawal, ru: inflection and aspect pairs
    ("ru-noun-genitive", "Начался вывод войск из Сирии.", W),
    ("ru-future", "Войска выведут с базы до конца месяца.", W),
    ("ru-imperfective", "Россия выводит войска из Сирии.", W),
    ("ru-perfective", "Россия вывела войска из Сирии.", W),
    ("ru-retreat", "Подразделения ВСУ отступили из Авдеевки.", W),
    ("ru-leave-place", "Войска ушли из Херсона.", W),
    pytest.param("ru-reflexive", "Российские войска выводятся из Сирии.", W),
    # --- typos, transliteration, evasion
    ("ru-typo-vyvodde", "Выводде войск начался.", W),
    ("ru-typo-otstuplenie", "Началось отступлние войск из Херсона.", W),
    ("ru-translit", "vyvod voisk iz Sirii", W),
    ("ru-translit-y", "Vyvod voysk iz Sirii nachalsya.", W),
    ("ru-homoglyph", "Вывoд вoйск из Сирии.", W),
    ("ru-zero-width", "Вы\u200bвод вой\u200cск из Сирии.", W),
    ("ru-spaced", "В ы в о д войск из Сирии.", W),
    ("ru-hyphenation", "Войска покину-\nли базу Хмеймим.", W),
    ("ru-stress-mark", "Вы\u0301вод войск из Сирии.", W),
    # --- denials and euphemisms
    ("ru-denial", "Никакого вывода войск нет, заявили в Минобороны.", W),
    ("ru-denial-not-planned", "Вывод войск из Сирии не планируется.", W),
    ("ru-goodwill", "Отход от Киева — жест доброй воли.", W),
    ("ru-presence", "Сворачиваем присутствие в регионе.", W),
    ("ru-regroup", "Принято решение о перегруппировке войск.", W),
    ("ru-home-bases", "Группировка возвращается в пункты постоянной дислокации.", W),
    # --- "we", bases, equipment
    ("ru-ours-left-base", "Наши оставили базу.", W),
    ("ru-we-leave", "Мы уходим из Хмеймима, братья.", W),
    ("ru-base-emptied", "Тартус опустел.", W),
    ("ru-base-emptied-2", "База Хмеймим опустела.", W),
    ("ru-equipment-out", "С базы Хмеймим вывозят технику.", W),
    # --- withdrawal, uk
    ("uk-pullout", "Окупанти виводять війська з Херсона.", W),
    ("uk-noun", "Виведення військ із Сирії завершено.", W),
    ("uk-left-city", "Російські війська залишили Херсон.", W),
    pytest.param("uk-flee", "Окупанти тікають з лівобережжя.", W),
    # --- withdrawal, en
    ("en-withdrew", "Russia withdrew its troops from Syria.", W),
    ("en-withdrawing", "US forces are withdrawing from Niger.", W),
    ("en-denial", "No troop withdrawal from Syria, says Kremlin.", W),
    ("en-left-base", "Russian troops left Hmeimim.", W),
    ("en-leaving-country", "The Bundeswehr is leaving Mali.", W),
    ("en-emptied", "Hmeimim emptied, the base is deserted.", W),
    pytest.param("en-pulls-out-split", "Germany pulls its troops out of Mali.", W),
    pytest.param("en-flag-lowered", "The flag was lowered at Tartus.", W),
    # --- evacuation, ru
    ("ru-embassy", "Эвакуация посольства России из Бейрута.", E),
    ("ru-diplomats", "Дипломатов эвакуируют из Хартума.", E),
    ("ru-military-families", "Эвакуация семей военнослужащих с базы Хмеймим.", E),
    ("ru-evac-typo", "Эвакуацыю дипломатов начали из-за обстрелов.", E),
    ("ru-evac-translit", "evakuatsiya posolstva iz Beiruta", E),
    ("ru-evac-zero-width", "Эвакуа\u200bция посольства из-за обстрелов.", E),
    ("ru-evac-homoglyph", "Эвaкуaция дипломатов из Дамаска.", E),
    ("ru-civilians-corridor", "Мирных жителей вывезли из Мариуполя по гуманитарному коридору.", E),
    ("ru-border-shelling", "Жителей приграничья эвакуируют из-за обстрелов.", E),
    # --- evacuation, uk / en
    ("uk-embassy", "Евакуація посольства з Києва через обстріли.", E),
    ("uk-families", "Евакуація родин військових із Сирії.", E),
    ("en-embassy", "The embassy in Khartoum was evacuated amid fighting.", E),
    ("en-diplomats", "Evacuation of diplomats from Sudan.", E),
    ("en-spaced", "E V A C U A T I O N of the embassy in Beirut.", E),
    ("en-citizens", "Evacuation of citizens from Beirut amid Israeli strikes.", E),
    # --- both
    # "Нас эвакуируют, ждём борт." alone is kept quiet: no word of war around it (see
    # test_case_classes.QUIET_CASES); with one it alerts.
    ("ru-we-evacuated", "Нас эвакуируют с Хмеймима, ждём борт.", WE),
    ("en-last-flight", "The last C-17 took off from HKIA.", WE),
]

NEGATIVES = [
    # вывод / вывести in other senses
    ("ru-conclusion", "Вывод: рынок перегрет.", NONE),
    ("ru-conclusion-army", "Вывод: армия к зиме не готова.", NONE),
    pytest.param("ru-conclusion-troops", "Вывод: войска к зиме не готовы.", NONE),
    ("ru-conclusions", "Выводы комиссии по армии опубликованы.", NONE),
    ("ru-exercise-conclusion", "Главный вывод учений: войска готовы.", NONE),
    ("ru-withdraw-money", "Как вывести деньги с карты.", NONE),
    ("ru-withdraw-money-war", "Можно ли вывести деньги из банка во время войны?", NONE),
    ("ru-withdraw-funds", "Вывод средств с биржи приостановлен.", NONE),
    ("ru-out-of-action", "Противник вывел из строя два танка.", NONE),
    ("ru-out-of-action-sam", "ВСУ вывели из строя ЗРК противника.", NONE),
    ("uk-out-of-action", "Росіяни вивели з ладу три танки.", NONE),
    ("ru-orbit", "Спутник вывели на орбиту.", NONE),
    ("ru-orbit-military", "Ракету вывели на орбиту с космодрома Плесецк военные.", NONE),
    ("ru-binge", "Вывод из запоя на дому.", NONE),
    ("ru-childcare", "Уход за ребёнком до трёх лет.", NONE),
    ("ru-died", "Генерал ушёл из жизни на 70-м году.", NONE),
    ("ru-admin-vacation", "Админ уходит в отпуск.", NONE),
    ("ru-commander-vacation", "Командир бригады ушел в отпуск.", NONE),
    ("ru-company-market", "Компания уходит с российского рынка.", NONE),
    ("uk-company-market", "Компанія йде з ринку України.", NONE),
    ("en-company-market", "The company is leaving the Russian market.", NONE),
    ("ru-market-launch", "Вывод на рынок нового танка Т-90.", NONE),
    # civil evacuations and tow trucks
    ("ru-flood", "Эвакуация жителей из-за наводнения.", NONE),
    ("ru-wildfire", "Эвакуация из-за лесного пожара в Забайкалье, МЧС работает.", NONE),
    ("ru-gas-leak", "Из-за утечки газа эвакуировали жильцов дома.", NONE),
    ("ru-school-drill", "Учебная эвакуация в школе прошла успешно.", NONE),
    ("uk-flood", "Евакуація через повінь.", NONE),
    ("en-wildfire", "Wildfire evacuation orders for residents in California.", NONE),
    ("en-flood", "Flood evacuation in Germany after storm.", NONE),
    ("ru-tow-truck", "Эвакуатор увёз машину на штрафстоянку.", NONE),
    ("ru-tow-truck-zero-width", "Эвак\u200bуатор увёз машину военного.", NONE),
    ("ru-tow-truck-apc", "Эвакуатор увёз БТР с парада.", NONE),
    # troops arriving, advancing, exercising
    ("ru-troops-entered", "Войска вошли в город.", NONE),
    ("ru-entered-tartus", "Российские войска вошли в Тартус.", NONE),
    ("ru-advancing", "Армия наступает на Херсон.", NONE),
    ("ru-exercise", "Совместные учения войск России и Беларуси.", NONE),
    ("ru-il76-aid", "Ил-76 прибыл в Хмеймим с гуманитарной помощью.", NONE),
    ("ru-battalion-arrived", "Новый батальон прибыл в Тартус.", NONE),
    ("ru-pows-home", "Российские военные вернулись домой после обмена пленными.", NONE),
    ("en-arrived", "Troops arrived at the base.", NONE),
    ("en-deployed", "Army deployed additional forces to the front.", NONE),
    # English senses of withdraw / pull out
    ("en-symptoms", "Withdrawal symptoms after quitting nicotine.", NONE),
    ("en-customer-withdrawals", "Customer withdrawals from the bank hit a record.", NONE),
    ("en-race", "The senator withdraws from the race.", NONE),
    ("en-grain-deal", "Russia is pulling out of the grain deal.", NONE),
    ("en-grain-deal-2", "Russia withdraws from the grain deal.", NONE),
    ("en-treaty", "The US withdrew from the nuclear treaty.", NONE),
]


@pytest.fixture(scope="module")
def shipped(morph: Morphology) -> Matcher:
    return compiled_matcher(load_rules(SHIPPED), morph)


def _cases(rows: list) -> list:  # type: ignore[type-arg]
    out = []
    for row in rows:
        if hasattr(row, "marks"):  # pytest.param(id, text, expected, marks=...)
            case_id, text, expected = row.values
            out.append(pytest.param(text, expected, id=case_id, marks=row.marks))
        else:
            out.append(pytest.param(row[1], row[2], id=row[0]))
    return out


@pytest.mark.parametrize(("text", "expected"), _cases(POSITIVES))
def test_shipped_rules_positive(shipped: Matcher, text: str, expected: frozenset[str]) -> None:
    hits = shipped.match(text)
    assert frozenset(h.topic for h in hits if h.alerts) == expected, [h.rule_id for h in hits]
    check_spans(text, hits)


@pytest.mark.parametrize(("text", "expected"), _cases(NEGATIVES))
def test_shipped_rules_negative(shipped: Matcher, text: str, expected: frozenset[str]) -> None:
    hits = shipped.match(text)
    assert frozenset(h.topic for h in hits if h.alerts) == expected, [
        (h.rule_id, [t.surface for t in h.terms]) for h in hits
    ]


def test_shipped_rules_spans_with_evasion(shipped: Matcher) -> None:
    text = "Срочно: вы\u200bвoд вoйск из Сирии начался"
    hits = shipped.match(text)
    assert {h.topic for h in hits} == {"withdrawal"}
    check_spans(text, hits)
    surfaces = {t.surface for h in hits for t in h.terms}
    assert "вы\u200bвoд" in surfaces and "вoйск" in surfaces


# -- properties: any text, spans always exact and tight ---------------------------------
_CHUNKS = ["вывод", "войск", "эвакуация", "Сирии", "вывoд", "\u200b", " ", ".", "\n", "-\n",
           "э в а к", "у а ц и я", "withdraw", "troops", "Хмеймим", "\u0301", "ё", "Ｂ", "ß",
           "ﬁ", "-", "наши", "оставили", "базу", "«", "»", "evakuatsiya", "Ил-76", "последний"]


_POSTS = st.lists(st.sampled_from(_CHUNKS), max_size=25).map("".join)


@settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.one_of(st.text(max_size=80), _POSTS))
def test_property_shipped_rules_spans_are_exact(shipped: Matcher, text: str) -> None:
    for hit in shipped.match(text):
        for tm in hit.terms:
            assert 0 <= tm.start < tm.end <= len(text)
            assert text[tm.start : tm.end] == tm.surface
            assert tm.surface[0].isalnum()
            assert tm.surface[-1].isalnum() or unicodedata.combining(tm.surface[-1])
        for s, e in hit.spans:
            assert 0 <= s < e <= len(text)
