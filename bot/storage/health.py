"""Store queries for health, charts and data care: kept apart from the core store.

Mixed into Store (bot/storage/store.py), so they share its one connection, its lock
and its transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.storage.times import from_db_time, to_db_time

HEALTH_KINDS = ("channel", "pipeline")


@dataclass(frozen=True)
class HealthRecord:
    """The last verdict on a channel or a part of the pipeline, and what the operator knows.

    since: when it entered its state; notified_state: the state the operator was last
    told about (None: nothing to tell, or told that it recovered).
    """

    kind: str  # "channel" or "pipeline"
    subject: str  # channel username, or the pipeline part ("delivery", "disk", …)
    state: str
    detail: str
    since: datetime
    checked_at: datetime
    last_read_at: datetime | None = None  # channels: the last successful read of the channel
    notified_state: str | None = None
    notified_at: datetime | None = None


@dataclass(frozen=True)
class DayCount:
    """Hits of one topic on one day (by the post's date, UTC): alerting and kept quiet."""

    day: str  # YYYY-MM-DD
    topic: str
    alerting: int
    quiet: int


@dataclass(frozen=True)
class ChannelCount:
    """Hits of one channel over a period: alerting and kept quiet."""

    channel: str
    alerting: int
    quiet: int


def _opt_time(value: str | None) -> datetime | None:
    return from_db_time(value) if value else None


class HealthQueries:
    """Health records, post dates for the rhythm, chart counts, retention (mixed into Store)."""

    _db: aiosqlite.Connection

    if TYPE_CHECKING:  # provided by Store

        def transaction(self) -> AbstractAsyncContextManager[None]: ...

        def _reading(self) -> AbstractAsyncContextManager[None]: ...

        async def _fetchall(
            self, sql: str, params: Sequence[Any] = ()
        ) -> list[aiosqlite.Row]: ...

    # -- health records ---------------------------------------------------------

    async def health_records(self, kind: str) -> dict[str, HealthRecord]:
        """Every stored verdict of one kind, by subject."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT * FROM health_checks WHERE kind = ? ORDER BY subject", (kind,)
            )
        return {
            str(row["subject"]): HealthRecord(
                kind=row["kind"],
                subject=row["subject"],
                state=row["state"],
                detail=row["detail"],
                since=from_db_time(row["since"]),
                checked_at=from_db_time(row["checked_at"]),
                last_read_at=_opt_time(row["last_read_at"]),
                notified_state=row["notified_state"],
                notified_at=_opt_time(row["notified_at"]),
            )
            for row in rows
        }

    async def save_health_records(self, records: Sequence[HealthRecord]) -> None:
        """Write verdicts (insert or replace by kind and subject) in one transaction."""
        for record in records:
            if record.kind not in HEALTH_KINDS:
                raise ValueError(f"health kind must be one of {HEALTH_KINDS}, not {record.kind!r}")
        async with self.transaction():
            for r in records:
                await self._db.execute(
                    "INSERT INTO health_checks (kind, subject, state, detail, since, checked_at,"
                    " last_read_at, notified_state, notified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(kind, subject) DO UPDATE SET state = excluded.state,"
                    " detail = excluded.detail, since = excluded.since,"
                    " checked_at = excluded.checked_at,"
                    " last_read_at = COALESCE(excluded.last_read_at, last_read_at),"
                    " notified_state = excluded.notified_state,"
                    " notified_at = excluded.notified_at",
                    (
                        r.kind,
                        r.subject,
                        r.state,
                        r.detail,
                        to_db_time(r.since),
                        to_db_time(r.checked_at),
                        to_db_time(r.last_read_at) if r.last_read_at else None,
                        r.notified_state,
                        to_db_time(r.notified_at) if r.notified_at else None,
                    ),
                )

    # -- the rhythm: when each channel posted ----------------------------------

    async def post_times(self, since: datetime) -> dict[str, list[int]]:
        """Per channel, when its posts since a moment were posted (Unix seconds), in order."""
        # From the (date, channel_id) index alone, unsorted, converted by SQLite: some
        # 5x quicker than a join, an ORDER BY and Python's date parsing, so the store's
        # lock is held only briefly.
        async with self._reading():
            rows = await self._fetchall(
                "SELECT channel_id, CAST(strftime('%s', date) AS INTEGER) FROM posts"
                " WHERE date >= ?",
                (to_db_time(since),),
            )
            names = {
                int(row[0]): str(row[1])
                for row in await self._fetchall("SELECT id, username FROM channels")
            }
        times: dict[str, list[int]] = {}
        for channel_id, seconds in rows:
            times.setdefault(names[int(channel_id)], []).append(int(seconds))
        for moments in times.values():
            moments.sort()
        return times

    # -- charts ------------------------------------------------------------------

    async def hits_per_day(self, since: datetime, until: datetime | None = None) -> list[DayCount]:
        """Hits per day (of the post's date) and topic in [since, until), oldest day first."""
        until_text = to_db_time(until) if until is not None else None
        async with self._reading():
            rows = await self._fetchall(
                "SELECT substr(p.date, 1, 10) AS day, h.topic,"
                " SUM(h.quiet = 0), SUM(h.quiet = 1)"
                " FROM hits h JOIN posts p ON p.id = h.post_id"
                " WHERE p.date >= ? AND (? IS NULL OR p.date < ?)"
                " GROUP BY day, h.topic ORDER BY day, h.topic",
                (to_db_time(since), until_text, until_text),
            )
        return [DayCount(str(d), str(t), int(a), int(q)) for d, t, a, q in rows]

    async def hits_by_channel(
        self, since: datetime, until: datetime | None = None, limit: int = 10
    ) -> list[ChannelCount]:
        """The channels with the most hits (by post date) in [since, until), most first."""
        until_text = to_db_time(until) if until is not None else None
        async with self._reading():
            rows = await self._fetchall(
                "SELECT c.username, SUM(h.quiet = 0), SUM(h.quiet = 1)"
                " FROM hits h JOIN posts p ON p.id = h.post_id"
                " JOIN channels c ON c.id = p.channel_id"
                " WHERE p.date >= ? AND (? IS NULL OR p.date < ?)"
                " GROUP BY c.username ORDER BY COUNT(*) DESC, c.username LIMIT ?",
                (to_db_time(since), until_text, until_text, int(limit)),
            )
        return [ChannelCount(str(c), int(a), int(q)) for c, a, q in rows]

    async def post_date_range(self) -> tuple[datetime, datetime] | None:
        """The oldest and newest post date stored, or None for an empty store."""
        async with self._reading():
            rows = await self._fetchall("SELECT MIN(date), MAX(date) FROM posts")
        if not rows or rows[0][0] is None:
            return None
        return from_db_time(rows[0][0]), from_db_time(rows[0][1])

    # -- retention -----------------------------------------------------------------

    async def prune_post_texts(self, before: datetime, *, include_hits: bool = False) -> int:
        """Blank the texts of posts dated before a moment; return how many were blanked.

        The rows stay (counts, the channel's rhythm and its read position need them).
        Posts with hits keep their text unless include_hits: they are the evidence.
        """
        async with self.transaction():
            cur = await self._db.execute(
                "UPDATE posts SET text = '', text_fold = ''"
                " WHERE date < ? AND text != ''"
                " AND (? OR NOT EXISTS (SELECT 1 FROM hits h WHERE h.post_id = posts.id))",
                (to_db_time(before), int(include_hits)),
            )
            return int(cur.rowcount)
