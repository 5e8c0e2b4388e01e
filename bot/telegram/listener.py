"""Channel listener: resolve channels once, join them, listen live and backfill every gap.

Telethon's own update handling loses messages (catch-up stops after 100 per channel
and silently jumps ahead on ChannelDifferenceTooLong, as its source shows), so live
events are only the fast path. The truth is a per-channel cursor in SQLite (the
highest message id handled, advanced in the same transaction that stores the post):
on start, every few minutes (staggered), and whenever a live message shows a hole,
`iter_messages(min_id=cursor, reverse=True)` feeds everything after the cursor
through the same `handle_message` as live events. Ingest is idempotent per
(channel, msg_id), so overlaps between the two paths cost nothing.

Tested offline with real TL objects and Telethon's real dispatch. Only real Telegram
shows: actual flood-wait lengths for resolve/join/history, whether updates arrive
for every joined channel, JoinChannelRequest on private/approval-only channels, and
Telethon's own reconnect behaviour under `run_until_disconnected()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import TelegramClient, errors, events, functions
from telethon.tl import types

from bot.pipeline import IngestResult, Pipeline
from bot.settings import Settings
from bot.storage import Store
from bot.telegram.convert import ChannelRef, message_to_post
from bot.telegram.errors import (
    FATAL_RPC_ERRORS,
    LOGIN_HINT,
    FatalTelegramError,
    NotAuthorizedError,
    fatal_error,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ChannelHealth",
    "ChannelListener",
    "FatalTelegramError",
    "ListenerOptions",
    "ListenerStats",
]

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[Any]]

# The session is dead for good (shared with the sender): retrying only hammers
# Telegram with a bad key.
FATAL_AUTH_ERRORS = FATAL_RPC_ERRORS

_GET_CHANNELS_BATCH = 100  # channels.getChannels takes a list; keep requests small


@dataclass(frozen=True)
class ListenerOptions:
    """Pacing knobs; the defaults stay well below the flood limits seen in the field."""

    resolve_delay: float = 5.0  # seconds between username resolutions (heavily limited)
    join_delay: float = 30.0  # seconds between JoinChannelRequests
    history_delay: float = 1.0  # seconds between two channels' backfills
    sweep_interval: float = 300.0  # each channel is re-checked this often (staggered)
    min_sweep_spacing: float = 2.0  # sweeps overall at most one per this many seconds
    backoff_initial: float = 1.0  # first reconnect delay; doubles per failed attempt
    backoff_max: float = 300.0


@dataclass
class ListenerStats:
    """Counters since start, for logs and /channels."""

    posts: int = 0  # messages ingested as posts (new or already known)
    new_posts: int = 0
    album_items_skipped: int = 0  # caption-less album items (the captioned item is the post)
    empty_skipped: int = 0  # media without caption, stickers, polls
    service_skipped: int = 0  # pins, title changes and other service messages
    stale_edits_skipped: int = 0  # edits (reactions) of old posts we never stored
    deleted: int = 0
    errors: int = 0
    reconnects: int = 0  # connection attempts after the first
    flood_wait_seconds: float = 0.0  # asked of the user account (resolve, join, history)
    disconnected_since: datetime | None = None  # None while connected


@dataclass(frozen=True)
class ChannelHealth:
    """What /channels shows for one configured channel."""

    channel: str  # the configured reference, also the key posts are stored under
    title: str | None
    tg_id: int | None
    joined: bool | None  # None: not known (not resolved, or membership check failed)
    listening: bool  # resolved and receiving live updates
    last_msg_id: int | None
    last_post_at: datetime | None  # date of the newest stored post
    lag: timedelta | None  # now minus last_post_at: how long the channel has been silent
    last_sweep_at: datetime | None
    last_error: str | None
    blocked: bool = False  # given up until a restart (private, no such channel, …)


@dataclass
class _Channel:
    name: str  # configured reference: username, or "-100<id>"
    ref: ChannelRef | None = None
    joined: bool | None = None
    error: str | None = None
    blocked: bool = False  # a permanent resolve/join failure: not retried until restart
    retry_at: datetime | None = None  # resolve/join postponed by a flood wait
    next_sweep: datetime | None = None
    last_sweep_at: datetime | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _NotAChannel(ValueError):
    """A configured reference that cannot name a channel."""


def _target(name: str) -> str | types.PeerChannel:
    """What get_entity gets for a configured reference."""
    if name.lstrip("-").isdigit():
        if name.startswith("-100") and len(name) > 4:
            return types.PeerChannel(int(name[4:]))
        raise _NotAChannel("not a channel id: use the @username or the -100… id")
    return name


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ChannelListener:
    """Reads the configured channels with a user account: live events plus gap-free backfill."""

    def __init__(
        self,
        client: TelegramClient,
        store: Store,
        pipeline: Pipeline,
        settings: Settings,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        *,
        options: ListenerOptions | None = None,
    ) -> None:
        """Every collaborator is handed in; nothing touches the network until start()/run()."""
        self._client = client
        self._store = store
        self._pipeline = pipeline
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self.options = options or ListenerOptions()
        self.stats = ListenerStats()
        self._channels: dict[str, _Channel] = {name: _Channel(name) for name in settings.channels}
        self._by_marked_id: dict[int, _Channel] = {}
        self._handlers: list[tuple[Callable[[Any], Awaitable[None]], events.common.EventBuilder]]
        self._handlers = []
        self._attached_ids: list[int] | None = None
        self._paused_until: datetime | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------

    async def run(self) -> None:
        """Connect, start and listen until stop(); reconnect with exponential backoff.

        Raises FatalTelegramError when the session is not (or no longer) authorised.
        """
        failures = 0
        first = True
        while not self._stopping:
            if not first:
                self.stats.reconnects += 1
            first = False
            try:
                await self._client.connect()
                if not await self._client.is_user_authorized():
                    raise NotAuthorizedError(
                        f"Telegram user session is not logged in: {LOGIN_HINT}", what="user"
                    )
                await self.start()
                failures = 0
                self.stats.disconnected_since = None
                await self._listen()
            except FatalTelegramError:
                await self._disconnect_quietly()
                raise
            except FATAL_AUTH_ERRORS as exc:
                await self._disconnect_quietly()
                raise fatal_error(exc, "user") from exc
            except (OSError, errors.RPCError) as exc:  # OSError: ConnectionError, TimeoutError
                logger.warning("Telegram connection failed: %s: %s", type(exc).__name__, exc)
            if self._stopping:
                break
            if self.stats.disconnected_since is None:
                self.stats.disconnected_since = self._clock()
            delay = min(self.options.backoff_initial * 2**failures, self.options.backoff_max)
            failures += 1
            logger.warning("reconnecting to Telegram in %.0f s (attempt %d)", delay, failures)
            await self._sleep(delay)

    async def _listen(self) -> None:
        """Run the sweeps next to Telethon's update loop until one of them ends."""
        sweeper = asyncio.ensure_future(self.sweep_forever())
        disconnected = asyncio.ensure_future(self._client.run_until_disconnected())
        try:
            await asyncio.wait({sweeper, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if sweeper.done():
                sweeper.result()  # re-raises what stopped the sweeps (a fatal auth error)
            await disconnected
        finally:
            for task in (sweeper, disconnected):
                if not task.done():
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task

    async def stop(self) -> None:
        """Stop listening and disconnect; run() returns."""
        self._stopping = True
        self.detach()
        await self._disconnect_quietly()

    async def _disconnect_quietly(self) -> None:
        try:
            await self._client.disconnect()
        except OSError as exc:
            logger.debug("disconnect failed: %s", exc)

    async def start(self) -> None:
        """Resolve/join channels, register live handlers, then backfill every channel once.

        Handlers go in before the backfill so a post arriving meanwhile is not missed.
        """
        await self.prepare()
        self.attach()
        await self.backfill_all()

    # -- resolving and joining ----------------------------------------------

    async def prepare(self) -> None:
        """Load stored ids; resolve only channels never resolved; join where not a member."""
        fresh: list[_Channel] = []
        for ch in self._channels.values():
            if ch.ref is not None or ch.blocked:
                continue
            row = await self._store.get_channel(ch.name)
            if row is not None and row.tg_id is not None and row.access_hash is not None:
                username = None if ch.name.startswith("-") else row.username
                ref = ChannelRef(ch.name, row.tg_id, row.access_hash, username, row.title)
                if self._claim(ch, ref):
                    fresh.append(ch)
        await self._check_membership(fresh)
        await self._resolve_pending()
        await self._join_pending()
        self._schedule_new()

    def _claim(self, ch: _Channel, ref: ChannelRef) -> bool:
        """Bind ref to ch unless another configured name is the same channel."""
        other = self._by_marked_id.get(ref.marked_id)
        if other is not None and other is not ch:
            ch.blocked = True
            ch.retry_at = None
            ch.error = f"same channel as {other.name}; ignored"
            logger.warning("channel %s: %s", ch.name, ch.error)
            return False
        ch.ref = ref
        self._by_marked_id[ref.marked_id] = ch
        return True

    async def _postpone(self, channels: list[_Channel], seconds: int, step: str) -> None:
        """A flood wait stops the whole round: retry these channels once it is over."""
        until = self._clock() + timedelta(seconds=seconds)
        self.stats.flood_wait_seconds += seconds
        for rest in channels:
            rest.retry_at = until
            await self._report(rest, f"{step} postponed: flood wait {seconds} s")

    async def _report(self, ch: _Channel, error: str) -> None:
        ch.error = error
        logger.warning("channel %s: %s", ch.name, error)
        await self._store.set_channel_error(ch.name, error)

    async def _clear_error(self, ch: _Channel) -> None:
        if ch.error is not None:
            ch.error = None
            await self._store.set_channel_error(ch.name, None)

    async def _check_membership(self, channels: list[_Channel]) -> None:
        """Learn membership, title and current username of stored channels (no resolving)."""
        for start in range(0, len(channels), _GET_CHANNELS_BATCH):
            batch = channels[start : start + _GET_CHANNELS_BATCH]
            try:
                result = await self._client(
                    functions.channels.GetChannelsRequest(
                        id=[ch.ref.input_channel for ch in batch if ch.ref is not None]
                    )
                )
            except FATAL_AUTH_ERRORS:
                raise
            except errors.FloodWaitError as exc:
                logger.warning("membership check postponed: flood wait %d s", exc.seconds)
                self.stats.flood_wait_seconds += exc.seconds
                return
            except errors.RPCError as exc:
                if len(batch) == 1:
                    await self._report(batch[0], f"cannot read channel info: {exc}")
                    continue
                # One bad id fails the whole request: ask one by one to find it.
                for ch in batch:
                    await self._check_membership([ch])
                continue
            by_id = {chat.id: chat for chat in getattr(result, "chats", [])}
            for ch in batch:
                assert ch.ref is not None
                chat = by_id.get(ch.ref.tg_id)
                if isinstance(chat, types.Channel):
                    ch.joined = not chat.left
                    fresh = ChannelRef.from_channel(chat, key=ch.name)
                    if chat.access_hash is None:  # a "min" channel carries no hash
                        fresh = replace(fresh, access_hash=ch.ref.access_hash)
                    ch.ref = fresh
                    if fresh.title:
                        await self._store.update_channel(ch.name, title=fresh.title)
                elif isinstance(chat, types.ChannelForbidden):
                    ch.joined = False
                    ch.blocked = True
                    await self._report(ch, "private channel, or the account was banned from it")

    async def _resolve_pending(self) -> None:
        """Resolve unknown channels one at a time, spaced out; a flood wait postpones the rest."""
        now = self._clock()
        pending = [
            ch
            for ch in self._channels.values()
            if ch.ref is None and not ch.blocked and (ch.retry_at is None or ch.retry_at <= now)
        ]
        for index, ch in enumerate(pending):
            if index:
                await self._sleep(self.options.resolve_delay)
            try:
                entity = await self._client.get_entity(_target(ch.name))
            except FATAL_AUTH_ERRORS:
                raise
            except errors.FloodWaitError as exc:
                await self._postpone(pending[index:], exc.seconds, "resolve")
                return
            except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
                await self._block(ch, "no channel with this username")
                continue
            except errors.ChannelPrivateError:
                await self._block(ch, "private channel, or the account was banned from it")
                continue
            except (errors.RPCError, ValueError) as exc:
                # Telethon raises ValueError for unknown usernames and for ids the
                # account has never seen (it has no access hash to use).
                await self._block(ch, f"cannot resolve: {exc}")
                continue
            if not isinstance(entity, types.Channel):
                await self._block(ch, "not a channel (a user, bot or basic group)")
                continue
            if entity.access_hash is None:
                await self._block(ch, "Telegram returned no access hash; try again later")
                continue
            ref = ChannelRef.from_channel(entity, key=ch.name)
            if not self._claim(ch, ref):
                continue
            ch.joined = not entity.left
            ch.retry_at = None
            await self._store.update_channel(
                ch.name, title=ref.title, tg_id=ref.tg_id, access_hash=ref.access_hash
            )
            await self._clear_error(ch)
            logger.info("channel %s resolved to id %d (%s)", ch.name, ref.tg_id, ref.title)

    async def _block(self, ch: _Channel, error: str) -> None:
        ch.blocked = True
        ch.retry_at = None
        await self._report(ch, error)

    async def _join_pending(self) -> None:
        """Join channels the account is not in, spaced out; errors stay per channel."""
        now = self._clock()
        pending = [
            ch
            for ch in self._channels.values()
            if ch.ref is not None
            and ch.joined is False
            and not ch.blocked
            and (ch.retry_at is None or ch.retry_at <= now)
        ]
        for index, ch in enumerate(pending):
            assert ch.ref is not None
            if index:
                await self._sleep(self.options.join_delay)
            try:
                await self._client(functions.channels.JoinChannelRequest(ch.ref.input_channel))
            except FATAL_AUTH_ERRORS:
                raise
            except errors.FloodWaitError as exc:
                await self._postpone(pending[index:], exc.seconds, "join")
                return
            except errors.ChannelsTooMuchError:
                # Every further join fails the same way; read these by backfill only.
                for rest in pending[index:]:
                    await self._block(
                        rest,
                        "cannot join: the account is in too many channels (about 500 without"
                        " Premium); read by backfill only, no live updates",
                    )
                return
            except errors.InviteRequestSentError:
                await self._block(ch, "join request sent; waiting for an admin to approve it")
            except errors.ChannelPrivateError:
                await self._block(ch, "private channel, or the account was banned from it")
            except errors.RPCError as exc:
                await self._block(ch, f"cannot join: {exc}")
            else:
                ch.joined = True
                ch.retry_at = None
                await self._clear_error(ch)
                logger.info("joined channel %s", ch.name)

    # -- live events ----------------------------------------------------------

    def attach(self) -> None:
        """Register live handlers for every resolved channel (again if that set changed).

        Marked ids ("-100…") are passed, never usernames: Telethon would resolve a
        username lazily on the first update, and a flood wait there loses the update.
        """
        ids = sorted(self._by_marked_id)
        if ids == self._attached_ids:
            return
        self.detach()
        self._handlers = [
            (self._on_new_message, events.NewMessage(chats=ids)),
            (self._on_edited, events.MessageEdited(chats=ids)),
            (self._on_deleted, events.MessageDeleted(chats=ids)),
        ]
        for callback, builder in self._handlers:
            self._client.add_event_handler(callback, builder)
        self._attached_ids = ids

    def detach(self) -> None:
        """Remove the live handlers registered by attach()."""
        for callback, builder in self._handlers:
            self._client.remove_event_handler(callback, builder)
        self._handlers = []
        self._attached_ids = None

    # Errors outside handle_message (reading the cursor, a bug) reach Telethon's
    # dispatcher, which logs them; the post is not lost: the cursor did not move, so
    # the next sweep fetches it.
    async def _on_new_message(self, event: Any) -> None:
        ch = self._by_marked_id.get(event.chat_id)
        if ch is not None and ch.ref is not None:
            await self.handle_live(event.message, ch.ref)

    async def _on_edited(self, event: Any) -> None:
        ch = self._by_marked_id.get(event.chat_id)
        if ch is not None and ch.ref is not None:
            await self.handle_live(event.message, ch.ref, edit=True)

    async def _on_deleted(self, event: Any) -> None:
        ch = self._by_marked_id.get(event.chat_id)
        if ch is not None and ch.ref is not None:
            await self.handle_deleted(ch.ref, event.deleted_ids)

    async def handle_live(self, message: Any, channel: ChannelRef, *, edit: bool = False) -> None:
        """A message from a live update: first fill any hole before it, then handle it."""
        ch = self._channels.get(channel.key)
        if ch is None or ch.ref is None:
            await self._handle(channel, message, edit)
            return
        async with ch.lock:
            state = await self._store.get_channel(channel.key)
            cursor = state.last_msg_id if state is not None else None
            # A hole before this message (missed updates, or never read) is fetched
            # through the backfill first, so the cursor never jumps over unread posts.
            hole = cursor is None or message.id > cursor + 1
            if hole and not await self._backfill_reported(ch):
                # Deliver this post now all the same, but keep the cursor where the
                # failed backfill left it (same transaction), below the hole, so the
                # next sweep still fetches the hole.
                state = await self._store.get_channel(channel.key)
                cursor = state.last_msg_id if state is not None else None
                async with self._store.transaction():
                    await self._handle(channel, message, edit)
                    await self._store.set_channel_cursor(channel.key, cursor)
                return
            await self._handle(channel, message, edit)

    async def _handle(self, ref: ChannelRef, message: Any, edit: bool) -> IngestResult | None:
        if edit:
            return await self.handle_edit(message, ref)
        return await self.handle_message(message, ref)

    # -- the one path every message takes ------------------------------------

    async def handle_message(self, message: Any, channel: ChannelRef) -> IngestResult | None:
        """Convert, ingest and move the cursor; live and backfilled messages both come here.

        Returns the ingest result, or None for messages that are no post (or failed).
        """
        try:
            post = message_to_post(message, channel)
            if post is None:
                self._count_skip(message)
                # The cursor moves past it only now that it has been looked at.
                await self._pipeline.skip(channel.key, int(message.id))
                return None
            result = await self._pipeline.ingest(post)
        except Exception as exc:
            # The per-message error boundary: one message we cannot convert or store
            # must not stop the live stream or the rest of a backfill. It is recorded
            # like a post that failed to store (without content): reading resumes
            # before it, so it is read again, and after repeated failures it is a dead
            # letter the operator sees and can replay after a fix.
            self.stats.errors += 1
            logger.exception(
                "channel %s: failed to handle message %s",
                channel.key,
                getattr(message, "id", "?"),
                extra={"channel": channel.key, "post": getattr(message, "id", None)},
            )
            await self._pipeline.record_unreadable(
                channel.key, str(getattr(message, "id", "?")), f"{type(exc).__name__}: {exc}"
            )
            return None
        if result.error is not None:
            self.stats.errors += 1  # the pipeline logged it
        else:
            self.stats.posts += 1
            self.stats.new_posts += int(result.new_post)
        return result

    async def handle_edit(self, message: Any, channel: ChannelRef) -> IngestResult | None:
        """Re-ingest an edited message; the pipeline re-matches only if its text changed."""
        date = getattr(message, "date", None)
        if (
            date is not None
            and _aware(date) < self._window_start()
            and not await self._store.has_post(channel.key, str(message.id))
        ):
            # MessageEdited also fires for reactions: an old post we never stored
            # (from before the backfill window) must not turn into a fresh alert.
            self.stats.stale_edits_skipped += 1
            return None
        return await self.handle_message(message, channel)

    async def handle_deleted(self, channel: ChannelRef, ids: Iterable[int]) -> int:
        """Flag deleted posts (they are kept as evidence); returns how many were stored."""
        marked = 0
        for msg_id in ids:
            if await self._store.mark_deleted(channel.key, str(msg_id)):
                marked += 1
        self.stats.deleted += marked
        if marked:
            logger.info("channel %s: %d stored post(s) deleted at the source", channel.key, marked)
        return marked

    def _count_skip(self, message: Any) -> None:
        if not isinstance(message, types.Message):
            self.stats.service_skipped += 1
        elif message.grouped_id is not None:
            self.stats.album_items_skipped += 1
        else:
            self.stats.empty_skipped += 1

    def _window_start(self) -> datetime:
        return self._clock() - timedelta(hours=self._settings.backfill_hours)

    # -- backfill ---------------------------------------------------------------

    async def backfill(self, channel: ChannelRef) -> int:
        """Handle every message after the channel's cursor, oldest first; returns the count.

        A channel never read before gets the first-sight window instead: posts of the
        last backfill_hours, at most backfill_max_posts of them. Telegram errors raise.
        """
        ch = self._channels.get(channel.key)
        if ch is None:
            return await self._backfill_locked(channel)
        async with ch.lock:
            return await self._backfill_locked(channel)

    async def _backfill_locked(self, ref: ChannelRef) -> int:
        # The resume point stays below a post that failed to store and is still retried.
        cursor = await self._store.resume_point(ref.key)
        if cursor is None:
            return await self._first_sight(ref)
        handled = 0
        async for message in self._client.iter_messages(
            ref.input_peer, min_id=cursor, reverse=True
        ):
            await self.handle_message(message, ref)
            handled += 1
        return handled

    async def _first_sight(self, ref: ChannelRef) -> int:
        cap = self._settings.backfill_max_posts
        cutoff = self._window_start()
        newest: int | None = None
        window: list[Any] = []
        # Newest first, so the cap keeps the most recent posts; one message at least,
        # to learn where the channel stands even when nothing is inside the window.
        async for message in self._client.iter_messages(ref.input_peer, limit=max(cap, 1)):
            if newest is None:
                newest = int(message.id)
            date = getattr(message, "date", None)
            if len(window) >= cap or (date is not None and _aware(date) < cutoff):
                break
            window.append(message)
        for message in reversed(window):
            await self.handle_message(message, ref)
        if newest is not None:
            # Only the position moves: a post of the window that failed stays queued.
            await self._pipeline.skip(ref.key, newest, looked_at=False)
        logger.info("channel %s: first-sight backfill of %d message(s)", ref.key, len(window))
        return len(window)

    async def _backfill_reported(self, ch: _Channel) -> bool:
        """Backfill (lock held by the caller); report Telegram errors; False if it failed."""
        assert ch.ref is not None
        try:
            await self._backfill_locked(ch.ref)
        except FATAL_AUTH_ERRORS:
            raise
        except errors.FloodWaitError as exc:
            # History flood waits apply to the account: pause every sweep, and come
            # back to this channel first when the wait is over.
            self._paused_until = self._clock() + timedelta(seconds=exc.seconds)
            self.stats.flood_wait_seconds += exc.seconds
            ch.next_sweep = self._paused_until
            await self._report(ch, f"backfill postponed: flood wait {exc.seconds} s")
            return False
        except errors.ChannelPrivateError:
            await self._report(
                ch, "cannot read history: private channel, or the account was banned"
            )
            return False
        except errors.RPCError as exc:
            await self._report(ch, f"backfill failed: {exc}")
            return False
        except OSError as exc:  # ConnectionError, TimeoutError
            # Disconnected: run() reconnects, and the next sweep resumes at the cursor.
            logger.warning("channel %s: backfill interrupted: %s", ch.name, exc)
            return False
        ch.last_sweep_at = self._clock()
        if ch.joined is not False:  # a join error stays visible while backfill works
            await self._clear_error(ch)
        return True

    async def sweep(self, name: str) -> bool:
        """Backfill one configured channel now; False if it is unresolved or failed."""
        ch = self._channels[name]
        if ch.ref is None:
            return False
        async with ch.lock:
            return await self._backfill_reported(ch)

    async def backfill_all(self) -> None:
        """Backfill every resolved channel once, spaced out, then stagger the next sweeps."""
        done: set[str] = set()
        for index, ch in enumerate(self._active()):
            if index:
                await self._sleep(self.options.history_delay)
            if self._paused():
                break
            if await self.sweep(ch.name):
                done.add(ch.name)
        self._schedule_all(done)

    # -- periodic sweeps --------------------------------------------------------

    def _active(self) -> list[_Channel]:
        return [ch for ch in self._channels.values() if ch.ref is not None]

    def _interval(self) -> timedelta:
        count = max(len(self._active()), 1)
        seconds = max(self.options.sweep_interval, count * self.options.min_sweep_spacing)
        return timedelta(seconds=seconds)

    def _schedule_all(self, done: set[str]) -> None:
        """Spread the next sweeps evenly over one interval, so they never come in a burst.

        Channels not backfilled because of a flood wait come first once it is over.
        """
        active = self._active()
        interval = self._interval()
        now = self._clock()
        for index, ch in enumerate(active):
            ch.next_sweep = now + interval * (index + 1) / len(active)
            if ch.name not in done and self._paused_until is not None:
                ch.next_sweep = min(ch.next_sweep, self._paused_until)

    def _schedule_new(self) -> None:
        now = self._clock()
        for ch in self._active():
            if ch.next_sweep is None:
                ch.next_sweep = now

    def _paused(self) -> bool:
        return self._paused_until is not None and self._clock() < self._paused_until

    async def sweep_due(self) -> list[str]:
        """Retry postponed resolves/joins, then sweep every channel whose turn has come."""
        if self._paused():
            return []
        now = self._clock()
        if any(ch.retry_at is not None and ch.retry_at <= now for ch in self._channels.values()):
            await self._resolve_pending()
            await self._join_pending()
            self._schedule_new()
            if self._attached_ids is not None:  # extend the live filter to new channels
                self.attach()
        swept: list[str] = []
        due = [ch for ch in self._active() if ch.next_sweep is not None and ch.next_sweep <= now]
        for ch in sorted(due, key=lambda c: c.next_sweep or now):
            if swept:
                await self._sleep(self.options.min_sweep_spacing)
            if self._paused():
                break
            swept.append(ch.name)
            if await self.sweep(ch.name) or not self._paused():
                ch.next_sweep = self._clock() + self._interval()
            # else: a flood wait; _backfill_reported put it first in line after the wait
        return swept

    def seconds_until_next_sweep(self) -> float:
        """How long sweep_forever sleeps before the next due sweep or retry."""
        now = self._clock()
        moments = [ch.next_sweep for ch in self._active() if ch.next_sweep is not None]
        moments += [
            ch.retry_at
            for ch in self._channels.values()
            if ch.retry_at is not None and not ch.blocked
        ]
        if self._paused_until is not None:
            moments.append(self._paused_until)
        if not moments:
            return self._interval().total_seconds()
        wait = (min(moments) - now).total_seconds()
        return min(max(wait, self.options.min_sweep_spacing), self._interval().total_seconds())

    async def sweep_forever(self) -> None:
        """Sweep channels as they come due, until cancelled."""
        while True:
            await self._sleep(self.seconds_until_next_sweep())
            await self.sweep_due()

    # -- health -------------------------------------------------------------------

    async def health(self) -> list[ChannelHealth]:
        """Per configured channel: newest stored post, how long ago, last error."""
        now = self._clock()
        report: list[ChannelHealth] = []
        for ch in self._channels.values():
            row = await self._store.get_channel(ch.name)
            last_post_at = row.last_post_at if row is not None else None
            report.append(
                ChannelHealth(
                    channel=ch.name,
                    title=(ch.ref.title if ch.ref else None) or (row.title if row else None),
                    tg_id=ch.ref.tg_id if ch.ref else (row.tg_id if row else None),
                    joined=ch.joined,
                    listening=ch.ref is not None
                    and ch.joined is True
                    and self._attached_ids is not None
                    and ch.ref.marked_id in self._attached_ids,
                    last_msg_id=row.last_msg_id if row is not None else None,
                    last_post_at=last_post_at,
                    lag=now - last_post_at if last_post_at is not None else None,
                    last_sweep_at=ch.last_sweep_at,
                    last_error=(row.last_error if row is not None else None) or ch.error,
                    blocked=ch.blocked,
                )
            )
        return report
