"""Pipeline health: is everything between the channels and the analyst chat moving?

A snapshot of the service's figures (outbox, failed sends, flood waits, reconnects, the
rules file, backfill progress, dead letters, the disk and the database) is judged part
by part: ok, warning (the operator should know; `milwatch health` still passes) or
problem (the service cannot do its job; `milwatch health` fails). Parts stuck past their
threshold are told to the operator once (bot.health.notices). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.health.channels import span
from bot.health.notices import Assessment

DELIVERY_DELAY = timedelta(minutes=15)  # the oldest waiting alert: told after this long
DISCONNECTED_FOR = timedelta(minutes=5)  # the user account offline this long: told
BACKFILL_GRACE = timedelta(minutes=30)  # every channel read once within this of the start
LOW_DISK_BYTES = 200 * 1024 * 1024  # told below this much free space (or 2 % of the disk)
LOW_DISK_SHARE = 0.02
PARTS = ("database", "disk", "delivery", "connection", "backfill", "rules", "dead_letters")


@dataclass(frozen=True)
class PipelineSnapshot:
    """The service's figures at one moment (a running service fills every field)."""

    now: datetime
    started_at: datetime
    pending: int = 0
    in_doubt: int = 0
    oldest_pending_at: datetime | None = None
    oldest_error: str | None = None
    sent: int = 0  # since the start
    failed_sends: int = 0  # given up since the start (each was told when it happened)
    flood_wait_seconds: dict[str, float] = field(default_factory=dict)
    reconnects: int = 0
    disconnected_since: datetime | None = None
    rules_version: str = ""
    rules_broken: list[str] = field(default_factory=list)  # the last reload's problems
    rules_broken_since: datetime | None = None
    channels: int = 0
    channels_read: int = 0  # read (backfilled) at least once since the start
    unread: list[str] = field(default_factory=list)  # channels not read once yet
    retrying: int = 0
    dead_letters: int = 0
    disk_free: int | None = None
    disk_total: int | None = None
    disk_path: str = ""
    storage_error: str | None = None  # why the database refused the last write
    storage_error_since: datetime | None = None


def assess_pipeline(s: PipelineSnapshot, delivery_delay: timedelta = DELIVERY_DELAY) -> list[Assessment]:
    """One assessment per part of the pipeline, in the order of PARTS."""
    return [
        _database(s),
        _disk(s),
        _delivery(s, delivery_delay),
        _connection(s),
        _backfill(s),
        _rules(s),
        _dead_letters(s),
    ]


def _part(subject: str, state: str, detail: str, alarm_after: timedelta | None = None) -> Assessment:
    return Assessment("pipeline", subject, state, detail, alarm_after)


def _database(s: PipelineSnapshot) -> Assessment:
    if s.storage_error is None:
        return _part("database", "ok", "writable")
    since = f" since {s.storage_error_since:%H:%M} UTC" if s.storage_error_since else ""
    return _part(
        "database",
        "problem",
        f"the database cannot be written{since}: {s.storage_error}. Nothing is lost: posts"
        " are read again from the channels and waiting alerts stay in the outbox once it can"
        f" write; free space {_where(s)}",
        timedelta(0),
    )


def _disk(s: PipelineSnapshot) -> Assessment:
    if s.disk_free is None:
        return _part("disk", "ok", "free space unknown")
    free = f"{_size(s.disk_free)} free {_where(s)}"
    floor = max(LOW_DISK_BYTES, int((s.disk_total or 0) * LOW_DISK_SHARE))
    if s.disk_free < floor:
        return _part(
            "disk",
            "warning",
            f"disk nearly full: {free}; when it is full, posts wait until there is space"
            " (prune old texts: milwatch prune; move backups elsewhere)",
            timedelta(0),
        )
    return _part("disk", "ok", free)


def _delivery(s: PipelineSnapshot, delay: timedelta) -> Assessment:
    oldest = s.oldest_pending_at
    counts = f"{s.sent} sent, {s.failed_sends} given up since the start"
    if oldest is not None and s.now - oldest > delay:
        seconds = int((s.now - oldest).total_seconds())
        waited = f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"
        return _part(
            "delivery",
            "warning",
            f"alert delivery delayed: {s.pending} alert(s) waiting, the oldest for {waited};"
            f" last error: {s.oldest_error or 'none'}",
            timedelta(0),
        )
    flood = s.flood_wait_seconds.get("sender", 0.0)
    waiting = f"{s.pending} waiting ({s.in_doubt} in doubt)" if s.pending else "nothing waiting"
    return _part(
        "delivery",
        "ok",
        f"{waiting}; {counts}" + (f"; flood waits {flood:.0f} s" if flood else ""),
    )


def _connection(s: PipelineSnapshot) -> Assessment:
    flood = s.flood_wait_seconds.get("listener", 0.0)
    tail = f"{s.reconnects} reconnect(s) since the start" + (
        f"; flood waits {flood:.0f} s" if flood else ""
    )
    if s.disconnected_since is not None:
        away = s.now - s.disconnected_since
        state = "warning" if away >= DISCONNECTED_FOR else "reconnecting"
        return _part(
            "connection",
            state,
            f"the user account is disconnected from Telegram for {span(away)}, reconnecting;"
            f" channels are read again from where they stopped once it is back ({tail})",
            timedelta(0) if state == "warning" else None,
        )
    return _part("connection", "ok", f"connected; {tail}")


def _backfill(s: PipelineSnapshot) -> Assessment:
    progress = f"{s.channels_read} of {s.channels} channel(s) read since the start"
    if not s.unread:
        return _part("backfill", "ok", progress)
    names = ", ".join(s.unread[:10]) + (f" and {len(s.unread) - 10} more" if len(s.unread) > 10 else "")
    if s.now - s.started_at >= BACKFILL_GRACE:
        return _part(
            "backfill",
            "warning",
            f"{progress}: not read once in {span(s.now - s.started_at)}: {names}"
            " (see /channels for why)",
            timedelta(0),
        )
    return _part("backfill", "reading", f"{progress}; still to read: {names}")


def _rules(s: PipelineSnapshot) -> Assessment:
    if not s.rules_broken:
        return _part("rules", "ok", f"version {s.rules_version}" if s.rules_version else "loaded")
    since = f" since {s.rules_broken_since:%Y-%m-%d %H:%M} UTC" if s.rules_broken_since else ""
    # Announced when the reload failed; repeated here for status, not sent again.
    return _part(
        "rules",
        "warning",
        f"the rules file does not load{since} ({len(s.rules_broken)} problem(s), first:"
        f" {s.rules_broken[0]}); version {s.rules_version} stays active",
    )


def _dead_letters(s: PipelineSnapshot) -> Assessment:
    if not s.dead_letters:
        return _part("dead_letters", "ok", f"{s.retrying} post(s) being retried")
    # Each dead letter was told when it died; the count stays visible until replayed.
    return _part(
        "dead_letters",
        "warning",
        f"{s.dead_letters} post(s) could not be stored (dead letters: milwatch status)",
    )


def _where(s: PipelineSnapshot) -> str:
    return f"on {s.disk_path}" if s.disk_path else "on the data disk"


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def heartbeat_lines(assessments: list[Assessment]) -> tuple[list[str], list[str]]:
    """(problems, warnings) for the heartbeat: what fails `milwatch health`, what it reports."""
    problems = [a.detail for a in assessments if a.state == "problem"]
    warnings = [a.detail for a in assessments if a.state == "warning"]
    return problems, warnings
