"""Ingest pipeline: store a post, match it, record hits and enqueue their alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.alerts.router import AlertRouter
from bot.domain import Hit, Post
from bot.storage import Store

logger = logging.getLogger(__name__)


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


class Pipeline:
    """Turns incoming posts into stored hits and pending alerts, exactly once per (post, rule)."""

    def __init__(
        self,
        store: Store,
        matcher_source: Callable[[], MatcherLike],
        router: AlertRouter,
    ) -> None:
        """matcher_source is called per post, so a reloaded rule set applies at once."""
        self._store = store
        self._matcher_source = matcher_source
        self._router = router

    async def ingest(self, post: Post) -> IngestResult:
        """Process one post; errors are logged and reported in the result, never raised."""
        try:
            return await self._ingest(post)
        except Exception as exc:
            # One bad post (malformed date, matcher bug on odd input) must not stop
            # the stream: the channel keeps producing posts analysts need. The
            # transaction rolled back, so a replay after a fix processes it cleanly.
            logger.exception(
                "failed to ingest post %r/%r",
                getattr(post, "channel", "?"),
                getattr(post, "msg_id", "?"),
            )
            return IngestResult(post_id=None, new_post=False, error=f"{type(exc).__name__}: {exc}")

    async def _ingest(self, post: Post) -> IngestResult:
        # One transaction for post, hits and alerts: a crash in between can never
        # leave a stored post whose hits were not matched or alerted (a replay would
        # then see an unchanged post and skip it).
        async with self._store.transaction():
            write = await self._store.add_post(post)
            if not (write.inserted or write.text_changed):
                return IngestResult(post_id=write.post_id, new_post=False)
            matcher = self._matcher_source()
            hits = matcher.match(post.text)
            enqueued = muted = quiet = 0
            # Operators' mutes (a channel or a rule, for a while): hits are still
            # recorded, only their alerts are not queued.
            mutes = await self._store.active_mutes() if hits else []
            for hit in hits:
                # One call per hit so each new row id is paired with its own route.
                new_ids = await self._store.add_hits(write.post_id, [hit], matcher.version)
                if new_ids and not hit.alerts:
                    # Stored (shown by /recent and /search, replayed by backtests) but
                    # too unsure to interrupt an analyst.
                    quiet += len(new_ids)
                    continue
                if new_ids and any(m.matches(post.channel, hit.rule_id) for m in mutes):
                    muted += len(new_ids)
                    continue
                for hit_id in new_ids:
                    route = self._router.route_for(hit.route)
                    if await self._store.enqueue_alert(hit_id, route) is not None:
                        enqueued += 1
        if hits:
            logger.info(
                "post %s/%s: %d hit(s), %d alert(s) enqueued, %d muted, %d quiet",
                post.channel,
                post.msg_id,
                len(hits),
                enqueued,
                muted,
                quiet,
            )
        return IngestResult(
            post_id=write.post_id,
            new_post=write.inserted,
            hits=list(hits),
            alerts_enqueued=enqueued,
            text_changed=write.text_changed,
            alerts_muted=muted,
            quiet=quiet,
        )
