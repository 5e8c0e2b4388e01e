"""Outbox dispatcher: delivery, retries with backoff, permanent failures, crash safety."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FakeClock, make_hit, make_post

from bot.alerts.dispatcher import AlertDispatcher, DispatchReport
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    ConsoleSender,
    PermanentSendError,
    RecordingSender,
    TransientSendError,
    destination_of,
    is_silent,
)
from bot.domain import Severity
from bot.storage import Store

TEXT = "Начался отвод войск от Херсона"


def _router() -> AlertRouter:
    return AlertRouter({"analysts": "console", "urgent": "telegram:-1001"}, "analysts")


async def _enqueue(
    store: Store, n: int = 1, severity: Severity = Severity.HIGH, route: str = "analysts"
) -> list[int]:
    ids = []
    for i in range(n):
        post_id = (await store.add_post(make_post(TEXT, msg_id=100 + i))).post_id
        hit = make_hit(TEXT, ["отвод"], severity=severity, route=route)
        (hit_id,) = await store.add_hits(post_id, [hit], "v1")
        alert_id = await store.enqueue_alert(hit_id, route)
        assert alert_id is not None
        ids.append(alert_id)
    return ids


async def test_sends_once_and_never_resends(store: Store, clock: FakeClock) -> None:
    (alert_id,) = await _enqueue(store)
    sender = RecordingSender()
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(sent=1)
    clock.advance(3600)
    assert await dispatcher.flush() == DispatchReport()
    assert len(sender.sent) == 1
    record = sender.sent[0]
    assert record.alert.alert_id == alert_id
    assert destination_of(record.alert) == "console" and not is_silent(record.alert)
    assert [f.text for f in record.card.excerpt if f.highlight] == ["отвод"]
    stored = await store.get_alert(alert_id)
    assert stored is not None and stored.status == "sent"


async def test_transient_error_is_retried_later_not_lost(store: Store, clock: FakeClock) -> None:
    (alert_id,) = await _enqueue(store)
    sender = RecordingSender()
    sender.fail_on([1, 2], TransientSendError("timeout"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=10, max_delay=15)
    assert await dispatcher.flush() == DispatchReport(retried=1)
    assert await dispatcher.flush() == DispatchReport()  # not due yet
    clock.advance(10)
    assert await dispatcher.flush() == DispatchReport(retried=1)
    clock.advance(14)
    assert await dispatcher.flush() == DispatchReport()  # 2nd backoff: 20s capped to 15s
    clock.advance(1)
    assert await dispatcher.flush() == DispatchReport(sent=1)
    stored = await store.get_alert(alert_id)
    assert stored is not None and (stored.status, stored.attempts) == ("sent", 3)
    assert len(sender.sent) == 1


async def test_retry_after_is_honoured_and_throttles_sender(store: Store, clock: FakeClock) -> None:
    await _enqueue(store, n=3)
    sender = RecordingSender()
    sender.fail_on([1], TransientSendError("flood wait", retry_after=42))
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(retried=1, deferred=2)
    assert await dispatcher.flush() == DispatchReport(sent=2)
    clock.advance(41)
    assert await dispatcher.flush() == DispatchReport()
    clock.advance(1)
    assert await dispatcher.flush() == DispatchReport(sent=1)


async def test_unexpected_exception_counts_as_transient(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _enqueue(store)
    sender = RecordingSender()
    sender.fail_on([1], RuntimeError("library bug"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, base_delay=5)
    with caplog.at_level(logging.ERROR):
        assert await dispatcher.flush() == DispatchReport(retried=1)
    assert "unexpected send error" in caplog.text
    clock.advance(5)
    # Nobody knows whether the card left before the error: it goes out saying so.
    assert await dispatcher.flush() == DispatchReport(sent=1, repeats=1)
    assert [d.repeat for d in sender.deliveries] == [True]


async def test_permanent_error_marks_failed(store: Store, clock: FakeClock) -> None:
    (alert_id,) = await _enqueue(store)
    sender = RecordingSender()
    sender.fail_on([1], PermanentSendError("chat not found"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(failed=1)
    clock.advance(86400)
    assert await dispatcher.flush() == DispatchReport()
    stored = await store.get_alert(alert_id)
    assert stored is not None and stored.status == "failed"
    assert stored.last_error == "PermanentSendError: chat not found"
    assert sender.calls == 1


async def test_max_attempts_gives_up(store: Store, clock: FakeClock) -> None:
    (alert_id,) = await _enqueue(store)
    sender = RecordingSender()
    sender.fail_on([1, 2], TransientSendError("down"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock, max_attempts=2, base_delay=1)
    assert await dispatcher.flush() == DispatchReport(retried=1)
    clock.advance(1)
    assert await dispatcher.flush() == DispatchReport(failed=1)
    stored = await store.get_alert(alert_id)
    assert stored is not None and stored.status == "failed"


async def test_crash_after_send_no_duplicate_on_restart(db_path: Path, clock: FakeClock) -> None:
    sender = RecordingSender(chat_readable=True)
    # The process "dies" during the 2nd send (CancelledError is what a kill looks
    # like inside asyncio): alert 1 was sent and recorded, alert 2 was not sent.
    sender.fail_on([2], asyncio.CancelledError())
    async with Store.open(db_path, clock=clock) as store:
        first, second = await _enqueue(store, n=2)
        with pytest.raises(asyncio.CancelledError):
            await AlertDispatcher(store, sender, _router(), clock).flush()
    # Restart: a new store and a new dispatcher on the same database file.
    async with Store.open(db_path, clock=clock) as store:
        report = await AlertDispatcher(store, sender, _router(), clock).flush()
        assert report == DispatchReport(sent=1)
        assert await AlertDispatcher(store, sender, _router(), clock).flush() == DispatchReport()
    # Alert 2 was in doubt: the chat was checked first and showed it never arrived.
    assert sender.reconciled == [second]
    assert [r.alert.alert_id for r in sender.sent] == [first, second]
    assert [d.repeat for d in sender.deliveries] == [False, False]


async def test_routes_senders_and_silence(store: Store, clock: FakeClock) -> None:
    await _enqueue(store, severity=Severity.LOW, route="urgent")
    console, telegram = RecordingSender(), RecordingSender()
    dispatcher = AlertDispatcher(
        store, {"console": console, "telegram": telegram}, _router(), clock
    )
    assert await dispatcher.flush() == DispatchReport(sent=1)
    (record,) = telegram.sent
    assert destination_of(record.alert) == "telegram:-1001" and is_silent(record.alert)
    assert console.sent == []


async def test_missing_sender_fails_alert(store: Store, clock: FakeClock) -> None:
    await _enqueue(store, route="urgent")
    dispatcher = AlertDispatcher(store, {"console": RecordingSender()}, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(failed=1)


async def test_unknown_route_goes_to_default_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = _router()
    with caplog.at_level(logging.WARNING):
        assert router.destination("typo") == "console"
        assert router.route_for("typo") == "analysts"
    assert caplog.text.count("unknown alert route 'typo'") == 1
    with pytest.raises(ValueError):
        AlertRouter({"a": "console"}, "missing")


async def test_console_sender_prints_card(store: Store, clock: FakeClock) -> None:
    await _enqueue(store, severity=Severity.LOW)
    stream = io.StringIO()
    await AlertDispatcher(store, ConsoleSender(stream), _router(), clock).flush()
    out = stream.getvalue()
    assert out.startswith("--- card 1 (silent)\n")
    assert "[[отвод]]" in out and "[LOW]" in out


async def test_rules_firing_on_one_post_share_one_card(store: Store, clock: FakeClock) -> None:
    """Three rules on one post: three outbox rows, one message naming all three."""
    post_id = (await store.add_post(make_post(TEXT, msg_id=7))).post_id
    hits = [
        make_hit(TEXT, ["отвод"], rule_id="withdrawal.a", severity=Severity.LOW),
        make_hit(TEXT, ["войск"], rule_id="withdrawal.b", severity=Severity.HIGH),
        make_hit(TEXT, ["Херсона"], rule_id="evacuation.c", topic="evacuation", severity=Severity.LOW),
    ]
    hit_ids = await store.add_hits(post_id, hits, "v1")
    alert_ids = [await store.enqueue_alert(h, "analysts") for h in hit_ids]
    sender = RecordingSender()
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(sent=3)
    (record,) = sender.sent
    card = record.card
    assert card.rule_id == "withdrawal.a + withdrawal.b + evacuation.c"
    assert card.topic == "withdrawal + evacuation"
    assert card.severity == Severity.HIGH and not is_silent(record.alert)  # the loudest wins
    assert [f.text for f in card.excerpt if f.highlight] == ["отвод", "войск", "Херсона"]
    for alert_id in alert_ids:
        assert alert_id is not None
        stored = await store.get_alert(alert_id)
        assert stored is not None and stored.status == "sent"
    clock.advance(3600)
    assert await dispatcher.flush() == DispatchReport()


async def test_one_card_per_post_retries_together(store: Store, clock: FakeClock) -> None:
    post_id = (await store.add_post(make_post(TEXT, msg_id=8))).post_id
    hit_ids = await store.add_hits(
        post_id, [make_hit(TEXT, ["отвод"], rule_id="r1"), make_hit(TEXT, ["войск"], rule_id="r2")], "v1"
    )
    for h in hit_ids:
        await store.enqueue_alert(h, "analysts")
    sender = RecordingSender()
    sender.fail_on([1], TransientSendError("timeout"))
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(retried=2)
    clock.advance(3600)
    assert await dispatcher.flush() == DispatchReport(sent=2)
    assert len(sender.sent) == 1 and sender.sent[0].card.rule_id == "r1 + r2"


async def test_mute_set_after_queueing_drops_the_queued_alerts(store: Store, clock: FakeClock) -> None:
    # A burst was queued; the operator mutes the rule before the dispatcher got to it.
    ids = await _enqueue(store, 3)
    await store.add_mute("rule", "withdrawal.core", None, "ops")
    sender = RecordingSender()
    dispatcher = AlertDispatcher(store, sender, _router(), clock)
    assert await dispatcher.flush() == DispatchReport(muted=3)
    assert sender.sent == []
    for alert_id in ids:
        stored = await store.get_alert(alert_id)
        assert stored is not None and stored.status == "muted"
        assert stored.last_error == "muted: rule withdrawal.core until /unmute by ops"
    # Lifting the mute does not bring them back: they were dropped, not postponed.
    await store.remove_mute("rule", "withdrawal.core")
    clock.advance(60)
    assert await dispatcher.flush() == DispatchReport()
    assert sender.sent == []


async def test_mute_of_another_channel_lets_alerts_through(store: Store, clock: FakeClock) -> None:
    await _enqueue(store, 2)
    await store.add_mute("channel", "@otherchannel", clock() + timedelta(hours=2), "ops")
    sender = RecordingSender()
    assert await AlertDispatcher(store, sender, _router(), clock).flush() == DispatchReport(sent=2)
