"""Alerts: card rendering, routing, senders and the outbox dispatcher."""

from __future__ import annotations

from bot.alerts.card import (
    AlertCard,
    Fragment,
    build_card,
    render_digest_html,
    render_digest_text,
    render_html,
    render_text,
)
from bot.alerts.dispatcher import AlertDispatcher, DispatchReport
from bot.alerts.ratelimit import Limit, RateLimiter
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    ConsoleSender,
    DigestSender,
    PermanentSendError,
    Sender,
    TransientSendError,
)

__all__ = [
    "AlertCard",
    "AlertDispatcher",
    "AlertRouter",
    "ConsoleSender",
    "DigestSender",
    "DispatchReport",
    "Fragment",
    "Limit",
    "PermanentSendError",
    "RateLimiter",
    "Sender",
    "TransientSendError",
    "build_card",
    "render_digest_html",
    "render_digest_text",
    "render_html",
    "render_text",
]
