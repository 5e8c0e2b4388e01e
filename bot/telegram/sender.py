"""TelegramSender: delivers alert cards through the bot, optionally after forwarding the post.

Error policy: retry what may pass later (TransientSendError; "in doubt" when the
message may have arrived all the same), fix and resend what Telegram rejected for its
form (plain text), give up on what a human must fix (PermanentSendError naming the chat
and the fix), stop on a dead session or revoked token (FatalSendError).

Every card carries its delivery marker (bot.alerts.senders.delivery_marker) as a link
on an invisible character (U+200D, the usual "hidden link"), so reconcile() can find,
with the user account, a card whose delivery was never recorded. A card that may be a
repeat says so in its first line.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import TelegramClient, errors, types
from telethon.extensions import html as tl_html
from telethon.helpers import add_surrogate
from telethon.utils import split_text

from bot.alerts.card import (
    TELEGRAM_MESSAGE_LIMIT,
    AlertCard,
    render_digest_html,
    render_html,
)
from bot.alerts.senders import (
    DELIVERY_RESERVE,
    MARKER_FRAGMENT,
    FatalSendError,
    PermanentSendError,
    TransientSendError,
    covered_ids,
    delivery_marker,
    destination_of,
    is_repeat,
    is_silent,
)
from bot.domain import Alert
from bot.feedback import feedback_buttons
from bot.telegram.errors import (
    BAD_TOKEN_ERRORS,
    FATAL_RPC_ERRORS,
    FatalTelegramError,
    fatal_error,
    is_fatal,
)

logger = logging.getLogger(__name__)

Chat = int | str

_NUMERIC = re.compile(r"^-?\d+$")
_DESTINATION_PREFIX = "telegram:"
_MAX_TRACKED = 1000
# The hidden link's text: invisible, and not whitespace Telegram would trim away.
_MARKER_TEXT = "\u200d"
REPEAT_NOTE = (
    "⚠️ May be a repeat: an earlier send of this was interrupted before it was recorded,"
    " and the chat could not be checked."
)
RECONCILE_SCAN = 300  # newest messages of a chat read to find cards in doubt
# Messages dated from this long before the first unrecorded attempt are read (clock skew).
RECONCILE_MARGIN = timedelta(minutes=2)

_RETRY_LATER: tuple[type[BaseException], ...] = (
    errors.ServerError,  # includes RpcCallFailError and other 500s
    errors.TimedOutError,
    OSError,  # includes ConnectionError and TimeoutError (= asyncio.TimeoutError)
)
_FORM_REJECTED: tuple[type[BaseException], ...] = (
    errors.MessageTooLongError,
    errors.EntityBoundsInvalidError,
)

# Chat problems a human must fix, with the fix. Checked in order (first match wins).
_PERMANENT_FIXES: tuple[tuple[type[BaseException], str], ...] = (
    (
        errors.ChatWriteForbiddenError,
        (
            "the bot may not write there: add it to the chat and allow it to post "
            "(in a channel: make it an admin with 'Post messages')"
        ),
    ),
    (
        errors.ChatAdminRequiredError,
        "the bot needs admin rights there: make it an admin with 'Post messages'",
    ),
    (
        errors.UserIsBlockedError,
        "that user blocked the bot: ask them to unblock it and press Start, or change the route",
    ),
    (
        errors.ChannelPrivateError,
        "the chat is private or the bot was removed or banned: add the bot again",
    ),
    (
        errors.PeerIdInvalidError,
        (
            "the bot cannot reach that chat id: a bot can only write to users who pressed "
            "Start and to groups/channels it is a member of; check ALERT_CHAT_ID / ROUTE_*"
        ),
    ),
    (
        errors.ChannelInvalidError,
        "no such channel for the bot: check the id (-100…) and that the bot is a member",
    ),
    (errors.ChatIdInvalidError, "invalid chat id: check ALERT_CHAT_ID / ROUTE_*"),
    (
        errors.UsernameNotOccupiedError,
        "no chat has that username: check ALERT_CHAT_ID / ROUTE_* (or use the -100… id)",
    ),
    (errors.UsernameInvalidError, "not a valid username: check ALERT_CHAT_ID / ROUTE_*"),
    (
        errors.UserBannedInChannelError,
        "the bot is banned from sending there: lift the restriction",
    ),
    (
        errors.ChatRestrictedError,
        "the chat restricts the bot: lift the restriction or change the route",
    ),
    (
        errors.ChatSendPlainForbiddenError,
        "text messages are not allowed there: allow them for the bot",
    ),
    (errors.InputUserDeactivatedError, "that user account was deleted: change the route"),
    (errors.UserIsBotError, "bots cannot message other bots: route to a user or a group"),
)


def parse_chat(destination: str) -> Chat:
    """'telegram:-100123', '-100123', '123', '@name' or 'name' -> int id or username."""
    chat = destination.strip()
    if chat.lower().startswith(_DESTINATION_PREFIX):
        chat = chat[len(_DESTINATION_PREFIX) :].strip()
    if not chat:
        raise PermanentSendError(
            "no destination chat for this alert: set ALERT_CHAT_ID (or the route's ROUTE_* variable)"
        )
    if _NUMERIC.match(chat):
        return int(chat)
    return chat


def describe_chat(chat: Chat) -> str:
    """How a chat is named in error messages."""
    if isinstance(chat, int):
        return f"chat {chat}"
    return chat if chat.startswith(("@", "http")) else f"@{chat}"


def card_chunks(alerts: Sequence[Alert], render: Callable[[int], list[str]]) -> list[str]:
    """The HTML messages for one card or digest, with its markers and repeat line.

    render(limit) renders the card in messages of at most limit characters; the
    room for the markers and the repeat line is kept free. The markers open the LAST
    message: a card found in the chat by them arrived whole.
    """
    chunks = render(TELEGRAM_MESSAGE_LIMIT - DELIVERY_RESERVE)
    if not chunks:
        return chunks
    if any(is_repeat(alert) for alert in alerts):
        chunks[0] = f"<i>{html.escape(REPEAT_NOTE)}</i>\n" + chunks[0]
    markers = "".join(
        f'<a href="{html.escape(delivery_marker(alert), quote=True)}">{_MARKER_TEXT}</a>'
        for alert in alerts
    )
    chunks[-1] = markers + chunks[-1]
    return chunks


def map_send_error(exc: BaseException, chat: Chat) -> BaseException | None:
    """The error to raise for a failed bot send, or None when it is not ours to classify.

    Form errors (MessageTooLong, EntityBoundsInvalid) are handled by the caller before
    this is asked; here they become permanent (the plain-text resend failed too).
    """
    where = describe_chat(chat)
    name = type(exc).__name__
    if isinstance(
        exc, (errors.FloodWaitError, errors.SlowModeWaitError, errors.FloodPremiumWaitError)
    ):
        return TransientSendError(f"{name}: wait {exc.seconds}s ({where})", retry_after=exc.seconds)
    if isinstance(exc, FATAL_RPC_ERRORS + BAD_TOKEN_ERRORS):
        return fatal_error(exc, "bot")
    if isinstance(exc, _RETRY_LATER):
        # The request may have reached Telegram before the answer was lost.
        return TransientSendError(f"{name} sending to {where}: {exc}", in_doubt=True)
    for error_type, fix in _PERMANENT_FIXES:
        if isinstance(exc, error_type):
            return PermanentSendError(f"{name} for {where}: {fix}")
    if isinstance(exc, _FORM_REJECTED):
        return PermanentSendError(f"{name} for {where}: Telegram rejected even the plain-text card")
    if isinstance(exc, ValueError) and (
        "Could not find the input entity" in str(exc)
        or "No user has" in str(exc)
        or "Cannot find any entity" in str(exc)
    ):
        return PermanentSendError(
            f"the bot cannot resolve {where}: check ALERT_CHAT_ID / ROUTE_* and that the bot "
            "is a member of that chat (users must press Start first)"
        )
    if isinstance(exc, errors.UnauthorizedError):
        return fatal_error(exc, "bot")
    if isinstance(exc, (errors.BadRequestError, errors.ForbiddenError, errors.NotFoundError)):
        # Telegram refused this exact request; sending it again cannot succeed.
        return PermanentSendError(f"{name} for {where}: {exc}")
    return None


@dataclass
class _Progress:
    """What already reached Telegram for an alert, so a retry does not repeat it."""

    forwarded_id: int | None = None
    forward_tried: bool = False
    chunks_sent: int = 0


class TelegramSender:
    """Sender for Telegram chats: the bot sends the card; the user account may forward the post."""

    def __init__(
        self,
        bot_client: TelegramClient,
        user_client: TelegramClient | None = None,
        forward_originals: bool = False,
        *,
        operator_chat: str | None = None,
        chunk_spacing: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        feedback: bool = True,
    ) -> None:
        """operator_chat, when given, is told about every permanent failure.

        feedback: put the "✅ useful" / "❌ false positive" buttons under single alert
        cards (on the last chunk); BotCommandAdapter records the votes.

        chunk_spacing: seconds between the chunks of one long card. The outbox limiter
        counts one message per alert, so the extra chunks keep the bot's 1 msg/s per chat
        by waiting here (the forward comes from the user account, not the bot).
        """
        self._chunk_spacing = chunk_spacing
        self._sleep = sleep
        self._bot = bot_client
        self._user = user_client
        self._forward = forward_originals and user_client is not None
        self._operator_chat = operator_chat
        self._feedback = feedback
        # Per alert id, within this process: a retry after a partial send resumes
        # where it stopped instead of repeating the forward and the first chunks.
        self._progress: dict[Hashable, _Progress] = {}

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Deliver the card (every chunk, in order) to destination_of(alert)."""
        buttons = feedback_buttons(alert.hit.hit_id) if self._feedback else None
        await self._deliver(
            alert.alert_id,
            [alert],
            lambda: card_chunks([alert], lambda limit: render_html(card, limit)),
            forward=alert,
            buttons=buttons,
        )

    async def send_digest(self, alerts: Sequence[Alert], cards: Sequence[AlertCard]) -> None:
        """Deliver several alerts for ONE destination as a digest (no forwards).

        Silent only when every alert in it is silent.
        """
        if not alerts:
            return
        key = ("digest", *(alert.alert_id for alert in alerts))
        await self._deliver(
            key,
            list(alerts),
            lambda: card_chunks(alerts, lambda limit: render_digest_html(cards, limit)),
            forward=None,
        )

    async def reconcile(self, alerts: Sequence[Alert]) -> Mapping[int, bool | None]:
        """Per alert in doubt: True if its card is in the chat, False if surely not, None
        if unknown. The user account reads the chat's newest messages for the markers;
        a chat it cannot read (not a member, a private chat with the bot) is unknown.
        """
        answers: dict[int, bool | None] = {alert.alert_id: None for alert in alerts}
        if self._user is None:
            return answers
        by_chat: dict[Chat, list[Alert]] = {}
        for alert in alerts:
            try:
                by_chat.setdefault(parse_chat(destination_of(alert)), []).append(alert)
            except PermanentSendError:
                continue
        for chat, group in by_chat.items():
            now = datetime.now(UTC)
            since = min(a.in_doubt_since or now for a in group) - RECONCILE_MARGIN
            try:
                found, complete = await self._find_markers(chat, since)
            except Exception as exc:  # noqa: BLE001 - not knowing is an answer too
                logger.warning(
                    "cannot read %s to check %d card(s) in doubt (%s: %s); they go out"
                    " again marked as possible repeats",
                    describe_chat(chat),
                    len(group),
                    type(exc).__name__,
                    exc,
                )
                continue
            for alert in group:
                base = delivery_marker(alert).partition(MARKER_FRAGMENT)[0]
                if alert.alert_id in found.get(base, set()):
                    answers[alert.alert_id] = True
                elif complete:
                    answers[alert.alert_id] = False
        return answers

    async def _find_markers(self, chat: Chat, since: datetime) -> tuple[dict[str, set[int]], bool]:
        """Marker links in the chat's messages since `since`: post link -> outbox ids, and
        whether every message since then was read."""
        assert self._user is not None
        found: dict[str, set[int]] = {}
        read = 0
        async for message in self._user.iter_messages(chat, limit=RECONCILE_SCAN):
            date = getattr(message, "date", None)
            if date is not None and (date if date.tzinfo else date.replace(tzinfo=UTC)) < since:
                return found, True
            read += 1
            for entity in getattr(message, "entities", None) or []:
                url = getattr(entity, "url", None)
                if isinstance(url, str) and MARKER_FRAGMENT in url:
                    base, _, ids = url.partition(MARKER_FRAGMENT)
                    found.setdefault(base, set()).update(
                        int(part) for part in ids.split(".") if part.isdigit()
                    )
        return found, read < RECONCILE_SCAN  # the history ended before the limit

    async def alarm(self, text: str) -> str | None:
        """Tell the operator by whatever still works; where it went, None if nowhere.

        The bot to the operator chat first; when the bot cannot (its token was revoked),
        the user account to the operator chat, then to its own Saved Messages.
        """
        if self._operator_chat and await self.notify(self._operator_chat, text):
            return "the operator chat"
        if self._user is None:
            return None
        targets: list[tuple[Chat, str]] = []
        if self._operator_chat:
            try:
                operator = parse_chat(self._operator_chat)
                targets.append((operator, "the operator chat (user account)"))
            except PermanentSendError:
                pass
        targets.append(("me", "the user account's Saved Messages"))
        for target, where in targets:
            try:
                for piece, _ in split_text(text, [], limit=TELEGRAM_MESSAGE_LIMIT):
                    await self._user.send_message(
                        target, piece, parse_mode=None, link_preview=False
                    )
            except Exception:  # try the next way; the log keeps the notice
                logger.warning("could not tell the operator through %s", where, exc_info=True)
                continue
            return where
        return None

    async def _deliver(
        self,
        key: Hashable,
        alerts: list[Alert],
        render: Callable[[], list[str]],
        forward: Alert | None,
        buttons: Any = None,
    ) -> None:
        try:
            chat = parse_chat(destination_of(alerts[0]))
        except PermanentSendError as exc:
            await self._tell_operator(alerts, None, exc)
            raise
        silent = all(is_silent(alert) for alert in alerts)
        progress = self._progress.get(key)
        if progress is None:
            if len(self._progress) >= _MAX_TRACKED:
                # Alerts the dispatcher gave up on never come back; forget the oldest.
                del self._progress[next(iter(self._progress))]
            progress = self._progress[key] = _Progress()
        try:
            if forward is not None and self._forward and not progress.forward_tried:
                progress.forwarded_id = await self._forward_original(forward, chat)
                progress.forward_tried = True
            await self._send_chunks(chat, render(), silent, progress, buttons)
        except PermanentSendError as exc:
            self._progress.pop(key, None)
            if forward is not None:
                # A refused digest is not given up: the dispatcher sends its alerts on
                # their own, and each says so if it fails too.
                await self._tell_operator(alerts, chat, exc)
            raise
        except FatalTelegramError as exc:
            raise FatalSendError(str(exc)) from exc
        self._progress.pop(key, None)

    async def _send_chunks(
        self, chat: Chat, chunks: list[str], silent: bool, progress: _Progress, buttons: Any = None
    ) -> None:
        """Send the chunks not sent yet; buttons go under the last one."""
        while progress.chunks_sent < len(chunks):
            index = progress.chunks_sent
            reply_to = progress.forwarded_id if index == 0 else None
            if index > 0 and self._chunk_spacing > 0:
                await self._sleep(self._chunk_spacing)
            try:
                await self._bot.send_message(
                    chat,
                    chunks[index],
                    parse_mode="html",
                    link_preview=False,
                    silent=silent,
                    reply_to=reply_to,
                    buttons=buttons if index == len(chunks) - 1 else None,
                )
            except _FORM_REJECTED as exc:
                logger.warning(
                    "%s rejected the HTML card (%s); resending as plain text",
                    describe_chat(chat),
                    type(exc).__name__,
                )
                await self._send_plain(chat, chunks[index:], silent, reply_to, buttons)
                progress.chunks_sent = len(chunks)
                return
            except Exception as exc:
                self._raise_mapped(exc, chat)
                raise
            progress.chunks_sent += 1

    async def _send_plain(
        self,
        chat: Chat,
        chunks: list[str],
        silent: bool,
        reply_to: int | None,
        buttons: Any = None,
    ) -> None:
        """The same text without formatting, split to Telegram's limit.

        Only the delivery markers stay (links on their invisible characters): without
        them a card resent this way could not be found in the chat again.
        """
        # Chunks are consecutive slices of one text (separators stay with the slice
        # before them), so they join back without adding anything.
        text = ""
        markers: list[Any] = []
        for chunk in chunks:
            piece_text, entities = tl_html.parse(chunk)
            shift = len(add_surrogate(text))  # entity offsets count UTF-16 code units
            for entity in entities:
                if isinstance(entity, types.MessageEntityTextUrl) and MARKER_FRAGMENT in entity.url:
                    markers.append(
                        types.MessageEntityTextUrl(entity.offset + shift, entity.length, entity.url)
                    )
            text += piece_text
        pieces = [
            (piece, entities)
            for piece, entities in split_text(text, markers, limit=TELEGRAM_MESSAGE_LIMIT)
            if piece.strip()
        ]
        for number, (piece, entities) in enumerate(pieces, 1):
            try:
                await self._bot.send_message(
                    chat,
                    piece,
                    parse_mode=None,
                    formatting_entities=entities or None,
                    link_preview=False,
                    silent=silent,
                    reply_to=reply_to,
                    buttons=buttons if number == len(pieces) else None,
                )
            except Exception as exc:
                self._raise_mapped(exc, chat)
                raise
            reply_to = None

    @staticmethod
    def _raise_mapped(exc: BaseException, chat: Chat) -> None:
        """Raise the mapped error; return (caller re-raises exc) when there is none."""
        mapped = map_send_error(exc, chat)
        if mapped is not None:
            raise mapped from exc

    async def _forward_original(self, alert: Alert, chat: Chat) -> int | None:
        """Forward the post with the user account; the id to reply to, or None.

        Any failure falls back to the card alone: the card carries the link, and an
        alert that arrives without its forward beats one that waits for it.
        """
        assert self._user is not None
        post = alert.hit.post
        if not post.msg_id.isdigit() or not post.channel:
            return None  # replayed or imported posts have no Telegram original
        source: Chat = int(post.channel) if _NUMERIC.match(post.channel) else post.channel
        try:
            # The forward is always silent: the card that follows is the notification
            # (it says why the post matters); one alert should ring once.
            forwarded = await self._user.forward_messages(
                chat, int(post.msg_id), from_peer=source, silent=True
            )
        except errors.ChatForwardsRestrictedError:
            logger.info(
                "alert %d: %s forbids forwarding; sending the card with its link",
                alert.alert_id,
                describe_chat(source),
            )
            return None
        except Exception as exc:  # noqa: BLE001 - deliberate: the card must still go out
            if is_fatal(exc):
                # The listener uses the same session and stops on this; the card
                # still goes out through the bot.
                logger.error("alert %d: %s", alert.alert_id, fatal_error(exc, "user"))
                self._forward = False
            else:
                logger.warning(
                    "alert %d: forwarding %s/%s to %s failed (%s: %s); sending the card alone",
                    alert.alert_id,
                    describe_chat(source),
                    post.msg_id,
                    describe_chat(chat),
                    type(exc).__name__,
                    exc,
                )
            return None
        if forwarded is None:
            return None
        # Message ids are shared by all members only in channels and supergroups; in
        # basic groups and private chats the user's id for the forward is not the bot's.
        if isinstance(getattr(forwarded, "peer_id", None), types.PeerChannel):
            return int(forwarded.id)
        return None

    async def notify(self, chat: str, text: str) -> bool:
        """Send a plain-text notice (no formatting parsed); False if it could not be sent."""
        target = parse_chat(chat)
        try:
            for piece, _ in split_text(text, [], limit=TELEGRAM_MESSAGE_LIMIT):
                await self._bot.send_message(target, piece, parse_mode=None, link_preview=False)
        except Exception:
            # Telling the operator is best effort; the failure itself is already logged.
            logger.exception("could not notify %s", describe_chat(target))
            return False
        return True

    async def _tell_operator(
        self, alerts: list[Alert], chat: Chat | None, exc: PermanentSendError
    ) -> None:
        if not self._operator_chat:
            return
        try:
            operator = parse_chat(self._operator_chat)
        except PermanentSendError:
            return
        if operator == chat:
            return  # the operator chat itself is what fails
        where = describe_chat(chat) if chat is not None else "any chat"
        if len(alerts) == 1:
            alert = alerts[0]
            post = alert.hit.post
            # One card stands for every rule that fired on the post: name every outbox row.
            ids = covered_ids(alert)
            label = "alert" if len(ids) == 1 else "alerts"
            what = (
                f"{label} #{', #'.join(str(i) for i in ids)} ({alert.hit.topic}, "
                f"{post.url or post.channel})"
            )
        else:
            what = (
                f"a digest of {len(alerts)} alerts (#{', #'.join(str(a.alert_id) for a in alerts)})"
            )
        await self.notify(
            self._operator_chat,
            f"milwatch: {what} could not be delivered to {where} and was given up.\n{exc}",
        )
