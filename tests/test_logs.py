"""Logs: one line per event, JSON on request, never a secret, no third-party chatter.

The live service runs (offline, as in test_live_service) with the logging `milwatch run`
sets up, and everything it logs is read back.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# The socket guard and the service harness of the live-service tests.
from test_live_service import (  # noqa: F401 - no_network is an autouse fixture
    CHANNEL,
    CHANNEL_ID,
    NOISE,
    WITHDRAWAL,
    FakeTelegram,
    Service,
    live_settings,
    no_network,
)

from bot.logs import QUIET_LIBRARIES, REDACTED, configure_logging, remove_logging
from bot.settings import Settings

TOKEN = "7123456789:AAH3kq-Zx_9wQ1bT4cE7yU2iO5pL8sD0fGj"
API_HASH = "0123456789abcdef0123456789abcdef"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped_rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules (MILWATCH_RULES points here)."""
    path = tmp_path / "rules.yaml"
    path.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the libraries' levels back as pytest had them."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_LIBRARIES)}
    yield
    remove_logging()
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    root.setLevel(levels[""])


def test_one_line_per_event_even_with_a_traceback(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream, force=True)
    log = logging.getLogger("bot.test")
    try:
        raise ValueError("bad date\nin line 3")
    except ValueError:
        log.exception("post %s/%s failed:\nsecond line", "front", 12)
    log.info("post %s/%s: %d hit(s)", "front", 13, 2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert " ERROR bot.test: post front/12 failed: | second line | Traceback" in lines[0]
    assert lines[0].endswith("ValueError: bad date | in line 3")
    assert lines[1].endswith(" INFO bot.test: post front/13: 2 hit(s)")
    datetime.strptime(lines[1].split(" ", 1)[0], "%Y-%m-%dT%H:%M:%SZ")  # UTC, ISO 8601


def test_json_lines_carry_the_channel_and_post(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream, force=True)
    log = logging.getLogger("bot.test")
    log.info("post %s/%s: stored", "front", "12", extra={"channel": "front", "post": "12"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed", extra={"channel": "front", "post": 13})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "bot.test"
    assert (first["message"], first["channel"], first["post"]) == ("post front/12: stored", "front", "12")
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["post"] == "13" and second["error"].endswith("RuntimeError: boom")


def test_a_bad_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of text, json"):
        configure_logging("INFO", "xml")


def secret_settings(tmp_path: Path, rules_file: Path) -> Settings:
    from dataclasses import replace

    return replace(live_settings(tmp_path, rules_file), bot_token=TOKEN, tg_api_hash=API_HASH)


async def test_the_service_logs_no_secret_and_no_third_party_info(
    tmp_path: Path, shipped_rules: Path, restore_logging: None
) -> None:
    settings = secret_settings(tmp_path, shipped_rules)
    stream = io.StringIO()
    # What `milwatch run` does with LOG_LEVEL=INFO (the default).
    configure_logging("INFO", "json", stream=stream, secrets=(TOKEN, API_HASH), force=True)
    telegram = FakeTelegram()
    telegram.add_channel(CHANNEL_ID, CHANNEL)
    now = datetime.now(UTC)
    telegram.post(CHANNEL_ID, 1, WITHDRAWAL, date=now - timedelta(minutes=10))
    telegram.post(CHANNEL_ID, 2, NOISE, date=now - timedelta(minutes=5))
    service = Service(settings, telegram)
    await service.start()
    await service.until(lambda: bool(service.network.messages), "the alert card")
    # The connection drops, and the first reconnect fails with an error that quotes the
    # secrets (as a proxy or a library might): the log must show neither.
    telegram.connect_errors.append(
        ConnectionError(f"proxy refused https://api.telegram.org/bot{TOKEN}/getMe?hash={API_HASH}")
    )
    connects = len(telegram.names("connect"))
    assert service.user is not None
    await service.user.disconnect()
    await service.until(lambda: len(telegram.names("connect")) >= connects + 2, "a reconnect")
    await service.settle()
    assert await service.finish() == 0

    text = stream.getvalue()
    assert TOKEN not in text and API_HASH not in text
    assert TOKEN.split(":")[1] not in text  # not even the secret half
    assert REDACTED in text
    events = [json.loads(line) for line in text.splitlines()]
    assert len(events) == len(text.splitlines())  # every line is one JSON event
    chatter = [e for e in events if e["level"] == "INFO" and not e["logger"].startswith("bot.")]
    assert chatter == []
    (hits,) = [e for e in events if e["message"].startswith(f"post {CHANNEL}/1: ")]
    assert (hits["channel"], hits["post"]) == (CHANNEL, "1")
    (sent,) = [e for e in events if e["message"].startswith("card for post")]
    assert (sent["channel"], sent["post"]) == (CHANNEL, "1")
    assert TOKEN not in service.out.getvalue() + service.err.getvalue()
    (failed,) = [e for e in events if e["message"].startswith("Telegram connection failed")]
    assert failed["message"] == (
        f"Telegram connection failed: ConnectionError: proxy refused"
        f" https://api.telegram.org/bot{REDACTED}/getMe?hash={REDACTED}"
    )


async def test_errors_printed_at_start_show_no_secret(tmp_path: Path, shipped_rules: Path) -> None:
    from bot.app import run_live

    settings = secret_settings(tmp_path, shipped_rules)
    telegram = FakeTelegram()
    telegram.connect_errors.append(ConnectionError(f"refused: bot{TOKEN} hash={API_HASH}"))
    service = Service(settings, telegram)
    code = await run_live(
        settings, service.out, service.err, make_clients=service.make_clients, stop=service.stop
    )
    assert code == 1
    assert service.err.getvalue() == (
        f"milwatch run: cannot reach Telegram: ConnectionError: refused: bot{REDACTED}"
        f" hash={REDACTED}\n"
    )
