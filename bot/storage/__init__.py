"""Persistence layer: an aiosqlite store with numbered migrations."""

from __future__ import annotations

from bot.storage.store import (
    ChannelState,
    DeliveryBacklog,
    IngestFailure,
    PostWrite,
    RulesetRecord,
    Store,
    fold_text,
)

__all__ = [
    "ChannelState",
    "DeliveryBacklog",
    "IngestFailure",
    "PostWrite",
    "RulesetRecord",
    "Store",
    "fold_text",
]
