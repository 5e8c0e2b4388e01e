"""Telegram send limits: token buckets, deferral, digests, flood waits, restarts.

Everything runs on a FakeClock: the tests advance simulated time and flush again,
so no test ever sleeps.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.card import (
    TELEGRAM_MESSAGE_LIMIT,
    AlertCard,
    build_card,
    digest_fit,
    render_digest_html,
    render_digest_text,
)
from bot.alerts.dispatcher import AlertDispatcher, DispatchReport, limiter_chat
from bot.alerts.ratelimit import (
    TELEGRAM_OVERALL,
    TELEGRAM_PER_CHAT,
    TELEGRAM_PER_GROUP,
    Limit,
    RateLimiter,
    TokenBucket,
    is_group,
)
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    Delivery,
    PermanentSendError,
    RecordingSender,
    TransientSendError,
    destination_of,
    is_silent,
    supports_digest,
)
from bot.domain import Alert, Severity
from bot.storage import Store

TEXT = "Начался отвод войск от Херсона, колонны техники уходят на левый берег"
GROUP = "telegram:-1001"
PRIVATE = "telegram:4242"

# -- helpers ------------------------------------------------------------------


def _router(destinations: Iterable[str] = (GROUP,)) -> AlertRouter:
    """Route 'r<i>' goes to the i-th destination; 'r0' is the default."""
    routes = {f"r{i}": dest for i, dest in enumerate(destinations)}
    return AlertRouter(routes, "r0")


async def _enqueue(
    store: Store, routes: Sequence[str], severity: Severity = Severity.HIGH, first: int = 0
) -> list[int]:
    """One post, hit and alert per entry of routes; returns the alert ids in order."""
    ids = []
    for i, route in enumerate(routes, start=first):
        post_id = (await store.add_post(make_post(TEXT, msg_id=1000 + i))).post_id
        hit = make_hit(TEXT, ["отвод"], severity=severity, route=route)
        (hit_id,) = await store.add_hits(post_id, [hit], "v1")
        alert_id = await store.enqueue_alert(hit_id, route)
        assert alert_id is not None
        ids.append(alert_id)
    return ids


@dataclass
class SingleOnlySender:
    """A sender without send_digest: the dispatcher must send alerts one by one."""

    inner: RecordingSender

    async def send(self, alert: Alert, card: AlertCard) -> None:
        await self.inner.send(alert, card)


async def _drain(
    dispatcher: AlertDispatcher,
    clock: FakeClock,
    sender: RecordingSender,
    total: int,
    step: float = 1.0,
    max_steps: int = 3000,
) -> list[DispatchReport]:
    """Flush, advance the clock by step, repeat until total alerts were delivered."""
    reports = []
    for _ in range(max_steps):
        reports.append(await dispatcher.flush())
        if len(sender.delivered_ids) >= total:
            return reports
        clock.advance(step)
    raise AssertionError(f"only {len(sender.delivered_ids)} of {total} delivered")


def _max_in_window(times: Sequence[datetime], seconds: float) -> int:
    """Most events in any half-open window [t, t + seconds)."""
    ordered = sorted(times)
    width = timedelta(seconds=seconds)
    return max((bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


def _assert_within_telegram_limits(deliveries: Sequence[Delivery]) -> None:
    """No chat, group or the bot as a whole ever went over Telegram's limits."""
    by_chat: dict[str, list[datetime]] = defaultdict(list)
    every: list[datetime] = []
    for delivery in deliveries:
        assert delivery.at is not None
        by_chat[limiter_chat(delivery.destination)].append(delivery.at)
        every.append(delivery.at)
    for chat, times in by_chat.items():
        assert _max_in_window(times, 1.0) <= 1, chat
        if is_group(chat):
            assert _max_in_window(times, 60.0) <= 20, chat
    assert _max_in_window(every, 1.0) <= 30


