"""Posts from a Telegram Desktop export (`result.json`): one chat, or a full account export."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.domain import Post
from bot.sources.jsonl import (
    ReadStats,
    RecordError,
    SourceProblem,
    json_problem,
    parse_date,
    surrogate_note,
    without_surrogates,
)

# Sections of a full export that hold chats; "left_chats" are channels the account has
# left since, whose history is still evidence.
_CHAT_SECTIONS = ("chats", "left_chats")


def _chats(document: object) -> list[tuple[str, object]]:
    """(label, chat) pairs of a single-chat or full export; label says where for problems."""
    if not isinstance(document, dict):
        raise RecordError(f"expected a JSON object at the top, got {type(document).__name__}")
    if "messages" in document:
        return [("chat", document)]
    found: list[tuple[str, object]] = []
    for section in _CHAT_SECTIONS:
        block = document.get(section)
        chats = block.get("list") if isinstance(block, dict) else None
        if isinstance(chats, list):
            found.extend((f"{section}.list[{i}]", chat) for i, chat in enumerate(chats))
    if not found and not any(section in document for section in _CHAT_SECTIONS):
        raise RecordError("neither 'messages' nor 'chats' found: not a Telegram Desktop export")
    return found


def _join_parts(parts: list[Any]) -> str:
    """Plain text of a `text` / `text_entities` list: strings and the `text` of each object."""
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            pieces.append(part["text"])
    return "".join(pieces)


def message_text(message: dict[str, Any]) -> str:
    """The full text of an exported message, links and formatting flattened to their words."""
    entities = message.get("text_entities")
    # text_entities is the cleaner of the two (always a list); older exports lack it.
    if isinstance(entities, list) and entities:
        return _join_parts(entities)
    text = message.get("text")
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return _join_parts(text)
    return ""


def _message_date(message: dict[str, Any]) -> datetime:
    """UTC date of a message: `date_unixtime` when present, since `date` is local and zoneless."""
    unix = message.get("date_unixtime")
    if unix is not None:
        try:
            return datetime.fromtimestamp(int(unix), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise RecordError(f"'date_unixtime' is not a number of seconds: {unix!r}") from None
    if "date" not in message:
        raise RecordError("missing 'date'")
    # Without date_unixtime the exporting machine's zone is unknown; UTC is the least bad guess.
    return parse_date(message["date"])


def _message_to_post(message: dict[str, Any], channel: str, title: str | None, text: str) -> Post:
    """A Post from one exported message of a chat (its text already extracted)."""
    raw_id = message["id"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)) or not str(raw_id).strip():
        raise RecordError(f"'id' must be a number, got {raw_id!r}")
    forwarded = message.get("forwarded_from")
    return Post(
        channel=channel,
        msg_id=str(raw_id).strip(),
        date=_message_date(message),
        text=text,
        channel_title=title,
        # A public channel's username is not in the export, so no link can be trusted.
        link=None,
        forwarded_from=forwarded if isinstance(forwarded, str) and forwarded else None,
        # The export writes `edited` (a date) only for messages that were edited.
        edited=bool(message.get("edited")),
    )


def read_tdexport(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    stats: ReadStats | None = None,
) -> Iterator[Post]:
    """Posts of every chat in a Telegram Desktop export; service and media-only messages skipped."""
    name = str(path)
    counters = stats if stats is not None else ReadStats()
    try:
        # The export is one JSON document; a streaming parser would be the only way round
        # json.load, and a few hundred MB in memory is acceptable for an offline import.
        with open(path, "rb") as fh:
            document = json.load(fh)
    except json.JSONDecodeError as exc:
        counters.problems += 1
        problems(SourceProblem(name, exc.lineno, json_problem(exc)))
        return
    except UnicodeDecodeError as exc:
        counters.problems += 1
        problems(SourceProblem(name, None, f"not valid UTF-8 at byte {exc.start}"))
        return
    except (ValueError, RecursionError) as exc:
        # Huge numbers and absurd nesting fail outside JSONDecodeError.
        counters.problems += 1
        problems(SourceProblem(name, None, f"invalid JSON: {exc}"))
        return
    try:
        chats = _chats(document)
    except RecordError as exc:
        counters.problems += 1
        problems(SourceProblem(name, None, str(exc)))
        return

    for label, chat in chats:
        if not isinstance(chat, dict):
            counters.problems += 1
            problems(SourceProblem(name, None, f"{label}: expected a chat object"))
            continue
        chat_id = chat.get("id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) or chat_id == "":
            counters.problems += 1
            problems(SourceProblem(name, None, f"{label}: missing 'id' of the chat"))
            continue
        title = chat.get("name") if isinstance(chat.get("name"), str) else None
        messages = chat.get("messages")
        if not isinstance(messages, list):
            counters.problems += 1
            problems(SourceProblem(name, None, f"{label}: 'messages' is not a list"))
            continue
        yield from _chat_posts(name, label, str(chat_id), title, messages, problems, counters)


def _chat_posts(
    name: str,
    label: str,
    channel: str,
    title: str | None,
    messages: list[Any],
    problems: Callable[[SourceProblem], None],
    counters: ReadStats,
) -> Iterator[Post]:
    """Posts of one chat's message list, each bad message reported by index and id."""
    # A single-chat export needs no chat label in its problems; a full export does.
    prefix = "" if label == "chat" else f"{label}: "
    for index, message in enumerate(messages):
        where = f"{prefix}message #{index}"
        if not isinstance(message, dict):
            counters.problems += 1
            problems(SourceProblem(name, None, f"{where}: expected an object"))
            continue
        if "id" in message:
            where += f" (id {message['id']})"
        if message.get("type", "message") != "message":
            counters.skipped += 1
            continue
        text = message_text(message)
        if not text.strip():
            counters.empty += 1  # photos, stickers, polls: nothing to match
            continue
        try:
            if "id" not in message:
                raise RecordError("missing 'id'")
            post = _message_to_post(message, channel, title, text)
        except RecordError as exc:
            counters.problems += 1
            problems(SourceProblem(name, None, f"{where}: {exc}"))
            continue
        post, replaced = without_surrogates(post)
        if replaced:
            problems(SourceProblem(name, None, f"{where}: {surrogate_note(replaced)}"))
        counters.posts += 1
        yield post
