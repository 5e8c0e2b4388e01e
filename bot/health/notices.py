"""Operator notices: one when something goes wrong, one when it is fine again, no repeats.

Each check hands in assessments (a subject's state now, and whether that state is one
to tell the operator about, at once or after a grace period). The board remembers what
the operator was last told per subject (stored, so a restart repeats nothing) and says
which notices are due: an alarm when a subject enters an alarming state (or moves to a
different one), a recovery when it is fine again. Pure apart from the clock it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.health import HealthRecord


@dataclass(frozen=True)
class Assessment:
    """A subject's state now, and when that state is worth a notice.

    alarm_after: None for a fine state; timedelta(0) to tell at once; longer for a state
    that often clears by itself (a short flood wait) and is told only if it lasts.
    """

    kind: str  # "channel" or "pipeline"
    subject: str
    state: str
    detail: str
    alarm_after: timedelta | None = None
    last_read_at: datetime | None = None
    # Not known well enough yet to tell anything, either way (a channel not read since
    # the start looks silent while its backfill runs): what the operator knows stays.
    hold: bool = False


@dataclass(frozen=True)
class Notice:
    """A notice due to the operator: an alarm, or a recovery from the state last told."""

    assessment: Assessment
    recovered: bool
    told_before: str | None  # the state the operator was last told about
    since: datetime  # when the subject entered its current state


class NoticeBoard:
    """What the operator has been told, per (kind, subject); decides the next notices."""

    def __init__(self, records: Iterable[HealthRecord] = ()) -> None:
        """Start from the stored records (what earlier runs told the operator)."""
        self._records: dict[tuple[str, str], HealthRecord] = {
            (r.kind, r.subject.casefold()): r for r in records
        }
        self._dirty: set[tuple[str, str]] = set()

    def record(self, kind: str, subject: str) -> HealthRecord | None:
        """The last record of a subject, if any."""
        return self._records.get((kind, subject.casefold()))

    def records(self, kind: str) -> Mapping[str, HealthRecord]:
        """Every record of one kind, by subject."""
        return {r.subject: r for (k, _), r in self._records.items() if k == kind}

    def update(self, now: datetime, assessments: Iterable[Assessment]) -> list[Notice]:
        """Record the assessments; return the notices they make due."""
        notices: list[Notice] = []
        for a in assessments:
            key = (a.kind, a.subject.casefold())
            old = self._records.get(key)
            since = old.since if old is not None and old.state == a.state else now
            told = old.notified_state if old is not None else None
            told_at = old.notified_at if old is not None else None
            alarming = a.alarm_after is not None and now - since >= a.alarm_after
            if a.hold:
                pass
            elif alarming and told != a.state:
                notices.append(Notice(a, recovered=False, told_before=told, since=since))
                told, told_at = a.state, now
            elif a.alarm_after is None and told is not None:
                notices.append(Notice(a, recovered=True, told_before=told, since=since))
                told, told_at = None, now
            new = HealthRecord(
                kind=a.kind,
                subject=a.subject,
                state=a.state,
                detail=a.detail,
                since=since,
                checked_at=now,
                last_read_at=a.last_read_at
                or (old.last_read_at if old is not None else None),
                notified_state=told,
                notified_at=told_at,
            )
            self._records[key] = new
            self._dirty.add(key)
        return notices

    def take_changes(self) -> list[HealthRecord]:
        """Records changed since the last call, to store (put back with keep_changes on failure)."""
        changed = [self._records[key] for key in sorted(self._dirty)]
        self._dirty.clear()
        return changed

    def keep_changes(self, records: Iterable[HealthRecord]) -> None:
        """Mark records as still unsaved (their write failed: a full disk, a lock)."""
        for r in records:
            self._dirty.add((r.kind, r.subject.casefold()))
