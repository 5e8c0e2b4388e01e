"""`milwatch run` end to end, offline: run_live with its real wiring (shipped rules, SQLite,
pipeline, outbox dispatcher with Telegram rate limits, bot commands, rules hot reload,
heartbeat) and REAL Telethon clients whose network edge is faked (telegram_fakes):

- the user account is an OfflineClient over FakeTelegram serving the channel's history;
- the bot is a TelegramClient whose MTProto sender is the recording OfflineNetwork, so
  Telethon's own send_message, HTML parsing, entity resolution and update dispatch run.

Only connect/disconnect are stubbed; nothing opens a socket (a guard below makes sure).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import os
import socket
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram_fakes import FakeTelegram, OfflineClient, OfflineNetwork
from telethon import TelegramClient, functions, types
from telethon.helpers import add_surrogate, del_surrogate
from telethon.sessions import MemorySession

from bot.app import run_live
from bot.compiled import compiled_matcher
from bot.health import HEARTBEAT_FILE
from bot.matching import Morphology
from bot.rules import load_rules
from bot.settings import Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "frontline_watch"
CHANNEL_ID = 4455667
ALERT_CHAT = -1001234567890
ALERT_CHANNEL_ID = 1234567890
OPERATOR_CHAT = -1009876543210
OPERATOR_CHANNEL_ID = 9876543210
ANALYST = 1001
STRANGER = 3003
WITHDRAWAL = "Начался вывод войск из Сирии"
NOISE = "Погода сегодня хорошая, в Москве солнечно"
POST_URL = f"https://t.me/{CHANNEL}/1"
# Upper bound for each wait; a normal run needs about 2 s in all, most of it the
# Telegram limit of one message per second per chat between the alert cards.
WAIT = 10.0
FAST = {"dispatch_interval": 0.01, "reload_interval": 0.01, "heartbeat_interval": 0.01}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any attempt to connect a socket anywhere but loopback."""

    def guarded(original: Callable[..., Any]) -> Callable[..., Any]:
        def connect(sock: socket.socket, address: Any, *args: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                host = address[0]
                try:
                    loopback = ipaddress.ip_address(host).is_loopback
                except ValueError:
                    loopback = host == "localhost"
                if not loopback:
                    raise AssertionError(f"test tried to open a connection to {address!r}")
            return original(sock, address, *args)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))


# -- the two clients ------------------------------------------------------------------


class UserClient(OfflineClient):
    """The user account: its 'connection' stays up until disconnect(), like a real one."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        self.closed.clear()
        await super().connect()

    async def disconnect(self) -> None:
        await super().disconnect()
        self.closed.set()

    async def run_until_disconnected(self) -> None:
        await self.closed.wait()


class BotClient(TelegramClient):  # type: ignore[misc]
    """A real TelegramClient for the bot; every request goes to OfflineNetwork.

    Only connecting is stubbed (the session counts as signed in), so no socket is opened.
    """

    def __init__(self, network: OfflineNetwork) -> None:
        super().__init__(MemorySession(), 1, "x" * 32, raise_last_call_error=True)
        self._sender = network
        self.network = network
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        self.closed.clear()

    async def is_user_authorized(self) -> bool:
        return True

    async def disconnect(self) -> None:
        self.closed.set()

    async def run_until_disconnected(self) -> None:
        await self.closed.wait()


# -- the service under test -----------------------------------------------------------


@dataclass
class Service:
    """One run_live task with its fakes and captured output."""

    settings: Settings
    telegram: FakeTelegram
    network: OfflineNetwork = field(default_factory=OfflineNetwork)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)
    bot: BotClient | None = None
    user: UserClient | None = None
    task: asyncio.Task[int] | None = None
    options: dict[str, Any] = field(default_factory=dict)  # more run_live keywords

    def make_clients(self, settings: Settings) -> tuple[TelegramClient, TelegramClient]:
        assert settings is self.settings
        self.bot = BotClient(self.network)
        self.user = UserClient(self.telegram)
        return self.user, self.bot

    async def start(self) -> None:
        self.task = asyncio.create_task(
            run_live(
                self.settings,
                self.out,
                self.err,
                make_clients=self.make_clients,
                stop=self.stop,
                **{**FAST, **self.options},
            )
        )
        await self.until(lambda: "milwatch running" in self.out.getvalue(), "the service to start")

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll condition until it holds; fail if the service ended or WAIT passed."""
        assert self.task is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not condition():
            if self.task.done():
                raise AssertionError(f"run_live ended while waiting for {what}: {self.output()}")
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.output()}")
            await asyncio.sleep(0.01)

    async def settle(self, seconds: float = 0.2) -> None:
        """Let the service run for a moment (many dispatch and reload ticks)."""
        await asyncio.sleep(seconds)
        assert self.task is not None and not self.task.done(), self.output()

    async def command(self, text: str, user_id: int, msg_id: int) -> list[str]:
        """A private message to the bot, through Telethon's real dispatch; the replies."""
        assert self.bot is not None
        before = len(self.replies_to(user_id))
        message = types.Message(
            id=msg_id, peer_id=types.PeerUser(user_id), date=datetime.now(UTC), message=text
        )
        update = types.UpdateNewMessage(message=message, pts=msg_id, pts_count=1)
        update._entities = {
            user_id: types.User(id=user_id, access_hash=user_id * 3, first_name="a")
        }
        await self.bot._dispatch_update(update)
        return self.replies_to(user_id)[before:]

    def replies_to(self, user_id: int) -> list[str]:
        return [
            r.message
            for r in self.network.messages
            if isinstance(r.peer, types.InputPeerUser) and r.peer.user_id == user_id
        ]

    def sent_to(self, channel_id: int) -> list[functions.messages.SendMessageRequest]:
        return [
            r
            for r in self.network.messages
            if isinstance(r.peer, types.InputPeerChannel) and r.peer.channel_id == channel_id
        ]

    async def finish(self) -> int:
        assert self.task is not None
        self.stop.set()
        return await asyncio.wait_for(self.task, WAIT)

    def output(self) -> str:
        return f"\nstdout: {self.out.getvalue()!r}\nstderr: {self.err.getvalue()!r}"


