"""The heartbeat the Docker health check reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.health import check_heartbeat, write_heartbeat

T0 = datetime(2024, 12, 8, 12, 0, tzinfo=UTC)


def test_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    write_heartbeat(tmp_path, T0, "3 channels, 0 pending alerts")
    ok, message = check_heartbeat(tmp_path, T0 + timedelta(seconds=30))
    assert ok and "30 s ago" in message and "3 channels" in message


def test_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    write_heartbeat(tmp_path, T0)
    ok, message = check_heartbeat(tmp_path, T0 + timedelta(minutes=10))
    assert not ok and "600 s ago" in message


def test_missing_or_broken_heartbeat_says_what_is_wrong(tmp_path: Path) -> None:
    ok, message = check_heartbeat(tmp_path, T0)
    assert not ok and "milwatch run" in message
    (tmp_path / "heartbeat").write_text("garbage\n", encoding="utf-8")
    ok, message = check_heartbeat(tmp_path, T0)
    assert not ok and "unreadable" in message


def test_a_reported_problem_fails_the_check_and_a_warning_does_not(tmp_path: Path) -> None:
    write_heartbeat(
        tmp_path,
        T0,
        "10 posts",
        warnings=["alert delivery delayed: 3 alert(s) waiting,\nthe oldest for 20 min"],
    )
    ok, message = check_heartbeat(tmp_path, T0)
    assert ok and message.endswith(
        "\nwarning: alert delivery delayed: 3 alert(s) waiting, the oldest for 20 min"
    )
    stopped = "alert delivery stopped: BOT_TOKEN was rejected"
    write_heartbeat(tmp_path, T0, "10 posts", problems=[stopped])
    ok, message = check_heartbeat(tmp_path, T0)
    assert not ok and "problem: alert delivery stopped: BOT_TOKEN was rejected" in message
