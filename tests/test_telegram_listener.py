"""Telegram listener: real TL objects, a real (never connected) TelegramClient whose network
calls go to a recording fake, and everything behind it real (pipeline, matcher, SQLite).

What only real Telegram can show (flood limits, update delivery) is listed in the
listener's module docstring; here we prove the bookkeeping around it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, CountingMatcher, FakeClock, matcher_from_yaml
from telegram_fakes import HIT_TEXT, MISS_TEXT, Crash, FakeTelegram, OfflineClient, text_for
from telethon import errors
from telethon.tl import types

from bot.alerts.router import AlertRouter
from bot.domain import Hit
from bot.matching import Matcher, Morphology
from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.storage import Store
from bot.telegram.convert import ChannelRef, forwarded_origin, message_to_post, public_username
from bot.telegram.listener import (
    ChannelListener,
    FatalTelegramError,
    ListenerOptions,
)

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

# -- wiring ---------------------------------------------------------------------


class CrashingMatcher:
    """The real matcher; dies (like the process would) on one chosen text."""

    def __init__(self, inner: Matcher, crash_on: str | None = None) -> None:
        self.inner = inner
        self.crash_on = crash_on

    @property
    def version(self) -> str:
        return self.inner.version

    def match(self, text: str) -> list[Hit]:
        if text == self.crash_on:
            self.crash_on = None
            raise Crash(f"crash while matching {text!r}")
        return self.inner.match(text)


@dataclass
class Rig:
    fake: FakeTelegram
    client: OfflineClient
    store: Store
    listener: ChannelListener
    matcher: CountingMatcher
    sleeps: list[float]


def make_rig(
    fake: FakeTelegram,
    store: Store,
    matcher: Any,
    clock: FakeClock,
    channels: tuple[str, ...],
    **settings: Any,
) -> Rig:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)  # yield like a real sleep, so other tasks run

    client = OfflineClient(fake)
    pipeline = Pipeline(store, lambda: matcher, AlertRouter({"analysts": "console"}, "analysts"))
    listener = ChannelListener(
        client,
        store,
        pipeline,
        Settings(channels=channels, **settings),
        clock,
        sleep,
        options=ListenerOptions(resolve_delay=5, join_delay=30, history_delay=1),
    )
    return Rig(fake, client, store, listener, matcher, sleeps)


@pytest.fixture
def matcher(morph: Morphology) -> CountingMatcher:
    return CountingMatcher(matcher_from_yaml(RULES_YAML, morph))


@pytest.fixture
def rig_for(store: Store, matcher: CountingMatcher, clock: FakeClock) -> Callable[..., Rig]:
    def build(fake: FakeTelegram, channels: tuple[str, ...], **settings: Any) -> Rig:
        return make_rig(fake, store, matcher, clock, channels, **settings)

    return build


def rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database file directly, the way an operator would."""
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql, params))


def post_ids(db_path: Path, channel: str) -> list[int]:
    """Stored msg ids of a channel, in insertion (row id) order."""
    return [
        int(r[0])
        for r in rows(
            db_path,
            "SELECT p.msg_id FROM posts p JOIN channels c ON c.id = p.channel_id"
            " WHERE c.username = ? ORDER BY p.id",
            (channel,),
        )
    ]


def alert_count(db_path: Path) -> int:
    return int(rows(db_path, "SELECT COUNT(*) FROM alerts")[0][0])


def ref_for(channel: types.Channel, key: str | None = None) -> ChannelRef:
    return ChannelRef.from_channel(channel, key=key)


# -- convert ----------------------------------------------------------------------

PUBLIC = ChannelRef("frontnews", 1001, 5, "frontnews", "Front News")
PRIVATE = ChannelRef("-1002002", 2002, 6, None, "Closed")


def msg(**kw: Any) -> types.Message:
    kw.setdefault("id", 7)
    kw.setdefault("peer_id", types.PeerChannel(1001))
    kw.setdefault("date", T0)
    kw.setdefault("message", "текст")
    return types.Message(**kw)


