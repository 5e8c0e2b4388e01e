"""Outbox dispatcher: delivers due alerts and records each outcome in the store.

With a RateLimiter, every message first asks the limiter for its chat; an alert
that may not go yet is deferred (its next attempt moved, no attempt counted), never
dropped. When more than digest_threshold alerts are due for one destination in
one flush, and its sender can send digests, they go out as digest messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from bot.alerts.card import AlertCard, build_card, digest_fit
from bot.alerts.ratelimit import RateLimiter
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    EXTRA_DESTINATION,
    EXTRA_ROUTE,
    EXTRA_SILENT,
    DigestSender,
    PermanentSendError,
    Sender,
    TransientSendError,
    supports_digest,
)
from bot.domain import Alert, Severity, StoredHit
from bot.storage import Store
from bot.storage.store import Mute

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DispatchReport:
    """Outcome of one flush (sent/retried/failed/deferred count alerts)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    # Postponed without counting an attempt: rate limited, flood wait, or (without
    # a limiter) left pending untouched because their sender asked to slow down.
    deferred: int = 0
    digests: int = 0  # digest messages delivered (their alerts are counted in sent)
    muted: int = 0  # dropped unsent: an operator muted their channel or rule meanwhile


def limiter_chat(destination: str) -> str:
    """The chat a destination's messages count against.

    'telegram:-100123' -> '-100123', 'telegram:name' -> '@name' (a channel or
    supergroup: the Bot API takes usernames only for those); a destination without
    a 'kind:' prefix (e.g. 'console') is its own chat.
    """
    if ":" not in destination:
        return destination
    chat = destination.split(":", 1)[1].strip()
    if chat and not chat.startswith(("-", "@")) and not chat.isdigit():
        chat = "@" + chat
    return chat


@dataclass
class _Job:
    """A due alert with its resolved route, destination and sender."""

    alert: Alert
    route: str
    destination: str
    sender: Sender
    # Other due alerts for the same post and chat: one card names every rule that fired,
    # so a post matching three rules rings once, not three times.
    companions: list[_Job] = field(default_factory=list)

    def all_ids(self) -> list[int]:
        return [self.alert.alert_id, *(c.alert.alert_id for c in self.companions)]


