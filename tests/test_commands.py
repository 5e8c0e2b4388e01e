"""Analyst commands: pure parsing, and replies against a real store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import T0, FakeClock, make_hit, make_post

from bot.commands import (
    ChannelsCommand,
    CommandError,
    CommandHandler,
    HelpCommand,
    RecentCommand,
    SearchCommand,
    StatsCommand,
    parse_command,
    parse_duration,
)
from bot.commands.handler import format_age
from bot.domain import Severity
from bot.storage import Store

# -- parsing (pure) -----------------------------------------------------------


def test_parse_recent_variants() -> None:
    assert parse_command("/recent") == RecentCommand()
    assert parse_command("/recent 10 withdrawal") == RecentCommand(10, "withdrawal")
    assert parse_command("/recent @FrontNews 3") == RecentCommand(3, channel="FrontNews")
    assert parse_command("/recent@milwatch_bot 7") == RecentCommand(7)
    assert parse_command("/RECENT 500") == RecentCommand(50, clamped=True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/recent 0", "between 1 and 50"),
        ("/recent -3", "between 1 and 50"),
        ("/recent 5 6", "N given twice"),
        ("/recent a b", "Only one topic"),
        ("/recent @a @b", "Only one @channel"),
        ("/recent @bad!name", "not a channel name"),
        ("/search", "Nothing to search for"),
        ("/search x", "at least 2 characters"),
        ("/search отвод since", "needs a period"),
        ("/search отвод since 7 fortnights", "Bad period"),
        ("/search отвод since 7x", "Bad period"),
        ("/search отвод since 0h", "Bad period"),
        ("/stats 7x", "Bad period"),
        ("/stats 7d 1h", "Bad period"),
        ("/stats 7 d x", "Too many arguments"),
        ("/frobnicate", "Unknown command /frobnicate"),
        ("hello", "Commands start with '/'"),
    ],
)
def test_parse_errors_name_the_problem(text: str, fragment: str) -> None:
    result = parse_command(text)
    assert isinstance(result, CommandError)
    assert fragment in result.message


def test_parse_search_and_stats() -> None:
    assert parse_command("/search отвод войск") == SearchCommand("отвод войск")
    result = parse_command("/search отвод войск since 7d")
    assert isinstance(result, SearchCommand) and result.query == "отвод войск"
    assert result.since is not None and result.since.delta == timedelta(days=7)
    stats = parse_command("/stats 24ч")
    assert isinstance(stats, StatsCommand) and stats.window.delta == timedelta(hours=24)
    spelled = parse_command("/stats 2 weeks")
    assert isinstance(spelled, StatsCommand) and spelled.window.label == "2w"
    default = parse_command("/stats")
    assert isinstance(default, StatsCommand) and default.window.delta == timedelta(hours=24)
    assert parse_command("/help") == HelpCommand() == parse_command("/start")
    assert parse_command("/search retreat since the war") == SearchCommand("retreat since the war")
    spaced = parse_command("/search since when since 7 days")
    assert isinstance(spaced, SearchCommand) and spaced.query == "since when"
    assert spaced.since is not None and spaced.since.label == "7d"
    assert parse_duration("2w") is not None and parse_duration("999d") is None


# -- replies ------------------------------------------------------------------


@pytest.fixture
async def filled(store: Store, clock: FakeClock) -> Store:
    clock.now = T0 + timedelta(days=10)
    rows = [
        ("frontnews", 1, T0, "Начался отвод войск с плацдарма у Херсона", "отвод", "withdrawal"),
        (
            "frontnews",
            2,
            T0 + timedelta(days=9),
            "Объявлена эвакуация жителей",
            "эвакуация",
            "evacuation",
        ),
        (
            "milblog",
            5,
            T0 + timedelta(days=9, hours=1),
            "ОТВОД подразделений <b>&amp;</b>",
            "ОТВОД",
            "withdrawal",
        ),
    ]
    for channel, msg_id, date, text, word, topic in rows:
        post_id = (await store.add_post(make_post(text, msg_id, channel, date))).post_id
        hit = make_hit(text, [word], rule_id=f"{topic}.ru", topic=topic, severity=Severity.HIGH)
        (hit_id,) = await store.add_hits(post_id, [hit], "v1")
        await store.enqueue_alert(hit_id, "analysts")
    await store.add_post(make_post("Всё спокойно, погода хорошая", 9, "milblog", T0))
    due = await store.due_alerts(clock.now)
    await store.mark_sent(due[0].alert_id)
    return store


@pytest.fixture
def handler(filled: Store, clock: FakeClock) -> CommandHandler:
    return CommandHandler(filled, clock)


async def test_recent_reply(handler: CommandHandler) -> None:
    reply = await handler.handle("/recent")
    lines = reply.splitlines()
    assert lines[0] == "Latest 3 post(s) with hits:"
    assert lines[1] == ("1. 2024-05-10 13:00 UTC · @milblog · withdrawal · withdrawal.ru · high")
    assert lines[2] == "   [[ОТВОД]] подразделений <b>&amp;</b>"  # plain text, raw
    assert lines[3] == "   https://t.me/milblog/5"
    assert "@frontnews · evacuation" in reply
    assert reply.index("milblog") < reply.index("evacuation") < reply.index("плацдарма")


async def test_recent_lists_a_post_with_several_rules_once(store: Store, clock: FakeClock) -> None:
    text = "Отвод войск и эвакуация семей из Херсона"
    post_id = (await store.add_post(make_post(text, 1, "frontnews", T0))).post_id
    await store.add_hits(post_id, [make_hit(text, ["Отвод", "войск"], rule_id="withdrawal.ru", severity=Severity.MEDIUM),
                                   make_hit(text, ["эвакуация"], rule_id="evacuation.ru", topic="evacuation")], "v1")
    other = (await store.add_post(make_post("Отвод техники", 2, "milblog", T0 - timedelta(hours=1)))).post_id
    await store.add_hits(other, [make_hit("Отвод техники", ["Отвод"], rule_id="withdrawal.ru")], "v1")
    reply = await CommandHandler(store, clock).handle("/recent")
    assert reply.splitlines() == [
        "Latest 2 post(s) with hits:",
        "1. 2024-05-01 12:00 UTC · @frontnews · withdrawal + evacuation · withdrawal.ru + evacuation.ru · high",
        "   [[Отвод]] [[войск]] и [[эвакуация]] семей из Херсона",
        "   https://t.me/frontnews/1",
        "2. 2024-05-01 11:00 UTC · @milblog · withdrawal · withdrawal.ru · high",
        "   [[Отвод]] техники",
        "   https://t.me/milblog/2",
    ]
    only = await CommandHandler(store, clock).handle("/recent 1 evacuation")
    assert only.splitlines()[:2] == [
        "Latest 1 post(s) with hits (topic evacuation):",
        "1. 2024-05-01 12:00 UTC · @frontnews · evacuation · evacuation.ru · high",
    ]


async def test_recent_filters(handler: CommandHandler) -> None:
    by_topic = await handler.handle("/recent 10 withdrawal")
    assert by_topic.startswith("Latest 2 post(s) with hits (topic withdrawal):")
    assert "evacuation" not in by_topic.split(":", 1)[1]
    by_channel = await handler.handle("/recent @frontnews")
    assert by_channel.startswith("Latest 2 post(s) with hits (@frontnews):") and "milblog" not in by_channel
    one = await handler.handle("/recent 1")
    assert one.startswith("Latest 1 post(s) with hits:") and "2." not in one
    clamped = await handler.handle("/recent 99")
    assert "(at most 50 are shown)" in clamped


async def test_recent_unknown_topic_lists_known(handler: CommandHandler) -> None:
    reply = await handler.handle("/recent retreat")
    assert reply == "No hits (topic retreat). Known topics: evacuation, withdrawal."


async def test_search_reply(handler: CommandHandler) -> None:
    reply = await handler.handle("/search отвод")
    assert reply.splitlines()[0] == "2 post(s) containing “отвод”, newest first:"
    assert "@milblog · hits: withdrawal (withdrawal.ru)" in reply
    assert "[[ОТВОД]] подразделений" in reply and "[[отвод]] войск" in reply
    assert "https://t.me/frontnews/1" in reply


async def test_search_since_and_yo(handler: CommandHandler) -> None:
    recent_only = await handler.handle("/search отвод since 7d")
    assert recent_only.startswith("1 post(s) containing “отвод” in the last 7d")
    assert "milblog" in recent_only and "frontnews" not in recent_only
    yo = await handler.handle("/search ВСЕ СПОКОЙНО")
    assert "[[Всё спокойно]], погода" in yo and " · hits" not in yo
    none = await handler.handle("/search танки since 24h")
    assert none == "No posts contain “танки” in the last 24h."


async def test_search_says_when_more_posts_match_than_it_shows(store: Store, clock: FakeClock) -> None:
    for msg_id in range(1, 12):
        await store.add_post(make_post(f"Хмеймим, день {msg_id}", msg_id, "syria", T0 + timedelta(hours=msg_id)))
    handler = CommandHandler(store, clock)
    reply = await handler.handle("/search хмеймим")
    assert reply.splitlines()[0] == (
        "11 post(s) containing “хмеймим”; the newest 10 are shown (narrow it down: "
        "/search хмеймим since 24h, or more words):"
    )
    assert "день 11" in reply and "день 2" in reply and "день 1\n" not in reply + "\n"
    ten = await handler.handle("/search день 1")  # 1, 10, 11: all shown, nothing said
    assert ten.splitlines()[0] == "3 post(s) containing “день 1”, newest first:"


async def test_stats_reply(handler: CommandHandler, clock: FakeClock) -> None:
    reply = await handler.handle("/stats 7d")
    assert reply.splitlines() == [
        "Stats for the last 7d (since 2024-05-04 12:00 UTC):",
        "Posts read: 4",
        "Hits: 3",
        "  by topic: withdrawal 2, evacuation 1",
        "  by channel: @frontnews 2, @milblog 1",
        "Alerts: pending 2, sent 1, failed 0",
        "All time: 4 posts, 3 hits, 3 alerts, 2 channels",
    ]
    clock.advance(timedelta(days=2).total_seconds())
    later = await handler.handle("/stats")
    assert "Posts read: 0" in later and "by topic: none" in later


async def test_help_and_errors(handler: CommandHandler) -> None:
    help_text = await handler.handle("/help")
    for command in ("/recent", "/search", "/stats", "/help"):
        assert command in help_text
    assert "/rules" not in help_text
    unknown = await handler.handle("/foo")
    assert unknown.startswith("Unknown command /foo.") and "/search TEXT" in unknown
    bad = await handler.handle("/recent 0")
    assert bad == "N must be between 1 and 50, got 0. Usage: /recent [N] [topic|@channel]"


async def test_rules_command_when_summary_available(filled: Store, clock: FakeClock) -> None:
    handler = CommandHandler(filled, clock, rules_summary=lambda: "2 rules, version abc")
    assert "/rules" in await handler.handle("/help")
    assert await handler.handle("/rules") == "2 rules, version abc"
    assert (await CommandHandler(filled, clock).handle("/rules")).startswith("/rules is not")


async def test_store_failure_gives_a_reply(filled: Store, clock: FakeClock) -> None:
    await filled.close()
    reply = await CommandHandler(filled, clock).handle("/recent")
    assert "internal error" in reply


async def test_channels_reply(filled: Store, handler: CommandHandler) -> None:
    await filled.set_channel_error("milblog", "ChannelPrivateError: the channel is private")
    await filled.upsert_channel("Quiet_one", "Тихий <канал>")
    assert parse_command("/channels@milwatch_bot") == ChannelsCommand()
    reply = await handler.handle("/channels")
    # Worst first; two posts are too few to know a channel's rhythm.
    assert reply.splitlines() == [
        "3 channel(s), worst first: 1 error, 0 silent, 1 quiet, 1 ok",
        "🔴 error · @milblog · last post 2024-05-10 13:00 UTC (#9), 23h ago",
        "   ChannelPrivateError: the channel is private",
        "🟡 quiet · @Quiet_one (Тихий <канал>)",
        "   no post seen yet",
        "🟢 ok · @frontnews · last post 2024-05-10 12:00 UTC (#2), 1d ago",
        "   rhythm still being learned (2 post(s) in 28 days)",
    ]
    assert "/channels" in handler.help_text()


async def test_channels_reply_shows_posts_that_failed_to_store(
    filled: Store, handler: CommandHandler
) -> None:
    broken = make_post("отвод", 10, "milblog")
    for _ in range(3):  # the third failure makes it a dead letter
        await filled.record_ingest_failure(
            "milblog", "10", broken, "RuntimeError: bug", lambda n: 5, 3
        )
    await filled.record_ingest_failure("milblog", "11", None, "ValueError: no date", lambda n: 5, 3)
    reply = await handler.handle("/channels")
    assert (
        "   posts that failed to store: 1 being retried, 1 dead letter(s)"
        " (`milwatch status`, `milwatch replay`)"
    ) in reply.splitlines()
    assert reply.count("failed to store") == 1  # only under @milblog


async def test_channels_reply_when_empty(store: Store, clock: FakeClock) -> None:
    reply = await CommandHandler(store, clock).handle("/channels")
    assert reply.startswith("No channels yet")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "in the future (clock skew?)"),
        (0, "just now"),
        (59, "just now"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (3600, "1h ago"),
        (3600 + 20 * 60, "1h 20m ago"),
        (86400, "1d ago"),
        (2 * 86400 + 4 * 3600 + 59, "2d 4h ago"),
    ],
)
def test_format_age(seconds: int, expected: str) -> None:
    assert format_age(timedelta(seconds=seconds)) == expected