@pytest.mark.parametrize(
    ("message", "channel", "expected"),
    [
        (msg(), PUBLIC, ("frontnews", "7", "текст", "https://t.me/frontnews/7", False)),
        (msg(), PRIVATE, ("-1002002", "7", "текст", "https://t.me/c/2002/7", False)),
        (msg(edit_date=T0), PUBLIC, ("frontnews", "7", "текст", "https://t.me/frontnews/7", True)),
        (
            msg(message="подпись", media=types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))),
            PUBLIC,
            ("frontnews", "7", "подпись", "https://t.me/frontnews/7", False),
        ),
        (
            msg(message="", media=types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))),
            PUBLIC,
            None,
        ),
        (msg(message="   \n"), PUBLIC, None),
        (
            types.MessageService(
                id=8,
                peer_id=types.PeerChannel(1001),
                date=T0,
                action=types.MessageActionPinMessage(),
            ),
            PUBLIC,
            None,
        ),
        (types.MessageEmpty(id=9, peer_id=None), PUBLIC, None),
    ],
    ids=["public", "private", "edited", "caption", "media-only", "blank", "service", "empty"],
)
def test_message_to_post(message: Any, channel: ChannelRef, expected: Any) -> None:
    post = message_to_post(message, channel)
    if expected is None:
        assert post is None
        return
    assert post is not None
    assert (post.channel, post.msg_id, post.text, post.url, post.edited) == expected
    assert post.date == T0 and post.date.tzinfo is not None
    assert post.channel_title == channel.title


def test_naive_date_is_taken_as_utc() -> None:
    post = message_to_post(msg(date=T0.replace(tzinfo=None)), PUBLIC)
    assert post is not None and post.date == T0


def test_username_only_in_usernames_list() -> None:
    channel = FakeTelegram().add_channel(77, "rybar", via_usernames=True)
    assert channel.username is None
    assert public_username(channel) == "rybar"
    ref = ChannelRef.from_channel(channel)
    assert (ref.key, ref.username, ref.link(5)) == ("rybar", "rybar", "https://t.me/rybar/5")
    private = ChannelRef.from_channel(FakeTelegram().add_channel(1234567890))
    assert private.key == "-1001234567890"
    assert private.link(5) == "https://t.me/c/1234567890/5"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(555), channel_post=77),
            "-1000000000555 https://t.me/c/555/77",
        ),
        (types.MessageFwdHeader(date=T0, from_name="Иван Петров"), "Иван Петров"),
        (
            types.MessageFwdHeader(
                date=T0, from_id=types.PeerChannel(555), channel_post=77, post_author="Редактор"
            ),
            "-1000000000555 (Редактор) https://t.me/c/555/77",
        ),
        (types.MessageFwdHeader(date=T0, from_id=types.PeerUser(31)), "user 31"),
    ],
    ids=["channel", "hidden-user", "signed", "user"],
)
def test_forwarded_origin(header: types.MessageFwdHeader, expected: str) -> None:
    message = msg(fwd_from=header)
    assert forwarded_origin(message) == expected
    post = message_to_post(message, PUBLIC)
    assert post is not None and post.forwarded_from == expected


async def test_forwarded_origin_uses_the_source_channel_when_telethon_has_it() -> None:
    source = FakeTelegram().add_channel(555, "rybar", title="Рыбарь")
    message = msg(
        fwd_from=types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(555), channel_post=9)
    )
    client = OfflineClient(FakeTelegram())
    # What iter_messages does with the chats of the response.
    message._finish_init(client, {-1000000000555: source}, None)
    assert forwarded_origin(message) == "Рыбарь https://t.me/rybar/9"


# -- store additions ------------------------------------------------------------


async def test_store_cursor_helpers(store: Store) -> None:
    await store.advance_channel_cursor("chan", 10)
    await store.advance_channel_cursor("chan", 4)  # never backwards
    state = await store.get_channel("chan")
    assert state is not None and state.last_msg_id == 10
    await store.set_channel_cursor("chan", 3)
    state = await store.get_channel("chan")
    assert state is not None and state.last_msg_id == 3
    await store.set_channel_cursor("chan", None)
    state = await store.get_channel("chan")
    assert state is not None and state.last_msg_id is None
    assert not await store.has_post("chan", "1")


# -- resolving, joining ------------------------------------------------------------