async def _statuses(store: Store, ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    result = {}
    for alert_id in ids:
        alert = await store.get_alert(alert_id)
        assert alert is not None
        result[alert_id] = (alert.status, alert.attempts)
    return result


def _cards(n: int, severity: Severity = Severity.HIGH) -> list[AlertCard]:
    hit = make_hit(TEXT, ["отвод", "Херсона"], severity=severity)
    posts = [make_post(TEXT, msg_id=i, date=T0 + timedelta(minutes=i)) for i in range(n)]
    return [build_card(post, hit) for post in posts]


# -- token bucket maths (pure) ----------------------------------------------------


def test_limits_match_telegram() -> None:
    assert (TELEGRAM_PER_CHAT.count, TELEGRAM_PER_CHAT.period) == (1, 1.0)
    assert (TELEGRAM_PER_GROUP.count, TELEGRAM_PER_GROUP.period) == (20, 60.0)
    assert (TELEGRAM_OVERALL.count, TELEGRAM_OVERALL.period) == (30, 1.0)
    assert is_group("-1001") and is_group("@channel")
    assert not is_group("4242") and not is_group("console")
    assert limiter_chat("telegram:-1001") == "-1001"
    assert limiter_chat("telegram:4242") == "4242"
    assert limiter_chat("telegram:somechannel") == limiter_chat("telegram:@somechannel")
    assert limiter_chat("telegram:somechannel") == "@somechannel"
    assert limiter_chat("console") == "console"
    with pytest.raises(ValueError):
        Limit(0, 1.0)
    with pytest.raises(ValueError):
        Limit(1, 0)


def test_per_chat_one_per_second(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    assert limiter.try_acquire("4242") == 0
    assert limiter.try_acquire("4242") == pytest.approx(1.0)
    clock.advance(0.4)
    # A refusal spends nothing: asking again only reports the shrinking wait.
    assert limiter.try_acquire("4242") == pytest.approx(0.6)
    assert limiter.wait_time("4242") == pytest.approx(0.6)
    assert limiter.try_acquire("777") == 0  # other chats are independent
    clock.advance(0.6)
    assert limiter.try_acquire("4242") == 0
    assert limiter.try_acquire("4242") == pytest.approx(1.0)


def test_private_chat_has_no_per_minute_limit(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    for _ in range(60):
        assert limiter.try_acquire("4242") == 0
        clock.advance(1)


def test_group_twenty_per_minute(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    for _ in range(20):
        assert limiter.try_acquire("-1001") == 0
        clock.advance(1)
    # 20 sent at t=0..19; the first token comes back at t=60.
    assert limiter.try_acquire("-1001") == pytest.approx(40.0)
    clock.advance(39.999)
    assert limiter.try_acquire("-1001") == pytest.approx(0.001)
    clock.advance(0.001)
    assert limiter.try_acquire("-1001") == 0
    assert limiter.wait_time("-1001") == pytest.approx(1.0)  # per chat, then t=61 for the group
    clock.advance(1)
    assert limiter.try_acquire("-1001") == 0


def test_overall_thirty_per_second(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    for chat in range(30):
        assert limiter.try_acquire(str(chat)) == 0
    assert limiter.try_acquire("31") == pytest.approx(1.0)
    clock.advance(0.5)
    assert limiter.try_acquire("32") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.try_acquire("31") == 0


def test_several_tokens_and_impossible_requests(clock: FakeClock) -> None:
    limiter = RateLimiter(clock, per_chat=None)
    assert limiter.try_acquire("-5", n=15) == 0
    assert limiter.try_acquire("-5", n=6) == pytest.approx(60.0)  # only 5 left
    assert limiter.try_acquire("-5", n=5) == 0
    with pytest.raises(ValueError):
        limiter.try_acquire("-5", n=21)  # more than a group may ever get at once
    with pytest.raises(ValueError):
        limiter.try_acquire("-5", n=0)
    bucket = TokenBucket(Limit(3, 10.0))
    bucket.take(T0, 2)
    assert bucket.available(T0) == 1
    assert bucket.wait(T0, 3) == pytest.approx(10.0)
    assert bucket.idle(T0 + timedelta(seconds=10))


def test_disabled_limits(clock: FakeClock) -> None:
    limiter = RateLimiter(clock, per_chat=None, per_group=None, overall=None)
    for _ in range(1000):
        assert limiter.try_acquire("-1001") == 0


def test_penalise_chat_and_global(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    limiter.penalise("-1001", 30)
    assert limiter.try_acquire("-1001") == pytest.approx(30.0)
    assert limiter.try_acquire("-2002") == 0
    limiter.penalise("-1001", 10)  # a shorter wait never shortens a longer one
    clock.advance(29)
    assert limiter.try_acquire("-1001") == pytest.approx(1.0)
    limiter.penalise(None, 5)
    assert limiter.try_acquire("-3003") == pytest.approx(5.0)
    assert limiter.try_acquire("-1001") == pytest.approx(5.0)
    limiter.penalise("-1001", 0)  # no-op
    clock.advance(5)
    assert limiter.try_acquire("-1001") == 0
    assert limiter.try_acquire("-3003") == 0


def test_clock_stepping_back_never_blocks_longer_than_a_period(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    assert limiter.try_acquire("-1001") == 0
    clock.advance(-3600)
    assert 0 < limiter.try_acquire("-1001") <= 60.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["-1", "-2", "3", "4"] + [str(i) for i in range(10, 50)]),
            st.integers(min_value=0, max_value=700),
        ),
        min_size=1,
        max_size=400,
    )
)
def test_granted_requests_never_exceed_limits(requests: list[tuple[str, int]]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    granted: list[Delivery] = []
    for chat, ms in requests:
        clock.advance(ms / 1000)
        if limiter.try_acquire(chat) == 0:
            granted.append(Delivery(clock(), f"telegram:{chat}", (), digest=False))
    _assert_within_telegram_limits(granted)


def test_limiter_state_stays_bounded(clock: FakeClock) -> None:
    limiter = RateLimiter(clock, overall=None)
    for chat in range(5000):
        assert limiter.try_acquire(f"-{chat}") == 0
        clock.advance(1)
    assert len(limiter._chats) + len(limiter._groups) < 2100


# -- store: deferral -------------------------------------------------------------


async def test_defer_moves_next_attempt_without_counting(store: Store, clock: FakeClock) -> None:
    first, second = await _enqueue(store, ["r0", "r0"])
    await store.defer(first, T0 + timedelta(seconds=30))
    assert [a.alert_id for a in await store.due_alerts(T0)] == [second]
    assert [a.alert_id for a in await store.due_alerts(T0 + timedelta(seconds=30))] == [
        first,
        second,
    ]
    alert = await store.get_alert(first)
    assert alert is not None
    assert (alert.status, alert.attempts, alert.last_error) == ("pending", 0, "rate limited")
    assert await store.defer_many([first, second], T0 + timedelta(seconds=5), "flood wait") == 2
    alert = await store.get_alert(second)
    assert alert is not None and (alert.attempts, alert.last_error) == (0, "flood wait")


async def test_mark_sent_many_and_non_pending(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _enqueue(store, ["r0"] * 3)
    assert await store.mark_sent_many(ids[:2]) == 2
    assert await _statuses(store, ids) == {
        ids[0]: ("sent", 1),
        ids[1]: ("sent", 1),
        ids[2]: ("pending", 0),
    }
    # Sent alerts never move again: not re-sent, not deferred.
    assert await store.mark_sent_many(ids) == 1
    assert await store.defer_many(ids, T0 + timedelta(hours=1)) == 0
    assert "were not pending" in caplog.text
    assert await store.mark_sent_many([]) == 0
    assert all(s == ("sent", 1) for s in (await _statuses(store, ids)).values())


# -- digest cards ----------------------------------------------------------------


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in {"b", "i", "code", "a"}
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text += data


def _well_formed(chunk: str) -> str:
    checker = _TagChecker()
    checker.feed(chunk)
    checker.close()
    assert checker.stack == []
    assert not re.search(r"&(?!(?:amp|lt|gt|quot|#x27|#\d+);)", chunk)
    return checker.text


def test_digest_text_lists_every_alert() -> None:
    cards = _cards(3, severity=Severity.CRITICAL)
    text = render_digest_text(cards)
    lines = text.splitlines()
    assert lines[0] == "3 alerts"
    assert len(lines) == 4
    for i, line in enumerate(lines[1:]):
        assert line.startswith("[CRITICAL] withdrawal · @frontnews · ")
        assert f"2024-05-01 12:0{i} UTC" in line
        assert "[[отвод]]" in line and "[[Херсона]]" in line
        assert line.endswith(f"https://t.me/frontnews/{i}")
    assert render_digest_text(cards[:1]).splitlines()[0] == "1 alert"


def test_digest_excerpt_is_short_and_one_line() -> None:
    long_text = "вступление\n\n" * 40 + "Начался отвод войск\nот Херсона" + " хвост" * 80
    post = make_post(long_text)
    card = build_card(post, make_hit(long_text, ["отвод"]))
    (line,) = render_digest_text([card]).splitlines()[1:]
    excerpt = line.split(" · ")[3]
    assert "[[отвод]]" in excerpt
    assert excerpt.startswith("… ") and excerpt.endswith(" …")
    assert len(excerpt) < 140


def test_digest_html_escapes_and_links() -> None:
    text = 'Отвод <b>войск</b> & "техники"'
    post = make_post(text, link="https://t.me/x/1?a=1&b=2")
    hit = make_hit(text, ["Отвод"], topic="<script>alert(1)</script>")
    evil = make_post(text, msg_id=2, link="javascript:alert(1)")
    chunks = render_digest_html([build_card(post, hit), build_card(evil, hit)])
    assert len(chunks) == 1
    (chunk,) = chunks
    plain = _well_formed(chunk)
    assert chunk.startswith("<b>2 alerts</b>\n<b>HIGH</b> · <b>&lt;script&gt;")
    assert "<b>Отвод</b> &lt;b&gt;войск&lt;/b&gt; &amp; &quot;техники&quot;" in chunk
    assert '<a href="https://t.me/x/1?a=1&amp;b=2">link</a>' in chunk
    assert "javascript:" not in re.findall(r'href="([^"]*)"', chunk)[0]
    assert chunk.count("<a ") == 1 and "javascript:alert(1)" in plain
    assert html.unescape(chunk).count("\n") == 2


def test_digest_html_splits_between_lines_under_limit() -> None:
    cards = _cards(60)
    chunks = render_digest_html(cards)
    assert len(chunks) > 1
    assert all(len(c.encode("utf-16-le")) // 2 <= TELEGRAM_MESSAGE_LIMIT for c in chunks)
    lines = [line for c in chunks for line in _well_formed(c).splitlines()]
    assert lines[0] == "60 alerts"
    assert len(lines) == 61
    assert all(line.startswith("HIGH · withdrawal · @frontnews") for line in lines[1:])
    # digest_fit: the largest prefix that is still one message.
    fit = digest_fit(cards)
    assert 1 < fit < 60
    assert len(render_digest_html(cards[:fit])) == 1
    assert len(render_digest_html(cards[: fit + 1])) == 2
    small = render_digest_html(cards, limit=600)
    assert all(len(c) <= 600 for c in small) and len(small) > len(chunks)


# -- dispatcher: deferral and digests -----------------------------------------------


async def test_rate_limited_alerts_are_deferred_not_counted(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 3)
    sender = RecordingSender(clock=clock)
    # max_attempts=1: had a deferral counted as an attempt, the alerts would fail.
    dispatcher = AlertDispatcher(
        store, sender, _router(), clock, limiter=RateLimiter(clock), max_attempts=1
    )
    assert await dispatcher.flush() == DispatchReport(sent=1, deferred=2)
    for alert_id in ids[1:]:
        alert = await store.get_alert(alert_id)
        assert alert is not None
        assert (alert.status, alert.attempts, alert.last_error) == ("pending", 0, "rate limited")
    clock.advance(0.5)
    assert await dispatcher.flush() == DispatchReport()  # not due yet
    clock.advance(0.5)
    assert await dispatcher.flush() == DispatchReport(sent=1, deferred=1)
    clock.advance(1)
    assert await dispatcher.flush() == DispatchReport(sent=1)
    assert sender.delivered_ids == ids
    assert [d.at for d in sender.deliveries] == [T0 + timedelta(seconds=s) for s in (0, 1, 2)]
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_burst_above_threshold_becomes_one_digest(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 8, severity=Severity.LOW)
    sender = RecordingSender(clock=clock)
    assert supports_digest(sender)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=RateLimiter(clock))
    assert await dispatcher.flush() == DispatchReport(sent=8, digests=1)
    (digest,) = sender.digests
    assert [a.alert_id for a in digest.alerts] == ids
    assert all(destination_of(a) == GROUP and is_silent(a) for a in digest.alerts)
    assert [c.severity for c in digest.cards] == [Severity.LOW] * 8
    assert sender.sent == [] and digest.at == T0
    clock.advance(3600)
    assert await dispatcher.flush() == DispatchReport()
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_threshold_boundary(store: Store, clock: FakeClock) -> None:
    five = await _enqueue(store, ["r0"] * 5)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock)  # no limiter
    assert await dispatcher.flush() == DispatchReport(sent=5)  # 5 is not MORE than 5
    six = await _enqueue(store, ["r0"] * 6, first=5)
    assert await dispatcher.flush() == DispatchReport(sent=6, digests=1)
    assert sender.delivered_ids == five + six
    off = AlertDispatcher(store, sender, _router(), clock, digest_threshold=None)
    await _enqueue(store, ["r0"] * 7, first=11)
    assert await off.flush() == DispatchReport(sent=7)
    assert len(sender.digests) == 1


async def test_sender_without_digest_gets_alerts_one_by_one(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 10)
    inner = RecordingSender(clock=clock)
    sender = SingleOnlySender(inner)
    assert not supports_digest(sender)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=RateLimiter(clock))
    await _drain(dispatcher, clock, inner, total=10)
    assert inner.digests == [] and inner.delivered_ids == ids
    _assert_within_telegram_limits(inner.deliveries)


async def test_oversized_burst_is_several_one_message_digests(
    store: Store, clock: FakeClock
) -> None:
    ids = await _enqueue(store, ["r0"] * 40)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock)  # no limiter
    report = await dispatcher.flush()
    assert report.sent == 40 and report.digests == len(sender.digests) >= 2
    assert sender.delivered_ids == ids
    for digest in sender.digests:
        assert len(render_digest_html(digest.cards)) == 1  # each digest is ONE message


async def test_group_burst_of_200_with_digests(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 200)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=RateLimiter(clock))
    reports = await _drain(dispatcher, clock, sender, total=200)
    assert sorted(sender.delivered_ids) == ids  # every alert exactly once
    assert sum(r.sent for r in reports) == 200
    assert sender.digests and sum(r.digests for r in reports) == len(sender.digests)
    assert all(len(render_digest_html(d.cards)) == 1 for d in sender.digests)
    _assert_within_telegram_limits(sender.deliveries)
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}
    clock.advance(3600)
    assert await dispatcher.flush() == DispatchReport()


