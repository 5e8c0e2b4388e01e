"""`milwatch scan` never aborts on one post: odd dates render, lone surrogates are
replaced (and reported), a post that cannot be shown is reported and the scan goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.alerts.card import build_card, format_time, render_text
from bot.domain import Post
from bot.matching import Matcher, Morphology, build_matcher
from bot.rules import load_rules
from bot.scan import ScanOptions, scan_one, scan_posts
from bot.sources import SourceProblem, iter_posts

ROOT = Path(__file__).resolve().parents[1]
WITHDRAWAL = "Россия выводит войска из Сирии."


@pytest.fixture(scope="module")
def matcher(morph: Morphology) -> Matcher:
    return build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)


@pytest.mark.parametrize(
    "iso, shown",
    [
        ("2024-05-01T12:30:00+03:00", "2024-05-01 09:30 UTC"),
        ("0001-01-01T00:00:00+05:00", "0001-01-01 00:00 UTC+05:00"),  # year 0 in UTC
        ("9999-12-31T23:59:59-05:00", "9999-12-31 23:59 UTC-05:00"),  # year 10000 in UTC
        ("9999-12-31T23:59:59-05:30", "9999-12-31 23:59 UTC-05:30"),
        ("0001-01-01T00:00:00-05:30", "0001-01-01 05:30 UTC"),  # no "1-01-01" from strftime
    ],
)
def test_odd_dates_render(iso: str, shown: str, matcher: Matcher) -> None:
    moment = datetime.fromisoformat(iso)
    assert format_time(moment) == shown
    post = Post("frontnews", "1", moment, WITHDRAWAL)
    (hit, *_) = matcher.match(WITHDRAWAL)
    assert shown in render_text(build_card(post, hit), color=False)
    result = scan_one(matcher, post, ScanOptions())
    assert result.error is None and shown in result.output


def test_a_post_that_cannot_be_shown_is_reported_and_the_scan_goes_on(matcher: Matcher) -> None:
    good = Post("frontnews", "1", datetime(2024, 5, 1, tzinfo=UTC), WITHDRAWAL)
    # A source that hands over something that is no date (a bug in a reader, say).
    broken = Post("frontnews", "2", "yesterday", WITHDRAWAL)  # type: ignore[arg-type]
    results = list(scan_posts([good, broken, good], matcher, ScanOptions()))
    assert [r.error is None for _, r in results] == [True, False, True]
    assert results[1][1].error is not None and results[1][1].error.startswith("post frontnews/2: ")
    assert results[0][1].output and results[2][1].output


def test_lone_surrogates_in_the_output_are_replaced_and_reported(matcher: Matcher) -> None:
    moment = datetime(2024, 5, 1, tzinfo=UTC)
    in_text = Post("frontnews", "3", moment, WITHDRAWAL + " \ud83d", channel_title="Фронт \ude00")
    in_channel = Post("front\ud83d", "3", moment, WITHDRAWAL)
    for post, options in ((in_text, ScanOptions()), (in_channel, ScanOptions(format="jsonl"))):
        result = scan_one(matcher, post, options)
        assert result.hits and result.error == f"post {post.channel}/3: lone surrogates replaced with U+FFFD"
        result.output.encode("utf-8")  # writable
        assert "\ufffd" in result.output


def test_a_reader_replaces_lone_surrogates_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    # json.dumps escapes the lone surrogate as "\ud83d", as broken exporters write it.
    record = {"id": 1, "channel": "frontnews", "date": "2024-05-01T12:00:00Z", "text": WITHDRAWAL + " \ud83d"}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    problems: list[SourceProblem] = []
    (post,) = iter_posts(path, problems.append)
    assert post.text == WITHDRAWAL + " \ufffd"
    assert [str(p) for p in problems] == [
        f"{path}:1: 1 lone surrogate(s) (half an emoji) replaced with U+FFFD; the post is read"
    ]


def test_the_scan_of_a_hostile_file_completes(tmp_path: Path) -> None:
    """A real `milwatch scan` process, real stdout: every good post printed, every bad one
    reported by line, exit 0."""
    good = {"id": 1, "channel": "frontnews", "date": "2024-05-01T12:00:00Z", "text": WITHDRAWAL}
    lines = [
        json.dumps(good),
        json.dumps({**good, "id": 2, "date": "0001-01-01T00:00:00+05:00"}),
        json.dumps({**good, "id": 3, "text": WITHDRAWAL + " \ud83d"}),
        json.dumps({**good, "id": 4, "text": WITHDRAWAL + " " + "вывод войск " * 90_000}),  # 1 MB
        '{"id": 5, "channel": "frontnews", "date": "2024-05-01T12:00:00Z", "text": "вывод',  # cut
        json.dumps({**good, "id": 6, "date": "9999-12-31T23:59:59-05:00"}),
        json.dumps({**good, "id": 7, "text": "\x00\x1b[31m" + WITHDRAWAL}),
        json.dumps({**good, "id": 8}),
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "scan", str(path), "--rules", str(ROOT / "config" / "rules.yaml"),
         "--format", "jsonl"],
        capture_output=True, cwd=ROOT, timeout=120, check=False,
    )
    err = done.stderr.decode("utf-8")
    assert done.returncode == 0, err
    assert "Traceback" not in err
    printed = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [p["id"] for p in printed] == ["1", "2", "3", "4", "6", "7", "8"]
    assert f"{path}:3: 1 lone surrogate(s)" in err
    assert f"{path}:5: invalid JSON" in err
    assert "scanned 7 posts" in err
