"""Alert senders: the Sender protocol, its errors, a console sender and a test double."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


class DigestSender(Sender, Protocol):
    """A Sender that can also deliver several alerts as one digest message."""

    async def send_digest(self, alerts: Sequence[Alert], cards: Sequence[AlertCard]) -> None:
        """Deliver one digest of cards (cards[i] belongs to alerts[i]) to their destination.

        Every alert has the same destination_of(); each keeps its own silent flag
        (a digest of only silent alerts may be sent silently). Raise like send().
        """
        ...


def supports_digest(sender: object) -> bool:
    """Whether sender has the optional send_digest method."""
    return callable(getattr(sender, "send_digest", None))


class ConsoleSender:
    """Prints text cards to a stream (the demo and dry runs), numbered as printed."""

    def __init__(self, stream: TextIO, color: bool = False) -> None:
        """Write to stream; ANSI highlighting when color is true."""
        self._stream = stream
        self._color = color
        self.cards = 0  # printed so far

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Print a separator line naming the card's number, then the card."""
        marker = " (silent)" if is_silent(alert) else ""
        # Numbered by card, not by outbox row: a post that hit three rules is one card
        # (three rows), and numbering by row would skip numbers.
        self.cards += 1
        self._stream.write(f"--- card {self.cards}{marker}\n")
        self._stream.write(render_text(card, self._color) + "\n")
        self._stream.flush()


@dataclass
class SentRecord:
    """One alert a RecordingSender delivered on its own."""

    alert: Alert
    card: AlertCard
    at: datetime | None = None  # the sender's clock at delivery, if it has one


@dataclass
class DigestRecord:
    """One digest a RecordingSender delivered."""

    alerts: list[Alert]
    cards: list[AlertCard]
    at: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """One successful send call (a card or a digest), in call order."""

    at: datetime | None
    destination: str
    alert_ids: tuple[int, ...]
    digest: bool


@dataclass
class RecordingSender:
    """TEST DOUBLE ONLY: records sends; can raise a scripted error on chosen call numbers.

    send() and send_digest() share the call numbering; with a clock, every
    delivery records the clock's time.
    """

    failures: dict[int, BaseException] = field(default_factory=dict)  # 1-based call -> error
    calls: int = 0
    sent: list[SentRecord] = field(default_factory=list)
    attempted: list[Alert] = field(default_factory=list)
    clock: Callable[[], datetime] | None = None
    digests: list[DigestRecord] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def fail_on(self, call_numbers: Iterable[int], error: BaseException) -> None:
        """Raise error on the given 1-based call numbers."""
        for number in call_numbers:
            self.failures[number] = error

    def _now(self) -> datetime | None:
        return self.clock() if self.clock is not None else None

    def _call(self, alerts: Sequence[Alert]) -> None:
        self.calls += 1
        self.attempted.extend(alerts)
        error = self.failures.get(self.calls)
        if error is not None:
            raise error

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Record the attempt; raise if scripted to, else record a delivery."""
        self._call([alert])
        at = self._now()
        self.sent.append(SentRecord(alert, card, at))
        self.deliveries.append(Delivery(at, destination_of(alert), (alert.alert_id,), digest=False))

    async def send_digest(self, alerts: Sequence[Alert], cards: Sequence[AlertCard]) -> None:
        """Record the attempt; raise if scripted to, else record a digest delivery."""
        self._call(alerts)
        at = self._now()
        self.digests.append(DigestRecord(list(alerts), list(cards), at))
        destination = destination_of(alerts[0]) if alerts else ""
        self.deliveries.append(
            Delivery(at, destination, tuple(a.alert_id for a in alerts), digest=True)
        )

    @property
    def delivered_ids(self) -> list[int]:
        """Ids of every alert delivered, singly or in a digest, in delivery order."""
        return [alert_id for d in self.deliveries for alert_id in d.alert_ids]
