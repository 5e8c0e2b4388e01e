"""The bot's command adapter: Telegram messages in, CommandHandler replies out.

Also records the ✅/❌ feedback buttons under alert cards. Only users listed in
ANALYST_IDS or OPERATOR_IDS get answers. Everything else about a
command (parsing, queries, wording) lives in bot.commands; this module decides who may
ask, escapes the plain-text reply and splits it to Telegram's message limit.
"""

from __future__ import annotations

import html
import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from telethon import TelegramClient, events, functions, types

from bot.alerts.card import TELEGRAM_MESSAGE_LIMIT
from bot.charts import Picture
from bot.commands import CommandHandler
from bot.commands.handler import OPERATOR_COMMAND_NAMES
from bot.feedback import CALLBACK_PREFIX, parse_callback, verdict_label

logger = logging.getLogger(__name__)

# (command, description) for the bot's "/" menu; descriptions: 3-256 characters.
MENU: tuple[tuple[str, str], ...] = (
    ("recent", "Latest posts with hits: /recent [N] [topic|@channel]"),
    ("search", "Posts containing a text: /search TEXT [since 7d]"),
    ("stats", "Activity: /stats [24h|7d] [chart]; alert marks: /stats feedback [30d]"),
    ("channels", "Each channel's health, worst first: error, silent, quiet, ok"),
    ("rules", "Summary of the active rules"),
    ("help", "List of commands"),
)
# Operator commands (/rule, /term, /mute, /unmute) are answered too, but not in the menu.
KNOWN_COMMANDS = frozenset(name for name, _ in MENU) | {"start"} | OPERATOR_COMMAND_NAMES
MAX_PAGES = 10
REFUSAL_INTERVAL = 3600.0  # seconds between two "not authorised" answers to one user
INTERNAL_ERROR_REPLY = "Sorry, internal error (logged)."

# "/name" or "/name@bot", then whitespace or the end. Command names are ASCII.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s|$)")


def command_name(text: str, bot_username: str | None = None) -> str | None:
    """The lower-case command name if text is a command for this bot, else None.

    '/recent@other_bot' is for another bot in the same group: None. Pure, no I/O.
    """
    match = _COMMAND.match(text.lstrip())
    if match is None:
        return None
    addressee = match.group(2)
    if addressee and bot_username and addressee.lower() != bot_username.lstrip("@").lower():
        return None
    return match.group(1).lower()


def _tg_size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _split_line(line: str, limit: int) -> list[str]:
    """Escaped pieces of one over-long line, each at most limit (never cutting an entity)."""
    pieces: list[str] = []
    current, size = "", 0
    for char in line:
        escaped = html.escape(char, quote=False)
        cost = _tg_size(escaped)
        if size + cost > limit and current:
            pieces.append(current)
            current, size = "", 0
        current += escaped
        size += cost
    if current:
        pieces.append(current)
    return pieces


