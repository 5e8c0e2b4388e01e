"""What the running service counts, for its health checks and an opt-in Prometheus endpoint.

ServiceCounters is plain Python, always on and cheap: the pipeline, the dispatcher, the
rate limiter and the health loop feed it, and the pipeline health reads it. Only when
METRICS_PORT is set does serve_metrics() import prometheus-client and expose the
counters over HTTP (bound to 127.0.0.1 unless METRICS_ADDR says otherwise). The HTTP
server runs in a thread of its own, so counters are copied under a lock.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.alerts.ratelimit import RateLimiter
from bot.domain import Hit, Post
from bot.pipeline import IngestResult, MatcherLike, Pipeline

logger = logging.getLogger(__name__)

# Seconds; a post is matched in well under a millisecond, a pathological one in more.
MATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# SQLite's words for "the database cannot be written", as they reach an IngestResult.
STORAGE_ERRORS = (
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "unable to open database",
    "database disk image is malformed",
    "no space left",
)


def storage_error(error: str | None) -> bool:
    """Whether an ingest error says the database cannot be written (not a bad post)."""
    return error is not None and any(words in error.lower() for words in STORAGE_ERRORS)


@dataclass
class Histogram:
    """Counts of observations per upper bound, their sum and count (Prometheus style)."""

    bounds: tuple[float, ...] = MATCH_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(MATCH_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it), ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(frozen=True)
class CountersSnapshot:
    """A consistent copy of the counters at one moment."""

    posts: dict[str, int]
    hits: dict[tuple[str, str, str], int]
    alerts: dict[str, int]
    flood_wait: dict[str, float]
    rules_reloads: dict[str, int]
    reconnects: int
    ingest_errors: int
    match: Histogram
    gauges: dict[str, float]
    channel_states: dict[str, str]
    channel_ages: dict[str, float]


class ServiceCounters:
    """Counts since the service started, plus gauges the health loop sets."""

    def __init__(self) -> None:
        """Everything at zero."""
        self._lock = threading.Lock()
        self._posts: Counter[str] = Counter()
        self._hits: Counter[tuple[str, str, str]] = Counter()
        self._alerts: Counter[str] = Counter()
        self._flood_wait: dict[str, float] = {}
        self._rules_reloads: Counter[str] = Counter()
        self._reconnects = 0
        self._ingest_errors = 0
        self._match = Histogram()
        self._gauges: dict[str, float] = {}
        self._channel_states: dict[str, str] = {}
        self._channel_ages: dict[str, float] = {}
        # The last time the database refused a write, and why; cleared by the next
        # post stored. Read by the pipeline health ("the database cannot be written").
        self.storage_error: tuple[datetime, str] | None = None

    # -- fed by the service -----------------------------------------------------

    def ingested(self, post: Post, result: IngestResult, now: datetime) -> None:
        """Count one ingest: a new post, its hits by outcome, queued alerts, or an error."""
        with self._lock:
            if result.error is not None:
                self._ingest_errors += 1
                if storage_error(result.error):
                    self.storage_error = (now, result.error)
                return
            if result.post_id is not None:
                self.storage_error = None  # the database took a write again
            if result.new_post:
                self._posts[post.channel] += 1
            for rule, topic, outcome in result.outcomes:
                self._hits[(rule, topic, outcome)] += 1
            self._alerts["queued"] += result.alerts_enqueued

    def dispatched(self, report: Any) -> None:
        """Count one flush of the outbox (a DispatchReport)."""
        with self._lock:
            for event in ("sent", "failed", "retried", "muted", "reconciled"):
                self._alerts[event] += int(getattr(report, event, 0))

    def flood_wait(self, side: str, seconds: float) -> None:
        """Telegram asked to wait: side is 'listener' (reading) or 'sender' (alerts)."""
        with self._lock:
            self._flood_wait[side] = self._flood_wait.get(side, 0.0) + max(seconds, 0.0)

    def matched(self, seconds: float) -> None:
        """Time the matcher spent on one post."""
        with self._lock:
            self._match.observe(seconds)

    def rules_reloaded(self, ok: bool) -> None:
        """A rules file change was loaded (ok) or refused."""
        with self._lock:
            self._rules_reloads["ok" if ok else "failed"] += 1

    def set_listener(self, reconnects: int, flood_wait_seconds: float) -> None:
        """The listener's own totals (it counts reconnects and its flood waits itself)."""
        with self._lock:
            self._reconnects = reconnects
            self._flood_wait["listener"] = flood_wait_seconds

    def set_gauges(self, values: Mapping[str, float]) -> None:
        """Outbox size and age, dead letters, free disk: the health loop's latest figures."""
        with self._lock:
            self._gauges.update(values)

    def set_channels(self, states: Mapping[str, str], ages: Mapping[str, float]) -> None:
        """Each channel's health state and the age of its newest post (seconds)."""
        with self._lock:
            self._channel_states = dict(states)
            self._channel_ages = dict(ages)

    # -- read -----------------------------------------------------------------

    def snapshot(self) -> CountersSnapshot:
        """A copy of everything, taken under the lock (safe from the metrics thread)."""
        with self._lock:
            match = Histogram(self._match.bounds, list(self._match.counts))
            match.total, match.count = self._match.total, self._match.count
            return CountersSnapshot(
                posts=dict(self._posts),
                hits=dict(self._hits),
                alerts=dict(self._alerts),
                flood_wait=dict(self._flood_wait),
                rules_reloads=dict(self._rules_reloads),
                reconnects=self._reconnects,
                ingest_errors=self._ingest_errors,
                match=match,
                gauges=dict(self._gauges),
                channel_states=dict(self._channel_states),
                channel_ages=dict(self._channel_ages),
            )


