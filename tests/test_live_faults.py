"""`milwatch run` under delivery faults, offline: the real run_live with the recording
Telegram fakes (see test_live_service.py), real SQLite, real Telethon clients.

- a clean stop while a card is on its way: the card is recorded, never sent twice;
- a send that hangs: the cards behind it go out; the hung one is checked in the chat;
- a revoked bot token: no retries, the alerts wait, the operator is told through the
  user account, and the health check fails.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram_fakes import FakeTelegram, OfflineNetwork
from telethon import errors, functions, types
from test_live_service import (  # noqa: F401 - no_network is an autouse fixture
    ALERT_CHANNEL_ID,
    CHANNEL,
    CHANNEL_ID,
    NOISE,
    OPERATOR_CHANNEL_ID,
    ROOT,
    WITHDRAWAL,
    Service,
    live_settings,
    no_network,
    rows,
)

from bot.health import check_heartbeat


@pytest.fixture
def shipped_rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules (MILWATCH_RULES points here)."""
    path = tmp_path / "rules.yaml"
    path.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


class HoldingNetwork(OfflineNetwork):
    """The bot's Telegram: answers chosen card sends only when released, or never.

    hold: 1-based numbers of SendMessageRequests to the alert chat whose answer waits
    for `release` (the message is in the chat already: Telegram got it); hang: the same,
    but the answer never comes.
    """

    def __init__(
        self, hold: frozenset[int] = frozenset(), hang: frozenset[int] = frozenset()
    ) -> None:
        super().__init__()
        self.hold, self.hang = set(hold), set(hang)
        self.release = asyncio.Event()
        self.held = asyncio.Event()
        self.cards = 0

    def send(self, request: Any, ordered: bool = False) -> asyncio.Future[Any]:
        future = super().send(request, ordered)
        is_card = (
            isinstance(request, functions.messages.SendMessageRequest)
            and isinstance(request.peer, types.InputPeerChannel)
            and request.peer.channel_id == ALERT_CHANNEL_ID
        )
        if not is_card:
            return future
        self.cards += 1
        if self.cards in self.hang:
            return asyncio.get_running_loop().create_future()  # never answered
        if self.cards in self.hold:
            self.held.set()
            delayed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

            async def answer() -> None:
                await self.release.wait()
                delayed.set_result(future.result())

            asyncio.get_running_loop().create_task(answer())
            return delayed
        return future


def _history(telegram: FakeTelegram, texts: list[str]) -> None:
    telegram.add_channel(CHANNEL_ID, CHANNEL, title="Front line")
    now = datetime.now(UTC)
    for msg_id, text in enumerate(texts, 1):
        telegram.post(CHANNEL_ID, msg_id, text, date=now - timedelta(minutes=10 - msg_id))


def _cards(network: OfflineNetwork) -> list[str]:
    """The alert chat as Telegram holds it: one marker per card (its outbox ids)."""
    return [
        e.url
        for m in network.chats.get(ALERT_CHANNEL_ID, [])
        for e in m.entities or []
        if isinstance(e, types.MessageEntityTextUrl) and "#mw" in e.url
    ]


async def test_a_clean_stop_while_a_card_is_on_its_way_never_sends_it_twice(
    tmp_path: Path, shipped_rules: Path
) -> None:
    settings = live_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    _history(telegram, [WITHDRAWAL, NOISE])
    network = HoldingNetwork(hold={1})
    service = Service(settings, telegram, network=network)
    await service.start()
    await service.until(network.held.is_set, "the card to reach Telegram")
    service.stop.set()  # SIGTERM: Telegram has the card, its answer is still on the way
    await asyncio.sleep(0.2)
    network.release.set()
    assert await service.finish() == 0
    assert rows(settings.database, "SELECT DISTINCT status FROM alerts") == [("sent",)]

    again = Service(settings, telegram)  # the next start: nothing is sent again
    await again.start()
    await again.settle(0.5)
    assert await again.finish() == 0
    assert again.network.messages == []
    assert len(_cards(network)) == 1


async def test_a_hung_send_holds_up_no_other_card_and_is_not_sent_twice(
    tmp_path: Path, shipped_rules: Path
) -> None:
    settings = live_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    _history(telegram, [WITHDRAWAL, NOISE, WITHDRAWAL + " и Ливии"])
    network = HoldingNetwork(hang={1})  # Telegram got card 1; its answer never comes
    telegram.readable_chats = network.chats  # the user account is in the alert chat
    service = Service(settings, telegram, network=network)
    service.options = {"send_timeout": 0.3}
    await service.start()
    await service.until(lambda: len(_cards(network)) == 2, "the card behind the hung one")
    # The hung card was in doubt; after its backoff the chat showed it had arrived.
    await service.until(
        lambda: (
            rows(settings.database, "SELECT COUNT(*) FROM alerts WHERE status != 'sent'") == [(0,)]
        ),
        "the hung card to be found in the chat",
    )
    assert await service.finish() == 0
    cards = _cards(network)
    assert len(cards) == len(set(cards)) == 2  # each card once
    assert cards[0].endswith("/1#mw" + cards[0].split("#mw")[1])


async def test_a_revoked_bot_token_stops_delivery_tells_the_operator_and_fails_health(
    tmp_path: Path, shipped_rules: Path
) -> None:
    settings = live_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    _history(telegram, [WITHDRAWAL, NOISE])
    network = OfflineNetwork()
    # Every bot request is refused from now on: the token was revoked in @BotFather.
    network.fail(
        functions.messages.SendMessageRequest,
        *[errors.AuthKeyUnregisteredError(request=None) for _ in range(10)],
    )
    service = Service(settings, telegram, network=network)
    await service.start()
    await service.until(lambda: bool(telegram.sent), "the notice through the user account")
    await service.settle(0.5)
    (notice,) = telegram.sent  # told once, in the user account's Saved Messages
    assert isinstance(notice.peer, types.InputPeerSelf)
    assert "alert delivery STOPPED" in notice.message and "delete bot.session" in notice.message
    # One attempt at the card and one at telling the operator chat: no retry loop.
    assert len(network.messages) == 2
    ok, health = check_heartbeat(settings.data_dir, datetime.now(UTC))
    assert not ok and "problem: alert delivery stopped" in health
    assert await service.finish() == 0
    assert rows(settings.database, "SELECT DISTINCT status, sending_at FROM alerts") == [
        ("pending", None)
    ]


async def test_a_revoked_user_session_stops_the_service_and_the_bot_says_so(
    tmp_path: Path, shipped_rules: Path
) -> None:
    settings = live_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    _history(telegram, [NOISE])
    telegram.history_errors[CHANNEL_ID] = errors.AuthKeyUnregisteredError(request=None)
    service = Service(settings, telegram)
    await service.start()
    assert await asyncio.wait_for(service.task, 10) == 2  # type: ignore[arg-type]
    assert "user session unusable (AuthKeyUnregisteredError)" in service.err.getvalue()
    (notice,) = service.sent_to(OPERATOR_CHANNEL_ID)
    assert notice.message.startswith("milwatch STOPPED: Telegram user session unusable")
    assert "milwatch login" in notice.message
    ok, health = check_heartbeat(settings.data_dir, datetime.now(UTC))
    assert not ok and "problem: milwatch stopped" in health
