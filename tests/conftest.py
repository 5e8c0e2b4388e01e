"""Shared fixtures: a real SQLite store in tmp_path, a settable clock, post/hit builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.compiled import compiled_matcher, keep_compiled
from bot.domain import Hit, Post, Severity, TermMatch
from bot.matching import Matcher, Morphology
from bot.rules import parse_rules
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


@pytest.fixture(scope="session")
def morph() -> Morphology:
    """Dictionaries load once per test session (~0.1 s each time otherwise)."""
    return Morphology()


@pytest.fixture(scope="session", autouse=True)
def share_compiled_rules() -> Iterator[None]:
    """Compile each rules text once per session, in tests and in the code they drive.

    The shipped rules take ~1 s to compile and the suite needs them in some 200 places;
    a service keeps only two (bot/compiled.py).
    """
    keep_compiled(12)
    yield
    keep_compiled(2)


def matcher_from_yaml(yaml_text: str, morph: Morphology) -> Matcher:
    """A real matcher compiled from a rules file written inline in a test."""
    return compiled_matcher(parse_rules(yaml_text, "test-rules.yaml"), morph)


@dataclass
class CountingMatcher:
    """The real matcher, counting the texts it is asked to match (to prove skips)."""

    inner: Matcher
    calls: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.inner.version

    def match(self, text: str) -> list[Hit]:
        self.calls.append(text)
        return self.inner.match(text)
