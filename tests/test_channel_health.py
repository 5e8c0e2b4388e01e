"""Channel health: rhythms learned from post dates, verdicts, and the notices they raise.

The pure parts (rhythm, verdicts, notice board) with tables; then the health monitor
behind the real listener, whose Telegram edge serves real TL objects (telegram_fakes)
and raises real Telethon errors, over a real SQLite store and a clock moved by hand.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from telegram_fakes import FakeTelegram, OfflineClient
from telethon import errors
from telethon.tl import types

from bot.alerts.router import AlertRouter
from bot.commands import CommandHandler
from bot.health.channels import ChannelObservation, assess_channel, span
from bot.health.monitor import HealthMonitor, ServiceFacts
from bot.health.notices import Assessment, NoticeBoard
from bot.health.rhythm import Rhythm
from bot.metrics import ServiceCounters
from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.storage import Store
from bot.telegram.listener import ChannelListener, ListenerOptions

HOUR = timedelta(hours=1)
DISK = (100 * 2**30, 10 * 2**30, 90 * 2**30)  # total, used, free: plenty


def day_and_night(days: int = 7, end: datetime = T0) -> list[datetime]:
    """A channel posting every 30 minutes from 07:00 to 23:00 UTC, silent at night."""
    start = end - timedelta(days=days)
    dates = []
    moment = start.replace(hour=7, minute=0)
    while moment < end:
        if 7 <= moment.hour < 23:
            dates.append(moment)
        moment += timedelta(minutes=30)
    return dates


# -- the rhythm (pure) ---------------------------------------------------------------


def test_the_rhythm_knows_the_night_is_long_and_the_day_is_busy() -> None:
    rhythm = Rhythm.learn(day_and_night())
    assert rhythm.learned
    assert rhythm.usual_longest_gap(22) == timedelta(hours=8, minutes=30)  # 22:30 → 07:00
    assert rhythm.usual_longest_gap(14) == timedelta(minutes=30)
    assert Rhythm.learn(day_and_night()[::-1]) == rhythm  # order does not matter


def test_a_rhythm_needs_a_few_gaps_before_it_judges() -> None:
    few = Rhythm.learn([T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 2 * HOUR])  # a burst: no gap
    assert few.gaps == 2 and not few.learned and few.usual_longest_gap(12) is None


def test_sparse_hours_borrow_from_their_neighbours_then_from_the_whole_day() -> None:
    # Six posts, each opening a 4-hour gap at hours 0, 4, 8, 12, 16: no hour holds four.
    dates = [T0.replace(hour=0) + timedelta(hours=4 * i) for i in range(6)]
    rhythm = Rhythm.learn(dates)
    assert rhythm.learned and rhythm.usual_longest_gap(5) == timedelta(hours=4)


@pytest.mark.parametrize(
    ("silence", "state", "why"),
    [
        (timedelta(minutes=20), "ok", "at this hour it usually posts again within 30m"),
        (timedelta(minutes=45), "quiet", "no post for 45m; at this hour"),
        (timedelta(minutes=59), "quiet", "no post for 59m"),
        (timedelta(hours=3), "silent", "no post for 3h; at this hour it usually posts again within 30m"),
    ],
)
def test_a_daytime_silence_is_judged_by_the_daytime_rhythm(
    silence: timedelta, state: str, why: str
) -> None:
    rhythm = Rhythm.learn(day_and_night())
    last = T0.replace(hour=14)
    verdict = assess_channel(ChannelObservation("front", last_post_at=last), rhythm, last + silence)
    assert verdict.state == state and why in verdict.reason


def test_the_same_silence_at_night_is_fine() -> None:
    rhythm = Rhythm.learn(day_and_night())
    last = T0.replace(hour=22, minute=30)
    verdict = assess_channel(ChannelObservation("front", last_post_at=last), rhythm, last + 6 * HOUR)
    assert verdict.state == "ok"
    silent = assess_channel(ChannelObservation("front", last_post_at=last), rhythm, last + 18 * HOUR)
    assert silent.state == "silent" and silent.silent_after == timedelta(hours=17)


@pytest.mark.parametrize(
    ("observation", "state", "why"),
    [
        (ChannelObservation("a", last_error="private channel, or the account was banned"), "error", "private"),
        (ChannelObservation("a"), "quiet", "no post seen yet"),
        (ChannelObservation("a", last_post_at=T0 - HOUR), "ok", "rhythm still being learned (0 post(s) in 28 days)"),
        (ChannelObservation("a", last_post_at=T0 - 4 * 24 * HOUR), "quiet", "no post for 4d; rhythm still"),
    ],
)
def test_errors_unknown_and_unlearned_channels(
    observation: ChannelObservation, state: str, why: str
) -> None:
    verdict = assess_channel(observation, None, T0)
    assert verdict.state == state and why in verdict.reason


def test_span_words() -> None:
    assert [span(timedelta(seconds=s)) for s in (59, 60, 3600, 5400, 86400, 93600)] == [
        "0m", "1m", "1h", "1h 30m", "1d", "1d 2h",
    ]


# -- the notice board (pure) -------------------------------------------------------------


def _a(state: str, alarm: timedelta | None = None, subject: str = "front") -> Assessment:
    return Assessment("channel", subject, state, f"it is {state}", alarm)


def test_a_notice_once_per_change_and_once_on_recovery() -> None:
    board = NoticeBoard()
    assert board.update(T0, [_a("ok")]) == []
    (alarm,) = board.update(T0, [_a("silent", timedelta(0))])
    assert not alarm.recovered and alarm.told_before is None
    assert board.update(T0 + HOUR, [_a("silent", timedelta(0))]) == []  # not repeated
    (moved,) = board.update(T0 + 2 * HOUR, [_a("error", timedelta(0))])  # a different alarm
    assert moved.told_before == "silent" and not moved.recovered
    assert board.update(T0 + 3 * HOUR, [_a("quiet")]) != []  # fine again (quiet is fine)
    assert board.update(T0 + 4 * HOUR, [_a("ok")]) == []


def test_an_alarm_with_a_grace_period_is_told_only_if_it_lasts() -> None:
    board = NoticeBoard()
    grace = timedelta(minutes=10)
    assert board.update(T0, [_a("error", grace)]) == []
    assert board.update(T0 + timedelta(minutes=5), [_a("ok")]) == []  # cleared by itself
    assert board.update(T0 + timedelta(minutes=6), [_a("error", grace)]) == []
    (told,) = board.update(T0 + timedelta(minutes=16), [_a("error", grace)])
    assert told.since == T0 + timedelta(minutes=6)


def test_a_held_assessment_tells_nothing_either_way() -> None:
    board = NoticeBoard()
    held = Assessment("channel", "front", "silent", "mid-backfill", timedelta(0), hold=True)
    assert board.update(T0, [held]) == []  # looks silent while its backfill runs
    board.update(T0, [_a("silent", timedelta(0))])  # read: it is silent, told
    fine = Assessment("channel", "front", "ok", "after a restart", None, hold=True)
    assert board.update(T0 + HOUR, [fine]) == []  # not read since the restart: no "back"
    assert board.record("channel", "front") is not None
    assert board.record("channel", "FRONT").notified_state == "silent"  # type: ignore[union-attr]


def test_the_board_starts_from_what_earlier_runs_told() -> None:
    first = NoticeBoard()
    first.update(T0, [_a("silent", timedelta(0))])
    again = NoticeBoard(first.take_changes())  # a restart, from the stored records
    assert again.update(T0 + HOUR, [_a("silent", timedelta(0))]) == []
    (recovered,) = again.update(T0 + 2 * HOUR, [_a("ok")])
    assert recovered.recovered and recovered.told_before == "silent"


# -- /channels from the store -----------------------------------------------------------


async def test_channels_shows_a_silent_channel_first_with_its_rhythm(
    store: Store, clock: FakeClock
) -> None:
    for number, date in enumerate(day_and_night(end=T0.replace(hour=14))):
        await store.add_post(make_post("Погода хорошая", number + 1, "chatty", date))
    for number, date in enumerate(day_and_night(end=T0.replace(hour=10)), start=1):
        await store.add_post(make_post("Сводка", number, "stalled", date))
    clock.now = T0.replace(hour=13, minute=50)
    lines = (await CommandHandler(store, clock).handle("/channels")).splitlines()
    assert lines[0] == "2 channel(s), worst first: 0 error, 1 silent, 0 quiet, 1 ok"
    assert lines[1].startswith("🟠 silent · @stalled · last post 2024-05-01 09:30 UTC")
    assert lines[2] == "   no post for 4h 20m; at this hour it usually posts again within 30m"
    assert lines[3].startswith("🟢 ok · @chatty · last post 2024-05-01 13:30 UTC")
    assert len(lines) == 4  # an ok channel with a known rhythm needs no second line


# -- behind the real listener -------------------------------------------------------------


class Rig:
    """The listener over FakeTelegram, the pipeline, a store and the health monitor."""

    def __init__(self, store: Store, clock: FakeClock, channels: tuple[str, ...], data: Path) -> None:
        self.fake = FakeTelegram()
        self.client = OfflineClient(self.fake)
        self.store = store
        self.clock = clock
        self.counters = ServiceCounters()

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(0)

        pipeline = Pipeline(store, lambda: _NoHits(), AlertRouter({"a": "console"}, "a"))
        self.listener = ChannelListener(
            self.client, store, pipeline, Settings(channels=channels), clock, sleep,
            options=ListenerOptions(resolve_delay=0, join_delay=0, history_delay=0),
        )
        self.monitor = HealthMonitor(store, self.counters, clock, data, disk_usage=lambda _: DISK)
        self.started = clock()

    async def check(self) -> list[str]:
        """One health round, as run_live does it; the notices it gives."""
        observations = [
            ChannelObservation(
                h.channel, h.title, h.last_post_at, h.last_msg_id, h.last_error,
                h.last_sweep_at, h.blocked,
            )
            for h in await self.listener.health()
        ]
        checked = await self.monitor.check(observations, ServiceFacts(started_at=self.started))
        return checked.notices

    async def live(self, tg_id: int, msg_id: int, date: datetime) -> None:
        """A new post arrives as a live update, through Telethon's real dispatch."""
        message = self.fake.post(tg_id, msg_id, "Новая сводка", date=date)
        update = types.UpdateNewChannelMessage(message=message, pts=1, pts_count=1)
        update._entities = {}
        await self.client._dispatch_update(update)


