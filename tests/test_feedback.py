"""Analyst feedback: votes in the store, precision per rule (/stats feedback, `eval
--from-feedback`), the two buttons under alert cards and the button presses, offline
(real TL objects through a real, never-connected TelegramClient)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from telegram_fakes import OfflineNetwork, offline_client
from telethon import TelegramClient, errors, functions
from telethon.tl import types

from bot.alerts.card import build_card, render_html
from bot.cli import main
from bot.commands import CommandHandler
from bot.commands.handler import FeedbackStatsCommand, parse_command
from bot.domain import Alert, Severity, StoredHit
from bot.feedback import (
    FALSE_POSITIVE,
    USEFUL,
    RuleFeedback,
    callback_data,
    format_feedback,
    parse_callback,
)
from bot.storage import Store
from bot.telegram.bot_commands import BotCommandAdapter
from bot.telegram.sender import TelegramSender, card_chunks

ANALYST = 1001
OPERATOR = 2002
STRANGER = 3003
ALERT_CHAT = -1001234567890


async def add_hits(store: Store) -> dict[str, int]:
    """Three hits: two of withdrawal.core, one of evacuation.civil; name -> hit id."""
    rows = [
        ("a", 1, "Начался отвод войск с плацдарма", "отвод", "withdrawal.core", "withdrawal"),
        ("b", 2, "Отвод подразделений от Днепра", "Отвод", "withdrawal.core", "withdrawal"),
        ("c", 3, "Эвакуация жителей из Херсона", "Эвакуация", "evacuation.civil", "evacuation"),
    ]
    ids = {}
    for name, msg_id, text, word, rule_id, topic in rows:
        post_id = (await store.add_post(make_post(text, msg_id, "frontnews", T0))).post_id
        hit = make_hit(text, [word], rule_id=rule_id, topic=topic, severity=Severity.HIGH)
        (ids[name],) = await store.add_hits(post_id, [hit], "v1")
    return ids


async def vote(store: Store, ids: dict[str, int]) -> None:
    """withdrawal.core: 2 useful, 1 false positive; evacuation.civil: 2 false positives."""
    assert await store.add_feedback(ids["a"], USEFUL, str(ANALYST))
    assert await store.add_feedback(ids["a"], FALSE_POSITIVE, str(OPERATOR))
    assert await store.add_feedback(ids["b"], USEFUL, str(ANALYST))
    assert await store.add_feedback(ids["c"], FALSE_POSITIVE, str(ANALYST))
    assert await store.add_feedback(ids["c"], FALSE_POSITIVE, str(OPERATOR))


# -- the store ---------------------------------------------------------------------------------


async def test_one_vote_per_author_per_hit_and_a_new_vote_replaces(store: Store) -> None:
    ids = await add_hits(store)
    assert await store.add_feedback(ids["a"], USEFUL, "1001")
    assert await store.feedback_for_hit(ids["a"]) == {"1001": USEFUL}
    assert await store.add_feedback(ids["a"], FALSE_POSITIVE, "1001")  # changed their mind
    assert await store.feedback_for_hit(ids["a"]) == {"1001": FALSE_POSITIVE}
    assert await store.add_feedback(ids["a"], USEFUL, "2002")
    assert await store.feedback_for_hit(ids["a"]) == {"1001": FALSE_POSITIVE, "2002": USEFUL}
    assert await store.feedback_by_rule() == [RuleFeedback("withdrawal.core", 1, 1, 0.5)]


async def test_unknown_hits_and_verdicts(store: Store) -> None:
    ids = await add_hits(store)
    assert await store.add_feedback(9999, USEFUL, "1001") is False
    with pytest.raises(ValueError, match="verdict must be one of"):
        await store.add_feedback(ids["a"], "meh", "1001")
    assert await store.feedback_by_rule() == []


async def test_precision_per_rule_worst_first(store: Store) -> None:
    await vote(store, await add_hits(store))
    assert await store.feedback_by_rule() == [
        RuleFeedback("evacuation.civil", 0, 2, 0.0),
        RuleFeedback("withdrawal.core", 2, 1, 2 / 3),
    ]


async def test_precision_since_counts_only_newer_marks(store: Store, clock: FakeClock) -> None:
    ids = await add_hits(store)
    await vote(store, ids)
    clock.advance(3 * 86400)
    assert await store.add_feedback(ids["b"], FALSE_POSITIVE, str(OPERATOR))
    # Re-voting moves the mark's time too: only the new votes count in the window.
    assert await store.add_feedback(ids["c"], USEFUL, str(ANALYST))
    since = clock.now - timedelta(days=1)
    assert await store.feedback_by_rule(since) == [
        RuleFeedback("withdrawal.core", 0, 1, 0.0),
        RuleFeedback("evacuation.civil", 1, 0, 1.0),
    ]


async def test_marks_go_with_their_hit(store: Store) -> None:
    ids = await add_hits(store)
    await vote(store, ids)
    # Deleting a channel cascades down to its posts, hits and their marks.
    await store._db.execute("DELETE FROM channels")
    assert await store.feedback_by_rule() == []


# -- /stats feedback --------------------------------------------------------------------------

TABLE = """\
rule              useful  false positive  precision
evacuation.civil       0               2       0.00
withdrawal.core        2               1       0.67
all                    2               3       0.40"""


async def test_stats_feedback_reply(store: Store, clock: FakeClock) -> None:
    await vote(store, await add_hits(store))
    handler = CommandHandler(store, clock)
    reply = await handler.handle("/stats feedback")
    assert reply == "Feedback per rule (5 marks), worst precision first:\n" + TABLE
    clock.advance(86400)
    assert await handler.handle("/stats feedback 12h") == (
        "No feedback marks in the last 12h yet: analysts mark alert cards with "
        "'✅ useful' or '❌ false positive'."
    )
    assert (await handler.handle("/stats feedback 7d")).startswith(
        "Feedback per rule in the last 7d (5 marks), worst precision first:\n"
    )
    assert (await handler.handle("/stats feedback soon")).startswith("Bad period 'soon'")
    # Plain /stats is what it was.
    assert (await handler.handle("/stats 7d")).startswith("Stats for the last 7d")
    assert "/stats feedback" in handler.help_text()


def test_stats_feedback_parsing() -> None:
    assert parse_command("/stats feedback") == FeedbackStatsCommand()
    parsed = parse_command("/stats Feedback 30d")
    assert isinstance(parsed, FeedbackStatsCommand) and parsed.since is not None
    assert parsed.since.label == "30d"


# -- milwatch eval --from-feedback ----------------------------------------------------------------


@pytest.fixture
def voted_db(tmp_path: Path) -> Path:
    db = tmp_path / "data" / "milwatch.sqlite3"

    async def build() -> None:
        async with Store.open(db) as store:
            await vote(store, await add_hits(store))

    asyncio.run(build())
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_from_feedback_prints_the_table(
    capsys: pytest.CaptureFixture[str], voted_db: Path
) -> None:
    code, out, err = run(capsys, "eval", "--from-feedback", "--db", str(voted_db))
    assert (code, err) == (0, "")
    assert out == "Feedback per rule (5 marks), worst precision first:\n" + TABLE + "\n"
    # The marks were made "now" (the store's real clock): a window keeps them all.
    code, out, _ = run(capsys, "eval", "--from-feedback", "--db", str(voted_db), "--since", "30d")
    assert code == 0
    assert out.startswith("Feedback per rule in the last 30d (5 marks)")
    code, out, _ = run(capsys, "eval", "--from-feedback", "--db", str(voted_db),
                       "--since", "2999-01-01")
    assert code == 0
    assert out.startswith("No feedback marks since 2999-01-01 00:00 UTC yet")


def test_eval_from_feedback_uses_the_settings_database(
    capsys: pytest.CaptureFixture[str], voted_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILWATCH_DB", str(voted_db))
    code, out, _ = run(capsys, "eval", "--from-feedback")
    assert code == 0 and out.endswith(TABLE + "\n")


def test_eval_from_feedback_usage_errors(
    capsys: pytest.CaptureFixture[str], voted_db: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "none.sqlite3"
    code, out, err = run(capsys, "eval", "--from-feedback", "--db", str(missing))
    assert (code, out) == (2, "")
    assert err == f"{missing}: no such database (use --db PATH or set MILWATCH_DB)\n"
    assert not missing.exists()
    code, _, err = run(capsys, "eval", "labelled.jsonl", "--from-feedback", "--db", str(voted_db))
    assert code == 2 and "--from-feedback reads the database; give no PATH" in err
    code, _, err = run(capsys, "eval")
    assert code == 2 and "give a JSONL file of posts (labelled or not), or --from-feedback" in err
    code, _, err = run(capsys, "eval", "--from-feedback", "--db", str(voted_db), "--since", "x")
    assert code == 2 and err.startswith("--since 'x': use a period")


# -- the buttons under alert cards ------------------------------------------------------------------


def make_alert(text: str, word: str, hit_id: int = 7, alert_id: int = 1) -> tuple[Alert, Any]:
    post = make_post(text, 77, "frontnews")
    hit = make_hit(post.text, [word])
    stored = StoredHit(
        hit_id=hit_id, post=post, rule_id=hit.rule_id, topic=hit.topic, severity=hit.severity,
        route=hit.route, spans=tuple(hit.spans), terms=tuple(hit.words), created_at=T0,
    )
    extra = {"route": "default", "destination": f"telegram:{ALERT_CHAT}", "silent": "0"}
    return Alert(alert_id, stored, "pending", extra=extra), build_card(post, stored)


def markup_of(request: Any) -> list[tuple[str, bytes]] | None:
    if request.reply_markup is None:
        return None
    assert isinstance(request.reply_markup, types.ReplyInlineMarkup)
    (row,) = request.reply_markup.rows
    assert all(isinstance(b.type, types.InlineButtonTypeCallback) for b in row.buttons)
    return [(b.text, b.type.data) for b in row.buttons]


BUTTONS_7 = [("✅ useful", b"fb:7:u"), ("❌ false positive", b"fb:7:f")]


@pytest.fixture
def network() -> OfflineNetwork:
    return OfflineNetwork()


@pytest.fixture
def bot(network: OfflineNetwork) -> TelegramClient:
    return offline_client(network)


async def test_a_card_gets_the_two_buttons(network: OfflineNetwork, bot: TelegramClient) -> None:
    alert, card = make_alert("Начался отвод войск с плацдарма", "отвод")
    await TelegramSender(bot).send(alert, card)
    (request,) = network.messages
    assert markup_of(request) == BUTTONS_7


async def test_only_the_last_chunk_of_a_long_card_has_buttons(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    text = "Начался отвод войск. " + "Подробности с места событий. " * 400
    alert, _ = make_alert(text, "отвод")
    long_card = build_card(alert.hit.post, alert.hit, max_chars=len(text))  # all of the text
    assert len(render_html(long_card)) >= 3
    await TelegramSender(bot).send(alert, long_card)
    sent = network.messages
    # The sender keeps room in each message for the delivery marker.
    assert len(sent) == len(card_chunks([alert], lambda limit: render_html(long_card, limit)))
    assert [markup_of(r) for r in sent[:-1]] == [None] * (len(sent) - 1)
    assert markup_of(sent[-1]) == BUTTONS_7


async def test_plain_text_resend_keeps_the_buttons_on_its_last_piece(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    network.fail(functions.messages.SendMessageRequest, errors.EntityBoundsInvalidError(None))
    alert, card = make_alert("Начался отвод войск с плацдарма", "отвод")
    await TelegramSender(bot).send(alert, card)
    _rejected, plain = network.messages
    # Only the invisible delivery marker keeps its link in the plain-text resend.
    assert [type(e) for e in plain.entities or []] == [types.MessageEntityTextUrl]
    assert markup_of(plain) == BUTTONS_7


async def test_digests_and_disabled_feedback_have_no_buttons(
    network: OfflineNetwork, bot: TelegramClient
) -> None:
    first, card1 = make_alert("Начался отвод войск с плацдарма", "отвод", hit_id=7, alert_id=1)
    second, card2 = make_alert("Отвод подразделений от Днепра", "Отвод", hit_id=8, alert_id=2)
    await TelegramSender(bot).send_digest([first, second], [card1, card2])
    await TelegramSender(bot, feedback=False).send(first, card1)
    assert [markup_of(r) for r in network.messages] == [None, None]


def test_callback_data_round_trip() -> None:
    assert callback_data(7, USEFUL) == b"fb:7:u"
    assert parse_callback(b"fb:7:f") == (7, FALSE_POSITIVE)
    for bad in (b"fb:7:x", b"fb::u", b"fb:7:u:1", b"xx:7:u", b""):
        assert parse_callback(bad) is None
    with pytest.raises(ValueError):
        callback_data(7, "meh")
    assert format_feedback([]).startswith("No feedback marks yet")


# -- pressing a button ---------------------------------------------------------------------------------


class CallbackNetwork(OfflineNetwork):
    """OfflineNetwork that also answers the bot's callback answers."""

    def _answer(self, request: Any) -> Any:
        if isinstance(request, functions.messages.SetBotCallbackAnswerRequest):
            return True
        return super()._answer(request)