async def test_group_burst_of_200_single_messages_obeys_twenty_per_minute(
    store: Store, clock: FakeClock
) -> None:
    ids = await _enqueue(store, ["r0"] * 200)
    inner = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(
        store, SingleOnlySender(inner), _router(), clock, limiter=RateLimiter(clock)
    )
    await _drain(dispatcher, clock, inner, total=200)
    assert inner.delivered_ids == ids  # in order, each once
    _assert_within_telegram_limits(inner.deliveries)
    last = inner.deliveries[-1].at
    assert last is not None and last - T0 >= timedelta(minutes=9)  # 10 minutes of 20
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_burst_of_200_across_40_chats(store: Store, clock: FakeClock) -> None:
    destinations = [f"telegram:-100{i}" if i % 2 else f"telegram:{5000 + i}" for i in range(40)]
    routes = [f"r{i % 40}" for i in range(200)]
    ids = await _enqueue(store, routes)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(
        store, sender, _router(destinations), clock, limiter=RateLimiter(clock)
    )
    await _drain(dispatcher, clock, sender, total=200, step=0.25)
    assert sorted(sender.delivered_ids) == ids
    assert sender.digests == []  # 5 per chat is not a burst
    _assert_within_telegram_limits(sender.deliveries)
    per_second = _max_in_window([d.at for d in sender.deliveries if d.at], 1.0)
    assert per_second == 30  # the overall limit is what paced this burst
    assert {destination_of(r.alert) for r in sender.sent} == set(destinations)
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_many_chats_with_bursts_mix_digests_and_singles(
    store: Store, clock: FakeClock
) -> None:
    destinations = [f"telegram:-100{i}" for i in range(40)]
    # Chat i gets i % 10 + 1 alerts: some bursts, some not.
    routes = [f"r{i}" for i in range(40) for _ in range(i % 10 + 1)]
    random.Random(7).shuffle(routes)
    ids = await _enqueue(store, routes)
    sender = RecordingSender(clock=clock)
    dispatcher = AlertDispatcher(
        store, sender, _router(destinations), clock, limiter=RateLimiter(clock), batch_size=250
    )
    await _drain(dispatcher, clock, sender, total=len(ids), step=0.5)
    assert sorted(sender.delivered_ids) == ids
    assert sender.digests and sender.sent
    _assert_within_telegram_limits(sender.deliveries)
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


