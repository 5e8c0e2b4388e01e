"""Logging: one line per event, plain text or JSON (LOG_FORMAT), never a secret.

- One line per event: a message's own line breaks (a list of rules problems) and a
  traceback are folded into the line as " | ", so `grep` and log shippers see one event.
- LOG_FORMAT=json: one JSON object per line with time, level, logger, message, and the
  `channel` and `post` of the event when the call site gives them (`extra=`).
- No secrets: BOT_TOKEN, TG_API_HASH and anything shaped like a bot token are replaced
  by "[redacted]" in every line, whatever logged them (Telethon included).
- No noise: third-party libraries (Telethon, pymorphy3, matplotlib …) log warnings and
  errors only, unless the level is DEBUG.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("text", "json")
REDACTED = "[redacted]"
# A Telegram bot token: the bot's id, a colon, 35 characters of base64url.
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# Loggers of libraries whose INFO lines tell an operator nothing they can act on.
QUIET_LIBRARIES = (
    "telethon", "asyncio", "aiosqlite", "pymorphy3", "matplotlib", "PIL", "urllib3",
)
# Fields a call site may pass with extra= to say which post an event is about.
EVENT_FIELDS = ("channel", "post", "alert")
_HANDLER_NAME = "milwatch"


class Redactor:
    """Replaces known secret values and bot-token shapes in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        """secrets: exact values never to show (short ones are ignored: too many false hits)."""
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """text with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _BOT_TOKEN.sub(REDACTED, text)


def _one_line(text: str) -> str:
    return " | ".join(part.rstrip() for part in text.strip().splitlines() if part.strip())


class TextFormatter(logging.Formatter):
    """'2024-05-01T12:00:00Z WARNING bot.pipeline: message', one line, redacted."""

    def __init__(self, redact: Redactor) -> None:
        """redact is applied to the whole line."""
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """UTC, ISO 8601, seconds."""
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one redacted line."""
        return self._redact(_one_line(super().format(record)))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, channel/post, error."""

    def __init__(self, redact: Redactor) -> None:
        """redact is applied to every text field."""
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """The record as one redacted JSON line."""
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        for name in EVENT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                event[name] = self._redact(str(value))
        if record.exc_info:
            event["error"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(event, ensure_ascii=False)


def configure_logging(
    level: str = "WARNING",
    fmt: str = "text",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
    force: bool = False,
) -> logging.Handler | None:
    """Send every log line to stream (default stderr) in fmt, at level and above.

    A later call (the service, once it has read its settings) replaces the handler, so
    secrets learned late are covered. Like logging.basicConfig, it adds no handler when
    someone else already configured the root logger (pytest, an embedding program)
    unless force; levels are set either way. Returns the handler it added, if any.
    """
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    root = logging.getLogger()
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        # DEBUG shows everything (that is what it is for); otherwise warnings and up.
        quiet = logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING
        logging.getLogger(name).setLevel(quiet)
    # Except aiosqlite's DEBUG lines: every SQL statement with its parameters (post texts,
    # analyst ids). Nothing of ours needs those in a log, at any level.
    logging.getLogger("aiosqlite").setLevel(max(logging.getLogger("aiosqlite").level, logging.INFO))
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if not force and len(ours) < len(root.handlers):
        return None
    for old in ours:
        root.removeHandler(old)
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    root.addHandler(handler)
    return handler


def remove_logging() -> None:
    """Take away the handler configure_logging added (tests, embedding programs)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
