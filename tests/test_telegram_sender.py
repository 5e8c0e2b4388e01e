"""TelegramSender and the client helpers, offline.

The clients are REAL, never-connected TelegramClients; only the MTProto sender (the one
place a request leaves the client) is replaced by OfflineNetwork (telegram_fakes.py), a
recording fake that answers like Telegram or raises real Telethon errors. So Telethon's own
send_message / forward_messages, HTML parsing, entity resolution and flood handling all run
for real.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from telegram_fakes import SOURCE_CHANNEL_ID, OfflineNetwork, offline_client
from telethon import TelegramClient, errors, functions, types
from telethon.extensions import html as tl_html
from telethon.sessions import MemorySession

from bot.alerts.card import AlertCard, build_card, render_digest_html, render_html
from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.router import AlertRouter
from bot.alerts.senders import FatalSendError, PermanentSendError, TransientSendError
from bot.domain import Alert, Post, Severity, StoredHit
from bot.settings import Settings
from bot.storage import Store
from bot.telegram import clients
from bot.telegram.errors import FatalTelegramError, NotAuthorizedError
from bot.telegram.sender import (
    RECONCILE_SCAN,
    REPEAT_NOTE,
    TelegramSender,
    card_chunks,
    map_send_error,
    parse_chat,
)

ALERT_CHAT = -1001234567890
ALERT_CHANNEL_ID = 1234567890


# -- alerts to send ----------------------------------------------------------------------


def make_alert(
    text: str = "Начался отвод войск с плацдарма",
    words: Sequence[str] = ("отвод",),
    *,
    destination: str = f"telegram:{ALERT_CHAT}",
    silent: bool = False,
    post: Post | None = None,
    alert_id: int = 1,
) -> tuple[Alert, AlertCard]:
    post = post or make_post(text, 77, "frontnews")
    hit = make_hit(post.text, list(words))
    stored = StoredHit(
        hit_id=alert_id,
        post=post,
        rule_id=hit.rule_id,
        topic=hit.topic,
        severity=hit.severity,
        route=hit.route,
        spans=tuple(hit.spans),
        terms=tuple(hit.words),
        created_at=T0,
    )
    extra = {"route": "default", "destination": destination, "silent": "1" if silent else "0"}
    return Alert(alert_id, stored, "pending", extra=extra), build_card(post, stored)


@pytest.fixture
def network() -> OfflineNetwork:
    return OfflineNetwork()


@pytest.fixture
def bot(network: OfflineNetwork) -> TelegramClient:
    return offline_client(network)


def only_the_marker(request: Any) -> bool:
    """Whether a message's one formatting entity is the invisible delivery marker."""
    entities = request.entities or []
    return [(type(e), e.offset, e.length) for e in entities] == [
        (types.MessageEntityTextUrl, 0, 1)
    ] and "#mw" in entities[0].url and request.message.startswith("\u200d")


# -- sending cards -------------------------------------------------------------------


async def test_card_is_sent_as_html_without_preview(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    alert, card = make_alert()
    await TelegramSender(bot).send(alert, card)
    (request,) = network.messages
    assert isinstance(request.peer, types.InputPeerChannel)
    assert request.peer.channel_id == ALERT_CHANNEL_ID  # "-100…" resolved as a channel
    assert request.no_webpage is True and not request.silent
    # parse_mode='html' reached Telethon: tags became entities, not literal text.
    assert "<b>" not in request.message
    # The delivery marker: a link on one invisible character before the card's text.
    assert request.message.startswith("\u200dHIGH · withdrawal")
    kinds = {type(e) for e in request.entities}
    assert {types.MessageEntityBold, types.MessageEntityCode} <= kinds
    links = [e for e in request.entities if isinstance(e, types.MessageEntityTextUrl)]
    assert [(link.offset, link.length, link.url) for link in links[:1]] == [
        (0, 1, "https://t.me/frontnews/77#mw1")
    ]
    assert [link.url for link in links[1:]] == ["https://t.me/frontnews/77"]


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("telegram:-1001234567890", -1001234567890),
        ("-1001234567890", -1001234567890),
        (" telegram:@alerts_chat ", "@alerts_chat"),
        ("alerts_chat", "alerts_chat"),
        ("4242", 4242),
    ],
)
def test_parse_chat(destination: str, expected: int | str) -> None:
    assert parse_chat(destination) == expected


