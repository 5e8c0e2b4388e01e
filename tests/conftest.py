"""Shared fixtures: a real SQLite store in tmp_path, a settable clock, post/hit builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Hit, Post, Severity, TermMatch
from bot.storage import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "test.sqlite3"


@pytest.fixture
async def store(db_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    async with Store.open(db_path, clock=clock) as opened:
        yield opened


def make_post(
    text: str,
    msg_id: str | int = 1,
    channel: str = "frontnews",
    date: datetime = T0,
    **kwargs: Any,
) -> Post:
    """A Post with sensible defaults."""
    return Post(channel=channel, msg_id=str(msg_id), date=date, text=text, **kwargs)


def make_hit(
    text: str,
    words: list[str],
    rule_id: str = "withdrawal.core",
    topic: str = "withdrawal",
    severity: Severity = Severity.HIGH,
    route: str = "analysts",
) -> Hit:
    """A Hit whose terms are the first occurrence of each word in text."""
    terms = []
    for word in words:
        start = text.index(word)
        terms.append(
            TermMatch(
                concept="",
                term=word,
                surface=word,
                start=start,
                end=start + len(word),
                kind="exact",
                lemma=word.lower(),
            )
        )
    return Hit(rule_id=rule_id, topic=topic, severity=severity, route=route, terms=tuple(terms))


@dataclass(frozen=True)
class KeywordRuleForTests:
    """One stand-in rule: fires when any keyword occurs (case-insensitive substring)."""

    rule_id: str
    topic: str
    keywords: tuple[str, ...]
    severity: Severity = Severity.HIGH
    route: str = "analysts"


@dataclass
class KeywordMatcherForTests:
    """STAND-IN for the real matcher (bot.matching.build_matcher) in pipeline tests only.

    Satisfies bot.pipeline.MatcherLike: case-insensitive substring search, no
    morphology. Replace with the real matcher once bot.matching/bot.rules land.
    """

    rules: list[KeywordRuleForTests]
    version: str = "test-v1"
    calls: list[str] = field(default_factory=list)

    def match(self, text: str) -> list[Hit]:
        self.calls.append(text)
        folded = text.lower()
        hits: list[Hit] = []
        for rule in self.rules:
            terms: list[TermMatch] = []
            for keyword in rule.keywords:
                start = folded.find(keyword.lower())
                while start != -1:
                    end = start + len(keyword)
                    terms.append(
                        TermMatch("", keyword, text[start:end], start, end, "exact", keyword)
                    )
                    start = folded.find(keyword.lower(), end)
            if terms:
                hits.append(Hit(rule.rule_id, rule.topic, rule.severity, rule.route, tuple(terms)))
        return hits