class _NoHits:
    version = "none"

    def match(self, text: str) -> list[object]:
        return []


FRONT = 1001


@pytest.fixture
def rig(store: Store, clock: FakeClock, tmp_path: Path) -> Rig:
    return Rig(store, clock, ("front", "secret", "kicked"), tmp_path)


async def test_a_channel_silent_past_its_rhythm_gives_one_notice_and_one_recovery(
    rig: Rig, clock: FakeClock
) -> None:
    rig.fake.add_channel(FRONT, "front", title="Front")
    rig.fake.add_channel(1003, "kicked")
    rig.fake.resolve_errors["secret"] = errors.ChannelPrivateError(request=None)
    # Every 30 minutes from 20 to 4 hours ago, then nothing.
    for number in range(33):
        rig.fake.post(FRONT, number + 1, date=T0 - timedelta(hours=20) + number * timedelta(minutes=30))
    rig.fake.post(1003, 1, date=T0 - HOUR)
    await rig.listener.start()
    await rig.monitor.start()

    first = await rig.check()
    silent = [n for n in first if "@front" in n]
    assert silent == [
        "milwatch: channel @front is silent: no post for 4h; at this hour it usually posts again"
        " within 30m. Check that it still exists and that the account can read it (/channels)."
    ]
    # The private channel was given up at once (resolving it failed): told at once too.
    assert [n for n in first if "@secret" in n] == [
        "milwatch: channel @secret cannot be read: private channel, or the account was banned"
        " from it (/channels)"
    ]
    clock.advance(600)
    assert await rig.check() == []  # nothing changed: nothing repeated

    await rig.live(FRONT, 40, clock())
    clock.advance(60)
    assert await rig.check() == [
        "milwatch: channel @front is fine again (it was silent); newest post 2024-05-01 12:10 UTC"
    ]
    assert await rig.check() == []


