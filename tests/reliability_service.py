"""One life of `milwatch run` for the kill-9 suite (tests/test_reliability.py), as a process.

Runs the real run_live (its own SIGTERM handling, SQLite file, pipeline, dispatcher,
rate limits) with the recording Telegram fakes of tests/telegram_fakes.py, and a fake
Telegram whose state outlives the process, in files under WORK:

- the channel publishes post i at START + i / RATE (START in WORK/start); posts
  published while this process lives are pushed as live updates through Telethon's
  real dispatch, the rest are found by the listener's backfill;
- every message the bot sends is appended to WORK/chat.jsonl (alert chat) or
  WORK/notices.jsonl (operator chat) with one write, before Telegram "answers": a
  kill after that line and before the answer is a kill between send and mark-sent;
- the user account reads the alert chat back from WORK/chat.jsonl, unless this life
  is told it cannot (then cards in doubt go out again marked as possible repeats).

Usage: python tests/reliability_service.py WORK LIFE POSTS RATE [--kill-after-card K]
[--unreadable]. LIFE numbers this process in the files; --kill-after-card K makes the
process SIGKILL itself right after Telegram got its K-th alert-chat message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path[:0] = [str(ROOT), str(TESTS)]

from telegram_fakes import FakeTelegram, OfflineNetwork  # noqa: E402
from telethon import TelegramClient, errors, functions, types  # noqa: E402
from test_live_service import BotClient, UserClient  # noqa: E402

from bot.app import run_live  # noqa: E402
from bot.settings import Settings, settings_from_mapping  # noqa: E402

CHANNEL = "frontline_watch"
CHANNEL_ID = 4455667
ALERT_CHANNEL_ID = 1234567890
OPERATOR_CHANNEL_ID = 9876543210
WITHDRAWAL = "Начался вывод войск из Сирии"


def text_for(msg_id: int) -> str:
    """Post texts: every 11th about a withdrawal (several shipped rules fire), all distinct."""
    if msg_id % 11 == 0:
        return f"{WITHDRAWAL}, сообщение {msg_id}"
    return f"Погода сегодня хорошая, сообщение {msg_id}"


def _append(path: Path, record: dict[str, Any]) -> None:
    """One write of one line: a kill leaves the line whole or absent, never half."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The records of a log file (a file that does not exist yet has none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class World:
    """The fake Telegram's lasting state: the channel's clock and the chat logs."""

    def __init__(self, work: Path, posts: int, rate: float, life: int) -> None:
        self.work = work
        self.posts = posts
        self.rate = rate
        self.life = life
        self.start = float((work / "start").read_text())
        self.chat = work / "chat.jsonl"
        self.notices = work / "notices.jsonl"

    def published(self) -> int:
        return max(0, min(self.posts, int((time.time() - self.start) * self.rate)))

    def message(self, msg_id: int) -> types.Message:
        moment = datetime.fromtimestamp(self.start + msg_id / self.rate, UTC)
        return types.Message(
            id=msg_id,
            peer_id=types.PeerChannel(CHANNEL_ID),
            date=moment,
            message=text_for(msg_id),
            post=True,
        )


class ChannelTelegram(FakeTelegram):
    """The user account's Telegram: the channel grows with time; the alert chat is a file."""

    def __init__(self, world: World, readable: bool) -> None:
        super().__init__()
        self.world = world
        self.readable = readable
        self.add_channel(CHANNEL_ID, CHANNEL, title="Front line")

    def iter_messages(self, entity: Any, limit: int | None = None, **kwargs: Any) -> Any:
        if isinstance(entity, int):
            return self._alert_chat(limit)
        history = self.history[CHANNEL_ID]
        for msg_id in range(len(history) + 1, self.world.published() + 1):
            history.append(self.world.message(msg_id))
        return super().iter_messages(entity, limit, **kwargs)

    async def _alert_chat(self, limit: int | None) -> AsyncIterator[Any]:
        if not self.readable:
            raise errors.ChannelPrivateError(request=None)
        records = read_lines(self.world.chat)
        for record in list(reversed(records))[:limit]:
            yield types.Message(
                id=record["id"],
                peer_id=types.PeerChannel(ALERT_CHANNEL_ID),
                date=datetime.fromtimestamp(record["t"], UTC),
                message=record["text"],
                entities=[
                    types.MessageEntityTextUrl(offset=0, length=1, url=url)
                    for url in record["markers"]
                ],
            )


