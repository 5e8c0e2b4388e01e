"""The running service's health check: channels and pipeline judged, the operator told.

Every heartbeat round, run_live hands in what the listener knows about each channel and
what only the service knows (reconnects, the rules file, the start time); the monitor
adds what the store and the disk say, judges every channel and every part of the
pipeline, stores the verdicts (for /channels and `milwatch status`, which read them from
the database) and returns the notices due, the lines for the heartbeat file, and the
figures for the metrics.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.alerts.card import display_channel, format_time
from bot.health.channels import (
    ChannelObservation,
    ChannelVerdict,
    assess_channel,
    learn_rhythms,
    worst_first,
)
from bot.health.notices import Assessment, Notice, NoticeBoard
from bot.health.pipeline import (
    DELIVERY_DELAY,
    PipelineSnapshot,
    assess_pipeline,
    heartbeat_lines,
)
from bot.health.rhythm import Rhythm
from bot.metrics import ServiceCounters, storage_error
from bot.storage import Store

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

ERROR_GRACE = timedelta(minutes=10)  # a read error is told once it lasts this long
RHYTHM_REFRESH = timedelta(minutes=15)  # rhythms change slowly: relearned this often


@dataclass(frozen=True)
class ServiceFacts:
    """What only the running service knows, handed to each check."""

    started_at: datetime
    reconnects: int = 0
    disconnected_since: datetime | None = None
    listener_flood_wait: float = 0.0
    rules_version: str = ""
    rules_broken: list[str] = field(default_factory=list)
    rules_broken_since: datetime | None = None


@dataclass(frozen=True)
class HealthRound:
    """The outcome of one check."""

    notices: list[str]
    problems: list[str]  # for the heartbeat: `milwatch health` fails
    warnings: list[str]  # for the heartbeat: reported, still healthy
    channels: list[ChannelVerdict]
    pipeline: list[Assessment]

    def summary(self) -> str:
        """'channels: 3 ok, 1 silent' for the heartbeat's summary line."""
        counts: dict[str, int] = {}
        for verdict in self.channels:
            counts[verdict.state] = counts.get(verdict.state, 0) + 1
        parts = [f"{n} {state}" for state, n in counts.items()]
        return "channels: " + (", ".join(parts) if parts else "none")


