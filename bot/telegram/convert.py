"""Telegram messages to domain posts: the one place a TL Message becomes a Post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from telethon import utils
from telethon.tl import types

from bot.domain import Post


def public_username(channel: types.Channel) -> str | None:
    """The channel's active public username; `username` is None when only `usernames` has it."""
    if channel.username:
        return str(channel.username)
    for entry in channel.usernames or ():
        if isinstance(entry, types.Username) and entry.active:
            return str(entry.username)
    return None


def marked_id(tg_id: int) -> int:
    """The "-100…" id Telethon's `chats=` filters and `event.chat_id` use for a channel."""
    return int(utils.get_peer_id(types.PeerChannel(tg_id)))


@dataclass(frozen=True)
class ChannelRef:
    """A resolved channel: the key posts are stored under plus what the API needs."""

    key: str  # Post.channel: the username without "@" when public, else "-100<id>"
    tg_id: int  # bare channel id
    access_hash: int | None
    username: str | None = None  # current public username, for links
    title: str | None = None

    @classmethod
    def from_channel(cls, channel: types.Channel, key: str | None = None) -> ChannelRef:
        """A ref for a resolved Channel; key defaults to its username or marked id."""
        username = public_username(channel)
        return cls(
            key=key or username or str(marked_id(channel.id)),
            tg_id=int(channel.id),
            access_hash=channel.access_hash,
            username=username,
            title=channel.title,
        )

    @property
    def marked_id(self) -> int:
        """The "-100…" id of this channel."""
        return marked_id(self.tg_id)

    @property
    def input_peer(self) -> types.InputPeerChannel:
        """Peer built from stored id and hash, so no username is ever resolved again."""
        return types.InputPeerChannel(channel_id=self.tg_id, access_hash=self.access_hash or 0)

    @property
    def input_channel(self) -> types.InputChannel:
        """The InputChannel form (channels.* requests)."""
        return types.InputChannel(channel_id=self.tg_id, access_hash=self.access_hash or 0)

    def link(self, msg_id: int) -> str:
        """Public t.me link when the channel has a username, private /c/ link otherwise."""
        if self.username:
            return f"https://t.me/{self.username}/{msg_id}"
        return f"https://t.me/c/{self.tg_id}/{msg_id}"


def forwarded_origin(message: types.Message) -> str | None:
    """Who a forwarded message came from: a name, and a link to the original when known."""
    header = message.fwd_from
    if header is None:
        return None
    name: str | None = header.from_name or None
    link: str | None = None
    peer = header.from_id
    # Telethon fills `forward.chat` when the response carried the source channel.
    forward: Any = getattr(message, "forward", None)
    chat = getattr(forward, "chat", None) if forward is not None else None
    if isinstance(peer, types.PeerChannel):
        username = public_username(chat) if isinstance(chat, types.Channel) else None
        if name is None and isinstance(chat, types.Channel) and chat.title:
            name = chat.title
        if name is None:
            name = f"@{username}" if username else str(marked_id(peer.channel_id))
        if header.channel_post:
            link = (
                f"https://t.me/{username}/{header.channel_post}"
                if username
                else f"https://t.me/c/{peer.channel_id}/{header.channel_post}"
            )
    elif isinstance(peer, types.PeerUser) and name is None:
        name = f"user {peer.user_id}"
    elif isinstance(peer, types.PeerChat) and name is None:
        name = f"chat {peer.chat_id}"
    if header.post_author and name is not None and header.post_author not in name:
        name = f"{name} ({header.post_author})"
    if name is None:
        return link
    return f"{name} {link}" if link else name


def message_to_post(
    message: types.Message | types.MessageService | types.MessageEmpty, channel: ChannelRef
) -> Post | None:
    """The Post for a channel message, or None for service messages and text-less media.

    Text is `message.message`, which holds media captions too; album items without a
    caption therefore give None, so an album becomes one post (its captioned item).
    """
    if not isinstance(message, types.Message):
        return None  # MessageService (pins, title changes), MessageEmpty
    text = message.message or ""
    if not text.strip():
        return None
    date = message.date
    if date is None:
        raise ValueError(f"message {message.id} has no date")
    if date.tzinfo is None or date.utcoffset() is None:
        date = date.replace(tzinfo=UTC)  # Telegram times are UTC
    return Post(
        channel=channel.key,
        msg_id=str(message.id),
        date=date,
        text=text,
        channel_title=channel.title,
        link=channel.link(message.id),
        forwarded_from=forwarded_origin(message),
        edited=message.edit_date is not None,
    )