# -- failures: digests, flood waits, crashes ----------------------------------------


async def test_failed_digest_keeps_alerts_pending_then_delivers(
    store: Store, clock: FakeClock
) -> None:
    ids = await _enqueue(store, ["r0"] * 7)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], TransientSendError("timeout"))
    dispatcher = AlertDispatcher(
        store, sender, _router(), clock, limiter=RateLimiter(clock), base_delay=10
    )
    assert await dispatcher.flush() == DispatchReport(retried=7)
    assert await _statuses(store, ids) == {i: ("pending", 1) for i in ids}
    clock.advance(10)
    assert await dispatcher.flush() == DispatchReport(sent=7, digests=1)
    assert sender.delivered_ids == ids
    assert await _statuses(store, ids) == {i: ("sent", 2) for i in ids}


async def test_unexpected_digest_error_retries(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 7)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], RuntimeError("bug"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=1)
    assert await dispatcher.flush() == DispatchReport(retried=7)
    clock.advance(1)
    # Nobody knows whether the digest left before the error: it goes out saying so.
    assert await dispatcher.flush() == DispatchReport(sent=7, digests=1, repeats=7)
    assert sender.delivered_ids == ids


async def test_refused_digest_falls_back_to_single_alerts(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 7)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], PermanentSendError("message is too long"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=RateLimiter(clock))
    # The refused digest's message slot goes to the oldest alert on its own.
    assert await dispatcher.flush() == DispatchReport(sent=1, deferred=6)
    assert sender.deliveries[0] == Delivery(T0, GROUP, (ids[0],), digest=False)
    await _drain(dispatcher, clock, sender, total=7)
    assert sorted(sender.delivered_ids) == ids
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}
    _assert_within_telegram_limits(sender.deliveries)


