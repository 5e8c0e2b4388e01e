"""Liveness: the running service touches a heartbeat file; `milwatch health` reads it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
DEFAULT_MAX_AGE = timedelta(minutes=3)


def write_heartbeat(data_dir: Path, now: datetime, detail: str = "") -> None:
    """Record that the service loop is alive (atomic replace, so readers never see half)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / HEARTBEAT_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(f"{now.astimezone(UTC).isoformat()}\n{detail}\n", encoding="utf-8")
    os.replace(tmp, target)


def check_heartbeat(data_dir: Path, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE) -> tuple[bool, str]:
    """(healthy, message) from the heartbeat file's age."""
    path = data_dir / HEARTBEAT_FILE
    try:
        first, _, detail = path.read_text(encoding="utf-8").partition("\n")
        beat = datetime.fromisoformat(first.strip())
    except FileNotFoundError:
        return False, f"{path}: no heartbeat yet (is `milwatch run` running?)"
    except (OSError, ValueError) as exc:
        return False, f"{path}: unreadable heartbeat ({exc})"
    age = now - beat
    if age > max_age:
        return False, f"last heartbeat {int(age.total_seconds())} s ago (limit {int(max_age.total_seconds())} s)"
    return True, f"alive, last heartbeat {int(age.total_seconds())} s ago. {detail.strip()}".strip()