async def test_first_start_resolves_and_stores_second_start_does_not(
    store: Store, matcher: CountingMatcher, clock: FakeClock, db_path: Path
) -> None:
    fake = FakeTelegram()
    public = fake.add_channel(1001, "frontnews", via_usernames=True, title="Front News")
    private = fake.add_channel(2002, title="Closed")
    fake.post(1001, 1)
    fake.post(2002, 1)
    channels = ("frontnews", "-1002002")

    first = make_rig(fake, store, matcher, clock, channels)
    await first.listener.start()
    assert fake.names("get_entity") == ["frontnews", types.PeerChannel(2002)]
    assert fake.names("get_channels") == []  # entities from resolving carry membership
    for name, channel in (("frontnews", public), ("-1002002", private)):
        state = await store.get_channel(name)
        assert state is not None
        assert (state.tg_id, state.access_hash, state.title) == (
            channel.id,
            channel.access_hash,
            channel.title,
        )
    links = rows(db_path, "SELECT link FROM posts ORDER BY id")
    assert links == [("https://t.me/frontnews/1",), ("https://t.me/c/2002/1",)]

    fake.calls.clear()
    fake.post(1001, 2)
    second = make_rig(fake, store, matcher, clock, channels)  # a restart: fresh client
    await second.listener.start()
    assert fake.names("get_entity") == []  # never resolved again
    # One batched membership check instead, built from the stored id + hash.
    assert fake.names("get_channels") == [
        [
            types.InputChannel(1001, public.access_hash),
            types.InputChannel(2002, private.access_hash),
        ]
    ]
    peers = [args[0] for args in fake.names("iter_messages")]
    assert types.InputPeerChannel(1001, public.access_hash) in peers
    assert post_ids(db_path, "frontnews") == [1, 2]
    assert rows(db_path, "SELECT link FROM posts WHERE msg_id = '2'") == [
        ("https://t.me/frontnews/2",)
    ]


async def test_join_and_resolve_errors_are_reported_per_channel_others_start(
    rig_for: Callable[..., Rig], store: Store, db_path: Path
) -> None:
    fake = FakeTelegram()
    fake.add_channel(1, "newone", left=True)
    fake.add_channel(2, "closed", left=True)
    fake.add_channel(3, "member", left=False)
    fake.add_channel(4, "askfirst", left=True)
    fake.add_channel(5, "toomany", left=True)
    for tg_id in (1, 3, 5):
        fake.post(tg_id, 1)
    fake.join_errors[2] = errors.ChannelPrivateError(request=None)
    fake.join_errors[4] = errors.InviteRequestSentError(request=None)
    fake.join_errors[5] = errors.ChannelsTooMuchError(request=None)
    fake.resolve_errors["gone"] = errors.UsernameNotOccupiedError(request=None)
    names = ("newone", "closed", "gone", "member", "askfirst", "toomany", "12345")
    rig = rig_for(fake, names)

    await rig.listener.start()

    assert [j.channel_id for j in fake.names("join")] == [1, 2, 4, 5]
    assert rig.sleeps.count(30) == 3  # joins spaced out
    assert rig.sleeps.count(5) == len(names) - 1  # and so are resolves
    expected = {
        "newone": None,
        "closed": "private channel",
        "gone": "no channel with this username",
        "member": None,
        "askfirst": "join request sent",
        "toomany": "too many channels",
        "12345": "not a channel id",
    }
    for name, error in expected.items():
        state = await store.get_channel(name)
        assert state is not None
        if error is None:
            assert state.last_error is None, name
        else:
            assert state.last_error is not None and error in state.last_error, name
    # Joined and already-member channels started; a public channel the account could
    # not join is still read by backfill.
    assert post_ids(db_path, "newone") == [1]
    assert post_ids(db_path, "member") == [1]
    assert post_ids(db_path, "toomany") == [1]
    health = {h.channel: h for h in await rig.listener.health()}
    assert health["newone"].listening and health["member"].listening
    assert not health["toomany"].listening and health["toomany"].joined is False
    assert "too many channels" in (health["toomany"].last_error or "")
    assert health["gone"].tg_id is None and not health["gone"].listening