@pytest.fixture
def cb_network() -> CallbackNetwork:
    return CallbackNetwork()


@pytest.fixture
def cb_bot(cb_network: CallbackNetwork) -> TelegramClient:
    return offline_client(cb_network)


@pytest.fixture
async def hits(store: Store) -> dict[str, int]:
    return await add_hits(store)


@pytest.fixture
def adapter(cb_bot: TelegramClient, store: Store, clock: FakeClock) -> BotCommandAdapter:
    handler = CommandHandler(store, clock)
    adapter = BotCommandAdapter(cb_bot, handler, {ANALYST}, {OPERATOR}, bot_username="mw_bot")
    adapter.register()
    return adapter


async def press(
    client: TelegramClient, user_id: int, data: bytes, peer: Any = None, query_id: int = 1
) -> None:
    """A button press as Telegram delivers it, dispatched through Telethon's event path."""
    update = types.UpdateBotCallbackQuery(
        query_id=query_id,
        user_id=user_id,
        peer=peer or types.PeerUser(user_id),
        msg_id=55,
        chat_instance=0,
        data=data,
    )
    update._entities = {user_id: types.User(id=user_id, access_hash=user_id * 3, first_name="x")}
    await client._dispatch_update(update)


def answers(network: OfflineNetwork) -> list[tuple[str | None, bool]]:
    return [
        (r.message, bool(r.alert))
        for r in network.of(functions.messages.SetBotCallbackAnswerRequest)
    ]


