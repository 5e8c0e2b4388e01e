"""Alert senders: the Sender protocol, its errors, a console sender and a test double."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
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
# "1": an earlier send of this card may have arrived (the process died or the send timed
# out before it was recorded) and the chat could not be checked: the card says so.
EXTRA_REPEAT = "repeat"
# The outbox ids one card stands for (the alert's own first): every rule that fired on
# the post. The card's delivery marker names them all.
EXTRA_ALERT_IDS = "alert_ids"

MARKER_FRAGMENT = "#mw"
# Characters a sender keeps free in each message for the delivery markers and the
# "may be a repeat" line; the dispatcher sizes digests with the rest.
DELIVERY_RESERVE = 160


class SendError(Exception):
    """Base class of delivery failures a sender reports."""


class PermanentSendError(SendError):
    """Delivery can never succeed (chat gone, bot blocked, message rejected)."""


class TransientSendError(SendError):
    """Delivery may succeed later; retry_after (seconds) when the server said so.

    in_doubt: the message may have arrived all the same (a timeout, a connection cut
    after the request went out); the next attempt checks the chat first.
    """

    def __init__(
        self, message: str = "", retry_after: float | None = None, *, in_doubt: bool = False
    ) -> None:
        """Keep the server's retry hint, if any."""
        super().__init__(message)
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class FatalSendError(SendError):
    """The sender can deliver nothing until a human acts (revoked token, dead session).

    The alert stays pending; the dispatcher stops using this sender and reports it.
    """


def destination_of(alert: Alert) -> str:
    """The destination the dispatcher resolved for this alert ('' if none)."""
    return alert.extra.get(EXTRA_DESTINATION, "")


def is_silent(alert: Alert) -> bool:
    """Whether the dispatcher asked for silent delivery."""
    return alert.extra.get(EXTRA_SILENT) == "1"


def is_repeat(alert: Alert) -> bool:
    """Whether the card may already be in the chat (the card then says so)."""
    return alert.extra.get(EXTRA_REPEAT) == "1"


def covered_ids(alert: Alert) -> list[int]:
    """The outbox ids the alert's card stands for (at least its own)."""
    raw = alert.extra.get(EXTRA_ALERT_IDS, "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()]
    return ids or [alert.alert_id]


def delivery_marker(alert: Alert) -> str:
    """The link an alert's card carries, invisibly, so a later check can find the card.

    The post's own link with a fragment naming the outbox ids, e.g.
    'https://t.me/front/77#mw12.13': it points where the card's link points, and a
    card found in the chat with it is this alert's card (same post, same outbox row).
    """
    base = alert.hit.post.url or f"https://t.me/{alert.hit.post.channel}"
    return base + MARKER_FRAGMENT + ".".join(str(i) for i in covered_ids(alert))


def marker_ids(url: str, post_url: str) -> set[int]:
    """The outbox ids a marker link found in a chat names for one post (empty if none)."""
    prefix = post_url + MARKER_FRAGMENT
    if not url.startswith(prefix):
        return set()
    return {int(part) for part in url[len(prefix) :].split(".") if part.isdigit()}


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


class ReconcilingSender(Sender, Protocol):
    """A Sender that can look in the chat for cards whose delivery was never recorded."""

    async def reconcile(self, alerts: Sequence[Alert]) -> Mapping[int, bool | None]:
        """Per alert id: True if its card is in the chat, False if surely not, None if unknown."""
        ...


def supports_reconcile(sender: object) -> bool:
    """Whether sender has the optional reconcile method."""
    return callable(getattr(sender, "reconcile", None))


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
    # Every outbox id the delivery markers name; whether the card said it may be a repeat.
    marked: tuple[int, ...] = field(default=(), compare=False)
    repeat: bool = field(default=False, compare=False)


class _Hang:
    """Scripted in RecordingSender.failures: the call never returns (a hung connection)."""


HANG = _Hang()


@dataclass
class RecordingSender:
    """TEST DOUBLE ONLY: records sends; can raise a scripted error on chosen call numbers.

    send() and send_digest() share the call numbering; with a clock, every
    delivery records the clock's time. failures[n] = HANG makes call n hang;
    lost[n] = error delivers call n and then raises error (the answer was lost).
    reconcile() answers from the deliveries when chat_readable, else "unknown".
    """

    # 1-based call number -> the error it raises (or HANG)
    failures: dict[int, BaseException | _Hang] = field(default_factory=dict)
    calls: int = 0
    sent: list[SentRecord] = field(default_factory=list)
    attempted: list[Alert] = field(default_factory=list)
    clock: Callable[[], datetime] | None = None
    digests: list[DigestRecord] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    lost: dict[int, BaseException] = field(default_factory=dict)
    chat_readable: bool = False
    reconciled: list[int] = field(default_factory=list)  # alert ids asked about

    def fail_on(self, call_numbers: Iterable[int], error: BaseException | _Hang) -> None:
        """Raise error (or hang, with HANG) on the given 1-based call numbers."""
        for number in call_numbers:
            self.failures[number] = error

    def _now(self) -> datetime | None:
        return self.clock() if self.clock is not None else None

    async def _call(self, alerts: Sequence[Alert]) -> int:
        self.calls += 1
        number = self.calls
        self.attempted.extend(alerts)
        error = self.failures.get(number)
        if isinstance(error, _Hang):
            await asyncio.Event().wait()
        elif error is not None:
            raise error
        return number

    def _delivered(self, number: int) -> None:
        error = self.lost.get(number)
        if error is not None:
            raise error

    async def send(self, alert: Alert, card: AlertCard) -> None:
        """Record the attempt; raise if scripted to, else record a delivery."""
        number = await self._call([alert])
        at = self._now()
        self.sent.append(SentRecord(alert, card, at))
        self.deliveries.append(
            Delivery(
                at,
                destination_of(alert),
                (alert.alert_id,),
                digest=False,
                marked=tuple(covered_ids(alert)),
                repeat=is_repeat(alert),
            )
        )
        self._delivered(number)

    async def send_digest(self, alerts: Sequence[Alert], cards: Sequence[AlertCard]) -> None:
        """Record the attempt; raise if scripted to, else record a digest delivery."""
        number = await self._call(alerts)
        at = self._now()
        self.digests.append(DigestRecord(list(alerts), list(cards), at))
        destination = destination_of(alerts[0]) if alerts else ""
        self.deliveries.append(
            Delivery(
                at,
                destination,
                tuple(a.alert_id for a in alerts),
                digest=True,
                marked=tuple(i for a in alerts for i in covered_ids(a)),
                repeat=any(is_repeat(a) for a in alerts),
            )
        )
        self._delivered(number)

    async def reconcile(self, alerts: Sequence[Alert]) -> Mapping[int, bool | None]:
        """Whether each alert's card was delivered (None for all unless chat_readable)."""
        self.reconciled.extend(alert.alert_id for alert in alerts)
        if not self.chat_readable:
            return {alert.alert_id: None for alert in alerts}
        marked = {i for d in self.deliveries for i in d.marked}
        return {alert.alert_id: alert.alert_id in marked for alert in alerts}

    @property
    def delivered_ids(self) -> list[int]:
        """Ids of every alert delivered, singly or in a digest, in delivery order."""
        return [alert_id for d in self.deliveries for alert_id in d.alert_ids]
