"""The Prometheus endpoint: the demo posts replayed through the counted pipeline and the
outbox, then the endpoint scraped over 127.0.0.1 and its numbers checked against SQLite."""

from __future__ import annotations

import io
import re
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.router import AlertRouter
from bot.alerts.senders import ConsoleSender
from bot.compiled import compiled_matcher
from bot.matching import Morphology
from bot.metrics import CountedPipeline, ServiceCounters, serve_metrics, timed_matchers
from bot.rules import load_rules
from bot.sources.jsonl import read_labelled
from bot.storage import Store

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "posts.jsonl"


def fetch(url: str) -> str:
    """GET the endpoint's text."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return str(response.read().decode("utf-8"))


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET the endpoint; every sample as (name, sorted labels) -> value."""
    text = fetch(url)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


@pytest.fixture
def counters() -> ServiceCounters:
    return ServiceCounters()


@pytest.fixture
def endpoint(counters: ServiceCounters) -> Iterator[str]:
    server = serve_metrics(counters, 0)  # 0: a free port, on 127.0.0.1 by default
    host, port = server.address
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}/metrics"
    finally:
        server.close()


async def test_the_endpoint_serves_the_counters_after_a_replay(
    tmp_path: Path, morph: Morphology, counters: ServiceCounters, endpoint: str
) -> None:
    db = tmp_path / "replay.sqlite3"
    ruleset = load_rules(ROOT / "config" / "rules.yaml")
    matcher = compiled_matcher(ruleset, morph)
    router = AlertRouter({name: "console" for name in ruleset.routes}, "default")
    async with Store.open(db) as store:
        pipeline = CountedPipeline(
            store, timed_matchers(lambda: matcher, counters), router, counters=counters
        )
        dispatcher = AlertDispatcher(
            store, {"console": ConsoleSender(io.StringIO())}, router, store.now
        )
        posts = [post for post, _ in read_labelled(SEEDS, lambda problem: None)]
        for post in posts:
            await pipeline.ingest(post)
            counters.dispatched(await dispatcher.flush())
        for post in posts:  # a second replay stores nothing new
            await pipeline.ingest(post)
        counters.dispatched(await dispatcher.flush())

    metrics = scrape(endpoint)
    # The README's example is this replay's output.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ curl -s 127.0.0.1:9464/metrics | grep -E '", 1)[1].split("```", 1)[0]
    pattern, _, printed = shown.partition("'\n")
    quoted = [line.strip() for line in printed.strip().splitlines()]
    assert len(quoted) == 3
    assert [line for line in fetch(endpoint).splitlines() if re.search(pattern, line)] == quoted
    per_channel = dict(
        rows(db, "SELECT c.username, COUNT(*) FROM posts p JOIN channels c ON c.id = p.channel_id GROUP BY 1")
    )
    assert {
        dict(labels)["channel"]: value
        for (name, labels), value in metrics.items()
        if name == "milwatch_posts_ingested_total"
    } == per_channel
    assert sum(per_channel.values()) == len(posts) == 68

    hits = {
        labels: value for (name, labels), value in metrics.items() if name == "milwatch_hits_total"
    }
    stored = rows(db, "SELECT rule_id, topic, quiet, COUNT(*) FROM hits GROUP BY 1, 2, 3")
    assert hits == {
        (("outcome", "quiet" if quiet else "alerted"), ("rule", rule), ("topic", topic)): n
        for rule, topic, quiet, n in stored
    }
    assert {dict(k)["outcome"] for k in hits} == {"alerted", "quiet"}  # both kinds occur

    (alerts,) = rows(db, "SELECT COUNT(*) FROM alerts")[0]
    assert metrics[("milwatch_alerts_total", (("event", "queued"),))] == alerts
    assert metrics[("milwatch_alerts_total", (("event", "sent"),))] == alerts
    assert metrics[("milwatch_alerts_total", (("event", "failed"),))] == 0
    # Each post's text went through the matcher once: the replayed copies were unchanged.
    assert metrics[("milwatch_match_seconds_count", ())] == len(posts)
    assert metrics[("milwatch_match_seconds_bucket", (("le", "+Inf"),))] == len(posts)
    assert metrics[("milwatch_match_seconds_sum", ())] > 0


def test_gauges_and_channel_states_appear_once_set(
    counters: ServiceCounters, endpoint: str
) -> None:
    before = scrape(endpoint)
    assert ("milwatch_outbox_pending", ()) not in before  # unknown until the first check
    assert before[("milwatch_reconnects_total", ())] == 0
    counters.set_gauges({"outbox_pending": 3, "outbox_oldest_age_seconds": 120.5})
    counters.set_channels({"front": "silent"}, {"front": 7200.0})
    counters.set_listener(reconnects=2, flood_wait_seconds=30)
    counters.flood_wait("sender", 12)
    after = scrape(endpoint)
    assert after[("milwatch_outbox_pending", ())] == 3
    assert after[("milwatch_outbox_oldest_age_seconds", ())] == 120.5
    assert after[("milwatch_channel_state", (("channel", "front"), ("state", "silent")))] == 1
    assert after[("milwatch_channel_last_post_age_seconds", (("channel", "front"),))] == 7200
    assert after[("milwatch_reconnects_total", ())] == 2
    assert after[("milwatch_flood_wait_seconds_total", (("side", "listener"),))] == 30
    assert after[("milwatch_flood_wait_seconds_total", (("side", "sender"),))] == 12


def test_a_busy_port_is_a_clear_error(counters: ServiceCounters, endpoint: str) -> None:
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        serve_metrics(counters, port)