async def test_a_kicked_channel_is_reported_once_when_it_lasts(
    rig: Rig, clock: FakeClock, store: Store
) -> None:
    rig.fake.add_channel(FRONT, "front")
    rig.fake.add_channel(1003, "kicked")
    rig.fake.resolve_errors["secret"] = errors.ChannelPrivateError(request=None)
    rig.fake.post(1003, 1, date=T0 - HOUR)
    await rig.listener.start()
    await rig.monitor.start()
    await rig.check()  # @secret told here (see above)

    # The account is kicked: the next sweep of the channel's history is refused.
    rig.fake.history_errors[1003] = errors.ChannelPrivateError(request=None)
    assert not await rig.listener.sweep("kicked")
    assert await rig.check() == []  # an error may clear by itself: not yet
    clock.advance(11 * 60)
    rig.fake.history_errors[1003] = errors.ChannelPrivateError(request=None)
    await rig.listener.sweep("kicked")
    (told,) = await rig.check()
    assert told == (
        "milwatch: channel @kicked cannot be read: cannot read history: private channel, or"
        " the account was banned (/channels)"
    )
    for _ in range(3):
        clock.advance(300)
        rig.fake.history_errors[1003] = errors.ChannelPrivateError(request=None)
        await rig.listener.sweep("kicked")
        assert await rig.check() == []  # reported once
    lines = (await CommandHandler(store, clock).handle("/channels")).splitlines()
    assert lines[0].endswith("2 error, 0 silent, 1 quiet, 0 ok")
    errors_first = [line for line in lines if line.startswith("🔴")]
    assert lines[1] == errors_first[0] and lines[3] == errors_first[1]
    assert any("@kicked" in line for line in errors_first)