async def test_flood_wait_on_join_postpones_and_retries(
    rig_for: Callable[..., Rig], store: Store, clock: FakeClock
) -> None:
    fake = FakeTelegram()
    for tg_id, name in ((1, "a"), (2, "b"), (3, "c")):
        fake.add_channel(tg_id, name, left=True)
    fake.join_errors[2] = errors.FloodWaitError(request=None, capture=120)
    rig = rig_for(fake, ("a", "b", "c"))

    await rig.listener.start()
    assert [j.channel_id for j in fake.names("join")] == [1, 2]  # c not even tried
    for name in ("b", "c"):
        state = await store.get_channel(name)
        assert state is not None and "flood wait 120 s" in (state.last_error or "")

    clock.advance(60)
    await rig.listener.sweep_due()
    assert [j.channel_id for j in fake.names("join")] == [1, 2]  # still waiting
    clock.advance(61)
    await rig.listener.sweep_due()
    assert [j.channel_id for j in fake.names("join")] == [1, 2, 2, 3]
    for name in ("a", "b", "c"):
        state = await store.get_channel(name)
        assert state is not None and state.last_error is None
    assert all(h.joined for h in await rig.listener.health())


# -- gap-free ingest --------------------------------------------------------------------


@pytest.mark.parametrize("crash_in", ["fetch", "ingest"])
async def test_restart_mid_stream_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, morph: Morphology, clock: FakeClock, crash_in: str
) -> None:
    db_path = tmp_path / "shared.sqlite3"
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    n, k = 45, 17
    for msg_id in range(1, 4):
        fake.post(10, msg_id)
    inner = matcher_from_yaml(RULES_YAML, morph)

    async with Store.open(db_path, clock=clock) as store_a:
        crashing = CrashingMatcher(inner)
        rig_a = make_rig(fake, store_a, crashing, clock, ("front",))
        await rig_a.listener.start()
        assert post_ids(db_path, "front") == [1, 2, 3]
        for msg_id in range(4, n + 1):
            fake.post(10, msg_id)
        if crash_in == "fetch":
            fake.crash_after[10] = k - 3  # the stream dies after message k
        else:
            crashing.crash_on = text_for(k)  # the process dies while storing message k
        with pytest.raises(Crash):
            await rig_a.listener.sweep("front")
    stored_before = post_ids(db_path, "front")
    assert stored_before == list(range(1, k + 1 if crash_in == "fetch" else k))

    async with Store.open(db_path, clock=clock) as store_b:  # the restarted process
        rig_b = make_rig(fake, store_b, CountingMatcher(inner), clock, ("front",))
        fake.calls.clear()
        await rig_b.listener.start()
        assert fake.names("get_entity") == []
        ((_, _, min_id, reverse),) = fake.names("iter_messages")
        assert (min_id, reverse) == (stored_before[-1], True)
        # The restarted process only matched what the first one had not stored.
        assert len(rig_b.matcher.calls) == n - len(stored_before)

    assert post_ids(db_path, "front") == list(range(1, n + 1))
    assert alert_count(db_path) == n // 3  # one alert per matching post, none twice


