"""Outbox dispatcher: delivers due alerts and records each outcome in the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.alerts.card import build_card
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    EXTRA_DESTINATION,
    EXTRA_ROUTE,
    EXTRA_SILENT,
    PermanentSendError,
    Sender,
    TransientSendError,
)
from bot.domain import Alert
from bot.storage import Store

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DispatchReport:
    """Outcome of one flush."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0  # left pending untouched because their sender asked to slow down


class AlertDispatcher:
    """Sends due outbox alerts through per-destination senders, with retry and backoff."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender] | Sender,
        router: AlertRouter,
        clock: Clock,
        *,
        base_delay: float = 5.0,
        max_delay: float = 900.0,
        max_attempts: int | None = None,
        batch_size: int = 100,
    ) -> None:
        """senders: one Sender for everything, or keyed by destination / its 'kind:' prefix.

        max_attempts=None retries transient failures forever (with capped backoff):
        an alert that is never delivered is worse than one delivered late.
        """
        self._store = store
        self._senders: Mapping[str, Sender] | None
        self._single: Sender | None
        if isinstance(senders, Mapping):
            self._senders, self._single = dict(senders), None
        else:
            self._senders, self._single = None, senders
        self._router = router
        self._clock = clock
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        # Two overlapping flushes would both see the same pending alert and send it twice.
        self._lock = asyncio.Lock()

    def sender_for(self, destination: str) -> Sender | None:
        """The sender for a destination: exact key first, then the part before ':'."""
        if self._single is not None:
            return self._single
        assert self._senders is not None
        if destination in self._senders:
            return self._senders[destination]
        return self._senders.get(destination.split(":", 1)[0])

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt after failed attempt number `attempt`."""
        if retry_after is not None and retry_after >= 0:
            return float(retry_after)
        return float(min(self._max_delay, self._base_delay * 2 ** max(0, attempt - 1)))

    async def flush(self) -> DispatchReport:
        """Send every due alert once; never resends an alert already marked sent."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> DispatchReport:
        sent = retried = failed = deferred = 0
        now = self._clock()
        # Senders that reported a rate limit get no more alerts this round.
        throttled: set[int] = set()
        for alert in await self._store.due_alerts(now, self._batch_size):
            route = alert.extra.get(EXTRA_ROUTE) or alert.hit.route
            destination = self._router.destination(route)
            sender = self.sender_for(destination)
            if sender is None:
                logger.error("alert %d: no sender for destination %r", alert.alert_id, destination)
                await self._store.mark_failed(alert.alert_id, f"no sender for {destination!r}")
                failed += 1
                continue
            if id(sender) in throttled:
                deferred += 1
                continue
            outcome = await self._deliver(alert, sender, route, destination, throttled)
            if outcome == "sent":
                sent += 1
            elif outcome == "retried":
                retried += 1
            else:
                failed += 1
        return DispatchReport(sent=sent, retried=retried, failed=failed, deferred=deferred)

    async def _deliver(
        self, alert: Alert, sender: Sender, route: str, destination: str, throttled: set[int]
    ) -> str:
        """Try one alert; record the outcome; return 'sent', 'retried' or 'failed'."""
        attempt = alert.attempts + 1
        delivery = replace(
            alert,
            extra={
                **alert.extra,
                EXTRA_ROUTE: route,
                EXTRA_DESTINATION: destination,
                EXTRA_SILENT: "1" if self._router.silent(alert.hit) else "0",
            },
        )
        try:
            card = build_card(alert.hit.post, alert.hit)
            await sender.send(delivery, card)
        except PermanentSendError as exc:
            logger.error("alert %d to %s failed permanently: %s", alert.alert_id, destination, exc)
            await self._store.mark_failed(alert.alert_id, _describe(exc))
            return "failed"
        except TransientSendError as exc:
            if exc.retry_after is not None:
                throttled.add(id(sender))
            return await self._retry(alert, attempt, exc, exc.retry_after)
        except Exception as exc:
            # An unexpected error (network library quirk, bug in a sender) is
            # treated as transient: retrying costs little, dropping an alert
            # about troop movements costs a lot.
            logger.exception("alert %d to %s: unexpected send error", alert.alert_id, destination)
            return await self._retry(alert, attempt, exc, None)
        # Mark immediately after the send: if we crash before this line the alert
        # is resent on restart (at least once), but never after it is recorded.
        await self._store.mark_sent(alert.alert_id)
        return "sent"

    async def _retry(
        self, alert: Alert, attempt: int, exc: BaseException, retry_after: float | None
    ) -> str:
        error = _describe(exc)
        if self._max_attempts is not None and attempt >= self._max_attempts:
            logger.error(
                "alert %d: giving up after %d attempts: %s", alert.alert_id, attempt, error
            )
            await self._store.mark_failed(alert.alert_id, error)
            return "failed"
        delay = self.backoff(attempt, retry_after)
        next_at = self._clock() + timedelta(seconds=delay)
        logger.warning(
            "alert %d: attempt %d failed (%s); retrying in %.0fs",
            alert.alert_id,
            attempt,
            error,
            delay,
        )
        await self._store.mark_retry(alert.alert_id, error, next_at)
        return "retried"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