class HealthMonitor:
    """Judges channels and pipeline each round; remembers what the operator was told."""

    def __init__(
        self,
        store: Store,
        counters: ServiceCounters,
        clock: Clock,
        data_dir: Path,
        *,
        delivery_delay: timedelta = DELIVERY_DELAY,
        error_grace: timedelta = ERROR_GRACE,
        rhythm_refresh: timedelta = RHYTHM_REFRESH,
        disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage,
    ) -> None:
        """disk_usage(path) -> (total, used, free) bytes: shutil's, or a test's."""
        self._store = store
        self._counters = counters
        self._clock = clock
        self._data_dir = data_dir
        self._delivery_delay = delivery_delay
        self._error_grace = error_grace
        self._rhythm_refresh = rhythm_refresh
        self._disk_usage = disk_usage
        self._board = NoticeBoard()
        self._rhythms: dict[str, Rhythm] = {}
        self._rhythms_at: datetime | None = None
        self._learned_msg_ids: dict[str, int | None] = {}
        self._write_error: tuple[datetime, str] | None = None

    async def start(self) -> None:
        """Load what earlier runs told the operator, so nothing is told twice."""
        records = [
            *(await self._store.health_records("channel")).values(),
            *(await self._store.health_records("pipeline")).values(),
        ]
        self._board = NoticeBoard(records)

    async def check(
        self, observations: Sequence[ChannelObservation], facts: ServiceFacts
    ) -> HealthRound:
        """Judge everything now; store the verdicts; return notices and heartbeat lines."""
        now = self._clock()
        await self._refresh_rhythms(now, observations)
        verdicts = worst_first(
            assess_channel(obs, self._rhythms.get(obs.channel.casefold()), now)
            for obs in observations
        )
        snapshot = await self._snapshot(now, observations, facts)
        pipeline = assess_pipeline(snapshot, self._delivery_delay)
        notices = self._board.update(now, [*map(self._channel_assessment, verdicts), *pipeline])
        if not await self._save(now):
            # The verdicts could not be stored: the database refuses writes. Judge the
            # database part again now, so the operator hears of it in this round.
            snapshot = await self._snapshot(now, observations, facts)
            pipeline = assess_pipeline(snapshot, self._delivery_delay)
            notices += self._board.update(now, [pipeline[0]])
        self._counters.set_channels(
            {v.channel: v.state for v in verdicts},
            {v.channel: v.lag.total_seconds() for v in verdicts if v.lag is not None},
        )
        problems, warnings = heartbeat_lines(pipeline)
        warnings += [
            f"channel {display_channel(v.channel)} {v.state}: {v.reason}"
            for v in verdicts
            if v.state in ("silent", "error")
        ]
        by_name = {v.channel.casefold(): v for v in verdicts}
        return HealthRound(
            [self._text(n, by_name) for n in notices], problems, warnings, verdicts, pipeline
        )

    # -- parts ------------------------------------------------------------------

    async def _refresh_rhythms(
        self, now: datetime, observations: Sequence[ChannelObservation]
    ) -> None:
        """Relearn every RHYTHM_REFRESH, and at once when a channel still being learned
        has new posts (the first backfill, a new channel)."""
        learning = [o for o in observations if not self._knows(o.channel)]
        grown = any(
            o.last_msg_id != self._learned_msg_ids.get(o.channel.casefold()) for o in learning
        )
        due = self._rhythms_at is None or now - self._rhythms_at >= self._rhythm_refresh
        if not (due or grown):
            return
        try:
            self._rhythms = await learn_rhythms(self._store, now)
            self._rhythms_at = now
            self._learned_msg_ids = {o.channel.casefold(): o.last_msg_id for o in observations}
        except sqlite3.Error:
            # The last rhythms stay good enough for a while; the next round tries again.
            logger.warning("could not learn the channels' rhythms", exc_info=True)

    def _knows(self, channel: str) -> bool:
        rhythm = self._rhythms.get(channel.casefold())
        return rhythm is not None and rhythm.learned

    def _channel_assessment(self, verdict: ChannelVerdict) -> Assessment:
        alarm: timedelta | None = None
        if verdict.state == "silent":
            alarm = timedelta(0)
        elif verdict.state == "error":
            # Given up until a restart (private, no such channel): at once. Anything
            # else may clear by itself (a flood wait, a bad minute): only if it lasts.
            alarm = timedelta(0) if verdict.observation.blocked else self._error_grace
        obs = verdict.observation
        return Assessment(
            "channel",
            verdict.channel,
            verdict.state,
            verdict.reason,
            alarm,
            obs.last_read_at,
            # Not read since the start: its newest post may still be on the way.
            hold=obs.last_read_at is None and verdict.state != "error",
        )

    async def _snapshot(
        self, now: datetime, observations: Sequence[ChannelObservation], facts: ServiceFacts
    ) -> PipelineSnapshot:
        counts = self._counters.snapshot()
        backlog = await self._store.delivery_backlog()
        failures = await self._store.ingest_failure_counts()
        total = free = None
        try:
            total, _, free = self._disk_usage(self._data_dir)
        except OSError as exc:
            logger.warning("cannot read the free space of %s: %s", self._data_dir, exc)
        self._counters.set_gauges(
            {
                "outbox_pending": backlog.pending,
                "outbox_in_doubt": backlog.in_doubt,
                "outbox_oldest_age_seconds": (
                    (now - backlog.oldest_created_at).total_seconds()
                    if backlog.oldest_created_at is not None
                    else 0.0
                ),
                "dead_letters": sum(c["dead"] for c in failures.values()),
                **({"disk_free_bytes": free} if free is not None else {}),
            }
        )
        self._counters.set_listener(facts.reconnects, facts.listener_flood_wait)
        error = self._write_error or self._counters.storage_error
        return PipelineSnapshot(
            now=now,
            started_at=facts.started_at,
            pending=backlog.pending,
            in_doubt=backlog.in_doubt,
            oldest_pending_at=backlog.oldest_created_at,
            oldest_error=backlog.oldest_error,
            sent=counts.alerts.get("sent", 0),
            failed_sends=counts.alerts.get("failed", 0),
            flood_wait_seconds=dict(counts.flood_wait, listener=facts.listener_flood_wait),
            reconnects=facts.reconnects,
            disconnected_since=facts.disconnected_since,
            rules_version=facts.rules_version,
            rules_broken=facts.rules_broken,
            rules_broken_since=facts.rules_broken_since,
            channels=len(observations),
            channels_read=sum(o.last_read_at is not None for o in observations),
            # A channel in error has a notice of its own; these are simply not read yet.
            unread=[
                display_channel(o.channel)
                for o in observations
                if o.last_read_at is None and not o.last_error
            ],
            retrying=sum(c["retrying"] for c in failures.values()),
            dead_letters=sum(c["dead"] for c in failures.values()),
            disk_free=free,
            disk_total=total,
            disk_path=str(self._data_dir),
            storage_error=error[1] if error else None,
            storage_error_since=error[0] if error else None,
        )

    async def _save(self, now: datetime) -> bool:
        """Store the changed verdicts; False when the database refused the write."""
        changes = self._board.take_changes()
        try:
            await self._store.save_health_records(changes)
        except sqlite3.Error as exc:
            self._board.keep_changes(changes)
            message = f"{type(exc).__name__}: {exc}"
            if not storage_error(message):
                logger.warning("could not store the health verdicts: %s", message)
                return True  # a busy database: not a health problem of its own
            logger.error("the database cannot be written: %s", message)
            if self._write_error is None:
                self._write_error = (now, message)
            return False
        self._write_error = None
        return True

    # -- wording ------------------------------------------------------------------

    def _text(self, notice: Notice, verdicts: dict[str, ChannelVerdict]) -> str:
        a = notice.assessment
        if a.kind == "pipeline":
            if notice.recovered:
                return f"milwatch: {_RECOVERED.get(a.subject, a.subject + ' is fine again')} ({a.detail})"
            return f"milwatch: {a.detail}"
        name = display_channel(a.subject)
        if notice.recovered:
            verdict = verdicts.get(a.subject.casefold())
            newest = verdict.observation.last_post_at if verdict is not None else None
            return (
                f"milwatch: channel {name} is fine again (it was {notice.told_before})"
                + (f"; newest post {format_time(newest)}" if newest is not None else "")
            )
        if a.state == "silent":
            return (
                f"milwatch: channel {name} is silent: {a.detail}. Check that it still"
                " exists and that the account can read it (/channels)."
            )
        return f"milwatch: channel {name} cannot be read: {a.detail} (/channels)"


_RECOVERED = {
    "database": "the database can be written again",
    "disk": "disk space is fine again",
    "delivery": "alert delivery is moving again: no alert has waited longer than the limit",
    "connection": "the user account is connected to Telegram again",
    "backfill": "every channel has been read once now",
}