class ChatNetwork(OfflineNetwork):
    """The bot's Telegram: what reaches a chat is written down before the answer."""

    def __init__(self, world: World, kill_after_card: int | None) -> None:
        super().__init__()
        self.world = world
        self.kill_after_card = kill_after_card
        self.cards = 0
        self.next_id = 1 + len(read_lines(world.chat)) + len(read_lines(world.notices))

    def send(self, request: Any, ordered: bool = False) -> asyncio.Future[Any]:
        if isinstance(request, functions.messages.SendMessageRequest) and isinstance(
            request.peer, types.InputPeerChannel
        ):
            record = {
                "id": self.next_id + 10_000_000 * self.world.life,
                "life": self.world.life,
                "t": time.time(),
                "text": request.message,
                "markers": [
                    e.url
                    for e in request.entities or []
                    if isinstance(e, types.MessageEntityTextUrl) and "#mw" in e.url
                ],
            }
            self.next_id += 1
            if request.peer.channel_id == ALERT_CHANNEL_ID:
                _append(self.world.chat, record)
                self.cards += 1
                if self.cards == self.kill_after_card:
                    # Telegram has the card; the process dies before it hears back.
                    os.kill(os.getpid(), signal.SIGKILL)
            else:
                _append(self.world.notices, record)
        return super().send(request, ordered)


async def publish(world: World, user: UserClient) -> None:
    """Push every post published while this process lives as a live update."""
    # Telegram pushes updates once the listener is attached; nothing signals that moment.
    while not user.list_event_handlers():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    pushed = world.published()
    while True:
        now = world.published()
        for msg_id in range(pushed + 1, now + 1):
            update = types.UpdateNewChannelMessage(
                message=world.message(msg_id), pts=1, pts_count=1
            )
            update._entities = {}
            await user._dispatch_update(update)
        pushed = now
        await asyncio.sleep(0.02)


def settings_for(work: Path) -> Settings:
    """The service's settings: data under WORK/data, the shipped rules."""
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "user.session").touch()  # made by `milwatch login`; never opened here
    return settings_from_mapping(
        {
            "TG_API_ID": "123456",
            "TG_API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": "123:ABC",
            "ALERT_CHAT_ID": f"-100{ALERT_CHANNEL_ID}",
            "OPERATOR_CHAT_ID": f"-100{OPERATOR_CHANNEL_ID}",
            "ANALYST_IDS": "1001",
            "CHANNELS": f"https://t.me/{CHANNEL}",
            "MILWATCH_DATA_DIR": str(data),
            "MILWATCH_RULES": str(ROOT / "config" / "rules.yaml"),
            "BACKFILL_MAX_POSTS": "100000",
        }
    )


async def main(args: argparse.Namespace) -> int:
    world = World(args.work, args.posts, args.rate, args.life)
    telegram = ChannelTelegram(world, readable=not args.unreadable)
    network = ChatNetwork(world, args.kill_after_card)
    user = UserClient(telegram)

    def make_clients(settings: Settings) -> tuple[TelegramClient, TelegramClient]:
        return user, BotClient(network)

    publisher = asyncio.ensure_future(publish(world, user))
    try:
        return await run_live(
            settings_for(args.work),
            sys.stdout,
            sys.stderr,
            make_clients=make_clients,
            dispatch_interval=0.05,
            reload_interval=5.0,
            heartbeat_interval=1.0,
            retry_interval=0.5,
            send_timeout=10.0,
        )
    finally:
        publisher.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("life", type=int)
    parser.add_argument("posts", type=int)
    parser.add_argument("rate", type=float)
    parser.add_argument("--kill-after-card", type=int, default=None)
    parser.add_argument("--unreadable", action="store_true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(parser.parse_args())))
