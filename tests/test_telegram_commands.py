"""BotCommandAdapter, offline: real TL messages in, replies through a real (never-connected)
TelegramClient whose network is the recording OfflineNetwork, answers from a real Store."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from telegram_fakes import OfflineNetwork, offline_client
from telethon import TelegramClient, events, functions, types
from telethon.extensions import html as tl_html

from bot.commands import CommandHandler
from bot.domain import Severity
from bot.storage import Store
from bot.telegram.bot_commands import (
    INTERNAL_ERROR_REPLY,
    MENU,
    BotCommandAdapter,
    command_name,
    paginate,
)

ANALYST = 1001
OPERATOR = 2002
STRANGER = 3003
GROUP = 77  # a basic group: PeerChat(77), chat_id -77
SUPERGROUP = 880088  # PeerChannel, megagroup
HOSTILE = 'ОТВОД подразделений <b>&amp;</b> <a href="javascript:x">жми</a>'


class Seconds:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def filled(store: Store, clock: FakeClock) -> Store:
    clock.now = T0 + timedelta(days=1)
    rows = [
        ("frontnews", 1, "Начался отвод войск с плацдарма", "отвод", "withdrawal"),
        ("milblog", 5, HOSTILE, "ОТВОД", "withdrawal"),
    ]
    for channel, msg_id, text, word, topic in rows:
        post_id = (await store.add_post(make_post(text, msg_id, channel, T0))).post_id
        hit = make_hit(text, [word], rule_id=f"{topic}.ru", topic=topic, severity=Severity.HIGH)
        await store.add_hits(post_id, [hit], "v1")
    return store


@pytest.fixture
def network() -> OfflineNetwork:
    return OfflineNetwork()


@pytest.fixture
def bot(network: OfflineNetwork) -> TelegramClient:
    return offline_client(network)


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


def make_adapter(
    bot: TelegramClient, handler: Any, seconds: Seconds | None = None
) -> BotCommandAdapter:
    return BotCommandAdapter(
        bot, handler, {ANALYST}, {OPERATOR}, bot_username="mw_bot", clock=seconds or Seconds()
    )


@pytest.fixture
def adapter(bot: TelegramClient, filled: Store, clock: FakeClock, seconds: Seconds) -> Any:
    handler = CommandHandler(filled, clock, rules_summary=lambda: "2 rules, version abc")
    return make_adapter(bot, handler, seconds)


def _user(user_id: int) -> types.User:
    return types.User(id=user_id, access_hash=user_id * 3, first_name="x")


def private_event(client: TelegramClient, text: str, user_id: int, msg_id: int = 10) -> Any:
    """A private message to the bot, as Telegram delivers it (from_id empty, peer = user)."""
    message = types.Message(id=msg_id, peer_id=types.PeerUser(user_id), date=T0, message=text)
    event = events.NewMessage.Event(message)
    event._entities = {user_id: _user(user_id)}
    event._set_client(client)
    return event


def group_event(
    client: TelegramClient, text: str, user_id: int, *, supergroup: bool = False, msg_id: int = 20
) -> Any:
    peer: Any = types.PeerChannel(SUPERGROUP) if supergroup else types.PeerChat(GROUP)
    message = types.Message(
        id=msg_id, peer_id=peer, from_id=types.PeerUser(user_id), date=T0, message=text
    )
    event = events.NewMessage.Event(message)
    entities: dict[int, Any] = {user_id: _user(user_id)}
    if supergroup:
        entities[-1000000000000 - SUPERGROUP] = types.Channel(
            id=SUPERGROUP,
            title="analysts",
            photo=types.ChatPhotoEmpty(),
            date=T0,
            access_hash=5,
            megagroup=True,
        )
    event._entities = entities
    event._set_client(client)
    return event


def replies(network: OfflineNetwork) -> list[str]:
    return [r.message for r in network.messages]


# -- authorised analysts --------------------------------------------------------------


async def test_analyst_gets_recent_from_the_store(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(private_event(bot, "/recent", ANALYST))
    (request,) = network.messages
    assert request.peer == types.InputPeerUser(user_id=ANALYST, access_hash=ANALYST * 3)
    assert request.no_webpage is True
    assert request.message.startswith("Latest 2 post(s) with hits:")
    assert "https://t.me/frontnews/1" in request.message
    assert "[[отвод]] войск с плацдарма" in request.message


async def test_html_in_stored_posts_is_escaped_in_replies(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(private_event(bot, "/search отвод", ANALYST))
    (request,) = network.messages
    # The stored text arrives literally; none of its tags became formatting or links.
    assert '<b>&amp;</b> <a href="javascript:x">жми</a>' in request.message
    assert not request.entities


async def test_operator_in_a_group_gets_a_threaded_reply(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(group_event(bot, "/stats@mw_bot 7d", OPERATOR, msg_id=33))
    (request,) = network.messages
    assert request.peer == types.InputPeerChat(chat_id=GROUP)
    assert request.reply_to == types.InputReplyToMessage(reply_to_msg_id=33)
    assert request.message.startswith("Stats for the last 7d")


async def test_supergroup_commands_work_too(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(group_event(bot, "/channels", ANALYST, supergroup=True))
    (request,) = network.messages
    assert isinstance(request.peer, types.InputPeerChannel)
    assert request.message.startswith("2 channel(s), worst first:")


async def test_help_lists_every_command(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(private_event(bot, "/help", ANALYST))
    await adapter.on_message(private_event(bot, "/start", ANALYST))
    help_text, start_text = replies(network)
    for name, _ in MENU:
        assert f"/{name}" in help_text
    assert start_text == help_text


async def test_rules_uses_the_summary(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(private_event(bot, "/rules", ANALYST))
    assert replies(network) == ["2 rules, version abc"]


async def test_long_replies_are_split_under_the_limit(
    bot: TelegramClient, network: OfflineNetwork, filled: Store, clock: FakeClock
) -> None:
    lines = [f"rule {i}: отвод & <войск> " + "x" * 100 for i in range(200)]
    summary = "\n".join(lines)
    handler = CommandHandler(filled, clock, rules_summary=lambda: summary)
    await make_adapter(bot, handler).on_message(private_event(bot, "/rules", ANALYST))
    sent = replies(network)
    assert len(sent) >= 6
    assert all(len(m.encode("utf-16-le")) // 2 <= 4096 for m in sent)
    assert "\n".join(sent) == summary  # nothing lost, nothing reordered, split between lines


async def test_unknown_command_in_private_gets_help_but_is_ignored_in_groups(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    await adapter.on_message(private_event(bot, "/frobnicate", ANALYST))
    await adapter.on_message(group_event(bot, "/frobnicate", ANALYST))
    await adapter.on_message(group_event(bot, "/recent@other_bot", ANALYST))
    await adapter.on_message(private_event(bot, "just chatting", ANALYST))
    (only,) = replies(network)
    assert only.startswith("Unknown command /frobnicate.") and "/recent" in only


# -- everyone else ----------------------------------------------------------------------


async def test_stranger_gets_no_data_and_the_attempt_is_logged(
    adapter: BotCommandAdapter,
    bot: TelegramClient,
    network: OfflineNetwork,
    seconds: Seconds,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.telegram.bot_commands"):
        await adapter.on_message(private_event(bot, "/search секретный запрос", STRANGER))
        await adapter.on_message(private_event(bot, "/recent", STRANGER))  # within the hour
    (reply,) = replies(network)
    assert reply.startswith("Not authorised.") and str(STRANGER) in reply
    assert "отвод" not in reply.lower() and "frontnews" not in reply
    refused = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(refused) == 2
    assert str(STRANGER) in refused[0].getMessage() and "/search" in refused[0].getMessage()
    assert "секретный" not in caplog.text  # command name only, never the text
    seconds.now += 3601
    await adapter.on_message(private_event(bot, "/recent", STRANGER))
    assert len(replies(network)) == 2


async def test_stranger_in_a_group_gets_silence(
    adapter: BotCommandAdapter,
    bot: TelegramClient,
    network: OfflineNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.telegram.bot_commands"):
        await adapter.on_message(group_event(bot, "/recent", STRANGER))
    assert network.requests == []
    assert f"user {STRANGER}" in caplog.text


async def test_anonymous_group_admin_is_not_authorised(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    message = types.Message(
        id=1,
        peer_id=types.PeerChat(GROUP),
        from_id=types.PeerChannel(GROUP),
        date=T0,
        message="/recent",
    )
    event = events.NewMessage.Event(message)
    event._set_client(bot)
    await adapter.on_message(event)
    assert network.requests == []


# -- failures -------------------------------------------------------------------------


class ExplodingHandler:
    async def handle(self, text: str, **kwargs: object) -> str:
        raise RuntimeError("boom")


async def test_one_error_boundary_per_command(
    bot: TelegramClient, network: OfflineNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = make_adapter(bot, ExplodingHandler())
    with caplog.at_level(logging.ERROR, logger="bot.telegram.bot_commands"):
        await adapter.on_message(private_event(bot, "/recent", ANALYST))
    assert replies(network) == [INTERNAL_ERROR_REPLY]
    (record,) = caplog.records
    assert record.exc_info is not None and "/recent" in record.getMessage()


# -- wiring into Telethon -------------------------------------------------------------


async def test_registered_handler_answers_a_dispatched_update(
    adapter: BotCommandAdapter, bot: TelegramClient, network: OfflineNetwork
) -> None:
    adapter.register()
    message = types.Message(id=3, peer_id=types.PeerUser(ANALYST), date=T0, message="/recent 1")
    update = types.UpdateNewMessage(message=message, pts=1, pts_count=1)
    update._entities = {ANALYST: _user(ANALYST)}
    await bot._dispatch_update(update)
    assert replies(network)[-1].startswith("Latest 1 post(s) with hits:")
    adapter.unregister()
    await bot._dispatch_update(update)
    assert len(network.messages) == 1


async def test_register_menu_sets_the_bot_commands(
    adapter: BotCommandAdapter, network: OfflineNetwork
) -> None:
    await adapter.register_menu()
    (request,) = network.of(functions.bots.SetBotCommandsRequest)
    assert [c.command for c in request.commands] == [
        "recent",
        "search",
        "stats",
        "channels",
        "rules",
        "help",
    ]
    assert all(3 <= len(c.description) <= 256 for c in request.commands)
    assert isinstance(request.scope, types.BotCommandScopeDefault)


async def test_start_learns_the_bot_username(
    bot: TelegramClient, network: OfflineNetwork, filled: Store, clock: FakeClock
) -> None:
    adapter = BotCommandAdapter(bot, CommandHandler(filled, clock), {ANALYST}, set())
    await adapter.start()
    await adapter.on_message(group_event(bot, "/recent@someone_else", ANALYST))
    await adapter.on_message(group_event(bot, "/recent@MW_BOT 1", ANALYST))
    assert len(network.messages) == 1
    adapter.unregister()


# -- pure helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/recent", "recent"),
        ("/Recent 5", "recent"),
        ("/recent@mw_bot 5", "recent"),
        ("/recent@MW_Bot", "recent"),
        ("/recent@other_bot", None),
        ("/recent-5", None),
        ("recent", None),
        ("/", None),
        ("  /help", "help"),
    ],
)
def test_command_name(text: str, expected: str | None) -> None:
    assert command_name(text, "mw_bot") == expected


def test_paginate_never_splits_an_entity() -> None:
    text = "&" * 5000  # one line whose escaped form (&amp; each) is 25,000 characters
    pages = paginate(text, limit=4096)
    assert all(len(page) <= 4096 for page in pages)
    assert "".join(tl_html.parse(page)[0] for page in pages) == text


def test_paginate_keeps_lines_whole_when_they_fit() -> None:
    lines = [f"{i:03d} <тег> & текст" for i in range(300)]
    pages = paginate("\n".join(lines), limit=1000)
    assert len(pages) > 1 and all(len(page) <= 1000 for page in pages)
    assert [tl_html.parse(p)[0] for p in pages] == [
        "\n".join(chunk) for chunk in _regroup(lines, pages)
    ]


def _regroup(lines: list[str], pages: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    index = 0
    for page in pages:
        count = page.count("\n") + 1
        out.append(lines[index : index + count])
        index += count
    assert index == len(lines)
    return out
