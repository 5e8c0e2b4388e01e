"""Offline stand-ins for Telegram's network edge, shared by the Telegram test modules.

Both keep REAL Telethon clients and TL objects; only the place a request leaves the
client is replaced:

- OfflineNetwork replaces a TelegramClient's MTProto sender (client._sender), so
  Telethon's own send_message, entity resolution, HTML parsing and flood handling run
  for real (the bot side: sender and command tests).
- FakeTelegram + OfflineClient: a TelegramClient subclass whose few network calls the
  listener makes (get_entity, iter_messages, raw requests, connect) go to a recording
  fake serving real TL objects (the user account side: listener tests).

Neither ever opens a connection.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import T0
from telethon import TelegramClient, errors, functions
from telethon.sessions import MemorySession
from telethon.tl import types

SOURCE_CHANNEL_ID = 555000111

# -- the recording fake network ------------------------------------------------------


class OfflineNetwork:
    """Stands in for Telethon's MTProtoSender: records requests, answers or raises.

    fail(RequestType, error, ..., after=n) lets n requests of that type through, then
    raises the given (real Telethon) errors for the next ones; everything else gets a
    minimal answer shaped like Telegram's.
    """

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._script: dict[type, list[BaseException | None]] = {}
        self._ids = itertools.count(1000)
        self.usernames: dict[str, int] = {"frontnews": SOURCE_CHANNEL_ID}
        self.forwarded_ids: list[int] = []
        # What Telegram keeps: every message sent into a channel/supergroup, by its id,
        # oldest first; a client on this network reads them back with iter_messages.
        self.chats: dict[int, list[types.Message]] = {}
        # Uploaded files: file id -> part number -> bytes (photos the bot sends).
        self.file_parts: dict[int, dict[int, bytes]] = {}

    def fail(self, request_type: type, *errors_: BaseException, after: int = 0) -> None:
        self._script.setdefault(request_type, []).extend([None] * after + list(errors_))

    def of(self, request_type: type) -> list[Any]:
        return [r for r in self.requests if isinstance(r, request_type)]

    @property
    def messages(self) -> list[functions.messages.SendMessageRequest]:
        return self.of(functions.messages.SendMessageRequest)

    def photos(self) -> list[tuple[functions.messages.SendMediaRequest, bytes]]:
        """Every photo sent, with the bytes uploaded for it."""
        sent = []
        for request in self.of(functions.messages.SendMediaRequest):
            upload = request.media.file
            parts = self.file_parts.get(upload.id, {})
            sent.append((request, b"".join(parts[i] for i in range(upload.parts))))
        return sent

    def send(self, request: Any, ordered: bool = False) -> asyncio.Future[Any]:
        self.requests.append(request)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        script = self._script.get(type(request))
        error = script.pop(0) if script else None
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(self._answer(request))
        return future

    def _answer(self, request: Any) -> Any:
        now = datetime.now(UTC)
        if isinstance(request, functions.messages.SendMessageRequest):
            new_id = next(self._ids)
            if isinstance(request.peer, types.InputPeerChannel):
                self.chats.setdefault(request.peer.channel_id, []).append(
                    types.Message(
                        id=new_id,
                        peer_id=types.PeerChannel(request.peer.channel_id),
                        date=now,
                        message=request.message,
                        entities=request.entities,
                        out=True,
                    )
                )
            return types.UpdateShortSentMessage(
                id=new_id, pts=1, pts_count=1, date=now, out=True
            )
        if isinstance(request, functions.upload.SaveFilePartRequest):
            self.file_parts.setdefault(request.file_id, {})[request.file_part] = request.bytes
            return True
        if isinstance(request, functions.messages.SendMediaRequest):
            new_id = next(self._ids)
            peer = request.peer
            to: Any
            if isinstance(peer, types.InputPeerChannel):
                to, kind = types.PeerChannel(peer.channel_id), types.UpdateNewChannelMessage
            elif isinstance(peer, types.InputPeerChat):
                to, kind = types.PeerChat(peer.chat_id), types.UpdateNewMessage
            else:
                to, kind = types.PeerUser(peer.user_id), types.UpdateNewMessage
            sent = types.Message(id=new_id, peer_id=to, date=now, message=request.message, out=True)
            return types.Updates(
                updates=[
                    types.UpdateMessageID(id=new_id, random_id=request.random_id),
                    kind(message=sent, pts=1, pts_count=1),
                ],
                users=[],
                chats=[],
                date=now,
                seq=0,
            )
        if isinstance(request, functions.messages.GetHistoryRequest):
            channel_id = request.peer.channel_id
            history = self.chats.get(channel_id, [])
            newest_first = [
                m for m in reversed(history) if not request.offset_id or m.id < request.offset_id
            ]
            return types.messages.ChannelMessages(
                pts=1,
                count=len(history),
                messages=newest_first[: request.limit],
                topics=[],
                chats=[_channel(channel_id)],
                users=[],
            )
        if isinstance(request, functions.messages.ForwardMessagesRequest):
            peer = request.to_peer
            if isinstance(peer, types.InputPeerChannel):
                to: Any = types.PeerChannel(peer.channel_id)
                update_type: Any = types.UpdateNewChannelMessage
            else:
                to = types.PeerChat(peer.chat_id)
                update_type = types.UpdateNewMessage
            updates: list[Any] = []
            for random_id in request.random_id:
                new_id = next(self._ids)
                self.forwarded_ids.append(new_id)
                message = types.Message(
                    id=new_id,
                    peer_id=to,
                    date=now,
                    message="original post",
                    fwd_from=types.MessageFwdHeader(
                        date=now, from_id=types.PeerChannel(SOURCE_CHANNEL_ID)
                    ),
                )
                updates += [
                    types.UpdateMessageID(id=new_id, random_id=random_id),
                    update_type(message=message, pts=1, pts_count=1),
                ]
            return types.Updates(updates=updates, users=[], chats=[], date=now, seq=0)
        if isinstance(request, functions.channels.GetChannelsRequest):
            return types.messages.Chats(chats=[_channel(request.id[0].channel_id)])
        if isinstance(request, functions.contacts.ResolveUsernameRequest):
            channel_id = self.usernames.get(request.username.lower())
            if channel_id is None:
                raise AssertionError(f"unexpected username {request.username}")
            return types.contacts.ResolvedPeer(
                peer=types.PeerChannel(channel_id),
                chats=[_channel(channel_id, request.username)],
                users=[],
            )
        if isinstance(request, functions.users.GetUsersRequest):
            (wanted,) = request.id
            if isinstance(wanted, types.InputUserSelf):
                return [
                    types.User(id=999, is_self=True, bot=True, access_hash=1, username="mw_bot")
                ]
            return [types.User(id=wanted.user_id, access_hash=wanted.user_id * 3)]
        if isinstance(request, functions.bots.SetBotCommandsRequest):
            return True
        raise AssertionError(f"OfflineNetwork has no answer for {type(request).__name__}")


def _channel(channel_id: int, username: str | None = None) -> types.Channel:
    return types.Channel(
        id=channel_id,
        title=f"channel {channel_id}",
        photo=types.ChatPhotoEmpty(),
        date=T0,
        access_hash=channel_id * 7,
        megagroup=True,
        username=username,
    )


def offline_client(network: OfflineNetwork, **options: Any) -> TelegramClient:
    """A real TelegramClient that never connects; its requests go to network."""
    options.setdefault("flood_sleep_threshold", 0)
    client = TelegramClient(MemorySession(), 1, "x" * 32, raise_last_call_error=True, **options)
    client._sender = network
    return client


# -- the user account's side: the listener's fake ----------------------------------

HIT_TEXT = "Начался отвод войск от города"
MISS_TEXT = "Погода сегодня хорошая"


def text_for(msg_id: int) -> str:
    """Every third post matches the rule; all texts are distinct."""
    base = HIT_TEXT if msg_id % 3 == 0 else MISS_TEXT
    return f"{base}, сообщение {msg_id}"


class Crash(BaseException):
    """Simulated process death: no `except Exception` anywhere can swallow it."""


# -- the recording fake for the network ---------------------------------------


@dataclass
class FakeTelegram:
    """Serves real TL objects for the few network calls the listener makes, and records them."""

    channels: dict[int, types.Channel] = field(default_factory=dict)
    usernames: dict[str, int] = field(default_factory=dict)
    history: dict[int, list[Any]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    resolve_errors: dict[str, Exception] = field(default_factory=dict)  # one-shot
    join_errors: dict[int, Exception] = field(default_factory=dict)  # one-shot
    history_errors: dict[int, Exception] = field(default_factory=dict)  # one-shot
    crash_after: dict[int, int] = field(default_factory=dict)  # raise Crash after k items
    connect_errors: list[BaseException] = field(default_factory=list)  # one per connect()
    disconnect_error: BaseException | None = None
    authorized: bool = True
    sent: list[Any] = field(default_factory=list)  # messages the user account sent
    # Chats the user account can read besides the channels (by channel id), e.g. the
    # alert chat the bot writes to: pass OfflineNetwork.chats to share what it holds.
    readable_chats: dict[int, list[Any]] = field(default_factory=dict)

    def add_channel(
        self,
        tg_id: int,
        username: str | None = None,
        *,
        left: bool = False,
        title: str | None = None,
        via_usernames: bool = False,
    ) -> types.Channel:
        channel = types.Channel(
            id=tg_id,
            title=title or f"Channel {tg_id}",
            photo=types.ChatPhotoEmpty(),
            date=T0 - timedelta(days=400),
            broadcast=True,
            left=left,
            access_hash=tg_id * 7 + 1,
            username=None if via_usernames else username,
            usernames=[types.Username(username, active=True)]
            if via_usernames and username
            else None,
        )
        self.channels[tg_id] = channel
        if username:
            self.usernames[username.lower()] = tg_id
        self.history.setdefault(tg_id, [])
        return channel

    def post(self, tg_id: int, msg_id: int, text: str | None = None, **kw: Any) -> types.Message:
        kw.setdefault("date", T0 - timedelta(minutes=10) + timedelta(seconds=msg_id))
        message = types.Message(
            id=msg_id,
            peer_id=types.PeerChannel(tg_id),
            message=text_for(msg_id) if text is None else text,
            post=True,
            **kw,
        )
        self.history[tg_id].append(message)
        return message

    def names(self, kind: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == kind]

    # network calls --------------------------------------------------------

    async def get_entity(self, target: Any) -> Any:
        self.calls.append(("get_entity", target))
        key = target.lower() if isinstance(target, str) else repr(target)
        if key in self.resolve_errors:
            raise self.resolve_errors.pop(key)
        if isinstance(target, types.PeerChannel):
            if target.channel_id in self.channels:
                return self.channels[target.channel_id]
            raise ValueError(f"Could not find the input entity for {target!r}")
        if key not in self.usernames:
            raise ValueError(f'No user has "{target}" as username')
        return self.channels[self.usernames[key]]

    async def call(self, request: Any) -> Any:
        if isinstance(request, functions.users.GetUsersRequest):
            # Telethon's dispatcher asks for our own id once.
            return [types.User(id=4242, is_self=True, access_hash=1, bot=False)]
        if isinstance(request, functions.channels.JoinChannelRequest):
            self.calls.append(("join", request.channel))
            tg_id = request.channel.channel_id
            if tg_id in self.join_errors:
                raise self.join_errors.pop(tg_id)
            self.channels[tg_id].left = False
            return types.Updates(updates=[], users=[], chats=[], date=T0, seq=0)
        if isinstance(request, functions.messages.SendMessageRequest):
            self.sent.append(request)
            return types.UpdateShortSentMessage(
                id=len(self.sent), pts=1, pts_count=1, date=T0, out=True
            )
        if isinstance(request, functions.channels.GetChannelsRequest):
            self.calls.append(("get_channels", list(request.id)))
            chats = []
            for inp in request.id:
                if inp.channel_id not in self.channels:
                    raise errors.ChannelInvalidError(request=request)  # not a chat we know
                channel = self.channels[inp.channel_id]
                assert inp.access_hash == channel.access_hash, "stale access hash"
                chats.append(channel)
            return types.messages.Chats(chats=chats)
        raise AssertionError(f"unexpected request {request!r}")

    def iter_messages(
        self,
        entity: Any,
        limit: int | None = None,
        *,
        min_id: int = 0,
        reverse: bool = False,
        **unexpected: Any,
    ) -> AsyncIterator[Any]:
        assert not unexpected, f"fake does not model {unexpected}"
        self.calls.append(("iter_messages", (entity, limit, min_id, reverse)))
        if isinstance(entity, int):  # a chat by its marked id: read what it holds
            return self._iter_chat(-entity - 1_000_000_000_000, limit)
        return self._iter(entity, limit, min_id, reverse)

    async def _iter_chat(self, channel_id: int, limit: int | None) -> AsyncIterator[Any]:
        if channel_id not in self.readable_chats:
            raise errors.ChannelPrivateError(request=None)
        for message in list(reversed(self.readable_chats[channel_id]))[:limit]:
            yield message

    async def _iter(
        self, entity: Any, limit: int | None, min_id: int, reverse: bool
    ) -> AsyncIterator[Any]:
        assert isinstance(entity, types.InputPeerChannel), entity
        channel = self.channels[entity.channel_id]
        assert entity.access_hash == channel.access_hash
        if entity.channel_id in self.history_errors:
            raise self.history_errors.pop(entity.channel_id)
        messages = sorted(
            (m for m in self.history[entity.channel_id] if m.id > min_id),
            key=lambda m: m.id,
            reverse=not reverse,
        )
        if limit is not None:
            messages = messages[:limit]
        for served, message in enumerate(messages):
            if self.crash_after.get(entity.channel_id) == served:
                del self.crash_after[entity.channel_id]
                raise Crash(f"crash after {served} messages")
            yield message


class OfflineClient(TelegramClient):  # type: ignore[misc]
    """A real, never-connected TelegramClient; only its network calls go to the fake."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(MemorySession(), 1, "x" * 32)
        self.fake = fake

    async def __call__(
        self, request: Any, ordered: bool = False, flood_sleep_threshold: Any = None
    ) -> Any:
        return await self.fake.call(request)

    async def get_entity(self, entity: Any) -> Any:
        return await self.fake.get_entity(entity)

    def iter_messages(self, entity: Any, limit: Any = None, **kwargs: Any) -> Any:
        return self.fake.iter_messages(entity, limit, **kwargs)

    async def connect(self) -> None:
        self.fake.calls.append(("connect", None))
        if self.fake.connect_errors:
            raise self.fake.connect_errors.pop(0)

    async def is_user_authorized(self) -> bool:
        return self.fake.authorized

    async def run_until_disconnected(self) -> None:
        if self.fake.disconnect_error is not None:
            raise self.fake.disconnect_error

    async def disconnect(self) -> None:
        self.fake.calls.append(("disconnect", None))
