"""Replay sources: JSONL streams and Telegram Desktop exports, with every bad record reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sources import (
    ReadStats,
    SourceProblem,
    count_hint,
    detect_format,
    iter_posts,
    read_jsonl,
    read_labelled,
    read_tdexport,
)


class Problems(list[SourceProblem]):
    """A recording problem sink: the callable the readers report to."""

    def __call__(self, problem: SourceProblem) -> None:
        """Record one problem."""
        self.append(problem)


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write raw lines (already JSON or deliberately not) to a file."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def record(**fields: Any) -> str:
    """One JSONL line from keyword fields."""
    return json.dumps(fields, ensure_ascii=False)


GOOD = {"channel": "syria_watch_demo", "date": "2024-12-14T12:10:00Z", "text": "Колонна ушла"}


# --- JSONL -------------------------------------------------------------------


def test_jsonl_good_lines_become_posts(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "posts.jsonl",
        [
            record(id="a1", **GOOD, topics=["withdrawal"], lang="ru", note="ignored"),
            record(id=42, channel="@other_demo", date="2024-12-14T15:10:00+03:00", text="two"),
        ],
    )
    problems = Problems()
    posts = list(read_jsonl(path, problems))

    assert problems == []
    assert [p.msg_id for p in posts] == ["a1", "42"]  # int ids become text
    assert posts[0].channel == "syria_watch_demo"
    assert posts[0].text == "Колонна ушла"
    assert posts[0].date == datetime(2024, 12, 14, 12, 10, tzinfo=UTC)
    assert posts[1].channel == "other_demo"  # "@" dropped
    assert posts[1].date == datetime(2024, 12, 14, 12, 10, tzinfo=UTC)
    assert posts[1].date.utcoffset() == timedelta(hours=3)  # the offset is kept, not dropped


def test_jsonl_naive_date_is_utc(tmp_path: Path) -> None:
    naive = record(id=1, **{**GOOD, "date": "2024-12-14T12:10:00"})
    path = write_lines(tmp_path / "p.jsonl", [naive])
    (post,) = read_jsonl(path, Problems())
    assert post.date.tzinfo is not None
    assert post.date == datetime(2024, 12, 14, 12, 10, tzinfo=UTC)


def test_jsonl_bad_lines_are_reported_and_the_stream_goes_on(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            record(id=1, **GOOD),  # 1
            '{"id": 2, "channel": "x" "date": 1}',  # 2 broken JSON
            "",  # 3 blank: skipped silently
            record(id=3, channel="x", date="2024-12-14T12:10:00Z"),  # 4 no text
            record(id=4, **{**GOOD, "date": "14.12.2024"}),  # 5 not ISO
            "[1, 2, 3]",  # 6 not an object
            record(id=None, **GOOD),  # 7 null id
            record(id=True, **GOOD),  # 8 bool id
            record(id=9, **{**GOOD, "text": 5}),  # 9 text not a string
            "   ",  # 10 whitespace only
            record(id=10, **GOOD),  # 11
        ],
    )
    problems = Problems()
    stats = ReadStats()
    posts = list(read_jsonl(path, problems, stats))

    assert [p.msg_id for p in posts] == ["1", "10"]
    assert [p.line for p in problems] == [2, 4, 5, 6, 7, 8, 9]
    messages = [p.message for p in problems]
    assert messages[0].startswith("invalid JSON: Expecting ','")
    assert messages[1] == "missing field 'text'"
    assert messages[2] == "'date' is not an ISO date: '14.12.2024'"
    assert messages[3] == "expected a JSON object, got list"
    assert "'id'" in messages[4] and "'id'" in messages[5]
    assert messages[6] == "'text' must be a string, got int"
    assert str(problems[1]) == f"{path}:4: missing field 'text'"
    assert (stats.posts, stats.problems, stats.skipped) == (2, 7, 2)


def test_jsonl_invalid_utf8_costs_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + record(id=1, **GOOD).encode() + b"\n"  # BOM on line 1 is fine
        b'{"id": 2, "text": "\xff\xfe"}\n' + record(id=3, **GOOD).encode() + b"\r\n"
    )
    problems = Problems()
    posts = list(read_jsonl(path, problems))
    assert [p.msg_id for p in posts] == ["1", "3"]
    assert [(p.line, p.message.split(" at ")[0]) for p in problems] == [(2, "not valid UTF-8")]


def test_jsonl_pathological_json_is_one_bad_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            "[" * 100_000 + "]" * 100_000,  # deeper than the decoder's recursion limit
            '{"id": ' + "9" * 5000 + "}",  # longer than Python's int conversion limit
            record(id=1, **GOOD),
        ],
    )
    problems = Problems()
    assert [p.msg_id for p in read_jsonl(path, problems)] == ["1"]
    assert [p.line for p in problems] == [1, 2]
    assert all(p.message.startswith("invalid JSON") for p in problems)


# Lines mixing valid records, JSON values of the wrong shape, and raw bytes (often not UTF-8).
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)
_LINE = st.one_of(
    st.builds(
        lambda i, text, date: record(id=i, channel="c", date=date, text=text).encode(),
        st.integers(0, 10**6),
        st.text(),
        st.sampled_from(["2024-12-14T12:10:00Z", "2024-12-14", "yesterday", ""]),
    ),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.binary().map(lambda raw: raw.replace(b"\n", b"")),
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=8))
def test_jsonl_never_raises_and_accounts_for_every_line(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    problems = Problems()
    stats = ReadStats()
    posts = list(read_jsonl(path, problems, stats))
    assert len(posts) == stats.posts
    assert len(problems) == stats.problems
    assert stats.posts + stats.problems + stats.skipped == len(lines)


def test_jsonl_keeps_line_separator_characters_inside_text(tmp_path: Path) -> None:
    # U+2028 is legal raw inside a JSON string; splitting on it would break the line in two.
    text = "первая\u2028вторая"
    path = write_lines(tmp_path / "p.jsonl", [record(id=1, **{**GOOD, "text": text})])
    problems = Problems()
    (post,) = read_jsonl(path, problems)
    assert post.text == text and problems == []


def test_read_labelled_yields_topics_and_reports_bad_labels(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "dev.jsonl",
        [
            record(id="d1", **GOOD, topics=["withdrawal", "evacuation"]),
            record(id="d2", **GOOD, topics=[]),
            record(id="d3", **GOOD),
            record(id="d4", **GOOD, topics="withdrawal"),
            record(id="d5", **GOOD, expect=["evacuation"]),
        ],
    )
    problems = Problems()
    rows = [(post.msg_id, topics) for post, topics in read_labelled(path, problems)]
    assert rows == [("d1", frozenset({"withdrawal", "evacuation"})), ("d2", frozenset())]
    assert [(p.line, p.message) for p in problems][:2] == [
        (3, "missing field 'topics'"),
        (4, "'topics' must be a list of strings, got 'withdrawal'"),
    ]
    # Another label field can be named, as the seeds do with "expect".
    expect = [(p.msg_id, t) for p, t in read_labelled(path, Problems(), field="expect")]
    assert expect == [("d5", frozenset({"evacuation"}))]


# --- Telegram Desktop export -------------------------------------------------


def td_message(msg_id: int, text: Any, **extra: Any) -> dict[str, Any]:
    """One exported message, with the fields Telegram Desktop writes."""
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "date": "2024-12-14T15:10:00",
        "date_unixtime": "1734189000",  # 2024-12-14T15:10:00Z
        "from": "Syria Watch",
        "from_id": "channel1234567890",
        "text": text,
    }
    message.update(extra)
    return message


def td_chat(chat_id: int, name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One exported chat."""
    return {"name": name, "type": "public_channel", "id": chat_id, "messages": messages}