def live_settings(tmp_path: Path, rules: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "user.session").write_bytes(b"")  # made by `milwatch login`; never opened here
    return settings_from_mapping(
        {
            "TG_API_ID": "123456",
            "TG_API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": "123:ABC",
            "ALERT_CHAT_ID": str(ALERT_CHAT),
            "OPERATOR_CHAT_ID": str(OPERATOR_CHAT),
            "ANALYST_IDS": str(ANALYST),
            "CHANNELS": f"https://t.me/{CHANNEL}",
            "MILWATCH_DATA_DIR": str(data),
            "MILWATCH_RULES": str(rules),
        }
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


def entity_texts(request: Any, kind: type) -> list[str]:
    text = add_surrogate(request.message)  # entity offsets count UTF-16 code units
    return [
        del_surrogate(text[e.offset : e.offset + e.length])
        for e in request.entities or []
        if isinstance(e, kind)
    ]


def replace_file(path: Path, text: str) -> None:
    """Write atomically, as an editor does: the reload never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules the test may break (MILWATCH_RULES points here)."""
    path = tmp_path / "rules.yaml"
    path.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


async def test_live_service_end_to_end(tmp_path: Path, rules: Path, morph: Morphology) -> None:
    good_rules = rules.read_text(encoding="utf-8")
    ruleset = load_rules(rules)
    matcher = compiled_matcher(ruleset, morph)
    # The shipped rules decide what is expected: one alert per (post, rule) in the
    # outbox, delivered as ONE card per post naming every rule (several rules hit it).
    expected = {hit.rule_id: hit for hit in matcher.match(WITHDRAWAL)}
    assert len(expected) > 1 and not matcher.match(NOISE)

    settings = live_settings(tmp_path, rules)
    telegram = FakeTelegram()
    telegram.add_channel(CHANNEL_ID, CHANNEL, title="Front line")
    now = datetime.now(UTC)  # run_live's clock is the wall clock: posts inside the window
    telegram.post(CHANNEL_ID, 1, WITHDRAWAL, date=now - timedelta(minutes=10))
    telegram.post(CHANNEL_ID, 2, NOISE, date=now - timedelta(minutes=5))

    service = Service(settings, telegram)
    await service.start()
    assert service.network.of(functions.bots.SetBotCommandsRequest)  # the '/' menu is set

    # -- the history's withdrawal post becomes one card in the alert chat, the noise nothing
    await service.until(lambda: len(service.sent_to(ALERT_CHANNEL_ID)) >= 1, "the alert card")
    await service.settle()
    assert telegram.names("get_entity") == [CHANNEL]  # resolved once, by the username
    (card,) = service.sent_to(ALERT_CHANNEL_ID)  # one card, not one per rule
    named = " ".join(entity_texts(card, types.MessageEntityCode))
    assert all(rule_id in named for rule_id in expected), named
    assert card.no_webpage is True
    assert "<b>" not in card.message  # sent as HTML: tags became entities
    highlighted = entity_texts(card, types.MessageEntityBold)
    for hit in expected.values():
        for start, end in hit.spans:
            assert WITHDRAWAL[start:end] in " ".join(highlighted), (hit.rule_id, highlighted)
    links = [e.url for e in card.entities if isinstance(e, types.MessageEntityTextUrl)]
    # The invisible delivery marker names the card's outbox rows; then the post's link.
    marker = POST_URL + "#mw" + ".".join(str(i) for i in range(1, len(expected) + 1))
    assert links == [marker, POST_URL]
    assert NOISE not in card.message
    assert service.sent_to(OPERATOR_CHANNEL_ID) == []

    # -- analysts get answers from the store; strangers get no data
    (recent,) = await service.command("/recent", ANALYST, 10)
    assert recent.startswith("Latest 1 post(s) with hits:")  # one post, several rules
    assert " + ".join(expected) in recent
    assert POST_URL in recent and "Сирии" in recent and NOISE not in recent
    (refusal,) = await service.command("/recent", STRANGER, 11)
    assert refusal.startswith("Not authorised") and str(STRANGER) in refusal
    assert "t.me" not in refusal and "Сирии" not in refusal
    assert await service.command("/search Сирии", STRANGER, 12) == []  # refused once an hour

    # -- the heartbeat follows the store
    heartbeat = settings.data_dir / HEARTBEAT_FILE
    await service.until(
        lambda: (
            heartbeat.exists()
            and f"2 posts, {len(expected)} alerts" in heartbeat.read_text(encoding="utf-8")
        ),
        "the heartbeat",
    )

    # -- a broken rules file is announced to the operators; the last good rules stay
    broken = (
        good_rules
        + "\n  - id: withdrawal.typo\n    topic: withdrawal\n    match: pullout NEAR troopz\n"
    )
    line = broken.count("\n")
    col = broken.rstrip("\n").rsplit("\n", 1)[1].index("troopz") + 1
    replace_file(rules, broken)
    await service.until(lambda: service.sent_to(OPERATOR_CHANNEL_ID) != [], "the operator notice")
    await service.settle()
    (notice,) = service.sent_to(OPERATOR_CHANNEL_ID)  # once, not at every check
    assert notice.message.startswith("rules file NOT loaded, the last good rules stay active:")
    assert f"{rules}:{line}:{col}: " in notice.message
    assert "unknown concept 'troopz'" in notice.message
    assert not notice.entities  # plain text: the problem is shown literally
    (active,) = await service.command("/rules", ANALYST, 13)
    assert ruleset.version in active  # still serving, with the last good rules
    assert len(service.sent_to(ALERT_CHANNEL_ID)) == 1

    # -- stopping: exit code 0, the outbox is kept, everything is in the database
    assert await service.finish() == 0
    assert "unsent alerts stay in the outbox" in service.out.getvalue()
    assert service.err.getvalue() == ""
    db = settings.database
    assert rows(db, "SELECT msg_id, text FROM posts ORDER BY msg_id") == [
        ("1", WITHDRAWAL),
        ("2", NOISE),
    ]
    assert sorted(
        rows(db, "SELECT p.msg_id, h.rule_id FROM hits h JOIN posts p ON p.id = h.post_id")
    ) == [("1", rule_id) for rule_id in sorted(expected)]
    assert rows(db, "SELECT status, COUNT(*) FROM alerts GROUP BY status") == [
        ("sent", len(expected))
    ]

    # -- a restart on the same data directory with the same history alerts nobody again
    replace_file(rules, good_rules)
    telegram.calls.clear()
    again = Service(settings, telegram)
    await again.start()
    await again.until(lambda: bool(telegram.names("iter_messages")), "the restart's backfill")
    await again.settle()
    ((_, _, min_id, reverse),) = telegram.names("iter_messages")
    assert (min_id, reverse) == (2, True)  # resumed after the stored cursor
    assert telegram.names("get_entity") == []  # the stored channel id is reused
    assert again.network.messages == []  # no card, no notice
    assert await again.finish() == 0
    assert rows(db, "SELECT COUNT(*) FROM posts") == [(2,)]
    assert rows(db, "SELECT status, COUNT(*) FROM alerts GROUP BY status") == [
        ("sent", len(expected))
    ]
