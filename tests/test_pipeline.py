"""Pipeline: store, match, record hits, enqueue alerts exactly once; errors stay per post.

Uses the real matcher compiled from a small rules file written below.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, CountingMatcher, FakeClock, make_post, matcher_from_yaml

from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.router import AlertRouter
from bot.alerts.senders import RecordingSender
from bot.domain import Hit, Post
from bot.matching import Morphology
from bot.pipeline import IngestResult, Pipeline
from bot.storage import Store

RULES_YAML = """
topics: {withdrawal: troops leaving, evacuation: people taken out}
defaults: {route: analysts}
routes: {analysts: default, quiet: default, nonexistent: default}
concepts:
  pullout: [отвод]
  evac: [эвакуация]
rules:
  - id: withdrawal.core
    topic: withdrawal
    severity: high
    match: pullout
  - id: evacuation.core
    topic: evacuation
    severity: low
    route: quiet
    match: evac
"""
ONLY_WITHDRAWAL = RULES_YAML.split("  - id: evacuation.core")[0]


def _router() -> AlertRouter:
    return AlertRouter({"analysts": "console", "quiet": "console"}, "analysts")


def _posts() -> list[Post]:
    return [
        make_post("Начался отвод войск", 1),
        make_post("Погода хорошая", 2),
        make_post("Отвод войск и эвакуация жителей", 3),
    ]


@pytest.fixture
def matcher(morph: Morphology) -> CountingMatcher:
    return CountingMatcher(matcher_from_yaml(RULES_YAML, morph))


@pytest.fixture
def pipeline(store: Store, matcher: CountingMatcher) -> Pipeline:
    return Pipeline(store, lambda: matcher, _router())


async def test_ingest_records_hits_and_alerts(pipeline: Pipeline, store: Store) -> None:
    results = [await pipeline.ingest(p) for p in _posts()]
    assert [r.new_post for r in results] == [True, True, True]
    assert [len(r.hits) for r in results] == [1, 0, 2]
    assert [r.alerts_enqueued for r in results] == [1, 0, 2]
    assert all(r.error is None for r in results)
    assert await store.counts() == {"channels": 1, "posts": 3, "hits": 3, "alerts": 3}
    recent = await store.recent_hits(10)
    assert {h.rule_id for h in recent} == {"withdrawal.core", "evacuation.core"}


async def test_replay_produces_no_second_alert(
    pipeline: Pipeline, store: Store, matcher: CountingMatcher, clock: FakeClock
) -> None:
    sender = RecordingSender()
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    for post in _posts():
        await pipeline.ingest(post)
    assert (await dispatcher.flush()).sent == 3
    matcher.calls.clear()
    replay = [await pipeline.ingest(p) for p in _posts()]
    assert [r.new_post for r in replay] == [False, False, False]
    assert sum(r.alerts_enqueued for r in replay) == 0
    assert matcher.calls == []  # unchanged posts are not matched again
    clock.advance(60)
    assert (await dispatcher.flush()).sent == 0
    assert len(sender.sent) == 2  # the two rules on post 3 share one card


async def test_edit_rematches_and_alerts_only_new_rules(pipeline: Pipeline, store: Store) -> None:
    await pipeline.ingest(make_post("Начался отвод войск", 1))
    edited = await pipeline.ingest(make_post("Начался отвод войск, идёт эвакуация", 1, edited=True))
    assert not edited.new_post and edited.text_changed
    assert [h.rule_id for h in edited.hits] == ["withdrawal.core", "evacuation.core"]
    assert edited.alerts_enqueued == 1  # only the rule that newly matched
    assert (await store.counts())["alerts"] == 2


async def test_matcher_is_fetched_per_post(store: Store, morph: Morphology) -> None:
    current = [matcher_from_yaml(ONLY_WITHDRAWAL, morph)]
    pipeline = Pipeline(store, lambda: current[0], _router())
    await pipeline.ingest(make_post("эвакуация", 1))
    current[0] = matcher_from_yaml(RULES_YAML, morph)
    result = await pipeline.ingest(make_post("эвакуация", 2))
    assert [h.rule_id for h in result.hits] == ["evacuation.core"]


async def test_unknown_route_uses_default(
    store: Store, clock: FakeClock, morph: Morphology
) -> None:
    # The rules file knows the route, the router (built from settings) does not.
    rules = ONLY_WITHDRAWAL.replace("severity: high", "severity: high\n    route: nonexistent")
    real = matcher_from_yaml(rules, morph)
    pipeline = Pipeline(store, lambda: real, _router())
    await pipeline.ingest(make_post("отвод", 1))
    (alert,) = await store.due_alerts(clock.now)
    assert alert.extra["route"] == "analysts"


async def test_bad_post_is_reported_and_stream_continues(
    pipeline: Pipeline, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    bad = make_post("отвод", 1, date=T0.replace(tzinfo=None))
    with caplog.at_level(logging.ERROR):
        results = [await pipeline.ingest(p) for p in [bad, make_post("отвод войск", 2)]]
    assert results[0].error is not None and "naive datetime" in results[0].error
    assert results[0].post_id is None
    assert results[1].error is None and results[1].alerts_enqueued == 1
    assert "failed to ingest post" in caplog.text


async def test_matcher_crash_rolls_back_post_so_replay_retries(
    store: Store, morph: Morphology
) -> None:
    class Exploding:
        version = "boom"

        def match(self, text: str) -> list[Hit]:
            raise RuntimeError("matcher bug")

    broken = Pipeline(store, lambda: Exploding(), _router())
    result = await broken.ingest(make_post("отвод", 1))
    assert result == IngestResult(post_id=None, new_post=False, error="RuntimeError: matcher bug")
    assert (await store.counts())["posts"] == 0
    real = matcher_from_yaml(RULES_YAML, morph)
    fixed = Pipeline(store, lambda: real, _router())
    assert (await fixed.ingest(make_post("отвод", 1))).alerts_enqueued == 1


async def test_restart_replay_on_same_database(
    db_path: Path, clock: FakeClock, morph: Morphology
) -> None:
    matcher = matcher_from_yaml(RULES_YAML, morph)
    for _ in range(2):  # two "runs" replaying the same feed
        async with Store.open(db_path, clock=clock) as store:
            pipeline = Pipeline(store, lambda: matcher, _router())
            for post in _posts():
                await pipeline.ingest(post)
            clock.advance(timedelta(minutes=1).total_seconds())
            counts = await store.counts()
    assert counts == {"channels": 1, "posts": 3, "hits": 3, "alerts": 3}