def write_json(path: Path, document: object, indent: int | None = 1) -> Path:
    """Write a document the way Telegram Desktop does (pretty-printed) unless told otherwise."""
    path.write_text(json.dumps(document, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def test_tdexport_single_chat(tmp_path: Path) -> None:
    messages = [
        {
            "id": 1,
            "type": "service",
            "date": "2024-12-14T15:00:00",
            "action": "create_channel",
            "text": "",
            "text_entities": [],
        },
        td_message(
            2,
            "Колонна вышла из Камышлы",
            text_entities=[{"type": "plain", "text": "Колонна вышла из Камышлы"}],
        ),
        td_message(3, ["Ил-76 ушёл с ", {"type": "link", "text": "Хмеймима"}, " ночью"]),
        td_message(4, "", photo="photos/photo_1.jpg", text_entities=[]),  # media only
        td_message(5, "правка", edited="2024-12-14T16:00:00", forwarded_from="Другой канал"),
    ]
    path = write_json(tmp_path / "result.json", td_chat(1234567890, "Syria Watch", messages))
    problems = Problems()
    stats = ReadStats()
    posts = list(read_tdexport(path, problems, stats))

    assert problems == []
    assert [p.msg_id for p in posts] == ["2", "3", "5"]
    first = posts[0]
    assert first.channel == "1234567890" and first.channel_title == "Syria Watch"
    assert first.date == datetime(2024, 12, 14, 15, 10, tzinfo=UTC)
    assert first.link is None and first.url == "https://t.me/c/1234567890/2"
    assert posts[1].text == "Ил-76 ушёл с Хмеймима ночью"
    assert posts[2].edited and posts[2].forwarded_from == "Другой канал"
    assert not first.edited and first.forwarded_from is None
    assert (stats.posts, stats.skipped, stats.empty) == (3, 1, 1)


def test_tdexport_text_entities_preferred_and_hrefs_flattened(tmp_path: Path) -> None:
    parts = [
        "Эвакуация из ",
        {"type": "text_link", "text": "Дамаска", "href": "https://example.org/x"},
        {"type": "hashtag", "text": "#Сирия"},
    ]
    entities = [
        {"type": "plain", "text": "Эвакуация из "},
        {"type": "text_link", "text": "Дамаска", "href": "https://example.org/x"},
        {"type": "plain", "text": " "},
        {"type": "hashtag", "text": "#Сирия"},
    ]
    chat = td_chat(77, "c", [td_message(1, parts, text_entities=entities), td_message(2, parts)])
    posts = list(read_tdexport(write_json(tmp_path / "result.json", chat), Problems()))
    assert [p.text for p in posts] == ["Эвакуация из Дамаска #Сирия", "Эвакуация из Дамаска#Сирия"]


def test_tdexport_full_export_and_bad_messages(tmp_path: Path) -> None:
    no_id = td_message(0, "без id")
    del no_id["id"]
    document = {
        "about": "Here is the data you requested.",
        "personal_information": {"first_name": "A"},
        "contacts": {"about": "", "list": []},
        "chats": {
            "about": "",
            "list": [
                td_chat(111, "Первый", [td_message(10, "один"), no_id]),
                td_chat(222, "Second", [td_message(20, "two", date_unixtime="soon")]),
                {"name": "no id", "messages": []},
            ],
        },
        "left_chats": {"about": "", "list": [td_chat(333, "Left", [td_message(30, "три")])]},
    }
    path = write_json(tmp_path / "result.json", document)
    problems = Problems()
    posts = list(read_tdexport(path, problems))

    assert [(p.channel, p.channel_title, p.msg_id) for p in posts] == [
        ("111", "Первый", "10"),
        ("333", "Left", "30"),
    ]
    assert [str(p) for p in problems] == [
        f"{path}: chats.list[0]: message #1: missing 'id'",
        (
            f"{path}: chats.list[1]: message #0 (id 20): "
            "'date_unixtime' is not a number of seconds: 'soon'"
        ),
        f"{path}: chats.list[2]: missing 'id' of the chat",
    ]


def test_tdexport_without_unixtime_falls_back_to_date(tmp_path: Path) -> None:
    message = td_message(1, "x")
    del message["date_unixtime"]
    path = write_json(tmp_path / "r.json", td_chat(1, "c", [message]))
    posts = list(read_tdexport(path, Problems()))
    assert posts[0].date == datetime(2024, 12, 14, 15, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{ not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object at the top, got list"),
        ('{"name": "x"}', "neither 'messages' nor 'chats' found"),
    ],
)
def test_tdexport_unreadable_document_is_one_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    problems = Problems()
    assert list(read_tdexport(path, problems)) == []
    assert len(problems) == 1 and problems[0].message.startswith(expected)


# --- format detection and dispatch --------------------------------------------


def test_detect_format(tmp_path: Path) -> None:
    chat = td_chat(1, "c", [td_message(1, "x")])
    full = {
        "about": "x",
        "contacts": {"list": [{"first_name": "a" * 50}] * 40_000},
        "chats": {"list": [chat]},
    }
    cases = {
        "result.json": (chat, 1),  # pretty-printed, as Telegram Desktop writes it
        "minified.json": (chat, None),  # all on one line
        "full.json": (full, 1),  # "chats" only after more than a megabyte of contacts
    }
    for name, (document, indent) in cases.items():
        assert detect_format(write_json(tmp_path / name, document, indent)) == "tdexport", name

    write_lines(tmp_path / "posts.json", [record(id=1, **GOOD), record(id=2, **GOOD)])
    write_lines(tmp_path / "posts.jsonl", [json.dumps(chat)])  # wrong suffix for an export
    (tmp_path / "list.json").write_text("  [1, 2]", encoding="utf-8")
    (tmp_path / "empty.json").write_text("", encoding="utf-8")
    for name in ("posts.json", "posts.jsonl", "list.json", "empty.json"):
        assert detect_format(tmp_path / name) == "jsonl", name


def test_iter_posts_dispatches_and_count_hint_estimates(tmp_path: Path) -> None:
    jsonl = write_lines(tmp_path / "p.jsonl", [record(id=i, **GOOD) for i in range(5)] + ["{bad"])
    export = write_json(
        tmp_path / "result.json", td_chat(9, "c", [td_message(i, f"t{i}") for i in range(1, 4)])
    )
    problems = Problems()
    assert [p.msg_id for p in iter_posts(jsonl, problems)] == ["0", "1", "2", "3", "4"]
    assert [p.line for p in problems] == [6]
    assert [p.channel for p in iter_posts(export, problems)] == ["9", "9", "9"]
    assert count_hint(jsonl) == 6
    assert count_hint(export) == 3

    no_newline = tmp_path / "tail.jsonl"
    no_newline.write_text(record(id=1, **GOOD) + "\n" + record(id=2, **GOOD), encoding="utf-8")
    assert count_hint(no_newline) == 2
