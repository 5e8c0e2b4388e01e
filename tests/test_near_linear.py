"""NEAR on long posts: the indexed pairing finds exactly what trying every pair found,
and only the first MATCH_MAX_CHARS characters of a post are matched (the rest is kept).

The reference below is the evaluation as it was before it was indexed: every left
occurrence against every right one (|left| × |right| per NEAR, 30 s on a 1 MB post),
and the tag-only words around each occurrence walked in full. It stays here as the
oracle the faster code must agree with.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.bench.large_rules import large_rules_yaml
from bot.matching import Matcher, Morphology, build_matcher
from bot.matching.conditions import close
from bot.matching.matcher import (
    _MAX_OCCURRENCES,
    _WORD_MARKS,
    MATCH_MAX_CHARS,
    Occurrence,
    _Post,
    matched_part,
)
from bot.rules import load_rules, parse_rules
from bot.rules.model import And, Expr, Near, Not, Or, Ref

ROOT = Path(__file__).resolve().parents[1]


class ReferenceMatcher(Matcher):
    """The matcher with the NEAR evaluation as it was: all pairs, full walks."""

    def _eval(
        self, expr: Expr, concepts: dict[str, list[Occurrence]], post: _Post,
        windowed: bool = False, top: bool = False,
    ) -> tuple[bool, list[Occurrence]]:
        if isinstance(expr, Ref):
            occs = concepts.get(expr.name, [])
            if not windowed and expr.name in self._lazy and not post.lazy_done and not (top and occs):
                self._add_lazy(post, concepts)
                occs = concepts.get(expr.name, [])
            return bool(occs), occs
        if isinstance(expr, Not):
            return not self._eval(expr.operand, concepts, post, top=True)[0], []
        if isinstance(expr, And):
            all_occs: list[Occurrence] = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts, post, top=top)
                if not ok:
                    return False, []
                all_occs.extend(occs)
            return True, all_occs
        if isinstance(expr, Or):
            any_ok = False
            all_occs = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts, post, windowed, top)
                if ok:
                    any_ok = True
                    all_occs.extend(occs)
            return any_ok, all_occs
        assert isinstance(expr, Near)
        first, second = expr.left, expr.right
        if not expr.negated and self._has_lazy(first) and not self._has_lazy(second):
            first, second = second, first
        ok_l, left = self._eval(first, concepts, post)
        if not ok_l:
            return False, []
        if self._has_lazy(second) and not post.lazy_done:
            self._lazy_around(post, concepts, left, expr.distance)
            _, right = self._eval(second, concepts, post, windowed=True)
        else:
            _, right = self._eval(second, concepts, post)
        if expr.negated:
            kept = [a for a in left if not any(close(a, b, expr) for b in right)]
            return bool(kept), kept
        merged: dict[tuple[int, int], Occurrence] = {}
        for a in left:
            for b in right:
                if not close(a, b, expr):
                    continue
                key = (min(a.first, b.first), max(a.last, b.last))
                if key not in merged and len(merged) < _MAX_OCCURRENCES:
                    merged[key] = Occurrence(
                        key[0], key[1], a.raws + b.raws,
                        min(a.s_first, b.s_first), max(a.s_last, b.s_last),
                    )
        return bool(merged), list(merged.values())

    def _lazy_around(
        self, post: _Post, concepts: dict[str, list[Occurrence]], occs: list[Occurrence], n: int
    ) -> None:
        if post.lazy_done or not self._lazy_terms:
            return
        marks = post.word_marks
        for occ in occs:
            start = min(r.start for r in occ.raws) + 1
            pos = start
            for k in range(1, n + 1):
                we = marks.rfind(b"a", 0, pos - 1) + 1
                if we <= 1:
                    break
                ws = marks.rfind(b" ", 0, we) + 1
                self._lazy_word(post, concepts, occ.first - k, ws, we)
                pos = ws
            pos = start
            for tok in range(occ.first, occ.last + n + 1):
                m = _WORD_MARKS.search(marks, pos)
                if m is None:
                    break
                self._lazy_word(post, concepts, tok, m.start(), m.end())
                pos = m.end()


# Words the shipped and the large rules look for (troops, pulling out, places, villages
# by shape, sport and other vetoes, "we"), and filler; texts are drawn from them so that
# both sides of most NEARs occur many times, near and far from each other.
VOCABULARY = ["вывод", "войск", "выводят", "вывели", "отвод", "отошли", "отступили", "эвакуация", "эвакуируют", "эвакуации", "население", "жителей", "мирных", "ВСУ", "ВС", "РФ", "российских", "подразделения", "батальон", "бригада", "части", "из", "с", "от", "Сирии", "Херсона", "Херсон", "Работино", "Авдеевки", "Бахмута", "Красногоровку", "Олександрівка", "наши", "мы", "уходим", "покидаем", "позиции", "позиций", "техника", "колонна", "самолет", "Ил-76", "вертолеты", "матч", "тайм", "чемпионат", "футбол", "средств", "выводы", "эвакуатор", "вывод", "средств", "кошти", "виведення", "військ", "відійшли", "евакуація", "з", "міста", "troops", "withdraw", "withdrawal", "pull", "out", "evacuation", "of", "civilians", "from", "Syria", "Kherson", "base", "the", "a", "and", "in", "on", "after", "weather", "sun", "today", "news", "Moscow", "said", "that"]
SEPARATORS = (" ", " ", " ", " ", ", ", ". ", "\n", " — ", "! ")


def random_text(rng: random.Random, words: int) -> str:
    parts = []
    for _ in range(words):
        parts.append(rng.choice(VOCABULARY))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts)


def outcome(matcher: Matcher, text: str) -> tuple[object, ...]:
    analysis = matcher.analyse(text)
    return tuple(analysis.hits), tuple(analysis.suppressed)


@pytest.fixture(scope="module")
def pairs(morph: Morphology) -> list[tuple[Matcher, Matcher]]:
    """(matcher, reference) for the shipped rules and the large generated ones."""
    out = []
    for ruleset in (load_rules(ROOT / "config" / "rules.yaml"), parse_rules(large_rules_yaml(), "large")):
        out.append((build_matcher(ruleset, morph), ReferenceMatcher(ruleset, morph)))
    return out


def test_agrees_with_every_pair_on_random_texts(pairs: list[tuple[Matcher, Matcher]]) -> None:
    """600 texts of 5-600 words; long ones pass the 64-occurrence cap of a NEAR."""
    rng = random.Random(16)
    lengths = [rng.choice((5, 20, 60, 150, 300, 600)) for _ in range(300)]
    matched = 0
    for words in lengths:
        text = random_text(rng, words)
        for matcher, reference in pairs:
            got = outcome(matcher, text)
            assert got == outcome(reference, text), text
            matched += bool(got[0])
    assert matched > 300  # the texts do exercise the rules


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(SEPARATORS)), max_size=400))
def test_agrees_with_every_pair_on_generated_texts(
    pairs: list[tuple[Matcher, Matcher]], parts: list[tuple[str, str]]
) -> None:
    text = "".join(w + s for w, s in parts)
    for matcher, reference in pairs:
        assert outcome(matcher, text) == outcome(reference, text)


def test_agrees_on_a_long_post_with_repeated_terms(pairs: list[tuple[Matcher, Matcher]]) -> None:
    """Thousands of occurrences on each side of every NEAR (the reference takes a while)."""
    text = "Начался вывод войск из Сирии. Эвакуация населения из Херсона, матч. " * 150
    for matcher, reference in pairs:
        got = outcome(matcher, text)
        assert got[0] and got == outcome(reference, text)


# -- the cap on what is matched -------------------------------------------------------


def test_only_the_beginning_of_a_long_post_is_matched(morph: Morphology) -> None:
    ruleset = load_rules(ROOT / "config" / "rules.yaml")
    matcher = build_matcher(ruleset, morph, max_chars=2000)
    filler = "Погода сегодня хорошая, в Москве солнечно. " * 100  # 4,300 characters
    early = "Начался вывод войск из Сирии. " + filler
    late = filler + "Начался вывод войск из Сирии. "
    hits = matcher.match(early)
    assert hits and all(t.end <= 2000 and early[t.start : t.end] == t.surface for h in hits for t in h.terms)
    assert matcher.match(late) == []
    assert build_matcher(ruleset, morph).match(late)  # the default cap is far larger
    assert MATCH_MAX_CHARS >= 10 * 4096  # any Telegram post is matched whole


def test_the_cut_falls_between_words() -> None:
    text = "эвакуация " * 30
    cut = matched_part(text, 105)
    assert len(cut) <= 105 and text.startswith(cut) and cut.endswith("эвакуация")
    assert matched_part("ы" * 500, 100) == "ы" * 100  # no space near: cut where it must
    assert matched_part("short", 100) == "short"


async def test_a_long_post_is_stored_whole(tmp_path: Path, morph: Morphology) -> None:
    from conftest import make_post

    from bot.alerts.router import AlertRouter
    from bot.pipeline import Pipeline
    from bot.storage import Store

    matcher = build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph, max_chars=5000)
    text = "Начался вывод войск из Сирии. " + "Погода сегодня хорошая. " * 10_000
    async with Store.open(tmp_path / "db.sqlite3") as store:
        result = await Pipeline(store, lambda: matcher, AlertRouter({"default": "console"})).ingest(
            make_post(text)
        )
        assert result.hits and result.error is None
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        ((stored,),) = conn.execute("SELECT text FROM posts").fetchall()
    assert stored == text


def test_the_cap_is_a_setting() -> None:
    from bot.settings import SettingsError, settings_from_mapping

    assert settings_from_mapping({}).match_max_chars is None
    assert settings_from_mapping({"MILWATCH_MATCH_MAX_CHARS": "250000"}).match_max_chars == 250_000
    with pytest.raises(SettingsError, match="MILWATCH_MATCH_MAX_CHARS"):
        settings_from_mapping({"MILWATCH_MATCH_MAX_CHARS": "10"})


def test_matching_a_long_post_leaves_the_collector_as_it_was(morph: Morphology) -> None:
    """The cyclic collector waits while a long post is matched, then is as before."""
    import gc

    matcher = build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)
    text = "Начался вывод войск из Сирии. " * 1000
    assert gc.isenabled()
    assert matcher.match(text)
    assert gc.isenabled()
    gc.disable()
    try:
        assert matcher.match(text)
        assert not gc.isenabled()  # an application that turned it off keeps it off
    finally:
        gc.enable()