async def test_an_analyst_marks_a_card(
    adapter: BotCommandAdapter, cb_bot: TelegramClient, cb_network: CallbackNetwork,
    store: Store, hits: dict[str, int],
) -> None:
    await press(cb_bot, ANALYST, b"fb:%d:f" % hits["a"])
    assert await store.feedback_for_hit(hits["a"]) == {str(ANALYST): FALSE_POSITIVE}
    (answer,) = cb_network.of(functions.messages.SetBotCallbackAnswerRequest)
    assert (answer.query_id, answer.message, answer.alert) == (1, "marked false positive", False)
    # The card is left alone: no edit, no new message.
    assert not cb_network.of(functions.messages.EditMessageRequest)
    assert cb_network.messages == []
    # Changing one's mind replaces the vote; an operator's vote in a channel counts too.
    await press(cb_bot, ANALYST, b"fb:%d:u" % hits["a"], query_id=2)
    await press(cb_bot, OPERATOR, b"fb:%d:u" % hits["a"], types.PeerChannel(1234567890), 3)
    assert await store.feedback_for_hit(hits["a"]) == {
        str(ANALYST): USEFUL, str(OPERATOR): USEFUL
    }
    assert answers(cb_network)[1:] == [("marked useful", False), ("marked useful", False)]


async def test_a_stranger_is_refused_and_nothing_is_stored(
    adapter: BotCommandAdapter, cb_bot: TelegramClient, cb_network: CallbackNetwork,
    store: Store, hits: dict[str, int],
) -> None:
    await press(cb_bot, STRANGER, b"fb:%d:f" % hits["a"])
    assert await store.feedback_for_hit(hits["a"]) == {}
    assert await store.feedback_by_rule() == []
    assert answers(cb_network) == [("not authorised", True)]