async def test_missing_destination_is_permanent(bot: TelegramClient) -> None:
    alert, card = make_alert(destination="telegram:")
    with pytest.raises(PermanentSendError, match="ALERT_CHAT_ID"):
        await TelegramSender(bot).send(alert, card)


async def test_low_severity_goes_out_silently_through_the_dispatcher(
    store: Store, clock: FakeClock, network: OfflineNetwork, bot: TelegramClient
) -> None:
    for msg_id, severity in ((1, Severity.LOW), (2, Severity.HIGH)):
        text = f"Отвод войск номер {msg_id}"
        post_id = (await store.add_post(make_post(text, msg_id))).post_id
        hit = make_hit(text, ["Отвод"], rule_id=f"r{msg_id}", severity=severity)
        (hit_id,) = await store.add_hits(post_id, [hit], "v1")
        await store.enqueue_alert(hit_id, "analysts")
    router = AlertRouter({"analysts": f"telegram:{ALERT_CHAT}"}, "analysts")
    dispatcher = AlertDispatcher(store, {"telegram": TelegramSender(bot)}, router, clock)
    report = await dispatcher.flush()
    assert report.sent == 2
    silent = {"номер 1" in r.message: r.silent for r in network.messages}
    assert silent == {True: True, False: False}


async def test_long_card_chunks_go_out_in_order(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    body = " ".join(f"слово{i} & <i>{i}</i>" for i in range(900)) + " отвод войск"
    alert, card = make_alert(body, ["отвод"])
    card = build_card(alert.hit.post, alert.hit, max_chars=20_000)
    chunks = card_chunks([alert], lambda limit: render_html(card, limit))
    assert len(chunks) >= 3
    await TelegramSender(bot).send(alert, card)
    sent = [r.message for r in network.messages]
    assert sent == [tl_html.parse(chunk)[0] for chunk in chunks]
    assert sent[-1].startswith("\u200d")  # the marker opens the last chunk: arrived whole
    assert all(len(m.encode("utf-16-le")) // 2 <= 4096 for m in sent)


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script> отвод войск",
        'отвод войск <a href="javascript:alert(1)">жми</a> &amp; &lt;b&gt;',
        "отвод войск </b></i></code><b>незакрытый & < >",
        'отвод "войск" \' &#x3C;pre&#x3E; <tg-spoiler>x</tg-spoiler>',
    ],
)
async def test_post_text_cannot_inject_markup(
    hostile: str, network: OfflineNetwork, bot: TelegramClient
) -> None:
    alert, card = make_alert(hostile, ["отвод"])
    for chunk in render_html(card):
        text, _ = tl_html.parse(chunk)  # must not raise
        assert hostile in text  # the post arrives as literal text
    await TelegramSender(bot).send(alert, card)
    (request,) = network.messages
    assert hostile in request.message
    # Only our own formatting: no link but the post's, no spoiler/pre from the post.
    allowed = (
        types.MessageEntityBold,
        types.MessageEntityCode,
        types.MessageEntityItalic,
        types.MessageEntityTextUrl,
    )
    assert all(isinstance(e, allowed) for e in request.entities)
    urls = [e.url for e in request.entities if isinstance(e, types.MessageEntityTextUrl)]
    assert urls == ["https://t.me/frontnews/77#mw1", "https://t.me/frontnews/77"]
    highlighted = [
        request.message[e.offset : e.offset + e.length]
        for e in request.entities
        if isinstance(e, types.MessageEntityBold)
    ]
    assert "отвод" in highlighted


# -- error mapping -------------------------------------------------------------------


