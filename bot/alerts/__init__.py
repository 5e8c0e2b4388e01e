"""Alerts: card rendering, routing, senders and the outbox dispatcher."""

from __future__ import annotations

from bot.alerts.card import AlertCard, Fragment, build_card, render_html, render_text
from bot.alerts.dispatcher import AlertDispatcher, DispatchReport
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    ConsoleSender,
    PermanentSendError,
    Sender,
    TransientSendError,
)

__all__ = [
    "AlertCard",
    "AlertDispatcher",
    "AlertRouter",
    "ConsoleSender",
    "DispatchReport",
    "Fragment",
    "PermanentSendError",
    "Sender",
    "TransientSendError",
    "build_card",
    "render_html",
    "render_text",
]
