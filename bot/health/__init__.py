"""Liveness: the running service touches a heartbeat file; `milwatch health` reads it.

The file: the time of the beat, a one-line summary, then one line per problem that
makes the service useless until someone acts ("problem: …", the health check fails)
or that an operator should know about ("warning: …", it still passes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
DEFAULT_MAX_AGE = timedelta(minutes=3)
_PROBLEM = "problem: "
_WARNING = "warning: "


def write_heartbeat(
    data_dir: Path,
    now: datetime,
    detail: str = "",
    problems: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> None:
    """Record that the service loop is alive (atomic replace, so readers never see half)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / HEARTBEAT_FILE
    tmp = target.with_suffix(".tmp")
    lines = [now.astimezone(UTC).isoformat(), _one_line(detail)]
    lines += [_PROBLEM + _one_line(p) for p in problems]
    lines += [_WARNING + _one_line(w) for w in warnings]
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def check_heartbeat(
    data_dir: Path, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE
) -> tuple[bool, str]:
    """(healthy, message) from the heartbeat file's age and the problems it reports."""
    path = data_dir / HEARTBEAT_FILE
    try:
        first, *rest = path.read_text(encoding="utf-8").splitlines()
        beat = datetime.fromisoformat(first.strip())
    except FileNotFoundError:
        return False, f"{path}: no heartbeat yet (is `milwatch run` running?)"
    except (OSError, ValueError) as exc:
        return False, f"{path}: unreadable heartbeat ({exc})"
    detail = rest[0].strip() if rest else ""
    problems = [line[len(_PROBLEM) :] for line in rest[1:] if line.startswith(_PROBLEM)]
    warnings = [line[len(_WARNING) :] for line in rest[1:] if line.startswith(_WARNING)]
    age = now - beat
    if age > max_age:
        return (
            False,
            f"last heartbeat {int(age.total_seconds())} s ago"
            f" (limit {int(max_age.total_seconds())} s)",
        )
    notes = "".join(f"\nproblem: {p}" for p in problems) + "".join(
        f"\nwarning: {w}" for w in warnings
    )
    if problems:
        return (
            False,
            f"running, but not doing its job (heartbeat {int(age.total_seconds())} s ago):{notes}",
        )
    return True, f"alive, last heartbeat {int(age.total_seconds())} s ago. {detail}".strip() + notes


def last_beat(data_dir: Path) -> datetime | None:
    """When the service last wrote its heartbeat, or None (no file, unreadable)."""
    try:
        first = (data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8").split("\n", 1)[0]
        return datetime.fromisoformat(first.strip())
    except (OSError, ValueError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