async def test_gap_of_500_posts_is_backfilled_in_order_through_live_dispatch(
    rig_for: Callable[..., Rig], db_path: Path, matcher: CountingMatcher
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    for msg_id in range(1, 11):
        fake.post(10, msg_id)
    rig = rig_for(fake, ("front",), backfill_max_posts=500)
    await rig.listener.start()
    assert post_ids(db_path, "front") == list(range(1, 11))

    # 500 posts go by while no update arrives (the update loss Telethon users report) ...
    for msg_id in range(11, 511):
        fake.post(10, msg_id)
    live = fake.post(10, 511)
    fake.calls.clear()
    matcher.calls.clear()
    # ... then one live update arrives through Telethon's real dispatch path.
    update = types.UpdateNewChannelMessage(message=live, pts=1, pts_count=1)
    update._entities = {}
    await rig.client._dispatch_update(update)

    ((_, _, min_id, reverse),) = fake.names("iter_messages")
    assert (min_id, reverse) == (10, True)
    assert post_ids(db_path, "front") == list(range(1, 512))  # in order, none missing
    assert matcher.calls == [text_for(i) for i in range(11, 512)]  # each matched once
    assert alert_count(db_path) == 511 // 3

    # Replays (the same update again, a sweep) change nothing.
    await rig.client._dispatch_update(update)
    assert await rig.listener.sweep("front")
    assert post_ids(db_path, "front") == list(range(1, 512))
    assert alert_count(db_path) == 511 // 3
    assert matcher.calls == [text_for(i) for i in range(11, 512)]


async def test_live_post_is_delivered_at_once_when_the_hole_cannot_be_fetched_yet(
    rig_for: Callable[..., Rig], db_path: Path, store: Store, clock: FakeClock
) -> None:
    fake = FakeTelegram()
    channel = fake.add_channel(10, "front")
    for msg_id in range(1, 4):
        fake.post(10, msg_id)
    rig = rig_for(fake, ("front",))
    await rig.listener.start()
    for msg_id in range(4, 10):  # missed while disconnected
        fake.post(10, msg_id)
    live = fake.post(10, 12)  # a multiple of 3: it alerts
    fake.history_errors[10] = errors.FloodWaitError(request=None, capture=60)

    await rig.listener.handle_live(live, ref_for(channel, "front"))

    assert post_ids(db_path, "front") == [1, 2, 3, 12]  # the live post is not held up
    assert alert_count(db_path) == 2
    state = await store.get_channel("front")
    assert state is not None and state.last_msg_id == 3  # but the cursor stays below the hole
    clock.advance(61)
    await rig.listener.sweep_due()
    assert post_ids(db_path, "front") == [1, 2, 3, 12, *range(4, 10)]
    assert alert_count(db_path) == 4  # 3, 12, 6, 9: each once
    state = await store.get_channel("front")
    assert state is not None and state.last_msg_id == 12


async def test_live_events_edit_and_delete_through_dispatch(
    rig_for: Callable[..., Rig], db_path: Path, matcher: CountingMatcher
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    fake.add_channel(99, "other")
    fake.post(10, 1)
    rig = rig_for(fake, ("front",))
    await rig.listener.start()
    fake.calls.clear()

    live = fake.post(10, 2, HIT_TEXT)
    stranger = types.Message(id=5, peer_id=types.PeerChannel(99), date=T0, message=HIT_TEXT)
    reaction = types.Message(
        id=2,
        peer_id=types.PeerChannel(10),
        date=live.date,
        message=HIT_TEXT,
        reactions=types.MessageReactions(results=[]),
    )
    updates = [
        types.UpdateNewChannelMessage(message=live, pts=1, pts_count=1),
        types.UpdateNewChannelMessage(message=stranger, pts=1, pts_count=1),
        types.UpdateEditChannelMessage(message=reaction, pts=2, pts_count=1),
        types.UpdateDeleteChannelMessages(channel_id=10, messages=[2], pts=3, pts_count=1),
    ]
    for update in updates:
        update._entities = {}
        await rig.client._dispatch_update(update)

    assert fake.names("iter_messages") == []  # no gap, no history request
    assert post_ids(db_path, "front") == [1, 2]
    assert post_ids(db_path, "other") == []  # not a configured channel
    assert matcher.calls.count(HIT_TEXT) == 1  # the reaction edit did not re-match
    assert rows(db_path, "SELECT deleted, text FROM posts WHERE msg_id = '2'") == [(1, HIT_TEXT)]
    assert alert_count(db_path) == 1


@pytest.mark.parametrize(
    ("hours", "cap", "expected"),
    [
        (24, 500, list(range(7, 31))),  # the window: the last 24 hours
        (24, 10, list(range(21, 31))),  # the cap keeps the newest
        (24, 0, []),
        (0, 500, []),
        (48, 500, list(range(1, 31))),
    ],
)
async def test_first_sight_backfill_respects_window_and_cap(
    rig_for: Callable[..., Rig],
    db_path: Path,
    store: Store,
    hours: int,
    cap: int,
    expected: list[int],
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    for msg_id in range(1, 31):  # one post an hour; #30 half an hour ago
        fake.post(10, msg_id, date=T0 - timedelta(hours=30 - msg_id, minutes=30))
    rig = rig_for(fake, ("front",), backfill_hours=hours, backfill_max_posts=cap)

    await rig.listener.start()

    assert post_ids(db_path, "front") == expected
    state = await store.get_channel("front")
    assert state is not None and state.last_msg_id == 30  # later sweeps start after #30
    fake.calls.clear()
    fake.post(10, 31)
    await rig.listener.sweep("front")
    ((_, limit, min_id, reverse),) = fake.names("iter_messages")
    assert (limit, min_id, reverse) == (None, 30, True)
    assert post_ids(db_path, "front") == [*expected, 31]


async def test_edit_that_changes_text_rematches_reaction_only_edit_does_not(
    rig_for: Callable[..., Rig], db_path: Path, matcher: CountingMatcher, clock: FakeClock
) -> None:
    fake = FakeTelegram()
    channel = fake.add_channel(10, "front")
    original = fake.post(10, 1, MISS_TEXT)
    rig = rig_for(fake, ("front",))
    await rig.listener.start()
    ref = ref_for(channel, "front")
    assert alert_count(db_path) == 0
    matcher.calls.clear()

    edited = types.Message(
        id=1, peer_id=types.PeerChannel(10), date=original.date, message=HIT_TEXT, edit_date=T0
    )
    result = await rig.listener.handle_edit(edited, ref)
    assert result is not None and result.text_changed and len(result.hits) == 1
    assert matcher.calls == [HIT_TEXT]
    assert alert_count(db_path) == 1

    reaction = types.Message(
        id=1,
        peer_id=types.PeerChannel(10),
        date=original.date,
        message=HIT_TEXT,
        edit_date=T0,
        reactions=types.MessageReactions(
            results=[types.ReactionCount(reaction=types.ReactionEmoji("👍"), count=3)]
        ),
    )
    result = await rig.listener.handle_edit(reaction, ref)
    assert result is not None and not result.text_changed and result.hits == []
    assert matcher.calls == [HIT_TEXT]  # not matched again
    assert alert_count(db_path) == 1
    assert rows(db_path, "SELECT edited, text FROM posts") == [(1, HIT_TEXT)]

    # A reaction on a months-old post we never stored is no new post.
    old = types.Message(
        id=0, peer_id=types.PeerChannel(10), date=T0 - timedelta(days=90), message=HIT_TEXT
    )
    assert await rig.listener.handle_edit(old, ref) is None
    assert rig.listener.stats.stale_edits_skipped == 1
    assert post_ids(db_path, "front") == [1]


async def test_album_of_three_items_is_one_post_with_the_caption(
    rig_for: Callable[..., Rig], db_path: Path, store: Store
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    fake.post(10, 1, "", media=photo, grouped_id=777)
    fake.post(10, 2, HIT_TEXT, media=photo, grouped_id=777)
    fake.post(10, 3, "", media=photo, grouped_id=777)
    for msg_id in (4, 5):  # an album without any caption is no post at all
        fake.post(10, msg_id, "", media=photo, grouped_id=888)
    rig = rig_for(fake, ("front",))

    await rig.listener.start()

    assert rows(db_path, "SELECT msg_id, text FROM posts") == [("2", HIT_TEXT)]
    assert rig.listener.stats.album_items_skipped == 4
    assert alert_count(db_path) == 1
    state = await store.get_channel("front")
    assert state is not None and state.last_msg_id == 5  # skipped items are not re-read


async def test_deletion_marks_the_post_deleted_and_keeps_it(
    rig_for: Callable[..., Rig], db_path: Path
) -> None:
    fake = FakeTelegram()
    channel = fake.add_channel(10, "front")
    fake.post(10, 1, HIT_TEXT)
    fake.post(10, 2, MISS_TEXT)
    rig = rig_for(fake, ("front",))
    await rig.listener.start()

    marked = await rig.listener.handle_deleted(ref_for(channel, "front"), [1, 999])

    assert marked == 1
    assert rows(db_path, "SELECT msg_id, deleted, text FROM posts ORDER BY id") == [
        ("1", 1, HIT_TEXT),
        ("2", 0, MISS_TEXT),
    ]
    assert int(rows(db_path, "SELECT COUNT(*) FROM hits")[0][0]) == 1  # evidence kept


async def test_forwarded_message_keeps_its_origin(
    rig_for: Callable[..., Rig], db_path: Path
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    fake.post(
        10,
        1,
        HIT_TEXT,
        fwd_from=types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(555), channel_post=42),
    )
    rig = rig_for(fake, ("front",))
    await rig.listener.start()
    assert rows(db_path, "SELECT forwarded_from FROM posts") == [
        ("-1000000000555 https://t.me/c/555/42",)
    ]


async def test_one_bad_message_does_not_stop_the_backfill(
    rig_for: Callable[..., Rig], db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTelegram()
    fake.add_channel(10, "front")
    fake.post(10, 1)
    bad = fake.post(10, 2)
    bad.date = None  # a message no post can be built from
    fake.post(10, 3)
    rig = rig_for(fake, ("front",))

    await rig.listener.start()

    assert post_ids(db_path, "front") == [1, 3]
    assert rig.listener.stats.errors == 1
    assert "failed to handle message 2" in caplog.text


# -- sweeps, errors, health -----------------------------------------------------------


async def test_sweeps_are_staggered_and_pick_up_missed_posts(
    rig_for: Callable[..., Rig], db_path: Path, clock: FakeClock
) -> None:
    fake = FakeTelegram()
    for tg_id, name in ((1, "a"), (2, "b"), (3, "c")):
        fake.add_channel(tg_id, name)
    rig = rig_for(fake, ("a", "b", "c"))
    await rig.listener.start()
    assert rig.listener.seconds_until_next_sweep() == 100  # 300 s spread over 3 channels
    fake.post(1, 1)
    fake.post(3, 1)

    clock.advance(150)
    assert await rig.listener.sweep_due() == ["a"]
    assert post_ids(db_path, "a") == [1] and post_ids(db_path, "c") == []
    clock.advance(150)
    assert await rig.listener.sweep_due() == ["b", "c"]
    assert post_ids(db_path, "c") == [1]
    assert await rig.listener.sweep_due() == []


async def test_flood_wait_during_backfill_pauses_sweeps(
    rig_for: Callable[..., Rig], store: Store, clock: FakeClock
) -> None:
    fake = FakeTelegram()
    fake.add_channel(1, "a")
    fake.add_channel(2, "b")
    fake.history_errors[1] = errors.FloodWaitError(request=None, capture=600)
    rig = rig_for(fake, ("a", "b"))

    await rig.listener.start()

    state = await store.get_channel("a")
    assert state is not None and "flood wait 600 s" in (state.last_error or "")
    assert [args[0].channel_id for args in fake.names("iter_messages")] == [1]  # b waits
    clock.advance(400)
    assert await rig.listener.sweep_due() == []
    clock.advance(201)
    assert sorted(await rig.listener.sweep_due()) == ["a", "b"]
    state = await store.get_channel("a")
    assert state is not None and state.last_error is None


async def test_private_channel_history_error_is_reported(
    rig_for: Callable[..., Rig], store: Store, db_path: Path
) -> None:
    fake = FakeTelegram()
    fake.add_channel(1, "a")
    fake.add_channel(2, "b")
    fake.post(2, 1)
    fake.history_errors[1] = errors.ChannelPrivateError(request=None)
    rig = rig_for(fake, ("a", "b"))
    await rig.listener.start()
    state = await store.get_channel("a")
    assert state is not None and "private channel" in (state.last_error or "")
    assert post_ids(db_path, "b") == [1]


async def test_run_reconnects_with_backoff_and_stops_on_fatal_auth_error(
    rig_for: Callable[..., Rig],
) -> None:
    fake = FakeTelegram()
    fake.connect_errors = [ConnectionError("down"), OSError("still down")]
    fake.disconnect_error = errors.AuthKeyDuplicatedError(request=None)
    rig = rig_for(fake, ())

    with pytest.raises(FatalTelegramError, match="two processes"):
        await rig.listener.run()

    assert rig.sleeps[:2] == [1.0, 2.0]
    assert fake.names("connect") == [None, None, None]
    assert ("disconnect", None) in fake.calls


async def test_run_refuses_a_session_that_is_not_logged_in(rig_for: Callable[..., Rig]) -> None:
    fake = FakeTelegram(authorized=False)
    rig = rig_for(fake, ())
    with pytest.raises(FatalTelegramError, match="milwatch login"):
        await rig.listener.run()


async def test_health_reports_last_post_lag_and_error(
    rig_for: Callable[..., Rig], clock: FakeClock
) -> None:
    fake = FakeTelegram()
    fake.add_channel(1, "a", title="A news")
    fake.post(1, 1, date=T0 - timedelta(hours=2))
    fake.resolve_errors["b"] = errors.ChannelPrivateError(request=None)
    rig = rig_for(fake, ("a", "b"))
    await rig.listener.start()
    clock.advance(3600)

    report = {h.channel: h for h in await rig.listener.health()}

    a = report["a"]
    assert (a.title, a.tg_id, a.joined, a.listening, a.last_msg_id) == ("A news", 1, True, True, 1)
    assert a.last_post_at == T0 - timedelta(hours=2)
    assert a.lag == timedelta(hours=3)
    assert a.last_sweep_at == T0 and a.last_error is None
    b = report["b"]
    assert (b.tg_id, b.listening, b.last_post_at, b.lag) == (None, False, None, None)
    assert "private channel" in (b.last_error or "")
