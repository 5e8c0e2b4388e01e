"""A post that fails to store is never skipped: retry queue, backoff, dead letters, replay.

Real SQLite files; the transient error is a real one: another connection holds the
database's write lock, as a second process (a backup, `sqlite3` in a shell) would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from conftest import FakeClock, make_post, matcher_from_yaml
from telegram_fakes import FakeTelegram, OfflineClient, text_for

from bot.alerts.router import AlertRouter
from bot.domain import Hit
from bot.matching import Matcher, Morphology
from bot.pipeline import Pipeline, RetryReport
from bot.settings import Settings
from bot.storage import Store
from bot.telegram.listener import ChannelListener, ListenerOptions

RULES_YAML = """
topics: {withdrawal: troops leaving}
defaults: {route: analysts}
routes: {analysts: default}
concepts:
  pullout: [отвод]
rules:
  - id: withdrawal.core
    topic: withdrawal
    severity: high
    match: pullout
"""
HIT = "Начался отвод войск"
MISS = "Погода хорошая"


def _router() -> AlertRouter:
    return AlertRouter({"analysts": "console"}, "analysts")


@contextmanager
def write_locked(db_path: Path) -> Iterator[None]:
    """Another connection holds the write lock: every write here fails 'database is locked'."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def stored_ids(db_path: Path) -> list[str]:
    with closing(sqlite3.connect(db_path)) as conn:
        return [
            r[0] for r in conn.execute("SELECT msg_id FROM posts ORDER BY CAST(msg_id AS INTEGER)")
        ]


def alert_count(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])


class BrokenOn:
    """The real matcher, raising on one text until fixed (a matcher bug on odd input)."""

    def __init__(self, inner: Matcher, text: str) -> None:
        self.inner = inner
        self.text: str | None = text

    @property
    def version(self) -> str:
        return self.inner.version

    def match(self, text: str) -> list[Hit]:
        if text == self.text:
            raise RuntimeError("matcher bug")
        return self.inner.match(text)


async def test_one_locked_write_loses_no_post(
    db_path: Path, clock: FakeClock, morph: Morphology
) -> None:
    matcher = matcher_from_yaml(RULES_YAML, morph)
    async with Store.open(db_path, clock=clock, busy_timeout_ms=20) as store:
        pipeline = Pipeline(store, lambda: matcher, _router(), clock=clock)
        await pipeline.ingest(make_post(MISS, 5))
        with write_locked(db_path):
            failed = await pipeline.ingest(make_post(HIT, 6))
        assert failed.error is not None and "database is locked" in failed.error
        assert not failed.dead_letter
        # The service's retry round (every few seconds) first writes down the failure.
        assert await pipeline.retry_due() == RetryReport()  # due only after the backoff
        (waiting,) = await store.list_ingest_failures()
        assert (waiting.msg_id, waiting.status, waiting.attempts) == ("6", "retrying", 1)
        assert waiting.post is not None and waiting.post.text == HIT

        # The next post moves the cursor, but reading would resume before post 6.
        await pipeline.ingest(make_post(MISS, 7))
        state = await store.get_channel("frontnews")
        assert state is not None and state.last_msg_id == 7
        assert await store.resume_point("frontnews") == 5

        clock.advance(pipeline.retry_delay(1))
        report = await pipeline.retry_due()
        assert (report.stored, report.failed, report.dead) == (1, 0, [])
        assert await store.list_ingest_failures() == []
        assert await store.resume_point("frontnews") == 7
    assert stored_ids(db_path) == ["5", "6", "7"]
    assert alert_count(db_path) == 1