async def test_a_stuck_outbox_is_reported_once_and_its_recovery_too(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    monitor = HealthMonitor(store, ServiceCounters(), clock, tmp_path, disk_usage=lambda _: DISK)
    await monitor.start()
    post_id = (await store.add_post(make_post("Начался отвод войск"))).post_id
    (hit_id,) = await store.add_hits(post_id, [make_hit("Начался отвод войск", ["отвод"])], "v1")
    alert_id = await store.enqueue_alert(hit_id, "analysts")
    assert alert_id is not None
    await store.defer(alert_id, clock() + HOUR, "flood wait 3600s")
    facts = ServiceFacts(started_at=T0)
    assert (await monitor.check([], facts)).notices == []
    clock.advance(16 * 60)
    checked = await monitor.check([], facts)
    assert checked.notices == [
        "milwatch: alert delivery delayed: 1 alert(s) waiting, the oldest for 16 min;"
        " last error: flood wait 3600s"
    ]
    assert checked.warnings == [checked.notices[0].removeprefix("milwatch: ")]
    clock.advance(60)
    assert (await monitor.check([], facts)).notices == []
    await store.mark_sent(alert_id)
    (recovered,) = (await monitor.check([], facts)).notices
    assert recovered.startswith("milwatch: alert delivery is moving again")
    assert "delayed" not in recovered


async def test_status_shows_the_pipeline_the_service_recorded(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    from bot.status import status_report

    monitor = HealthMonitor(store, ServiceCounters(), clock, tmp_path, disk_usage=lambda _: DISK)
    facts = ServiceFacts(started_at=T0, rules_version="abc123", reconnects=2)
    await monitor.check([ChannelObservation("front")], facts)
    clock.advance(30)
    report = (await status_report(store, clock(), "alive")).splitlines()
    start = report.index("pipeline, as the service last saw it (just now):")
    assert report[start + 1 : start + 8] == [
        "  database: ok · writable",
        "  disk: ok · 90.0 GB free on " + str(tmp_path),
        "  delivery: ok · nothing waiting; 0 sent, 0 given up since the start",
        "  connection: ok · connected; 2 reconnect(s) since the start",
        "  backfill: reading · 0 of 1 channel(s) read since the start; still to read: @front",
        "  rules: ok · version abc123",
        "  dead_letters: ok · 0 post(s) being retried",
    ]
