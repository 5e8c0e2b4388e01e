"""The watch watching itself, end to end: run_live with its real wiring and real Telethon
clients whose network edge is faked (telegram_fakes), as in test_live_service.

- a channel silent well past its rhythm: one notice in the operator chat, then one
  recovery notice when it posts again; a private channel: one notice;
- /channels through the bot answers with the health, worst first;
- the metrics endpoint (METRICS_PORT=0: a free port on 127.0.0.1) serves the counts;
- a stuck outbox (a long flood wait) is told once;
- the heartbeat carries the warnings, and `milwatch status` the pipeline.
"""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from telethon import errors, functions, types

# The socket guard (no connection but to loopback) and the service harness.
from test_live_service import (  # noqa: F401 - no_network is an autouse fixture
    ALERT_CHANNEL_ID,
    ANALYST,
    OPERATOR_CHANNEL_ID,
    WITHDRAWAL,
    FakeTelegram,
    Service,
    live_settings,
    no_network,
    rows,
)

from bot.health import HEARTBEAT_FILE
from bot.settings import Settings, settings_from_mapping
from bot.status import status_report
from bot.storage import Store

FRONT, FRONT_ID = "front_rhythm", 7100
SECRET = "secret_channel"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped_rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules (MILWATCH_RULES points here)."""
    path = tmp_path / "rules.yaml"
    path.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def health_settings(tmp_path: Path, rules_file: Path, **extra: str) -> Settings:
    base = live_settings(tmp_path, rules_file)
    return settings_from_mapping(
        {
            "TG_API_ID": "123456",
            "TG_API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": "123:ABC",
            "ALERT_CHAT_ID": "-1001234567890",
            "OPERATOR_CHAT_ID": "-1009876543210",
            "ANALYST_IDS": str(ANALYST),
            "CHANNELS": f"{FRONT} {SECRET}",
            "MILWATCH_DATA_DIR": str(base.data_dir),
            "MILWATCH_RULES": str(rules_file),
            **extra,
        }
    )


def notices(service: Service) -> list[str]:
    """What the operator was told: by the bot in the operator chat, or (when the bot may
    not send) by the user account."""
    return [m.message for m in service.sent_to(OPERATOR_CHANNEL_ID)] + [
        m.message for m in service.telegram.sent
    ]


def metric(url: str, name: str, **labels: str) -> float | None:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def test_silence_recovery_private_channel_metrics_and_status(
    tmp_path: Path, shipped_rules: Path
) -> None:
    settings = health_settings(tmp_path, shipped_rules, METRICS_PORT="0")
    telegram = FakeTelegram()
    telegram.add_channel(FRONT_ID, FRONT, title="Front with a rhythm")
    telegram.resolve_errors[SECRET] = errors.ChannelPrivateError(request=None)
    now = datetime.now(UTC)
    # A post every 30 minutes from 20 to 4 hours ago, then nothing: silent.
    for number in range(33):
        text = WITHDRAWAL if number == 5 else f"Погода сегодня хорошая, выпуск {number}"
        telegram.post(FRONT_ID, number + 1, text, date=now - timedelta(hours=20, minutes=-30 * number))

    service = Service(settings, telegram)
    await service.start()
    await service.until(lambda: len(notices(service)) >= 2, "the silence and private notices")
    await service.settle()  # many more health rounds: nothing is repeated
    told = notices(service)
    assert len(told) == 2, told
    (silent,) = [n for n in told if f"@{FRONT}" in n]
    assert silent.startswith(f"milwatch: channel @{FRONT} is silent: no post for 4h")
    assert "usually posts again within 30m" in silent
    (private,) = [n for n in told if f"@{SECRET}" in n]
    assert "cannot be read: private channel, or the account was banned" in private

    # -- the heartbeat warns; /channels shows the worst first
    heartbeat = (settings.data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8")
    assert f"warning: channel @{FRONT} silent: no post for 4h" in heartbeat
    assert "channels: 1 error, 1 silent" in heartbeat.splitlines()[1]
    (reply,) = await service.command("/channels", ANALYST, 50)
    lines = reply.splitlines()
    assert lines[0] == "2 channel(s), worst first: 1 error, 1 silent, 0 quiet, 0 ok"
    assert lines[1].startswith(f"🔴 error · @{SECRET}")
    assert lines[3].startswith(f"🟠 silent · @{FRONT} (Front with a rhythm) · last post")
    assert " · checked just now" in lines[3]  # the service read it moments ago

    # -- metrics, scraped over 127.0.0.1
    (url,) = [line.split(" ", 1)[1] for line in service.out.getvalue().splitlines() if line.startswith("metrics: ")]
    assert url.startswith("http://127.0.0.1:")
    assert metric(url, "milwatch_posts_ingested_total", channel=FRONT) == 33
    assert metric(url, "milwatch_channel_state", channel=FRONT, state="silent") == 1
    assert metric(url, "milwatch_channel_state", channel=SECRET, state="error") == 1
    await service.until(lambda: len(service.sent_to(ALERT_CHANNEL_ID)) == 1, "the alert card")
    await service.until(
        lambda: (metric(url, "milwatch_alerts_total", event="sent") or 0) > 0, "a counted send"
    )
    alerted = sum(
        metric(url, "milwatch_hits_total", rule=rule, topic=topic, outcome="alerted") or 0
        for rule, topic in rows(settings.database, "SELECT rule_id, topic FROM hits WHERE quiet = 0")
    )
    assert alerted == metric(url, "milwatch_alerts_total", event="queued") > 0

    # -- the channel posts again: one recovery notice
    new = telegram.post(FRONT_ID, 40, "Погода снова хорошая", date=datetime.now(UTC))
    update = types.UpdateNewChannelMessage(message=new, pts=1, pts_count=1)
    update._entities = {}
    assert service.telegram is telegram
    user = service.user
    assert user is not None
    await user._dispatch_update(update)
    await service.until(lambda: len(notices(service)) == 3, "the recovery notice")
    await service.settle()
    recovered = notices(service)[2]
    assert recovered.startswith(f"milwatch: channel @{FRONT} is fine again (it was silent)")
    assert len(notices(service)) == 3

    assert await service.finish() == 0
    async with Store.open(settings.database) as store:
        report = await status_report(store, datetime.now(UTC), "stopped")
    assert "  connection: ok · connected; 0 reconnect(s) since the start" in report
    assert f"  🟢 ok · @{FRONT}" in report


async def test_a_stuck_outbox_is_told_once(tmp_path: Path, shipped_rules: Path) -> None:
    settings = health_settings(tmp_path, shipped_rules, CHANNELS=FRONT)
    telegram = FakeTelegram()
    telegram.add_channel(FRONT_ID, FRONT)
    telegram.post(FRONT_ID, 1, WITHDRAWAL, date=datetime.now(UTC) - timedelta(minutes=5))
    service = Service(settings, telegram)
    # Telegram makes the bot wait an hour before its next message to the alert chat.
    service.network.fail(
        functions.messages.SendMessageRequest, errors.FloodWaitError(request=None, capture=3600)
    )
    service.options = {"delay_notice": timedelta(seconds=0.3)}
    await service.start()
    await service.until(
        lambda: any("alert delivery delayed" in n for n in notices(service)), "the delay notice"
    )
    await service.settle()
    (delayed,) = [n for n in notices(service) if "delivery delayed" in n]
    assert "alert(s) waiting" in delayed and "flood wait 3600s" in delayed
    heartbeat = (settings.data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8")
    assert "warning: alert delivery delayed" in heartbeat
    assert await service.finish() == 0


async def test_a_busy_metrics_port_stops_the_start_with_a_clear_error(
    tmp_path: Path, shipped_rules: Path
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = health_settings(tmp_path, shipped_rules, METRICS_PORT=str(port))
        telegram = FakeTelegram()
        telegram.add_channel(FRONT_ID, FRONT)
        service = Service(settings, telegram)
        from bot.app import run_live

        code = await run_live(
            settings, service.out, service.err, make_clients=service.make_clients, stop=service.stop
        )
    assert code == 2
    assert service.err.getvalue().startswith(
        f"milwatch run: METRICS_PORT {port}: cannot listen on 127.0.0.1: "
    )
