"""Nothing lost, nothing twice: cards stay whole, stops and hangs, alerts in doubt, dead senders.

The dispatcher runs against a real SQLite outbox; the sender is the recording test
double (RecordingSender), whose scripted failures stand for the network.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import T0, FakeClock, make_hit, make_post, matcher_from_yaml

from bot.alerts.dispatcher import AlertDispatcher, DispatchReport
from bot.alerts.ratelimit import RateLimiter
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    HANG,
    FatalSendError,
    PermanentSendError,
    RecordingSender,
    TransientSendError,
)
from bot.matching import Morphology
from bot.pipeline import Pipeline
from bot.storage import Store

TEXT = "Начался отвод войск от Херсона"
GROUP = "telegram:-1001"


def _router() -> AlertRouter:
    return AlertRouter({"analysts": GROUP}, "analysts")


async def _enqueue_posts(store: Store, posts: int, rules: int = 1) -> list[list[int]]:
    """posts posts, each hit by `rules` rules: the alert ids per post."""
    out = []
    for i in range(posts):
        post_id = (await store.add_post(make_post(TEXT, msg_id=100 + i))).post_id
        hits = [make_hit(TEXT, ["отвод"], rule_id=f"rule{r}") for r in range(rules)]
        hit_ids = await store.add_hits(post_id, hits, "v1")
        ids = [await store.enqueue_alert(h, "analysts") for h in hit_ids]
        out.append([i for i in ids if i is not None])
    return out


async def _statuses(store: Store, ids: list[int]) -> list[str]:
    return [(await store.get_alert(i)).status for i in ids]  # type: ignore[union-attr]


def _cards_per_post(sender: RecordingSender) -> dict[int, int]:
    """How many messages named each alert id (a card, or a line of a digest)."""
    seen: dict[int, int] = {}
    for delivery in sender.deliveries:
        for alert_id in delivery.marked:
            seen[alert_id] = seen.get(alert_id, 0) + 1
    return seen


# -- item 7: a failed digest never splits cards ------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        TransientSendError("timeout"),
        TransientSendError("FLOOD_WAIT_3", retry_after=3),
        RuntimeError("library bug"),
    ],
    ids=["transient", "flood-wait-without-limiter", "unexpected"],
)
async def test_a_failed_digest_keeps_every_card_whole(
    store: Store, clock: FakeClock, error: BaseException
) -> None:
    per_post = await _enqueue_posts(store, posts=6, rules=2)  # 6 cards of 2 alerts each
    sender = RecordingSender(clock=clock, chat_readable=True)
    sender.fail_on([1], error)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=3)
    assert (await dispatcher.flush()).retried == 12
    assert await dispatcher.flush() == DispatchReport()  # nobody split off in the meantime
    clock.advance(3)
    report = await dispatcher.flush()
    assert (report.sent, report.digests) == (12, 1)
    (digest,) = sender.deliveries
    assert digest.alert_ids == tuple(ids[0] for ids in per_post)  # one line per post
    assert _cards_per_post(sender) == {i: 1 for ids in per_post for i in ids}


async def test_a_rate_limited_card_waits_with_all_its_alerts(
    store: Store, clock: FakeClock
) -> None:
    (first, second) = await _enqueue_posts(store, posts=2, rules=3)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=RateLimiter(clock))
    assert await dispatcher.flush() == DispatchReport(sent=3, deferred=3)
    assert await dispatcher.flush() == DispatchReport()  # the second card's alerts wait together
    clock.advance(1)
    assert await dispatcher.flush() == DispatchReport(sent=3)
    assert [d.alert_ids for d in sender.deliveries] == [(first[0],), (second[0],)]
    assert _cards_per_post(sender) == {i: 1 for i in first + second}


# -- item 3: a stop finishes the send in progress and starts no other ---------------


async def test_stop_during_a_send_records_it_and_sends_nothing_more(
    store: Store, clock: FakeClock
) -> None:
    posts = await _enqueue_posts(store, posts=3)
    entered, release = asyncio.Event(), asyncio.Event()

    class SlowSender(RecordingSender):
        async def send(self, alert, card):  # type: ignore[no-untyped-def]
            entered.set()
            await release.wait()
            await super().send(alert, card)

    sender = SlowSender(clock=clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    flush = asyncio.create_task(dispatcher.flush())
    await entered.wait()
    dispatcher.request_stop()  # SIGTERM arrives while the first card is on its way
    release.set()
    assert await flush == DispatchReport(sent=1)
    assert await _statuses(store, [ids[0] for ids in posts]) == ["sent", "pending", "pending"]
    first = await store.get_alert(posts[0][0])
    rest = await store.get_alert(posts[1][0])
    assert first is not None and rest is not None
    assert rest.in_doubt_since is None  # never started: the next start sends it plainly
    assert await dispatcher.flush() == DispatchReport()


# -- item 4: a hung send does not hold up the alerts behind it ----------------------


async def test_a_hung_send_times_out_and_the_card_is_checked_before_it_goes_again(
    store: Store, clock: FakeClock
) -> None:
    posts = await _enqueue_posts(store, posts=3)
    sender = RecordingSender(clock=clock, chat_readable=True)
    sender.fail_on([1], HANG)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, send_timeout=0.05, base_delay=5)
    report = await dispatcher.flush()
    assert (report.retried, report.deferred) == (1, 2)
    hung = await store.get_alert(posts[0][0])
    assert hung is not None and hung.in_doubt_since is not None
    assert hung.last_error == "SendTimeout: send timed out after 0.05s"
    assert (await dispatcher.flush()).sent == 2  # the others did not wait for it
    clock.advance(5)
    assert (await dispatcher.flush()).sent == 1
    assert sender.reconciled == [posts[0][0]]  # the chat was checked: it never arrived
    assert [d.repeat for d in sender.deliveries] == [False, False, False]


async def test_a_card_in_doubt_that_did_arrive_is_not_sent_again(
    db_path: Path, clock: FakeClock
) -> None:
    sender = RecordingSender(clock=clock, chat_readable=True)
    sender.lost[1] = TransientSendError("connection reset", in_doubt=True)  # arrived, answer lost
    async with Store.open(db_path, clock=clock) as store:
        ((alert_id,),) = await _enqueue_posts(store, posts=1)
        dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=5)
        assert (await dispatcher.flush()).retried == 1
        clock.advance(5)
        assert await dispatcher.flush() == DispatchReport(reconciled=1)
        assert await _statuses(store, [alert_id]) == ["sent"]
    assert len(sender.deliveries) == 1


async def test_when_the_chat_cannot_be_checked_the_card_says_it_may_be_a_repeat(
    db_path: Path, clock: FakeClock
) -> None:
    sender = RecordingSender(clock=clock, chat_readable=False)
    sender.fail_on([1], asyncio.CancelledError())  # the process dies mid-send
    async with Store.open(db_path, clock=clock) as store:
        ((alert_id, companion),) = await _enqueue_posts(store, posts=1, rules=2)
        with pytest.raises(asyncio.CancelledError):
            await AlertDispatcher(store, sender, _router(), clock).flush()
    async with Store.open(db_path, clock=clock) as store:  # the next start
        report = await AlertDispatcher(store, sender, _router(), clock).flush()
        assert report == DispatchReport(sent=2, repeats=2)
        assert await _statuses(store, [alert_id, companion]) == ["sent", "sent"]
    (delivery,) = sender.deliveries
    assert delivery.repeat and delivery.marked == (alert_id, companion)


async def test_a_refused_retry_of_a_card_in_doubt_still_says_it_may_be_a_repeat(
    store: Store, clock: FakeClock
) -> None:
    await _enqueue_posts(store, posts=1)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], TransientSendError("timeout", in_doubt=True))
    sender.fail_on([2], TransientSendError("FLOOD_WAIT_5", retry_after=5))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=1)
    await dispatcher.flush()
    clock.advance(1)
    await dispatcher.flush()  # refused outright: this try surely did not arrive, the first may have
    clock.advance(5)
    assert await dispatcher.flush() == DispatchReport(sent=1, repeats=1)
    assert [d.repeat for d in sender.deliveries] == [True]


# -- item 4: a sender that can deliver nothing stops, says so once, keeps the alerts --


async def test_a_revoked_sender_stops_trying_keeps_alerts_and_tells_once(
    store: Store, clock: FakeClock
) -> None:
    posts = await _enqueue_posts(store, posts=8)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], FatalSendError("Telegram bot session unusable (AuthKeyUnregisteredError)"))
    told: list[str] = []

    async def tell(text: str) -> None:
        told.append(text)

    dispatcher = AlertDispatcher(store, sender, _router(), clock, on_sender_down=tell)
    for _ in range(3):
        report = await dispatcher.flush()
        clock.advance(60)
    assert report == DispatchReport(deferred=8)
    assert sender.calls == 1  # no retry hammers Telegram with a dead key
    assert told == ["Telegram bot session unusable (AuthKeyUnregisteredError)"]
    assert dispatcher.down == told
    ids = [ids[0] for ids in posts]
    assert await _statuses(store, ids) == ["pending"] * 8
    alert = await store.get_alert(ids[0])
    assert alert is not None and alert.in_doubt_since is None and alert.attempts == 0


async def test_a_permanent_refusal_of_a_digest_is_not_reported_as_given_up_by_the_dispatcher(
    store: Store, clock: FakeClock
) -> None:
    posts = await _enqueue_posts(store, posts=7)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], PermanentSendError("MESSAGE_TOO_LONG"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    report = await dispatcher.flush()
    assert report.failed == 0  # the digest was refused, its alerts were not given up
    for _ in range(3):
        await dispatcher.flush()
    assert sorted(sender.delivered_ids) == [ids[0] for ids in posts]


# -- one post, one card: its alerts are due at the same moment ------------------------


class TickingClock:
    """A clock that moves one millisecond at every reading (time passes during a write)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