async def test_unknown_hits_and_other_buttons(
    adapter: BotCommandAdapter, cb_bot: TelegramClient, cb_network: CallbackNetwork,
    store: Store, hits: dict[str, int],
) -> None:
    await press(cb_bot, ANALYST, b"fb:9999:u")
    await press(cb_bot, ANALYST, b"fb:bogus", query_id=2)
    await press(cb_bot, ANALYST, b"other:1", query_id=3)  # not ours: no handler runs
    assert answers(cb_network) == [
        ("this alert is no longer in the database", False),
        ("unknown button", False),
    ]
    assert await store.feedback_by_rule() == []


async def test_unregister_stops_listening_for_buttons(
    adapter: BotCommandAdapter, cb_bot: TelegramClient, cb_network: CallbackNetwork,
    hits: dict[str, int],
) -> None:
    adapter.unregister()
    await press(cb_bot, ANALYST, b"fb:%d:u" % hits["a"])
    assert answers(cb_network) == []


class BrokenStore:
    async def add_feedback(self, hit_id: int, verdict: str, author: str) -> bool:
        raise RuntimeError("disk full")


async def test_a_failing_store_is_logged_and_answered(
    cb_bot: TelegramClient, cb_network: CallbackNetwork, store: Store, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = BotCommandAdapter(
        cb_bot, CommandHandler(store, clock), {ANALYST}, set(), feedback_store=BrokenStore()
    )
    adapter.register()
    await press(cb_bot, ANALYST, b"fb:1:u")
    assert answers(cb_network) == [("could not record the mark (logged)", True)]
    assert any("could not record feedback" in r.getMessage() for r in caplog.records)


async def test_a_mark_on_a_card_judges_every_rule_on_its_post(store: Store) -> None:
    """One card names all the rules that fired on a post; its button marks them all."""
    text = "Начался отвод войск от Херсона"
    post_id = (await store.add_post(make_post(text, msg_id=77))).post_id
    first, second = await store.add_hits(
        post_id,
        [make_hit(text, ["отвод"], rule_id="r.one"), make_hit(text, ["войск"], rule_id="r.two")],
        "v1",
    )
    assert await store.add_feedback(first, "false_positive", "1001", whole_post=True)
    assert await store.feedback_for_hit(second) == {"1001": "false_positive"}
    rules = {row[0]: row for row in await store.feedback_by_rule()}
    assert set(rules) >= {"r.one", "r.two"}