async def test_when_even_the_failure_cannot_be_written_the_cursor_waits(
    db_path: Path, clock: FakeClock, morph: Morphology
) -> None:
    matcher = matcher_from_yaml(RULES_YAML, morph)
    async with Store.open(db_path, clock=clock, busy_timeout_ms=20) as store:
        pipeline = Pipeline(store, lambda: matcher, _router(), clock=clock)
        await pipeline.ingest(make_post(MISS, 5))
        with write_locked(db_path):  # a longer lock: posts 6 and 7 and their records fail
            assert (await pipeline.ingest(make_post(HIT, 6))).error
            assert (await pipeline.ingest(make_post(MISS, 7))).error
            assert await store.list_ingest_failures() == []  # nothing could be written
        state = await store.get_channel("frontnews")
        assert state is not None and state.last_msg_id == 5  # not past 6 or 7

        # Post 8 goes in together with the records of 6 and 7, never without them.
        await pipeline.ingest(make_post(MISS, 8))
        assert sorted(f.msg_id for f in await store.list_ingest_failures()) == ["6", "7"]
        assert await store.resume_point("frontnews") == 5
        clock.advance(pipeline.retry_delay(1))
        assert (await pipeline.retry_due()).stored == 2
    assert stored_ids(db_path) == ["5", "6", "7", "8"]
    assert alert_count(db_path) == 1


async def test_a_post_that_keeps_failing_becomes_a_dead_letter_and_can_be_replayed(
    db_path: Path, clock: FakeClock, morph: Morphology
) -> None:
    broken = BrokenOn(matcher_from_yaml(RULES_YAML, morph), HIT + " 6")
    async with Store.open(db_path, clock=clock) as store:
        pipeline = Pipeline(store, lambda: broken, _router(), clock=clock, max_attempts=3)
        for msg_id, text in ((5, MISS), (6, HIT + " 6"), (7, HIT)):
            await pipeline.ingest(make_post(text, msg_id))
        clock.advance(pipeline.retry_delay(1))
        assert (await pipeline.retry_due()).failed == 1
        clock.advance(pipeline.retry_delay(2))
        report = await pipeline.retry_due()
        assert [d.msg_id for d in report.dead] == ["6"]
        (dead,) = await store.list_ingest_failures("dead")
        assert dead.attempts == 3 and dead.last_error == "RuntimeError: matcher bug"
        # A dead letter no longer holds the channel back, and is not retried any more.
        assert await store.resume_point("frontnews") == 7
        clock.advance(3600)
        assert await pipeline.retry_due() == RetryReport()
        assert await store.ingest_failure_counts() == {"frontnews": {"retrying": 0, "dead": 1}}

        broken.text = None  # the bug is fixed; the operator replays the dead letters
        assert await store.requeue_ingest_failures() == 1
        assert (await pipeline.retry_due()).stored == 1
        assert await store.list_ingest_failures() == []
    assert stored_ids(db_path) == ["5", "6", "7"]
    assert alert_count(db_path) == 2


async def test_a_message_that_cannot_be_read_is_read_again_by_the_next_sweep(
    db_path: Path, clock: FakeClock, morph: Morphology
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    fake.post(10, 1)
    bad = fake.post(10, 2)
    good_date = bad.date
    bad.date = None  # no post can be built from it (yet)
    fake.post(10, 3)
    async with Store.open(db_path, clock=clock) as store:
        pipeline = Pipeline(
            store, lambda: matcher_from_yaml(RULES_YAML, morph), _router(), clock=clock
        )
        listener = ChannelListener(
            OfflineClient(fake),
            store,
            pipeline,
            Settings(channels=("front",)),
            clock,
            options=ListenerOptions(history_delay=0),
        )
        await listener.start()
        assert stored_ids(db_path) == ["1", "3"]
        (unreadable,) = await store.list_ingest_failures()
        assert (unreadable.msg_id, unreadable.post) == ("2", None)
        assert await store.resume_point("front") == 1

        bad.date = good_date  # whatever made it unreadable is gone
        fake.calls.clear()
        assert await listener.sweep("front")
        ((_, _, min_id, _),) = fake.names("iter_messages")
        assert min_id == 1  # read again from before the failed message
    assert stored_ids(db_path) == ["1", "2", "3"]
    assert alert_count(db_path) == 1  # text_for(3) matches; 1 and 2 do not
    assert text_for(3).startswith("Начался")