# -- feeding the counters without changing the parts being counted -----------------


class TimedMatcher:
    """A matcher that reports how long each match took."""

    def __init__(self, inner: MatcherLike, counters: ServiceCounters) -> None:
        """Wrap inner; counters receives the times."""
        self._inner = inner
        self._counters = counters

    @property
    def version(self) -> str:
        """The wrapped matcher's rules version."""
        return self._inner.version

    def match(self, text: str) -> list[Hit]:
        """Match and time it."""
        started = time.perf_counter()
        try:
            return self._inner.match(text)
        finally:
            self._counters.matched(time.perf_counter() - started)


def timed_matchers(
    source: Callable[[], MatcherLike], counters: ServiceCounters
) -> Callable[[], MatcherLike]:
    """A matcher source (as the pipeline takes) whose matchers are timed."""
    return lambda: TimedMatcher(source(), counters)


class CountedPipeline(Pipeline):
    """The pipeline, counting every ingest (live posts and retries alike)."""

    def __init__(self, *args: Any, counters: ServiceCounters, **kwargs: Any) -> None:
        """Pipeline's arguments, plus the counters to feed."""
        super().__init__(*args, **kwargs)
        self.counters = counters

    async def ingest(self, post: Post) -> IngestResult:
        """Pipeline.ingest, counted."""
        result = await super().ingest(post)
        self.counters.ingested(post, result, self._clock())
        return result


class CountedRateLimiter(RateLimiter):
    """The rate limiter, counting the flood waits Telegram imposes on the alert sender."""

    def __init__(self, *args: Any, counters: ServiceCounters, **kwargs: Any) -> None:
        """RateLimiter's arguments, plus the counters to feed."""
        super().__init__(*args, **kwargs)
        self._counters = counters

    def penalise(self, chat: str | None, seconds: float) -> None:
        """RateLimiter.penalise, counted."""
        self._counters.flood_wait("sender", seconds)
        super().penalise(chat, seconds)


# -- the Prometheus endpoint ---------------------------------------------------------


class MetricsServer:
    """The running HTTP endpoint; close() stops it."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        """Wrap what prometheus-client started."""
        self._server = server
        self._thread = thread

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) it listens on (the port the system chose, for port 0)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(counters: ServiceCounters, port: int, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve the counters at http://addr:port/metrics (port 0: any free port)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(counters))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(server, thread)


class _Collector:
    """Turns a snapshot of the counters into Prometheus metric families at each scrape."""

    def __init__(self, counters: ServiceCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        s = self._counters.snapshot()
        posts = CounterMetricFamily(
            "milwatch_posts_ingested", "New posts stored, per channel.", labels=["channel"]
        )
        for channel, n in sorted(s.posts.items()):
            posts.add_metric([channel], n)
        yield posts
        hits = CounterMetricFamily(
            "milwatch_hits",
            "Hits recorded, per rule and topic; outcome: alerted, quiet (relevance) or muted.",
            labels=["rule", "topic", "outcome"],
        )
        for (rule, topic, outcome), n in sorted(s.hits.items()):
            hits.add_metric([rule, topic, outcome], n)
        yield hits
        alerts = CounterMetricFamily(
            "milwatch_alerts",
            "Alerts queued, sent, failed (given up), retried, muted, or found already sent.",
            labels=["event"],
        )
        for event in ("queued", "sent", "failed", "retried", "muted", "reconciled"):
            alerts.add_metric([event], s.alerts.get(event, 0))
        yield alerts
        flood = CounterMetricFamily(
            "milwatch_flood_wait_seconds",
            "Seconds Telegram asked to wait, reading channels (listener) or sending (sender).",
            labels=["side"],
        )
        for side in ("listener", "sender"):
            flood.add_metric([side], s.flood_wait.get(side, 0.0))
        yield flood
        yield CounterMetricFamily(
            "milwatch_reconnects", "Reconnects of the user account.", value=s.reconnects
        )
        yield CounterMetricFamily(
            "milwatch_ingest_errors", "Posts that failed to store (retried).", value=s.ingest_errors
        )
        reloads = CounterMetricFamily(
            "milwatch_rules_reloads", "Rules file changes loaded or refused.", labels=["result"]
        )
        for result in ("ok", "failed"):
            reloads.add_metric([result], s.rules_reloads.get(result, 0))
        yield reloads
        match = HistogramMetricFamily(
            "milwatch_match_seconds", "Time the matcher spends on one post."
        )
        match.add_metric([], s.match.cumulative(), s.match.total)
        yield match
        for name, help_text in _GAUGES.items():
            if name in s.gauges:
                yield GaugeMetricFamily(f"milwatch_{name}", help_text, value=s.gauges[name])
        state = GaugeMetricFamily(
            "milwatch_channel_state",
            "1 for each channel's current health state (ok, quiet, silent, error).",
            labels=["channel", "state"],
        )
        for channel, current in sorted(s.channel_states.items()):
            state.add_metric([channel, current], 1)
        yield state
        age = GaugeMetricFamily(
            "milwatch_channel_last_post_age_seconds",
            "Seconds since each channel's newest post.",
            labels=["channel"],
        )
        for channel, seconds in sorted(s.channel_ages.items()):
            age.add_metric([channel], seconds)
        yield age


_GAUGES = {
    "outbox_pending": "Alerts waiting in the outbox.",
    "outbox_in_doubt": "Waiting alerts whose earlier send was interrupted.",
    "outbox_oldest_age_seconds": "Age of the oldest waiting alert (0 when none wait).",
    "dead_letters": "Posts that failed to store too often and wait for `milwatch replay`.",
    "disk_free_bytes": "Free space where the database lives.",
}
