"""Alert senders: the Sender protocol, its errors, a console sender and a test double."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from bot.alerts.card import AlertCard, render_text
from bot.domain import Alert

logger = logging.getLogger(__name__)

# Keys the dispatcher sets in Alert.extra before handing an alert to a sender.
EXTRA_ROUTE = "route"
EXTRA_DESTINATION = "destination"
EXTRA_SILENT = "silent"


class SendError(Exception):
    """Base class of delivery failures a sender reports."""


class PermanentSendError(SendError):
    """Delivery can never succeed (chat gone, bot blocked, message rejected)."""


class TransientSendError(SendError):
    """Delivery may succeed later; retry_after (seconds) when the server said so."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        """Keep the server's retry hint, if any."""
        super().__init__(message)
        self.retry_after = retry_after


def destination_of(alert: Alert) -> str:
    """The destination the dispatcher resolved for this alert ('' if none)."""
    return alert.extra.get(EXTRA_DESTINATION, "")


def is_silent(alert: Alert) -> bool:
    """Whether the dispatcher asked for silent delivery."""
    return alert.extra.get(EXTRA_SILENT) == "1"


class Sender(Protocol):
    """Delivers one alert card; raises PermanentSendError or TransientSendError on failure."""

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Deliver the card for alert to destination_of(alert)."""
        ...


class ConsoleSender:
    """Prints text cards to a stream (the demo and dry runs)."""

    def __init__(self, stream: TextIO, color: bool = False) -> None:
        """Write to stream; ANSI highlighting when color is true."""
        self._stream = stream
        self._color = color

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Print the card followed by a separator line."""
        marker = " (silent)" if is_silent(alert) else ""
        self._stream.write(f"--- alert #{alert.alert_id}{marker}\n")
        self._stream.write(render_text(card, self._color) + "\n")
        self._stream.flush()


@dataclass
class SentRecord:
    """One call a RecordingSender received."""

    alert: Alert
    card: AlertCard


@dataclass
class RecordingSender:
    """TEST DOUBLE ONLY: records sends; can raise a scripted error on chosen call numbers."""

    failures: dict[int, BaseException] = field(default_factory=dict)  # 1-based call -> error
    calls: int = 0
    sent: list[SentRecord] = field(default_factory=list)
    attempted: list[Alert] = field(default_factory=list)

    def fail_on(self, call_numbers: Iterable[int], error: BaseException) -> None:
        """Raise error on the given 1-based call numbers."""
        for number in call_numbers:
            self.failures[number] = error

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Record the attempt; raise if scripted to, else record a delivery."""
        self.calls += 1
        self.attempted.append(alert)
        error = self.failures.get(self.calls)
        if error is not None:
            raise error
        self.sent.append(SentRecord(alert, card))