@dataclass
class _Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    digests: int = 0
    muted: int = 0
    # (next attempt, reason) -> alert ids, written in one transaction each at the end.
    deferrals: dict[tuple[datetime, str], list[int]] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        """Tally one alert's outcome ('deferred' ones were counted when deferred)."""
        if outcome != "deferred":
            setattr(self, outcome, getattr(self, outcome) + 1)

    def report(self) -> DispatchReport:
        return DispatchReport(self.sent, self.retried, self.failed, self.deferred, self.digests, self.muted)


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
        limiter: RateLimiter | None = None,
        digest_threshold: int | None = 5,
    ) -> None:
        """senders: one Sender for everything, or keyed by destination / its 'kind:' prefix.

        max_attempts=None retries transient failures forever (with capped backoff):
        an alert that is never delivered is worse than one delivered late.
        limiter: Telegram send limits, keyed by limiter_chat(destination); None sends
        as fast as the senders allow. digest_threshold: more alerts than this due for
        one destination in one flush go out as digests (None: never).
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
        self._limiter = limiter
        self._digest_threshold = digest_threshold
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
        tally = _Tally()
        now = self._clock()
        jobs: list[_Job] = []
        by_destination: dict[str, list[_Job]] = {}
        same_post: dict[tuple[str, str, str], _Job] = {}
        due = await self._store.due_alerts(now, self._batch_size)
        # A mute set after an alert was queued still holds: such alerts are dropped
        # (kept in the outbox as 'muted'), not sent late.
        mutes = await self._store.active_mutes(now) if due else []
        dropped: dict[str, list[int]] = {}
        for alert in due:
            mute = next((m for m in mutes if m.matches(alert.hit.post.channel, alert.hit.rule_id)), None)
            if mute is not None:
                dropped.setdefault(_mute_reason(mute), []).append(alert.alert_id)
        for reason, ids in dropped.items():
            logger.info("%d queued alert(s) dropped: %s", len(ids), reason)
            tally.muted += await self._store.mark_muted_many(ids, reason)
        muted_ids = {i for ids in dropped.values() for i in ids}
        for alert in due:
            if alert.alert_id in muted_ids:
                continue
            route = alert.extra.get(EXTRA_ROUTE) or alert.hit.route
            destination = self._router.destination(route)
            sender = self.sender_for(destination)
            if sender is None:
                logger.error("alert %d: no sender for destination %r", alert.alert_id, destination)
                await self._store.mark_failed(alert.alert_id, f"no sender for {destination!r}")
                tally.failed += 1
                continue
            job = _Job(alert, route, destination, sender)
            key = (destination, alert.hit.post.channel, alert.hit.post.msg_id)
            first = same_post.get(key)
            if first is not None:
                first.companions.append(job)
                continue
            same_post[key] = job
            jobs.append(job)
            by_destination.setdefault(destination, []).append(job)
        # Without a limiter, senders that reported a rate limit get no more alerts this round.
        throttled: set[int] = set()
        handled: set[int] = set()
        for job in jobs:
            if job.alert.alert_id in handled:
                continue
            group = by_destination[job.destination]
            if self._digestible(group, job.sender):
                # The whole burst for this destination is handled at its oldest alert.
                handled.update(j.alert.alert_id for j in group)
                await self._deliver_digests(group, throttled, tally)
                continue
            handled.add(job.alert.alert_id)
            if self._limiter is None and id(job.sender) in throttled:
                tally.deferred += 1
                continue
            if self._rate_limited([job], tally):
                continue
            tally.count(await self._deliver(job, throttled, tally))
        for (next_at, reason), ids in tally.deferrals.items():
            await self._store.defer_many(ids, next_at, reason)
        return tally.report()

    def _digestible(self, group: list[_Job], sender: Sender) -> bool:
        threshold = self._digest_threshold
        return threshold is not None and len(group) > threshold and supports_digest(sender)

    def _rate_limited(self, jobs: list[_Job], tally: _Tally) -> bool:
        """Ask the limiter for one message to the jobs' chat; defer them all if it says wait."""
        if self._limiter is None or not jobs:
            return False
        wait = self._limiter.try_acquire(limiter_chat(jobs[0].destination))
        if wait <= 0:
            return False
        self._defer(jobs, wait, "rate limited", tally)
        return True

    def _defer(self, jobs: list[_Job], seconds: float, reason: str, tally: _Tally) -> None:
        next_at = self._clock() + timedelta(seconds=seconds)
        tally.deferrals.setdefault((next_at, reason), []).extend(j.alert.alert_id for j in jobs)
        tally.deferred += len(jobs)

    def _prepare(self, job: _Job) -> Alert:
        """The alert as a sender sees it: route, destination and silent flag in extra."""
        return replace(
            job.alert,
            extra={
                **job.alert.extra,
                EXTRA_ROUTE: job.route,
                EXTRA_DESTINATION: job.destination,
                EXTRA_SILENT: "1" if self._router.silent(merged_hit(job)) else "0",
            },
        )

    async def _deliver(self, job: _Job, throttled: set[int], tally: _Tally) -> str:
        """Try one alert; record the outcome; return 'sent', 'retried', 'failed' or 'deferred'."""
        alert, destination = job.alert, job.destination
        attempt = alert.attempts + 1
        try:
            card = build_card(alert.hit.post, merged_hit(job))
            await job.sender.send(self._prepare(job), card)
        except PermanentSendError as exc:
            logger.error("alert %d to %s failed permanently: %s", alert.alert_id, destination, exc)
            for alert_id in job.all_ids():
                await self._store.mark_failed(alert_id, _describe(exc))
            tally.failed += len(job.companions)
            return "failed"
        except TransientSendError as exc:
            if exc.retry_after is not None:
                if self._flood_wait([job, *job.companions], exc.retry_after, tally):
                    return "deferred"
                throttled.add(id(job.sender))
            await self._retry_companions(job, exc, exc.retry_after, tally)
            return await self._retry(alert, attempt, exc, exc.retry_after)
        except Exception as exc:
            # An unexpected error (network library quirk, bug in a sender) is
            # treated as transient: retrying costs little, dropping an alert
            # about troop movements costs a lot.
            logger.exception("alert %d to %s: unexpected send error", alert.alert_id, destination)
            await self._retry_companions(job, exc, None, tally)
            return await self._retry(alert, attempt, exc, None)
        # Mark immediately after the send: if we crash before this line the alert
        # is resent on restart (at least once), but never after it is recorded.
        if job.companions:
            await self._store.mark_sent_many(job.all_ids())
            tally.sent += len(job.companions)
        else:
            await self._store.mark_sent(alert.alert_id)
        return "sent"

    def _flood_wait(self, jobs: list[_Job], retry_after: float, tally: _Tally) -> bool:
        """With a limiter: pause the chat and defer jobs (uncounted); False without one."""
        if self._limiter is None:
            return False
        chat = limiter_chat(jobs[0].destination)
        self._limiter.penalise(chat, retry_after)
        logger.warning("flood wait for %s: %d alerts deferred %.0fs", chat, len(jobs), retry_after)
        self._defer(jobs, max(0.0, retry_after), f"flood wait {retry_after:g}s", tally)
        return True

    async def _deliver_digests(self, group: list[_Job], throttled: set[int], tally: _Tally) -> None:
        """Send a destination's burst as one-message digests, as far as the limits allow."""
        sender = cast(DigestSender, group[0].sender)
        deliveries = [self._prepare(job) for job in group]
        cards: list[AlertCard] = [build_card(j.alert.hit.post, merged_hit(j)) for j in group]
        start = 0
        while start < len(group):
            remaining = group[start:]
            if self._limiter is None and id(sender) in throttled:
                tally.deferred += len(remaining)
                return
            if self._rate_limited(remaining, tally):
                return
            # One digest is one message: as many alerts as fit; the rest wait their turn.
            size = digest_fit(cards[start:]) if len(remaining) > 1 else 1
            if size == 1:
                tally.count(await self._deliver(remaining[0], throttled, tally))
                start += 1
                continue
            batch = remaining[:size]
            ids = [alert_id for job in batch for alert_id in job.all_ids()]
            try:
                await sender.send_digest(
                    deliveries[start : start + size], cards[start : start + size]
                )
            except PermanentSendError as exc:
                # Perhaps the digest itself was refused: send its oldest alert on its
                # own with the message already granted, so every round makes progress.
                logger.error(
                    "digest of %d alerts to %s failed permanently (%s); sending singly",
                    size,
                    group[0].destination,
                    exc,
                )
                tally.count(await self._deliver(remaining[0], throttled, tally))
                start += 1
                continue
            except TransientSendError as exc:
                if exc.retry_after is not None:
                    if self._flood_wait(remaining, exc.retry_after, tally):
                        return
                    throttled.add(id(sender))
                    for job in batch:
                        attempt = job.alert.attempts + 1
                        tally.count(await self._retry(job.alert, attempt, exc, exc.retry_after))
                    tally.deferred += len(remaining) - size
                    return
                for job in batch:
                    tally.count(await self._retry(job.alert, job.alert.attempts + 1, exc, None))
                start += size
                continue
            except Exception as exc:
                logger.exception("digest to %s: unexpected send error", group[0].destination)
                for job in batch:
                    tally.count(await self._retry(job.alert, job.alert.attempts + 1, exc, None))
                start += size
                continue
            # One transaction for the whole digest: after a crash it is resent whole
            # or not at all, never half.
            await self._store.mark_sent_many(ids)
            tally.sent += len(ids)
            tally.digests += 1
            start += size

    async def _retry_companions(
        self, job: _Job, exc: BaseException, retry_after: float | None, tally: _Tally
    ) -> None:
        """Companions share their card's fate, so they stay together for the next try."""
        for companion in job.companions:
            tally.count(await self._retry(companion.alert, companion.alert.attempts + 1, exc, retry_after))

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


_SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def merged_hit(job: _Job) -> StoredHit:
    """The job's hit, widened to every rule that fired on the same post (one card)."""
    hits = [job.alert.hit, *(c.alert.hit for c in job.companions)]
    if len(hits) == 1:
        return hits[0]
    first = hits[0]
    spans = sorted({span for h in hits for span in h.spans})
    return replace(
        first,
        rule_id=" + ".join(dict.fromkeys(h.rule_id for h in hits)),
        topic=" + ".join(dict.fromkeys(h.topic for h in hits)),
        severity=max((Severity(h.severity) for h in hits), key=_SEVERITY_ORDER.index),
        spans=tuple(spans),
        terms=tuple(dict.fromkeys(t for h in hits for t in h.terms)),
    )


def _mute_reason(mute: Mute) -> str:
    """Why an alert was dropped, as kept in the outbox ("muted: rule x until …")."""
    until = f" until {mute.until.isoformat(timespec='minutes')}" if mute.until else " until /unmute"
    by = f" by {mute.author}" if mute.author else ""
    return f"muted: {mute.kind} {mute.target}{until}{by}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
