"""Quiet hits end to end: stored with their score and reasons, never alerted, shown by
/recent, /search and /stats, alerted after an edit that makes them sure; and the offline
tools (`scan`, `eval`, `explain`) that report relevance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, make_post, matcher_from_yaml

from bot.alerts.router import AlertRouter
from bot.cli import main
from bot.commands import CommandHandler
from bot.matching import Morphology
from bot.pipeline import Pipeline
from bot.storage import Store

RULES = """
topics: {withdrawal: troops leaving}
routes: {analysts: default}
defaults: {route: analysts}
concepts:
  pullout: [вывод, вывести]
  war: [войска, фронт, ВСУ, Сирия]
relevance:
  alert_at: 0.5
  signals:
    - name: military context
      words: [war]
      in: post
      weights: [-2, 0, 1]
rules:
  - id: withdrawal.core
    topic: withdrawal
    severity: high
    match: pullout
"""
SURE = "Начался вывод войск из Сирии."  # 2 war words: +1 → 73 %
UNSURE = "Начался вывод средств со счёта."  # none: -2 → 12 %


@pytest.fixture
def pipeline(store: Store, morph: Morphology) -> Pipeline:
    matcher = matcher_from_yaml(RULES, morph)
    return Pipeline(store, lambda: matcher, AlertRouter({"analysts": "console"}, "analysts"))


async def test_a_quiet_hit_is_stored_with_its_reasons_and_not_alerted(store: Store, pipeline: Pipeline) -> None:
    result = await pipeline.ingest(make_post(UNSURE, 1))
    assert (len(result.hits), result.alerts_enqueued, result.quiet) == (1, 0, 1)
    assert await store.due_alerts(FakeClock().now.replace(year=2100)) == []
    (hit,) = await store.recent_hits(10)
    assert hit.quiet and hit.relevance == pytest.approx(0.1192, abs=1e-3)
    assert [(e.name, e.weight, e.note) for e in hit.evidence] == [("military context", -2.0, "0 words in the post")]

    sure = await pipeline.ingest(make_post(SURE, 2))
    assert (sure.alerts_enqueued, sure.quiet) == (1, 0)
    newest, _ = await store.recent_hits(10)
    assert not newest.quiet and newest.relevance == pytest.approx(0.7311, abs=1e-3)
    assert [e.words for e in newest.evidence] == [("войско", "сирия")]


async def test_an_edit_that_makes_a_quiet_hit_sure_alerts_it_once(store: Store, pipeline: Pipeline) -> None:
    await pipeline.ingest(make_post(UNSURE, 7))
    edited = await pipeline.ingest(make_post("Начался вывод войск с фронта в Сирии.", 7, edited=True))
    assert edited.alerts_enqueued == 1
    again = await pipeline.ingest(make_post("Начался вывод войск с фронта в Сирии!", 7, edited=True))
    assert again.alerts_enqueued == 0  # already alerted: not twice
    (hit,) = await store.recent_hits(10)
    assert not hit.quiet


async def test_commands_show_quiet_hits_for_what_they_are(store: Store, pipeline: Pipeline, clock: FakeClock) -> None:
    await pipeline.ingest(make_post(UNSURE, 1))
    await pipeline.ingest(make_post(SURE, 2))
    handler = CommandHandler(store, clock)
    recent = await handler.handle("/recent")
    assert "quiet (relevance 12%)" in recent and "relevance 73%" in recent
    search = await handler.handle("/search вывод")
    assert "withdrawal (withdrawal.core, quiet)" in search and "withdrawal (withdrawal.core)" in search
    stats = await handler.handle("/stats")
    assert "Hits: 2 (1 kept quiet by relevance)" in stats


# -- the offline tools ----------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def post(pid: str, text: str, channel: str = "news") -> dict[str, Any]:
    return {"id": pid, "channel": channel, "date": "2024-12-08T10:00:00Z", "text": text}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_scan_prints_alerts_and_keeps_quiet_hits_out_unless_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rules_file: Path
) -> None:
    posts = write_jsonl(tmp_path / "p.jsonl", [post("1", SURE), post("2", UNSURE), post("3", "Погода.")])
    code, out, _ = run(capsys, "scan", str(posts), "--rules", str(rules_file), "--format", "jsonl")
    assert code == 0
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["id"] == "1" and line["topics"] == ["withdrawal"]
    (hit,) = line["hits"]
    assert hit["alert"] is True and hit["relevance"]["score"] == pytest.approx(0.7311, abs=1e-3)
    assert hit["relevance"]["evidence"][0]["words"] == ["войско", "сирия"]
    code, out, _ = run(capsys, "scan", str(posts), "--rules", str(rules_file), "--format", "jsonl", "--quiet-hits")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["id"], x["topics"], [h["alert"] for h in x["hits"]]) for x in lines] == [
        ("1", ["withdrawal"], [True]),
        ("2", [], [False]),  # quiet: no topic alerted
    ]


def test_eval_scores_with_and_without_marginal_posts_and_rates_every_channel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rules_file: Path
) -> None:
    posts = write_jsonl(tmp_path / "stream.jsonl", [
        post("a", SURE, "war"),
        post("b", UNSURE, "finance"),
        post("c", "Вывод войск из Сирии продолжается.", "war"),
        post("d", "Погода.", "city"),
        post("e", "Вывести войска с фронта, требует Сирия.", "city"),  # unlabelled, alerts
    ])
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"id": "a", "topics": ["withdrawal"]},
        {"id": "b", "topics": []},
        {"id": "c", "topics": ["withdrawal"], "marginal": True},
        {"id": "d", "topics": ["withdrawal"], "marginal": True},  # a marginal miss
    ])
    code, out, err = run(capsys, "eval", str(posts), "--labels", str(labels), "--rules", str(rules_file))
    assert code == 0 and err == ""
    lines = out.splitlines()
    # With marginal posts: a, c found; d missed → R 2/3. Without: only a (and b) → R 1.
    assert lines[0] == "with marginal posts counted as labelled:"
    assert lines[1].split() == ["posts:", "4"]
    assert lines[4].split()[:7] == ["any", "1.000", "0.667", "0.800", "2", "0", "1"]
    assert "  F1(macro) incl. marginal=0.800" in lines
    assert "posts: 5; alerted: 3 (600.00 per 1,000); kept quiet by relevance: 1" in lines
    rates = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ") and "(" in line and " of " in line}
    assert rates == {"war": "1000.00", "city": "500.00", "finance": "0.00"}
    assert any(line.startswith("  e [city] withdrawal 73%: Вывести войска") for line in lines)
    assert lines[-1] == "F1(macro)=1.000"
    # Only some channels: what a fit/check split by channel needs.
    code, out, _ = run(capsys, "eval", str(posts), "--labels", str(labels), "--rules", str(rules_file),
                       "--channels", "finance,city")
    assert "posts: 3; alerted: 1 (333.33 per 1,000); kept quiet by relevance: 1" in out


def test_explain_shows_the_score_and_each_signal(capsys: pytest.CaptureFixture[str], rules_file: Path) -> None:
    code, out, _ = run(capsys, "explain", UNSURE, "--rules", str(rules_file))
    assert code == 1  # nothing would alert
    assert "HIT withdrawal.core → withdrawal (high, route analysts) — quiet: stored, no alert" in out
    assert "    relevance 12% (quiet; alerts at 50%)" in out
    assert "        -2.00 military context (0 words in the post)" in out
    code, out, _ = run(capsys, "explain", SURE, "--rules", str(rules_file))
    assert code == 0 and "        +1.00 military context: войско, сирия (2 words in the post)" in out