async def test_a_flush_during_an_ingest_never_splits_a_posts_card(
    db_path: Path, morph: Morphology
) -> None:
    rules = """
topics: {withdrawal: troops leaving}
defaults: {route: analysts}
routes: {analysts: default}
concepts:
  pullout: [отвод]
  troops: [войско]
rules:
  - {id: a, topic: withdrawal, match: pullout}
  - {id: b, topic: withdrawal, match: troops}
  - {id: c, topic: withdrawal, match: pullout AND troops}
"""
    ticks = TickingClock()
    matcher = matcher_from_yaml(rules, morph)
    async with Store.open(db_path, clock=ticks) as store:
        pipeline = Pipeline(store, lambda: matcher, _router(), clock=ticks)
        assert (await pipeline.ingest(make_post(TEXT, 1))).alerts_enqueued == 3
        with closing(sqlite3.connect(db_path)) as conn:
            (first,) = conn.execute("SELECT MIN(next_attempt_at) FROM alerts").fetchone()
        # A flush whose clock read "now" while the post's alerts were being written.
        frozen = FakeClock(datetime.fromisoformat(first))
        sender = RecordingSender()
        assert (await AlertDispatcher(store, sender, _router(), frozen).flush()).sent == 3
    (card,) = sender.sent
    assert card.card.rule_id == "a + b + c"