async def test_digest_to_a_gone_chat_fails_each_alert_on_its_own(
    store: Store, clock: FakeClock
) -> None:
    ids = await _enqueue(store, ["r0"] * 7)
    sender = RecordingSender(clock=clock)
    sender.fail_on(range(1, 20), PermanentSendError("chat not found"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock)  # no limiter
    report = await dispatcher.flush()
    assert report.failed == 7 and report.sent == 0
    assert await _statuses(store, ids) == {i: ("failed", 1) for i in ids}


async def test_flood_wait_pauses_that_chat_only(store: Store, clock: FakeClock) -> None:
    routes = ["r0", "r1", "r0", "r1", "r0"]
    ids = await _enqueue(store, routes)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], TransientSendError("FLOOD_WAIT_30", retry_after=30))
    dispatcher = AlertDispatcher(
        store, sender, _router([GROUP, PRIVATE]), clock, limiter=RateLimiter(clock), max_attempts=1
    )
    assert await dispatcher.flush() == DispatchReport(sent=1, deferred=4)
    flooded = await store.get_alert(ids[0])
    assert flooded is not None
    assert (flooded.status, flooded.attempts) == ("pending", 0)  # not counted as a failure
    assert flooded.last_error == "flood wait 30s"
    reports = await _drain(dispatcher, clock, sender, total=5)
    assert sum(r.failed for r in reports) == 0
    group_times = [d.at for d in sender.deliveries if d.destination == GROUP]
    assert all(t is not None and t >= T0 + timedelta(seconds=30) for t in group_times)
    private_times = [d.at for d in sender.deliveries if d.destination == PRIVATE]
    assert private_times == [T0, T0 + timedelta(seconds=1)]
    assert sorted(sender.delivered_ids) == ids
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_flood_wait_on_digest_defers_whole_burst(store: Store, clock: FakeClock) -> None:
    ids = await _enqueue(store, ["r0"] * 30)
    sender = RecordingSender(clock=clock)
    sender.fail_on([1], TransientSendError("flood", retry_after=30))
    limiter = RateLimiter(clock)
    dispatcher = AlertDispatcher(store, sender, _router(), clock, limiter=limiter)
    assert await dispatcher.flush() == DispatchReport(deferred=30)
    assert limiter.wait_time("-1001") == pytest.approx(30)
    for _ in range(29):
        clock.advance(1)
        assert await dispatcher.flush() == DispatchReport()
    await _drain(dispatcher, clock, sender, total=30)
    assert all(d.at is not None and d.at >= T0 + timedelta(seconds=30) for d in sender.deliveries)
    assert sorted(sender.delivered_ids) == ids
    assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}


