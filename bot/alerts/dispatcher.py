"""Outbox dispatcher: delivers due alerts and records each outcome in the store.

With a RateLimiter, every message first asks the limiter for its chat; an alert
that may not go yet is deferred (its next attempt moved, no attempt counted), never
dropped. When more than digest_threshold alerts are due for one destination in
one flush, and its sender can send digests, they go out as digest messages.

Exactly once, as far as Telegram lets us know: before a send, its alerts are marked
"sending" in the store (committed); the outcome clears or replaces the mark. An alert
still marked at the next flush (the process died mid-send, or the send timed out) is
in doubt: its sender looks for the card in the chat (reconcile) and it is marked sent
if the card is there, sent normally if the chat shows it never arrived, and sent with
a "may be a repeat" line when the chat cannot be read. A stop request (SIGTERM) lets
the send in progress finish and be recorded, and starts no other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from bot.alerts.card import TELEGRAM_MESSAGE_LIMIT, AlertCard, build_card, digest_fit
from bot.alerts.ratelimit import RateLimiter
from bot.alerts.router import AlertRouter
from bot.alerts.senders import (
    DELIVERY_RESERVE,
    EXTRA_ALERT_IDS,
    EXTRA_DESTINATION,
    EXTRA_REPEAT,
    EXTRA_ROUTE,
    EXTRA_SILENT,
    DigestSender,
    FatalSendError,
    PermanentSendError,
    ReconcilingSender,
    Sender,
    TransientSendError,
    supports_digest,
    supports_reconcile,
)
from bot.domain import Alert, Severity, StoredHit
from bot.storage import Store
from bot.storage.store import Mute

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Notify = Callable[[str], Awaitable[None]]
_T = TypeVar("_T")

SEND_TIMEOUT = 60.0  # seconds one send (a card with its chunks, or a digest) may take


class SendTimeout(TransientSendError):
    """The send did not finish in time; the card may still arrive (in doubt)."""

    def __init__(self, seconds: float) -> None:
        """Say how long was waited."""
        super().__init__(f"send timed out after {seconds:g}s", in_doubt=True)


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
    reconciled: int = 0  # in doubt, found in the chat: marked sent without sending again
    repeats: int = 0  # in doubt, the chat could not be checked: sent saying "may be a repeat"


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
    # An earlier send may have arrived and the chat could not be checked.
    repeat: bool = False

    def all_ids(self) -> list[int]:
        return [self.alert.alert_id, *(c.alert.alert_id for c in self.companions)]

    def uncertain(self) -> bool:
        """Whether an earlier, unrecorded send of this card may have arrived."""
        return self.repeat or any(c.repeat for c in self.companions)


@dataclass
class _Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    digests: int = 0
    muted: int = 0
    reconciled: int = 0
    repeats: int = 0
    # (next attempt, reason) -> alert ids, written in one transaction each at the end.
    deferrals: dict[tuple[datetime, str], list[int]] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        """Tally one alert's outcome ('deferred' ones were counted when deferred)."""
        if outcome != "deferred":
            setattr(self, outcome, getattr(self, outcome) + 1)

    def report(self) -> DispatchReport:
        return DispatchReport(
            self.sent,
            self.retried,
            self.failed,
            self.deferred,
            self.digests,
            self.muted,
            self.reconciled,
            self.repeats,
        )


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
        send_timeout: float | None = SEND_TIMEOUT,
        on_sender_down: Notify | None = None,
    ) -> None:
        """senders: one Sender for everything, or keyed by destination / its 'kind:' prefix.

        max_attempts=None retries transient failures forever (with capped backoff):
        an alert that is never delivered is worse than one delivered late.
        limiter: Telegram send limits, keyed by limiter_chat(destination); None sends
        as fast as the senders allow. digest_threshold: more alerts than this due for
        one destination in one flush go out as digests (None: never).
        send_timeout: seconds one send may take before it is abandoned (in doubt) and
        the alerts behind it go ahead (None: no limit).
        on_sender_down: told once, with the reason, when a sender reports that it can
        deliver nothing until a human acts (FatalSendError); its alerts stay pending.
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
        self._send_timeout = send_timeout
        self._on_sender_down = on_sender_down
        # Senders that reported FatalSendError: id(sender) -> the reason.
        self._down: dict[int, str] = {}
        self._stopping = False
        # Two overlapping flushes would both see the same pending alert and send it twice.
        self._lock = asyncio.Lock()

    @property
    def down(self) -> list[str]:
        """Why senders stopped delivering (empty while every sender works)."""
        return list(self._down.values())

    def request_stop(self) -> None:
        """Start no further send; the one in progress finishes and is recorded."""
        self._stopping = True

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
            if self._stopping:
                return DispatchReport()
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
        candidates: list[tuple[Alert, str, str, Sender]] = []
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
            if id(sender) in self._down:
                tally.deferred += 1  # kept pending, untouched, until the sender works again
                continue
            candidates.append((alert, route, destination, sender))
        done, repeat = await self._reconcile(candidates, tally)
        for alert, route, destination, sender in candidates:
            if alert.alert_id in done:
                continue
            job = _Job(alert, route, destination, sender, repeat=alert.alert_id in repeat)
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
            if self._stopping:
                break  # the rest stay pending, untouched
            group = by_destination[job.destination]
            if self._digestible(group, job.sender):
                # The whole burst for this destination is handled at its oldest alert.
                handled.update(j.alert.alert_id for j in group)
                await self._deliver_digests(group, throttled, tally)
                continue
            handled.add(job.alert.alert_id)
            if id(job.sender) in self._down or (
                self._limiter is None and id(job.sender) in throttled
            ):
                tally.deferred += 1 + len(job.companions)
                continue
            if self._rate_limited([job], tally):
                continue
            tally.count(await self._deliver(job, throttled, tally))
        for (next_at, reason), ids in tally.deferrals.items():
            await self._store.defer_many(ids, next_at, reason)
        return tally.report()

    async def _reconcile(
        self, candidates: list[tuple[Alert, str, str, Sender]], tally: _Tally
    ) -> tuple[set[int], set[int]]:
        """Settle alerts in doubt.

        Returns the ids found in the chat (now marked sent) and the ids to send as
        possible repeats (the chat could not tell).
        """
        doubtful: dict[tuple[int, str], list[Alert]] = {}
        senders: dict[int, Sender] = {}
        for alert, route, destination, sender in candidates:
            if alert.in_doubt_since is not None:
                prepared = replace(
                    alert, extra={**alert.extra, EXTRA_ROUTE: route, EXTRA_DESTINATION: destination}
                )
                doubtful.setdefault((id(sender), destination), []).append(prepared)
                senders[id(sender)] = sender
        found: set[int] = set()
        unknown: set[int] = set()
        for (sender_id, destination), alerts in doubtful.items():
            sender = senders[sender_id]
            answers: Mapping[int, bool | None] = {}
            if supports_reconcile(sender):
                try:
                    answers = await self._bounded(
                        cast(ReconcilingSender, sender).reconcile(alerts)
                    )
                except Exception:
                    # Not knowing is the safe answer: the card goes out marked as a
                    # possible repeat, never silently twice and never not at all.
                    logger.exception("could not check %s for cards in doubt", destination)
            for alert in alerts:
                answer = answers.get(alert.alert_id)
                if answer is True:
                    found.add(alert.alert_id)
                elif answer is None:
                    unknown.add(alert.alert_id)
            logger.warning(
                "%d alert(s) to %s were in doubt (a send was interrupted): %d found in the"
                " chat, %d surely not sent, %d unknown (sent again as possible repeats)",
                len(alerts),
                destination,
                sum(a.alert_id in found for a in alerts),
                sum(answers.get(a.alert_id) is False for a in alerts),
                sum(a.alert_id in unknown for a in alerts),
            )
        if found:
            tally.reconciled += await self._store.mark_sent_many(sorted(found))
        settled = [
            alert.alert_id
            for alerts in doubtful.values()
            for alert in alerts
            if alert.alert_id not in found and alert.alert_id not in unknown
        ]
        if settled:
            await self._store.clear_sending_many(settled)
        return found, unknown

    async def _bounded(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Await work, abandoning it after send_timeout (SendTimeout)."""
        if self._send_timeout is None:
            return await work
        timeout = asyncio.timeout(self._send_timeout)
        try:
            async with timeout:
                return await work
        except TimeoutError:
            if timeout.expired():
                raise SendTimeout(self._send_timeout) from None
            raise

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
        """Postpone jobs with their companions (a card's alerts wait together)."""
        next_at = self._clock() + timedelta(seconds=seconds)
        ids = [alert_id for job in jobs for alert_id in job.all_ids()]
        tally.deferrals.setdefault((next_at, reason), []).extend(ids)
        tally.deferred += len(ids)

    def _prepare(self, job: _Job) -> Alert:
        """The alert as a sender sees it: route, destination, silent, repeat, covered ids."""
        extra = {
            **job.alert.extra,
            EXTRA_ROUTE: job.route,
            EXTRA_DESTINATION: job.destination,
            EXTRA_SILENT: "1" if self._router.silent(merged_hit(job)) else "0",
            EXTRA_ALERT_IDS: ",".join(str(i) for i in job.all_ids()),
        }
        if job.uncertain():
            extra[EXTRA_REPEAT] = "1"
        return replace(job.alert, extra=extra)

    async def _begin(self, jobs: list[_Job], tally: _Tally) -> None:
        """Mark the jobs' alerts as being sent, committed before anything leaves."""
        await self._store.mark_sending_many([i for job in jobs for i in job.all_ids()])
        tally.repeats += sum(1 + len(job.companions) for job in jobs if job.uncertain())

    async def _refused(self, jobs: list[_Job]) -> None:
        """The chat surely did not get these cards: drop the mark set by _begin.

        Cards already in doubt from an earlier attempt keep it: that attempt may
        have arrived.
        """
        ids = [i for job in jobs if not job.uncertain() for i in job.all_ids()]
        if ids:
            await self._store.clear_sending_many(ids)

    async def _sender_down(self, sender: Sender, exc: FatalSendError) -> None:
        """Stop using a sender that can deliver nothing; tell the operator once."""
        if id(sender) in self._down:
            return
        self._down[id(sender)] = str(exc)
        logger.critical("alert delivery stopped, alerts stay queued: %s", exc)
        if self._on_sender_down is not None:
            try:
                await self._on_sender_down(str(exc))
            except Exception:  # the notice is best effort; the log has it
                logger.exception("could not report the stopped delivery")

    async def _deliver(self, job: _Job, throttled: set[int], tally: _Tally) -> str:
        """Try one alert; record the outcome; return 'sent', 'retried', 'failed' or 'deferred'."""
        alert, destination = job.alert, job.destination
        card = build_card(alert.hit.post, merged_hit(job))
        await self._begin([job], tally)
        try:
            await self._bounded(job.sender.send(self._prepare(job), card))
        except PermanentSendError as exc:
            logger.error(
                "alert %d (post %s/%s) to %s failed permanently: %s",
                alert.alert_id,
                alert.hit.post.channel,
                alert.hit.post.msg_id,
                destination,
                exc,
                extra={"channel": alert.hit.post.channel, "post": alert.hit.post.msg_id},
            )
            for alert_id in job.all_ids():
                await self._store.mark_failed(alert_id, _describe(exc))
            tally.failed += len(job.companions)
            return "failed"
        except FatalSendError as exc:
            await self._refused([job])
            await self._sender_down(job.sender, exc)
            tally.deferred += 1 + len(job.companions)
            return "deferred"
        except TransientSendError as exc:
            if exc.in_doubt:
                # A hung or cut connection: the alerts behind this one wait for the
                # next flush instead of queueing behind it.
                throttled.add(id(job.sender))
            elif exc.retry_after is not None:
                await self._refused([job])
                if self._flood_wait([job], exc.retry_after, tally):
                    return "deferred"
                throttled.add(id(job.sender))
            return await self._retry_job(job, exc, exc.retry_after, tally)
        except Exception as exc:
            # An unexpected error (network library quirk, bug in a sender) is
            # treated as transient, and the card as possibly sent: retrying costs
            # little, dropping an alert about troop movements costs a lot.
            logger.exception("alert %d to %s: unexpected send error", alert.alert_id, destination)
            return await self._retry_job(job, exc, None, tally, in_doubt=True)
        # Marked right after the send. A crash before this line leaves the "sending"
        # mark: the next start checks the chat before sending the card again.
        if job.companions:
            await self._store.mark_sent_many(job.all_ids())
            tally.sent += len(job.companions)
        else:
            await self._store.mark_sent(alert.alert_id)
        _log_sent("card", [job])
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
            if self._stopping:
                return  # the rest stay pending, untouched
            if id(sender) in self._down or (self._limiter is None and id(sender) in throttled):
                tally.deferred += sum(1 + len(job.companions) for job in remaining)
                return
            if self._rate_limited(remaining, tally):
                return
            # One digest is one message: as many alerts as fit; the rest wait their turn.
            size = (
                digest_fit(cards[start:], TELEGRAM_MESSAGE_LIMIT - DELIVERY_RESERVE)
                if len(remaining) > 1
                else 1
            )
            if size == 1:
                tally.count(await self._deliver(remaining[0], throttled, tally))
                start += 1
                continue
            batch = remaining[:size]
            ids = [alert_id for job in batch for alert_id in job.all_ids()]
            await self._begin(batch, tally)
            try:
                batch_alerts = deliveries[start : start + size]
                batch_cards = cards[start : start + size]
                await self._bounded(sender.send_digest(batch_alerts, batch_cards))
            except PermanentSendError as exc:
                # Perhaps the digest itself was refused: send its oldest alert on its
                # own with the message already granted, so every round makes progress.
                # The others stay pending, untouched, for the next round.
                logger.error(
                    "digest of %d alerts to %s failed permanently (%s); sending singly",
                    size,
                    group[0].destination,
                    exc,
                )
                await self._refused(batch)
                tally.count(await self._deliver(remaining[0], throttled, tally))
                start += 1
                continue
            except FatalSendError as exc:
                await self._refused(batch)
                await self._sender_down(sender, exc)
                continue
            except TransientSendError as exc:
                if exc.in_doubt:
                    throttled.add(id(sender))
                elif exc.retry_after is not None:
                    await self._refused(batch)
                    if self._flood_wait(remaining, exc.retry_after, tally):
                        return
                    throttled.add(id(sender))
                for job in batch:
                    tally.count(await self._retry_job(job, exc, exc.retry_after, tally))
                start += size
                continue
            except Exception as exc:
                logger.exception("digest to %s: unexpected send error", group[0].destination)
                for job in batch:
                    tally.count(await self._retry_job(job, exc, None, tally, in_doubt=True))
                start += size
                continue
            # One transaction for the whole digest: after a crash it is resent whole
            # or not at all, never half.
            await self._store.mark_sent_many(ids)
            _log_sent("digest", batch)
            tally.sent += len(ids)
            tally.digests += 1
            start += size

    async def _retry_job(
        self,
        job: _Job,
        exc: BaseException,
        retry_after: float | None,
        tally: _Tally,
        *,
        in_doubt: bool | None = None,
    ) -> str:
        """Retry a card's alerts together; companions are tallied here, the outcome of
        the job's own alert is returned. Companions share their card's fate, so they
        stay together for the next try instead of going out as cards of their own."""
        doubt = in_doubt if in_doubt is not None else getattr(exc, "in_doubt", False)
        # One moment for the whole card: were the companions due a microsecond later
        # than their card, a flush in between would send them as a card of their own.
        now = self._clock()
        for companion in job.companions:
            tally.count(
                await self._retry(
                    companion.alert,
                    job.alert.attempts + 1,
                    exc,
                    retry_after,
                    in_doubt=doubt or job.uncertain(),
                    now=now,
                )
            )
        return await self._retry(
            job.alert,
            job.alert.attempts + 1,
            exc,
            retry_after,
            in_doubt=doubt or job.uncertain(),
            now=now,
        )

    async def _retry(
        self,
        alert: Alert,
        attempt: int,
        exc: BaseException,
        retry_after: float | None,
        *,
        in_doubt: bool = False,
        now: datetime | None = None,
    ) -> str:
        error = _describe(exc)
        if self._max_attempts is not None and attempt >= self._max_attempts:
            logger.error(
                "alert %d: giving up after %d attempts: %s", alert.alert_id, attempt, error
            )
            await self._store.mark_failed(alert.alert_id, error)
            return "failed"
        delay = self.backoff(attempt, retry_after)
        next_at = (now or self._clock()) + timedelta(seconds=delay)
        logger.warning(
            "alert %d: attempt %d failed (%s); retrying in %.0fs",
            alert.alert_id,
            attempt,
            error,
            delay,
        )
        await self._store.mark_retry(alert.alert_id, error, next_at, in_doubt=in_doubt)
        return "retried"


_SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def _log_sent(what: str, jobs: list[_Job]) -> None:
    """One line per card sent, naming its post (a digest names each of its posts)."""
    for job in jobs:
        post = job.alert.hit.post
        logger.info(
            "%s for post %s/%s sent to %s (alerts %s)",
            what,
            post.channel,
            post.msg_id,
            job.destination,
            ",".join(map(str, job.all_ids())),
            extra={"channel": post.channel, "post": post.msg_id},
        )


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