def paginate(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """A plain-text reply as HTML-escaped pages of at most limit, split between lines.

    Escaping happens per line (or per character for an over-long line) before
    packing, so a page never ends inside an entity such as &amp;.
    """
    pages: list[str] = []
    current = ""
    for line in text.split("\n"):
        escaped = html.escape(line, quote=False)
        pieces = [escaped] if _tg_size(escaped) <= limit else _split_line(line, limit)
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if _tg_size(candidate) <= limit:
                current = candidate
                continue
            pages.append(current)
            current = piece
    if current:
        pages.append(current)
    # Telegram rejects empty messages.
    return [page for page in pages if page.strip()]


class BotCommandAdapter:
    """Answers analyst commands sent to the bot in private chats and groups."""

    def __init__(
        self,
        bot_client: TelegramClient,
        handler: CommandHandler,
        analyst_ids: Iterable[int],
        operator_ids: Iterable[int],
        *,
        bot_username: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        feedback_store: Any = None,
    ) -> None:
        """bot_username lets group commands addressed to other bots be ignored.

        feedback_store (default: the handler's store) records the ✅/❌ marks analysts
        give alert cards with their buttons.
        """
        self._client = bot_client
        self._handler = handler
        self._operators = frozenset(operator_ids)
        self._allowed = frozenset(analyst_ids) | self._operators
        self._bot_username = bot_username
        self._clock = clock
        self._refused_at: dict[int, float] = {}
        self._builder = events.NewMessage(incoming=True)
        self._feedback_store = feedback_store or getattr(handler, "store", None)
        self._callback_builder = events.CallbackQuery(pattern=CALLBACK_PREFIX)

    async def start(self) -> None:
        """Learn the bot's username, register the handler and set the command menu."""
        if self._bot_username is None:
            me = await self._client.get_me()
            self._bot_username = getattr(me, "username", None)
        self.register()
        await self.register_menu()

    def register(self) -> None:
        """Listen for incoming messages on the bot client."""
        self._client.add_event_handler(self.on_message, self._builder)
        self._client.add_event_handler(self.on_callback, self._callback_builder)
        if not self._allowed:
            logger.warning("ANALYST_IDS and OPERATOR_IDS are empty: the bot will answer no one")

    def unregister(self) -> None:
        """Stop listening."""
        self._client.remove_event_handler(self.on_message, self._builder)
        self._client.remove_event_handler(self.on_callback, self._callback_builder)

    async def register_menu(self) -> None:
        """Set the bot's '/' command menu (BotFather's /setcommands, done by the bot itself)."""
        await self._client(
            functions.bots.SetBotCommandsRequest(
                scope=types.BotCommandScopeDefault(),
                lang_code="",
                commands=[types.BotCommand(command=name, description=text) for name, text in MENU],
            )
        )

    async def on_message(self, event: Any) -> None:
        """Handle one incoming message: answer authorised commands, ignore the rest."""
        text = event.message.message or ""
        name = command_name(text, self._bot_username)
        if name is None:
            return
        private = bool(event.is_private)
        if not private and not event.is_group:
            return  # channel posts are not commands
        if not private and name not in KNOWN_COMMANDS:
            return  # probably meant for another bot in the group
        user_id = event.sender_id
        if user_id is None or user_id not in self._allowed:
            # Command name and ids only: the rest of the text may be anything.
            logger.warning(
                "refused /%s from unauthorised user %s in chat %s", name, user_id, event.chat_id
            )
            await self._refuse(event, user_id, private)
            return
        logger.info("/%s from user %s in chat %s", name, user_id, event.chat_id)
        try:
            # OPERATOR_IDS may edit rules and mute; everyone else allowed is an analyst.
            role = "operator" if user_id in self._operators else "analyst"
            reply = await self._handler.answer(text, role=role, author=str(user_id), private=private)
            if isinstance(reply, Picture):
                await self._send_picture(event, reply, private)
            else:
                await self._send_pages(event, paginate(reply or "(empty reply)"), private)
        except Exception:
            # The one error boundary per command: a failing command (or reply) is
            # logged and answered, and the bot keeps serving the next one.
            logger.exception("command /%s from user %s failed", name, user_id)
            try:
                await self._respond(event, INTERNAL_ERROR_REPLY, parse_mode=None)
            except Exception:
                logger.exception(
                    "could not report the failure of /%s to chat %s", name, event.chat_id
                )

    async def on_callback(self, event: Any) -> None:
        """A ✅/❌ button under an alert card: record the vote; the card stays as it is."""
        user_id = event.sender_id
        if user_id is None or user_id not in self._allowed:
            logger.warning("refused a feedback button from unauthorised user %s", user_id)
            await self._answer(event, "not authorised", alert=True)
            return
        parsed = parse_callback(bytes(event.data or b""))
        if parsed is None:
            await self._answer(event, "unknown button")
            return
        hit_id, verdict = parsed
        try:
            if self._feedback_store is None:
                raise RuntimeError("no store to record feedback in")
            # The card the button sits on names every rule that fired on its post.
            stored = await self._feedback_store.add_feedback(
                hit_id, verdict, str(user_id), whole_post=True
            )
        except Exception:
            logger.exception("could not record feedback on hit %s from user %s", hit_id, user_id)
            await self._answer(event, "could not record the mark (logged)", alert=True)
            return
        if not stored:
            await self._answer(event, "this alert is no longer in the database")
            return
        logger.info("hit %s marked %s by user %s", hit_id, verdict, user_id)
        await self._answer(event, f"marked {verdict_label(verdict)}")

    async def _answer(self, event: Any, message: str, *, alert: bool = False) -> None:
        """Answer a button press (stops the loading circle); best effort."""
        try:
            await event.answer(message, alert=alert)
        except Exception:
            logger.exception("could not answer a button press")

    async def _send_pages(self, event: Any, pages: list[str], private: bool) -> None:
        if len(pages) > MAX_PAGES:
            dropped = len(pages) - MAX_PAGES
            pages = pages[: MAX_PAGES - 1] + [
                html.escape(f"… {dropped + 1} more page(s) not shown: narrow the command.")
            ]
        # In a group, thread the answer under the command so it is clear whose it is.
        reply_to = None if private else event.id
        for page in pages:
            await self._respond(
                event, page, parse_mode="html", link_preview=False, reply_to=reply_to
            )
            reply_to = None

    async def _send_picture(self, event: Any, picture: Picture, private: bool) -> None:
        """A chart as a photo, with its caption (plain text, under Telegram's 1,024)."""
        photo = io.BytesIO(picture.png)
        photo.name = picture.filename  # Telethon tells a photo from a document by the name
        await self._respond(
            event,
            picture.caption[:1024],
            file=photo,
            parse_mode=None,
            reply_to=None if private else event.id,
        )

    async def _respond(self, event: Any, text: str, **options: Any) -> None:
        """Send to the event's chat without Telethon's GetDialogs fallback (bots may not)."""
        peer = event.message.peer_id
        chat: Any
        if isinstance(peer, types.PeerChat):
            chat = types.InputPeerChat(peer.chat_id)  # basic groups need no access hash
        else:
            # From the update's entities when present; else users/channels are fetched
            # with access_hash 0, which Telegram allows bots for chats they are in.
            chat = event.input_chat or await self._client.get_input_entity(peer)
        await self._client.send_message(chat, text, **options)

    async def _refuse(self, event: Any, user_id: int | None, private: bool) -> None:
        """Tell a stranger, in private and at most once an hour, how to get access."""
        if not private or user_id is None:
            return  # silence in groups: no data, no noise
        now = self._clock()
        last = self._refused_at.get(user_id)
        if last is not None and now - last < REFUSAL_INTERVAL:
            return
        if len(self._refused_at) > 10_000:
            self._refused_at.clear()  # bounded memory if many accounts try
        self._refused_at[user_id] = now
        try:
            await self._respond(
                event,
                f"Not authorised. Your Telegram user id is {user_id}; "
                "ask the operator to add it to ANALYST_IDS.",
                parse_mode=None,
            )
        except Exception:
            # Best effort: the attempt is already logged above.
            logger.exception("could not answer unauthorised user %s", user_id)
