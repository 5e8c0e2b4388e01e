"""How the store writes moments: UTC ISO-8601 text whose text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db_time(moment: datetime) -> str:
    """UTC ISO-8601 text with fixed precision, so text order equals time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: timezone-aware datetimes only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str) -> datetime:
    """Parse a timestamp written by to_db_time."""
    return datetime.fromisoformat(value).astimezone(UTC)