async def test_flood_wait_is_transient_with_retry_after(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(
        functions.messages.SendMessageRequest, errors.FloodWaitError(request=None, capture=30)
    )
    alert, card = make_alert()
    with pytest.raises(TransientSendError) as caught:
        await TelegramSender(bot).send(alert, card)
    assert caught.value.retry_after == 30


async def test_chat_write_forbidden_is_permanent_and_the_operator_is_told(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(
        functions.messages.SendMessageRequest, errors.ChatWriteForbiddenError(request=None)
    )
    alert, card = make_alert()
    sender = TelegramSender(bot, operator_chat="4242")
    with pytest.raises(PermanentSendError) as caught:
        await sender.send(alert, card)
    message = str(caught.value)
    assert f"chat {ALERT_CHAT}" in message and "add it to the chat" in message
    notice = network.messages[-1]
    assert notice.peer == types.InputPeerUser(user_id=4242, access_hash=4242 * 3)
    assert "could not be delivered" in notice.message and "alert #1" in notice.message
    assert notice.entities in (None, [])  # plain text: nothing from the post is parsed


async def test_message_too_long_is_resent_as_plain_text(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(functions.messages.SendMessageRequest, errors.MessageTooLongError(request=None))
    alert, card = make_alert("отвод войск & <b>не тег</b>", ["отвод"])
    await TelegramSender(bot).send(alert, card)
    first, resent = network.messages
    assert len(first.entities) > 1  # the HTML attempt
    assert only_the_marker(resent)  # the plain-text resend keeps only the delivery marker
    assert resent.message == first.message  # same words, formatting dropped
    assert "<b>не тег</b>" in resent.message and "https://t.me/frontnews/77" in resent.message


async def test_entity_bounds_invalid_is_resent_as_plain_text(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(
        functions.messages.SendMessageRequest, errors.EntityBoundsInvalidError(request=None)
    )
    alert, card = make_alert()
    await TelegramSender(bot).send(alert, card)
    first, resent = network.messages
    assert len(first.entities) > 1 and only_the_marker(resent)


async def test_retry_after_partial_send_resumes_with_the_next_chunk(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    body = " ".join(f"слово{i}" for i in range(1500)) + " отвод"
    alert, card = make_alert(body, ["отвод"])
    card = build_card(alert.hit.post, alert.hit, max_chars=20_000)
    chunks = card_chunks([alert], lambda limit: render_html(card, limit))
    assert len(chunks) >= 2
    sender = TelegramSender(bot)
    # The connection drops while the second chunk is on its way.
    network.fail(functions.messages.SendMessageRequest, ConnectionError("reset"), after=1)
    with pytest.raises(TransientSendError):
        await sender.send(alert, card)
    await sender.send(alert, card)
    delivered = [r.message for r in network.messages]
    # chunk 1, chunk 2 (failed), then the retry: chunk 2 onwards, chunk 1 not repeated
    assert delivered[0] == tl_html.parse(chunks[0])[0]
    assert delivered[2:] == [tl_html.parse(c)[0] for c in chunks[1:]]


@pytest.mark.parametrize(
    ("error", "expected", "fragment"),
    [
        (errors.FloodWaitError(request=None, capture=12), TransientSendError, "wait 12s"),
        (errors.SlowModeWaitError(request=None, capture=7), TransientSendError, "wait 7s"),
        (errors.RpcCallFailError(request=None), TransientSendError, "RpcCallFail"),
        (errors.ServerError(None, "NO_WORKERS", -500), TransientSendError, "ServerError"),
        (errors.TimedOutError(None, "Timeout", -503), TransientSendError, "TimedOut"),
        (ConnectionError("reset"), TransientSendError, "ConnectionError"),
        (OSError("network unreachable"), TransientSendError, "OSError"),
        (TimeoutError(), TransientSendError, "TimeoutError"),  # = asyncio.TimeoutError
        (errors.ChatWriteForbiddenError(request=None), PermanentSendError, "add it to the chat"),
        (errors.UserIsBlockedError(request=None), PermanentSendError, "blocked the bot"),
        (errors.ChannelPrivateError(request=None), PermanentSendError, "add the bot again"),
        (errors.ChatAdminRequiredError(request=None), PermanentSendError, "make it an admin"),
        (errors.PeerIdInvalidError(request=None), PermanentSendError, "pressed Start"),
        (errors.MessageTooLongError(request=None), PermanentSendError, "even the plain-text"),
        (
            ValueError("Could not find the input entity for PeerChannel(channel_id=1)"),
            PermanentSendError,
            "cannot resolve",
        ),
        (errors.UsernameNotOccupiedError(request=None), PermanentSendError, "no chat has"),
        (errors.BadRequestError(None, "TOPIC_CLOSED", 400), PermanentSendError, "TOPIC_CLOSED"),
        (errors.AuthKeyUnregisteredError(request=None), FatalTelegramError, "bot.session"),
        (errors.SessionRevokedError(request=None), FatalTelegramError, "bot.session"),
        (errors.UserDeactivatedBanError(request=None), FatalTelegramError, "UserDeactivatedBan"),
        (errors.AuthKeyDuplicatedError(request=None), FatalTelegramError, "two processes"),
        (errors.AccessTokenInvalidError(request=None), FatalTelegramError, "@BotFather"),
    ],
)
def test_error_mapping(error: BaseException, expected: type, fragment: str) -> None:
    mapped = map_send_error(error, ALERT_CHAT)
    assert isinstance(mapped, expected)
    assert fragment in str(mapped)
    if isinstance(mapped, PermanentSendError):
        assert str(ALERT_CHAT) in str(mapped)  # names the chat to fix


async def test_unknown_errors_are_left_to_the_dispatcher(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    assert map_send_error(RuntimeError("bug"), ALERT_CHAT) is None
    network.fail(functions.messages.SendMessageRequest, RuntimeError("bug"))
    alert, card = make_alert()
    with pytest.raises(RuntimeError, match="bug"):  # raised unchanged: retried as transient
        await TelegramSender(bot).send(alert, card)


async def test_fatal_bot_error_stops_the_sender_and_is_neither_retried_nor_given_up(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(
        functions.messages.SendMessageRequest, errors.AuthKeyUnregisteredError(request=None)
    )
    alert, card = make_alert()
    with pytest.raises(FatalSendError, match=r"delete bot\.session") as caught:
        await TelegramSender(bot).send(alert, card)
    # The dispatcher keeps the alert pending and stops sending: no alert is lost to a
    # dead session, and no retry hammers Telegram with a dead key.
    assert not isinstance(caught.value, PermanentSendError | TransientSendError)


# -- forwarding originals ------------------------------------------------------------


@pytest.fixture
def user_network() -> OfflineNetwork:
    return OfflineNetwork()


@pytest.fixture
def user(user_network: OfflineNetwork) -> TelegramClient:
    return offline_client(user_network)


async def test_user_forwards_the_post_and_the_card_replies_to_it(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
) -> None:
    alert, card = make_alert(silent=False)
    await TelegramSender(bot, user, forward_originals=True).send(alert, card)
    (forward,) = user_network.of(functions.messages.ForwardMessagesRequest)
    assert forward.id == [77]
    assert forward.from_peer.channel_id == SOURCE_CHANNEL_ID  # @frontnews, resolved
    assert forward.to_peer.channel_id == ALERT_CHANNEL_ID
    assert forward.silent  # the card is the notification
    assert not user_network.messages  # the user account sends nothing else
    (card_request,) = network.messages
    (forwarded_id,) = user_network.forwarded_ids
    assert card_request.reply_to == types.InputReplyToMessage(reply_to_msg_id=forwarded_id)


async def test_forwards_restricted_falls_back_to_the_card_with_its_link(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user_network.fail(
        functions.messages.ForwardMessagesRequest,
        errors.ChatForwardsRestrictedError(request=None),
    )
    alert, card = make_alert()
    with caplog.at_level(logging.INFO, logger="bot.telegram.sender"):
        await TelegramSender(bot, user, forward_originals=True).send(alert, card)
    (card_request,) = network.messages
    assert card_request.reply_to is None
    assert "https://t.me/frontnews/77" in card_request.message
    assert "forbids forwarding" in caplog.text


async def test_forward_to_a_basic_group_does_not_reply_across_accounts(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
) -> None:
    # Basic-group message ids are per account: the user's forward id means nothing
    # to the bot, so the card follows the forward without replying to it.
    alert, card = make_alert(destination="telegram:-4242")
    await TelegramSender(bot, user, forward_originals=True).send(alert, card)
    assert len(user_network.of(functions.messages.ForwardMessagesRequest)) == 1
    (card_request,) = network.messages
    assert card_request.reply_to is None


async def test_forward_is_skipped_for_replayed_posts(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
) -> None:
    post = make_post("отвод войск", "replay-7", "frontnews")
    alert, card = make_alert(post=post)
    await TelegramSender(bot, user, forward_originals=True).send(alert, card)
    assert not user_network.requests
    assert len(network.messages) == 1


async def test_dead_user_session_still_delivers_the_card(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user_network.fail(
        functions.messages.ForwardMessagesRequest, errors.SessionRevokedError(request=None)
    )
    sender = TelegramSender(bot, user, forward_originals=True)
    first, first_card = make_alert(alert_id=1)
    second, second_card = make_alert(alert_id=2)
    await sender.send(first, first_card)
    await sender.send(second, second_card)
    assert len(network.messages) == 2
    assert len(user_network.of(functions.messages.ForwardMessagesRequest)) == 1  # then off
    assert "milwatch login" in caplog.text


async def test_transient_card_failure_does_not_repeat_the_forward(
    network: OfflineNetwork,
    bot: TelegramClient,
    user_network: OfflineNetwork,
    user: TelegramClient,
) -> None:
    network.fail(functions.messages.SendMessageRequest, ConnectionError("reset"))
    sender = TelegramSender(bot, user, forward_originals=True)
    alert, card = make_alert()
    with pytest.raises(TransientSendError):
        await sender.send(alert, card)
    await sender.send(alert, card)
    assert len(user_network.of(functions.messages.ForwardMessagesRequest)) == 1
    (forwarded_id,) = user_network.forwarded_ids
    assert network.messages[-1].reply_to == types.InputReplyToMessage(forwarded_id)


# -- digests and notices ---------------------------------------------------------------


async def test_digest_is_one_html_message_silent_only_if_all_are(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    quiet, quiet_card = make_alert(alert_id=1, silent=True)
    loud, loud_card = make_alert(alert_id=2, silent=False)
    sender = TelegramSender(bot)
    await sender.send_digest([quiet, loud], [quiet_card, loud_card])
    await sender.send_digest([quiet], [quiet_card])
    first, second = network.messages
    # One invisible marker per alert, then the digest as rendered.
    (digest,) = render_digest_html([quiet_card, loud_card])
    assert first.message == "\u200d\u200d" + tl_html.parse(digest)[0]
    assert first.message.startswith("\u200d\u200d2 alerts") and not first.silent
    markers = [e.url for e in first.entities if isinstance(e, types.MessageEntityTextUrl)][:2]
    assert markers == ["https://t.me/frontnews/77#mw1", "https://t.me/frontnews/77#mw2"]
    assert second.silent


async def test_notify_sends_plain_text_and_never_raises(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    sender = TelegramSender(bot)
    assert await sender.notify("4242", "bot <b>removed</b> from chat")
    assert network.messages[0].message == "bot <b>removed</b> from chat"
    network.fail(
        functions.messages.SendMessageRequest, errors.ChatWriteForbiddenError(request=None)
    )
    assert not await sender.notify("4242", "again")


# -- clients: sessions, credentials, connecting ------------------------------------------


def test_session_files_are_separate_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", tg_api_id=1, tg_api_hash="x" * 32)
    user_path = clients.user_session_path(settings)
    bot_path = clients.bot_session_path(settings)
    assert user_path != bot_path and user_path.parent == bot_path.parent == settings.data_dir
    user_client = clients.make_user_client(settings)
    bot_client = clients.make_bot_client(settings)
    try:
        for path in (user_path, bot_path):
            assert path.exists()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert bot_client.flood_sleep_threshold < user_client.flood_sleep_threshold
    finally:
        user_client.session.close()
        bot_client.session.close()


def test_ensure_private_fixes_an_open_session_file(tmp_path: Path) -> None:
    path = tmp_path / "user.session"
    path.write_bytes(b"")
    path.chmod(0o644)
    journal = tmp_path / "user.session-journal"
    journal.write_bytes(b"")
    journal.chmod(0o666)
    clients.ensure_private(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


def test_check_credentials_names_every_missing_variable() -> None:
    assert clients.check_credentials(Settings()) == [
        "TG_API_ID",
        "TG_API_HASH",
        "BOT_TOKEN",
        "ALERT_CHAT_ID",
    ]
    complete = Settings(tg_api_id=1, tg_api_hash="h", bot_token="1:t", alert_chat="-1001")
    assert clients.check_credentials(complete) == []
    assert clients.check_credentials(Settings(tg_api_id=1, bot_token="1:t")) == [
        "TG_API_HASH",
        "ALERT_CHAT_ID",
    ]


class StubClient:
    """Just the calls connect_authorized and interactive_login make."""

    def __init__(self, authorized: bool, fail: BaseException | None = None) -> None:
        self.authorized = authorized
        self.fail = fail
        self.calls: list[str] = []
        self.session = MemorySession()

    async def connect(self) -> None:
        self.calls.append("connect")

    async def disconnect(self) -> None:
        self.calls.append("disconnect")

    async def is_user_authorized(self) -> bool:
        self.calls.append("is_user_authorized")
        if self.fail is not None:
            raise self.fail
        return self.authorized

    async def sign_in(self, bot_token: str) -> None:
        self.calls.append(f"sign_in:{bot_token}")
        if self.fail is not None:
            raise self.fail

    async def start(self, phone: Any, code_callback: Any, password: Any) -> None:
        self.calls.append(f"phone:{phone()}")
        self.calls.append(f"code:{code_callback()}")
        self.calls.append(f"password:{password()}")

    async def get_me(self) -> types.User:
        return types.User(id=7, username="analyst_account")


async def test_connect_authorized_tells_what_to_run_when_not_logged_in() -> None:
    stub = StubClient(authorized=False)
    with pytest.raises(NotAuthorizedError) as caught:
        await clients.connect_authorized(stub, "user")  # type: ignore[arg-type]
    assert "run `milwatch login` (docker: `docker compose run --rm milwatch login`)" in str(
        caught.value
    )
    assert stub.calls == ["connect", "is_user_authorized", "disconnect"]


async def test_connect_authorized_signs_the_bot_in_with_its_token() -> None:
    stub = StubClient(authorized=False)
    await clients.connect_authorized(stub, "bot", bot_token="123:abc")  # type: ignore[arg-type]
    assert stub.calls == ["connect", "is_user_authorized", "sign_in:123:abc"]
    revoked = StubClient(authorized=True, fail=errors.AuthKeyUnregisteredError(request=None))
    with pytest.raises(NotAuthorizedError, match="milwatch login"):
        await clients.connect_authorized(revoked, "user")  # type: ignore[arg-type]
    bad_token = StubClient(authorized=False, fail=errors.AccessTokenInvalidError(request=None))
    with pytest.raises(FatalTelegramError, match="BotFather"):
        await clients.connect_authorized(bad_token, "bot", bot_token="x")  # type: ignore[arg-type]


async def test_interactive_login_prompts_and_refuses_a_bot_token_as_phone() -> None:
    stub = StubClient(authorized=False)
    answers = iter(["123456:AAbottoken", "+7 900 000 00 00", "12345"])
    prompts: list[str] = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    summary = await clients.interactive_login(
        Settings(tg_api_id=1, tg_api_hash="h"),
        input=fake_input,
        getpass=lambda prompt: "secret",
        make_client=lambda settings: stub,  # type: ignore[arg-type,return-value]
    )
    assert stub.calls[:3] == ["phone:+7 900 000 00 00", "code:12345", "password:secret"]
    assert "bot token" in prompts[1]
    assert "@analyst_account" in summary and stub.calls[-1] == "disconnect"


# -- delivery markers, cards in doubt, the operator told by whatever works ----------------


def _in_doubt(alert: Alert, since: datetime) -> Alert:
    return replace(alert, in_doubt_since=since)


async def test_reconcile_finds_a_card_that_arrived_and_knows_one_that_did_not(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    since = datetime.now(UTC)
    user = offline_client(network)  # the same Telegram: the user account reads the alert chat
    sender = TelegramSender(bot, user)
    arrived, card = make_alert(alert_id=7)
    await sender.send(arrived, card)  # its answer was lost: the outbox never recorded it
    missing, _ = make_alert(alert_id=8)
    other_post, _ = make_alert(alert_id=9, post=make_post("отвод войск", 78, "frontnews"))
    answers = await sender.reconcile(
        [_in_doubt(arrived, since), _in_doubt(missing, since), _in_doubt(other_post, since)]
    )
    assert answers == {7: True, 8: False, 9: False}
    history = network.of(functions.messages.GetHistoryRequest)[0]
    assert history.peer == types.InputPeerChannel(ALERT_CHANNEL_ID, ALERT_CHANNEL_ID * 7)


async def test_reconcile_stops_at_the_first_attempt_and_cannot_tell_past_its_reading_limit(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    user = offline_client(network)
    sender = TelegramSender(bot, user)
    alert, card = make_alert(alert_id=7)
    await sender.send(alert, card)
    later = datetime.now(UTC) + timedelta(minutes=10)  # the card is older than the attempt
    assert await sender.reconcile([_in_doubt(alert, later)]) == {7: False}
    chat = network.chats[ALERT_CHANNEL_ID]
    for n in range(RECONCILE_SCAN):  # a busy chat: the card is further back than we read
        chat.append(
            types.Message(id=5000 + n, peer_id=chat[0].peer_id, date=chat[0].date, message=f"{n}")
        )
    assert await sender.reconcile([_in_doubt(alert, datetime.now(UTC))]) == {7: None}


async def test_reconcile_of_a_chat_the_user_cannot_read_is_unknown(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    alert, _ = make_alert(alert_id=7)
    doubtful = _in_doubt(alert, datetime.now(UTC))
    assert await TelegramSender(bot).reconcile([doubtful]) == {7: None}  # no user account
    network.fail(functions.messages.GetHistoryRequest, errors.ChannelPrivateError(request=None))
    assert await TelegramSender(bot, offline_client(network)).reconcile([doubtful]) == {7: None}


async def test_a_card_that_may_be_a_repeat_says_so_first(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    alert, card = make_alert()
    alert = replace(alert, extra={**alert.extra, "repeat": "1"})
    await TelegramSender(bot).send(alert, card)
    (request,) = network.messages
    first_line = request.message.split("\n", 1)[0]
    assert first_line == "\u200d" + REPEAT_NOTE
    assert "HIGH · withdrawal" in request.message.split("\n", 2)[1]


async def test_a_refused_digest_is_not_reported_as_given_up(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(functions.messages.SendMessageRequest, errors.MessageTooLongError(request=None))
    network.fail(functions.messages.SendMessageRequest, errors.MessageTooLongError(request=None))
    first, first_card = make_alert(alert_id=1)
    second, second_card = make_alert(alert_id=2)
    sender = TelegramSender(bot, operator_chat="4242")
    with pytest.raises(PermanentSendError):
        await sender.send_digest([first, second], [first_card, second_card])
    # The dispatcher sends each alert on its own next: nothing was given up yet.
    assert all("given up" not in r.message for r in network.messages)


async def test_alarm_reaches_the_operator_through_the_user_account_when_the_bot_is_revoked(
    network: OfflineNetwork, bot: TelegramClient, user_network: OfflineNetwork, user: TelegramClient
) -> None:
    network.fail(
        functions.messages.SendMessageRequest, errors.AccessTokenInvalidError(request=None)
    )
    sender = TelegramSender(bot, user, operator_chat="4242")
    where = await sender.alarm("milwatch: alert delivery stopped: BOT_TOKEN was rejected")
    assert where == "the operator chat (user account)"
    (notice,) = user_network.messages
    assert notice.peer == types.InputPeerUser(user_id=4242, access_hash=4242 * 3)
    assert notice.message == "milwatch: alert delivery stopped: BOT_TOKEN was rejected"
    # Nobody to reach but the account itself: its Saved Messages.
    user_network.fail(
        functions.messages.SendMessageRequest, errors.UserIsBlockedError(request=None)
    )
    network.fail(
        functions.messages.SendMessageRequest, errors.AccessTokenInvalidError(request=None)
    )
    assert await sender.alarm("again") == "the user account's Saved Messages"
    assert isinstance(user_network.messages[-1].peer, types.InputPeerSelf)


async def test_a_card_resent_as_plain_text_is_still_found_by_its_marker(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    since = datetime.now(UTC)
    refused = errors.EntityBoundsInvalidError(request=None)
    network.fail(functions.messages.SendMessageRequest, refused)
    sender = TelegramSender(bot, offline_client(network))
    alert, card = make_alert(alert_id=7)
    await sender.send(alert, card)
    assert await sender.reconcile([_in_doubt(alert, since)]) == {7: True}
