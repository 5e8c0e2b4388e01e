"""Posts from a JSON Lines file: one object per line, read as a stream, bad lines reported."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.domain import Post

_REQUIRED = ("id", "channel", "date", "text")
_PREVIEW = 60  # characters of an offending value quoted back in a problem message


@dataclass(frozen=True)
class SourceProblem:
    """Something wrong with one line or message of a source file; the rest is still read."""

    path: str
    line: int | None  # 1-based line number; None when `message` itself says where
    message: str

    def __str__(self) -> str:
        """`file:line: message`, the form editors and CI logs turn into links."""
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class ReadStats:
    """Counters a reader fills in while it runs, for the summary line after an import."""

    posts: int = 0  # posts yielded
    problems: int = 0  # lines/messages reported as problems and skipped
    skipped: int = 0  # records skipped on purpose: blank lines, service messages
    empty: int = 0  # messages skipped because they carry no text (photos, stickers, polls)


_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_FIELDS = ("text", "channel", "msg_id", "channel_title", "link", "forwarded_from")


def without_surrogates(post: Post) -> tuple[Post, int]:
    """The post with lone surrogates replaced by U+FFFD, and how many there were.

    JSON can escape half of an emoji ("\\ud83d" alone, from a cut or a broken
    exporter); such a string can be neither written out as UTF-8 nor stored.
    """
    changes: dict[str, Any] = {}
    count = 0
    for name in _TEXT_FIELDS:
        value = getattr(post, name)
        if value and not value.isascii():
            fixed, n = _SURROGATE.subn("\ufffd", value)
            if n:
                changes[name] = fixed
                count += n
    return (replace(post, **changes), count) if changes else (post, 0)


def surrogate_note(count: int) -> str:
    """The problem message for a post whose lone surrogates were replaced."""
    return f"{count} lone surrogate(s) (half an emoji) replaced with U+FFFD; the post is read"


class RecordError(ValueError):
    """A record that parsed as JSON but cannot become a post; the message names the field."""


def json_problem(exc: json.JSONDecodeError) -> str:
    """'invalid JSON: <what> at column N' (json's own "… starting at" loses its "at")."""
    return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def _preview(value: object) -> str:
    """A short repr of a bad value, so one huge field cannot flood the problem log."""
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


def parse_date(value: object, field: str = "date") -> datetime:
    """An ISO 8601 string ("Z", an offset, or naive meaning UTC) as an aware datetime."""
    if not isinstance(value, str):
        raise RecordError(f"{field!r} is not an ISO date: {_preview(value)}")
    raw = value.strip()
    # fromisoformat() accepts "Z" since 3.11; lower-case "z" shows up in hand-written files.
    if raw.endswith("z"):
        raw = raw[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise RecordError(f"{field!r} is not an ISO date: {_preview(value)}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed


def _text_field(record: dict[str, Any], name: str, *, allow_empty: bool) -> str:
    """A required string field, with a message naming it when absent or of the wrong type."""
    if name not in record:
        raise RecordError(f"missing field {name!r}")
    value = record[name]
    if not isinstance(value, str):
        raise RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError(f"{name!r} is empty")
    return value


def _optional_str(record: dict[str, Any], name: str) -> str | None:
    """An optional string field: absent or null gives None, any other type is an error."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    return value or None


def _as_object(value: object) -> dict[str, Any]:
    """The decoded line as a JSON object, or a RecordError saying what it is instead."""
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {type(value).__name__}")
    return value


def record_to_post(value: object) -> Post:
    """Turn one decoded JSON object into a Post, raising RecordError naming what is wrong."""
    record = _as_object(value)
    missing = [name for name in _REQUIRED if name not in record]
    if missing:
        raise RecordError(", ".join(f"missing field {name!r}" for name in missing))

    raw_id = record["id"]
    # bool is an int subclass; `true` as an id is a data error, not message 1.
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise RecordError(f"'id' must be a string or an integer, got {type(raw_id).__name__}")
    msg_id = str(raw_id).strip()
    if not msg_id:
        raise RecordError("'id' is empty")

    # Post.channel is the username without "@"; people paste it either way.
    channel = _text_field(record, "channel", allow_empty=False).strip().lstrip("@")
    if not channel:
        raise RecordError("'channel' is empty")
    date = parse_date(record["date"])
    text = _text_field(record, "text", allow_empty=True)

    edited = record.get("edited", False)
    if not isinstance(edited, bool):
        raise RecordError(f"'edited' must be true or false, got {_preview(edited)}")
    return Post(
        channel=channel,
        msg_id=msg_id,
        date=date,
        text=text,
        channel_title=_optional_str(record, "channel_title"),
        link=_optional_str(record, "link"),
        forwarded_from=_optional_str(record, "forwarded_from"),
        edited=edited,
    )


def iter_records(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, object]]:
    """Yield (line number, decoded JSON) per non-blank line; undecodable lines go to `problems`."""
    name = str(path)
    counters = stats if stats is not None else ReadStats()
    # Binary mode: one bad byte sequence must cost one line, not abort the whole file,
    # and only b"\n" splits lines (text mode would also split on U+2028 inside a post).
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a BOM left by Windows editors is not part of the JSON
            if not raw.strip():
                counters.skipped += 1
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                counters.problems += 1
                problems(SourceProblem(name, number, f"not valid UTF-8 at byte {exc.start}"))
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                counters.problems += 1
                problems(SourceProblem(name, number, json_problem(exc)))
                continue
            except (ValueError, RecursionError) as exc:
                # json raises these instead for 5,000-digit numbers and absurdly deep
                # nesting: still one bad line, not a dead import.
                counters.problems += 1
                problems(SourceProblem(name, number, f"invalid JSON: {exc}"))
                continue
            yield number, value


def read_jsonl(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    stats: ReadStats | None = None,
) -> Iterator[Post]:
    """Stream the posts of a JSONL file; every bad line is reported as file:line and skipped."""
    counters = stats if stats is not None else ReadStats()
    for number, record in iter_records(path, problems, counters):
        try:
            post = record_to_post(record)
        except RecordError as exc:
            counters.problems += 1
            problems(SourceProblem(str(path), number, str(exc)))
            continue
        post, replaced = without_surrogates(post)
        if replaced:
            problems(SourceProblem(str(path), number, surrogate_note(replaced)))
        counters.posts += 1
        yield post


def _topics(record: dict[str, Any], field: str) -> frozenset[str]:
    """The label list of a labelled record, which must be a list of strings."""
    if field not in record:
        raise RecordError(f"missing field {field!r}")
    value = record[field]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RecordError(f"{field!r} must be a list of strings, got {_preview(value)}")
    return frozenset(t.strip() for t in value if t.strip())


def read_labelled(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    field: str = "topics",
    stats: ReadStats | None = None,
) -> Iterator[tuple[Post, frozenset[str]]]:
    """Stream (post, expected topics) pairs from a labelled JSONL file (labels in `field`)."""
    counters = stats if stats is not None else ReadStats()
    for number, record in iter_records(path, problems, counters):
        try:
            post = record_to_post(record)
            topics = _topics(_as_object(record), field)
        except RecordError as exc:
            counters.problems += 1
            problems(SourceProblem(str(path), number, str(exc)))
            continue
        post, replaced = without_surrogates(post)
        if replaced:
            problems(SourceProblem(str(path), number, surrogate_note(replaced)))
        counters.posts += 1
        yield post, topics


def read_evaluation(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    labels: dict[str, tuple[frozenset[str], bool]] | None = None,
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, Post, frozenset[str] | None, bool]]:
    """Stream (line, post, expected topics or None when unlabelled, marginal) from a JSONL file:
    labels from each record's `topics` (and `marginal`) or, when given, from `labels`
    by post id."""
    counters = stats if stats is not None else ReadStats()
    for number, record in iter_records(path, problems, counters):
        try:
            post = record_to_post(record)
            body = _as_object(record)
            if labels is not None:
                expected, marginal = labels.get(post.msg_id, (None, False))
            elif "topics" in body:
                expected, marginal = _topics(body, "topics"), body.get("marginal") is True
            else:
                expected, marginal = None, False
        except RecordError as exc:
            counters.problems += 1
            problems(SourceProblem(str(path), number, str(exc)))
            continue
        counters.posts += 1
        yield number, post, expected, marginal


def read_labels(
    path: str | Path, problems: Callable[[SourceProblem], None]
) -> dict[str, tuple[frozenset[str], bool]]:
    """Labels by post id from a JSONL file of {id, topics[, marginal]} records."""
    out: dict[str, tuple[frozenset[str], bool]] = {}
    for number, record in iter_records(path, problems):
        try:
            body = _as_object(record)
            post_id = body.get("id")
            if not isinstance(post_id, (str, int)) or isinstance(post_id, bool) or str(post_id) == "":
                raise RecordError(f"missing or empty 'id', got {_preview(post_id)}")
            out[str(post_id)] = (_topics(body, "topics"), body.get("marginal") is True)
        except RecordError as exc:
            problems(SourceProblem(str(path), number, str(exc)))
    return out
