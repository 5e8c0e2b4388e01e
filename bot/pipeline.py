"""Ingest pipeline: store a post, match it, record hits and enqueue their alerts.

A post that fails to store is never skipped. Its content goes into a retry queue
(ingest_failures) and is tried again with backoff; after max_attempts it stays there
as a dead letter for the operator (`milwatch status`, `milwatch replay`). If even
that record cannot be written (the database is locked), the failure is kept in
memory and written in the same transaction as the next write that would move the
channel's read position, so the read position never passes a post nobody recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.alerts.router import AlertRouter
from bot.domain import Hit, Post
from bot.storage import IngestFailure, Store

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

RETRY_BASE = 5.0  # seconds before the first retry of a post that failed to store
RETRY_MAX = 600.0  # the backoff doubles up to this
MAX_ATTEMPTS = 8  # then the post is a dead letter (about 10 minutes after the first failure)


class MatcherLike(Protocol):
    """What the pipeline needs from a compiled rule set."""

    @property
    def version(self) -> str:
        """Identifier of the rule set the matcher was built from."""
        ...

    def match(self, text: str) -> list[Hit]:
        """Every rule that matches text."""
        ...


@dataclass(frozen=True)
class IngestResult:
    """What happened to one post."""

    post_id: int | None
    new_post: bool
    hits: list[Hit] = field(default_factory=list)
    alerts_enqueued: int = 0
    text_changed: bool = False
    error: str | None = None
    alerts_muted: int = 0  # hits recorded without an alert: their channel or rule is muted
    quiet: int = 0  # hits recorded without an alert: the relevance stage was not sure enough
    dead_letter: bool = False  # failed too often: kept as a dead letter, no more retries
    # (rule, topic, "alerted" | "quiet" | "muted") of each hit recorded now (for metrics).
    outcomes: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class RetryReport:
    """One round of retries of posts that failed to store."""

    stored: int = 0
    failed: int = 0  # failed again; retried later
    dead: list[IngestFailure] = field(default_factory=list)  # became dead letters this round


class Pipeline:
    """Turns incoming posts into stored hits and pending alerts, exactly once per (post, rule)."""

    def __init__(
        self,
        store: Store,
        matcher_source: Callable[[], MatcherLike],
        router: AlertRouter,
        *,
        clock: Clock | None = None,
        retry_base: float = RETRY_BASE,
        retry_max: float = RETRY_MAX,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """matcher_source is called per post, so a reloaded rule set applies at once.

        A post that fails to store is retried after retry_base seconds, doubling up to
        retry_max; after max_attempts failures it is kept as a dead letter. clock:
        default the store's.
        """
        self._store = store
        self._matcher_source = matcher_source
        self._router = router
        self._clock: Clock = clock or store.now
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._max_attempts = max_attempts
        # Failures not written yet (the write failed too): (channel, msg_id) -> (post, error).
        self._unrecorded: dict[tuple[str, str], tuple[Post | None, str]] = {}
        self._new_dead: list[IngestFailure] = []

    def take_dead_letters(self) -> list[IngestFailure]:
        """Posts that became dead letters since the last call (to tell the operator once)."""
        dead, self._new_dead = self._new_dead, []
        return dead

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the attempts-th failure before the next try."""
        return float(min(self._retry_max, self._retry_base * 2 ** max(0, attempts - 1)))

    async def ingest(self, post: Post) -> IngestResult:
        """Process one post; errors are logged and reported in the result, never raised."""
        try:
            async with self._store.transaction():
                # Earlier failures go in first: this post's write may move the read
                # position, and it must never pass a post nobody recorded.
                written = await self._write_unrecorded()
                result = await self._ingest(post)
            self._forget(written)
            return result
        except Exception as exc:
            # One bad post (malformed date, matcher bug on odd input, a locked
            # database) must not stop the stream: the channel keeps producing posts
            # analysts need. The transaction rolled back; the post waits in the retry
            # queue with its error.
            logger.exception(
                "failed to ingest post %r/%r",
                getattr(post, "channel", "?"),
                getattr(post, "msg_id", "?"),
                extra={"channel": getattr(post, "channel", None), "post": getattr(post, "msg_id", None)},
            )
            error = f"{type(exc).__name__}: {exc}"
            failure = await self._note_failure(
                str(getattr(post, "channel", "") or ""),
                str(getattr(post, "msg_id", "") or ""),
                post,
                error,
            )
            dead = failure is not None and failure.status == "dead"
            return IngestResult(post_id=None, new_post=False, error=error, dead_letter=dead)

    async def record_unreadable(
        self, channel: str, msg_id: str, error: str
    ) -> IngestFailure | None:
        """A message no post could be built from: recorded like a failed post, without content.

        While it is retried, reading the channel resumes before it (it is read again).
        """
        return await self._note_failure(channel, msg_id, None, error)

    async def skip(self, channel: str, msg_id: int, *, looked_at: bool = True) -> None:
        """Move the read position up to msg_id, never back.

        looked_at: msg_id itself was read and is no post (a service message, media
        without caption), so an earlier failure to read it is settled.
        """
        async with self._store.transaction():
            written = await self._write_unrecorded()
            await self._store.advance_channel_cursor(channel, msg_id)
            if looked_at:
                await self._store.clear_ingest_failure(channel, str(msg_id))
        self._forget(written)

    async def retry_due(self) -> RetryReport:
        """Try again every post whose retry is due; report what was stored and what died."""
        if self._unrecorded:
            try:
                async with self._store.transaction():
                    written = await self._write_unrecorded()
                self._forget(written)
            except Exception as exc:  # noqa: BLE001 - still in memory; next round
                logger.warning(
                    "could not record %d failed post(s) yet: %s", len(self._unrecorded), exc
                )
        stored = failed = 0
        dead: list[IngestFailure] = []
        for failure in await self._store.due_ingest_failures(self._clock()):
            assert failure.post is not None
            result = await self.ingest(failure.post)
            if result.error is None:
                stored += 1
                logger.info(
                    "post %s/%s stored on attempt %d",
                    failure.channel,
                    failure.msg_id,
                    failure.attempts + 1,
                )
            elif result.dead_letter:
                dead.append(failure)
            else:
                failed += 1
        return RetryReport(stored, failed, dead)

    async def _note_failure(
        self, channel: str, msg_id: str, post: Post | None, error: str
    ) -> IngestFailure | None:
        """Record a failed attempt (with every earlier unrecorded one); None if that failed too."""
        self._unrecorded[(channel, msg_id)] = (post, error)
        try:
            async with self._store.transaction():
                written = await self._write_unrecorded()
        except Exception as exc:  # noqa: BLE001 - kept in memory, written with the next post
            logger.warning(
                "could not record the failure of post %s/%s (%s): kept in memory; the read"
                " position stays before it",
                channel,
                msg_id,
                exc,
            )
            return None
        self._forget(written)
        return written.get((channel, msg_id))

    async def _write_unrecorded(self) -> dict[tuple[str, str], IngestFailure]:
        """Write the failures kept in memory (inside the caller's transaction)."""
        written: dict[tuple[str, str], IngestFailure] = {}
        for (channel, msg_id), (post, error) in list(self._unrecorded.items()):
            failure = await self._store.record_ingest_failure(
                channel, msg_id, post, error, self.retry_delay, self._max_attempts
            )
            written[(channel, msg_id)] = failure
        return written

    def _forget(self, written: dict[tuple[str, str], IngestFailure]) -> None:
        """Drop failures from memory once the transaction that wrote them committed."""
        for key, failure in written.items():
            self._unrecorded.pop(key, None)
            if failure.status == "dead" and failure.attempts == self._max_attempts:
                self._new_dead.append(failure)
                logger.error(
                    "post %s/%s failed %d times; kept as a dead letter (milwatch status,"
                    " milwatch replay): %s",
                    failure.channel,
                    failure.msg_id,
                    failure.attempts,
                    failure.last_error,
                    extra={"channel": failure.channel, "post": failure.msg_id},
                )

    async def _ingest(self, post: Post) -> IngestResult:
        # One transaction for post, hits and alerts: a crash in between can never
        # leave a stored post whose hits were not matched or alerted (a replay would
        # then see an unchanged post and skip it).
        async with self._store.transaction():
            write = await self._store.add_post(post)
            await self._store.clear_ingest_failure(post.channel, post.msg_id)
            if not (write.inserted or write.text_changed):
                return IngestResult(post_id=write.post_id, new_post=False)
            matcher = self._matcher_source()
            hits = matcher.match(post.text)
            enqueued = muted = quiet = 0
            outcomes: list[tuple[str, str, str]] = []
            # Operators' mutes (a channel or a rule, for a while): hits are still
            # recorded, only their alerts are not queued.
            mutes = await self._store.active_mutes() if hits else []
            due = self._clock()  # one moment for the post's alerts: one card, never split
            for hit in hits:
                # One call per hit so each new row id is paired with its own route.
                new_ids = await self._store.add_hits(write.post_id, [hit], matcher.version)
                if new_ids and not hit.alerts:
                    # Stored (shown by /recent and /search, replayed by backtests) but
                    # too unsure to interrupt an analyst.
                    quiet += len(new_ids)
                    outcomes.append((hit.rule_id, hit.topic, "quiet"))
                    continue
                if new_ids and any(m.matches(post.channel, hit.rule_id) for m in mutes):
                    muted += len(new_ids)
                    outcomes.append((hit.rule_id, hit.topic, "muted"))
                    continue
                for hit_id in new_ids:
                    route = self._router.route_for(hit.route)
                    if await self._store.enqueue_alert(hit_id, route, due) is not None:
                        enqueued += 1
                        outcomes.append((hit.rule_id, hit.topic, "alerted"))
        if hits:
            logger.info(
                "post %s/%s: %d hit(s), %d alert(s) enqueued, %d muted, %d quiet",
                post.channel,
                post.msg_id,
                len(hits),
                enqueued,
                muted,
                quiet,
                extra={"channel": post.channel, "post": post.msg_id},
            )
        return IngestResult(
            post_id=write.post_id,
            new_post=write.inserted,
            hits=list(hits),
            alerts_enqueued=enqueued,
            text_changed=write.text_changed,
            alerts_muted=muted,
            quiet=quiet,
            outcomes=tuple(outcomes),
        )
