"""The demo seeds: readable by the replay reader, and varied enough to be a fair demo."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bot.sources import SourceProblem, detect_format, read_labelled

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "posts.jsonl"
TOPICS = {"withdrawal", "evacuation"}


def test_seeds_parse_cleanly_and_are_varied() -> None:
    problems: list[SourceProblem] = []
    rows = list(read_labelled(SEEDS, problems.append))

    assert problems == []
    assert detect_format(SEEDS) == "jsonl"
    assert len(rows) >= 40
    assert len({post.channel for post, _ in rows}) >= 5
    assert all(post.channel.endswith("_demo") for post, _ in rows)
    labels = [expect for _, expect in rows]
    assert set().union(*labels) == TOPICS
    assert sum(1 for expect in labels if not expect) >= 0.4 * len(rows)
    # ids unique per channel, dates inside the story's fortnight and in order
    assert len({(post.channel, post.msg_id) for post, _ in rows}) == len(rows)
    dates = [post.date for post, _ in rows]
    assert dates == sorted(dates)
    assert dates[0].isoformat() >= "2024-12-06" and dates[-1].isoformat() < "2024-12-21"


def test_seeds_cover_all_three_languages() -> None:
    with SEEDS.open(encoding="utf-8") as fh:
        langs = Counter(json.loads(line)["lang"] for line in fh if line.strip())
    assert set(langs) == {"ru", "uk", "en"}


def test_seeds_contain_the_evasions_the_matcher_must_see_through() -> None:
    problems: list[SourceProblem] = []
    texts = [post.text for post, _ in read_labelled(SEEDS, problems.append)]
    joined = "\n".join(texts)
    assert "выв\u006fд" in joined  # Latin "o" inside a Cyrillic word
    assert "\u200b" in joined
    assert "evakuatsiya" in joined
    assert "эвакуацыя" in joined
    assert "-\n" in joined  # a word hyphenated across a line break
