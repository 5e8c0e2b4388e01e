"""Where posts come from when they are not live: replay files and Telegram Desktop exports."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from bot.domain import Post
from bot.sources.jsonl import ReadStats, SourceProblem, read_jsonl, read_labelled
from bot.sources.tdexport import read_tdexport

__all__ = [
    "Format",
    "ReadStats",
    "SourceProblem",
    "count_hint",
    "detect_format",
    "iter_posts",
    "read_jsonl",
    "read_labelled",
    "read_tdexport",
    "unreadable",
]

Format = Literal["jsonl", "tdexport"]

_CHUNK = 1 << 20
# A string followed by ":" is always an object key, so this cannot fire on post text
# (quotes inside JSON strings are escaped).
_TD_KEY = re.compile(rb'"(?:messages|chats)"\s*:')
_WHITESPACE = b" \t\r\n\xef\xbb\xbf"  # JSON whitespace plus the bytes of a UTF-8 BOM


def unreadable(path: str | Path) -> str | None:
    """Why a replay file cannot be scanned at all (None when it can be read)."""
    p = Path(path)
    if p.is_dir():
        return "is a directory; give a JSONL file or a Telegram Desktop result.json"
    if not p.exists():
        return "no such file"
    if not p.is_file():
        # A pipe or /dev/stdin: the file is read more than once (format, size, posts).
        return "not a regular file (a pipe or a device); save the posts to a file first"
    try:
        with p.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    # JSON in UTF-8 never holds a NUL byte; images, archives and UTF-16 text do.
    if b"\x00" in head:
        return "a binary file, not JSONL or a Telegram Desktop result.json"
    return None


def detect_format(path: str | Path) -> Format:
    """Which reader a file needs: "tdexport" for a Telegram Desktop `result.json`, else "jsonl"."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        return "jsonl"
    with p.open("rb") as fh:
        head = fh.read(_CHUNK).lstrip(_WHITESPACE)
        if not head.startswith(b"{"):
            return "jsonl"
        newline = head.find(b"\n")
        if newline != -1:
            # One complete object on the first line is JSONL (or a minified export):
            # its own keys decide. A pretty-printed export's first line is just "{".
            try:
                first = json.loads(head[:newline])
            except (ValueError, RecursionError):
                pass
            else:
                is_export = isinstance(first, dict) and ("messages" in first or "chats" in first)
                return "tdexport" if is_export else "jsonl"
        # A full export puts contacts and sessions before "chats", so keep looking
        # past the first chunk; the overlap catches a key split across two reads.
        window = head
        while True:
            if _TD_KEY.search(window):
                return "tdexport"
            chunk = fh.read(_CHUNK)
            if not chunk:
                return "jsonl"
            window = window[-32:] + chunk


def iter_posts(
    path: str | Path,
    problems: Callable[[SourceProblem], None],
    stats: ReadStats | None = None,
) -> Iterator[Post]:
    """Posts of a replay file of either format; bad records go to `problems`, never raise."""
    if detect_format(path) == "tdexport":
        return read_tdexport(path, problems, stats)
    return read_jsonl(path, problems, stats)


def count_hint(path: str | Path) -> int:
    """Rough upper bound on the posts in a file, for a progress bar; reads bytes, parses nothing."""
    # Counting a marker with bytes.count runs at memory speed; parsing would double the
    # import time just to size a progress bar.
    marker = b'"date_unixtime"' if detect_format(path) == "tdexport" else b"\n"
    total = 0
    tail = b""
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            window = tail + chunk
            total += window.count(marker)
            # Keep less than one marker's worth so nothing is counted twice.
            tail = window[-(len(marker) - 1) :] if len(marker) > 1 else b""
            last = chunk
    if marker == b"\n" and last and not last.endswith(b"\n"):
        total += 1  # the last line has no newline of its own
    return total