async def test_crash_and_restart_never_resends(db_path: Path, clock: FakeClock) -> None:
    destinations = [GROUP, "telegram:-1002", PRIVATE]
    routes = [f"r{i % 3}" for i in range(150)]
    sender = RecordingSender(clock=clock)
    # The process dies during the 3rd send (a digest for the 3rd chat): the first
    # two were delivered and recorded in this very flush, the 3rd never left.
    sender.fail_on([3], asyncio.CancelledError())
    async with Store.open(db_path, clock=clock) as store:
        ids = await _enqueue(store, routes)
        dispatcher = AlertDispatcher(
            store, sender, _router(destinations), clock, limiter=RateLimiter(clock)
        )
        with pytest.raises(asyncio.CancelledError):
            await dispatcher.flush()
    before = list(sender.delivered_ids)
    assert len(sender.digests) == 2 and len(before) > 2
    # Restart at once: new store, new dispatcher, new (empty) limiter on the same file.
    async with Store.open(db_path, clock=clock) as store:
        statuses = await _statuses(store, ids)
        assert {i for i, (status, _) in statuses.items() if status == "sent"} == set(before)
        dispatcher = AlertDispatcher(
            store, sender, _router(destinations), clock, limiter=RateLimiter(clock)
        )
        await _drain(dispatcher, clock, sender, total=150)
        assert sorted(sender.delivered_ids) == ids  # nothing twice, nothing lost
        assert await _statuses(store, ids) == {i: ("sent", 1) for i in ids}
        clock.advance(3600)
        assert await dispatcher.flush() == DispatchReport()
