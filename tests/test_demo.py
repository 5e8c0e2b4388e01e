"""The demo end to end: posts in → exactly the expected alerts out, stored in SQLite."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "config" / "rules.yaml"

POSTS = [
    # A pullout with a Latin "о" inside "вывод": one alert from the pullout rule.
    {"id": "1", "channel": "frontline_demo", "date": "2024-12-10T08:00:00Z",
     "text": "Начался вывoд наших войск с северных точек, колонны идут к побережью.",
     "topics": ["withdrawal"]},
    # A fundraising report: "вывод средств" must not alert.
    {"id": "2", "channel": "frontline_demo", "date": "2024-12-10T09:00:00Z",
     "text": "Отчёт по сбору: вывод средств на счёт поставщика прошёл, дроны оплачены.",
     "topics": []},
    # A flood evacuation: not wanted.
    {"id": "3", "channel": "city_news_demo", "date": "2024-12-10T10:00:00Z",
     "text": "Паводок: жителей прибрежных улиц эвакуируют в школы, дамба под угрозой.",
     "topics": []},
    # An embassy evacuation in Ukrainian.
    {"id": "4", "channel": "ua_watch_demo", "date": "2024-12-10T11:00:00Z",
     "text": "Росія евакуює персонал посольства з Дамаска через ліванський кордон.",
     "topics": ["evacuation"]},
]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_demo_replays_posts_into_alerts_and_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = _write(tmp_path / "posts.jsonl", POSTS)
    db = tmp_path / "demo.sqlite3"
    code = main(["demo", "--seeds", str(seeds), "--db", str(db), "--rules", str(RULES)])
    out = capsys.readouterr().out
    assert code == 0
    # Cards: the highlighted words are the original ones, homoglyph included.
    assert "[[вывoд]]" in out
    assert "https://t.me/frontline_demo/1" in out
    assert "https://t.me/ua_watch_demo/4" in out
    assert "frontline_demo/2" not in out and "city_news_demo/3" not in out
    assert "— /recent —" in out
    assert "replayed again: 0 new alerts" in out
    assert "matcher agrees with the seed labels on 4/4 posts" in out
    # Channel health as of the newest post, worst first; a chart a newcomer can open.
    health = out.split("— /channels, as of the newest post replayed (2024-12-10 11:00 UTC) —\n")[1]
    assert health.startswith("3 channel(s), worst first: 0 error, 0 silent, 0 quiet, 3 ok\n")
    chart = tmp_path / "demo-stats.png"
    assert f"chart: {chart} (hits per day per topic" in out
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    topics = _rows(db, "SELECT p.msg_id, h.topic FROM hits h JOIN posts p ON p.id = h.post_id")
    assert {(m, t) for m, t in topics} == {("1", "withdrawal"), ("4", "evacuation")}
    statuses = _rows(db, "SELECT status, COUNT(*) FROM alerts GROUP BY status")
    assert statuses == [("sent", len(topics))]
    assert _rows(db, "SELECT COUNT(*) FROM posts") == [(4,)]
    assert _rows(db, "SELECT COUNT(*) FROM ruleset_versions") == [(1,)]


def test_demo_twice_on_same_posts_gives_same_alerts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = _write(tmp_path / "posts.jsonl", POSTS)
    db = tmp_path / "demo.sqlite3"
    args = ["demo", "--seeds", str(seeds), "--db", str(db), "--rules", str(RULES)]
    assert main(args) == 0
    first = _rows(db, "SELECT COUNT(*) FROM alerts")
    capsys.readouterr()
    assert main(args) == 0
    assert _rows(db, "SELECT COUNT(*) FROM alerts") == first


def test_demo_refuses_to_start_on_broken_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = _write(tmp_path / "posts.jsonl", POSTS)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "topics: {withdrawal: x}\nconcepts:\n  pullout: [вывод]\nrules:\n"
        "  - id: r1\n    topic: withdrawal\n    match: pullout NEAR/5 forcez\n",
        encoding="utf-8",
    )
    db = tmp_path / "demo.sqlite3"
    code = main(["demo", "--seeds", str(seeds), "--db", str(db), "--rules", str(rules)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{rules}:7:" in err and "unknown concept 'forcez'" in err
    assert not db.exists()


def test_demo_on_shipped_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite3"
    code = main(["demo", "--seeds", str(ROOT / "seeds" / "posts.jsonl"), "--db", str(db), "--rules", str(RULES)])
    out = capsys.readouterr().out
    assert code == 0
    assert "0 bad input line(s)" in out
    (alerts,) = _rows(db, "SELECT COUNT(*) FROM alerts")[0]
    assert alerts >= 20
    # One card per post with hits, however many rules it hit, numbered as printed; the
    # summary counts the same things.
    # Posts whose every hit the relevance stage kept quiet are stored, not printed.
    numbers = [int(n) for n in re.findall(r"^--- card (\d+)", out, re.MULTILINE)]
    (posts_hit, hits) = _rows(db, "SELECT COUNT(DISTINCT post_id), COUNT(*) FROM hits")[0]
    (alerted,) = _rows(db, "SELECT COUNT(DISTINCT post_id) FROM hits WHERE quiet = 0")[0]
    assert numbers == list(range(1, alerted + 1)) and hits > posts_hit > alerted > 0
    assert (
        f"summary: 68 posts read, {posts_hit} with hits ({hits} rule hits), {alerted} cards printed, "
        f"{posts_hit - alerted} kept quiet;"
    ) in out
    # /recent lists posts too: five posts, not five (post, rule) pairs.
    recent = out.split("— /recent —", 1)[1].split("\nsummary:", 1)[0]
    assert recent.splitlines()[1] == "Latest 5 post(s) with hits:"
    assert len(set(re.findall(r"https://t\.me/\S+", recent))) == 5


def _interactive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                 typed: str) -> str:
    """Run `demo --interactive` with typed as the keyboard; what it printed after the replay."""
    seeds = _write(tmp_path / "posts.jsonl", POSTS)
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    code = main(["demo", "--interactive", "--seeds", str(seeds), "--db", str(tmp_path / "demo.sqlite3"),
                 "--rules", str(RULES)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.split("Type analyst commands", 1)[1]


def test_interactive_demo_answers_analyst_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty line (Enter pressed once too often) does not end the session.
    tail = _interactive(tmp_path, monkeypatch, capsys, "/search посольства\n\n/stats\n/nonsense\n")
    assert "ua_watch_demo" in tail  # /search found the embassy post
    assert "withdrawal" in tail and "evacuation" in tail  # /stats per topic
    assert "/recent" in tail  # the unknown command answer lists the commands
    assert "Ctrl-D or /quit ends the session" in tail


def test_interactive_demo_quits_on_quit_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = _interactive(tmp_path, monkeypatch, capsys, "\n/quit\n/stats\n")
    assert "Posts read" not in tail  # /stats came after /quit


def test_interactive_demo_runs_a_backtest_its_help_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = _interactive(tmp_path, monkeypatch, capsys, "/help\n/rule backtest demo-rules.yaml\n")
    assert "/rule backtest" in tail.split("milwatch>", 2)[1]  # listed by /help
    assert "not available here" not in tail
    assert "Backtest over " in tail and "Hits: " in tail
