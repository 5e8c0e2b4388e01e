"""`milwatch status` and `milwatch replay`: what the service holds, read from its database.

Both work beside a running service (SQLite in WAL mode): status only reads; replay
puts dead letters back in the retry queue, and the service retries them within
seconds (or at its next start).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.alerts.card import display_channel, format_time
from bot.commands.handler import format_age
from bot.health.channels import ago, channel_verdicts, format_channels
from bot.health.pipeline import PARTS
from bot.storage import Store

DEAD_LETTERS_SHOWN = 20


async def status_report(store: Store, now: datetime, health: str) -> str:
    """Channels (health, worst first), the pipeline, the outbox and the posts that failed to
    store, as plain text."""
    lines = [f"service: {health}"]
    verdicts = await channel_verdicts(store, now)
    positions = {v.channel: await store.resume_point(v.channel) for v in verdicts}
    lines += format_channels(verdicts, now, indent="  ", positions=positions)
    lines[1] = "channels: " + lines[1].strip()
    pipeline = await store.health_records("pipeline")
    if pipeline:
        checked = max(r.checked_at for r in pipeline.values())
        lines.append(f"pipeline, as the service last saw it ({ago(now - checked)}):")
        for part in PARTS:
            record = pipeline.get(part)
            if record is not None:
                lines.append(f"  {part}: {record.state} · {record.detail}")
    else:
        lines.append("pipeline: not recorded yet (a running service records it every 30 s)")
    counts = await store.alert_status_counts()
    backlog = await store.delivery_backlog()
    outbox = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines.append(f"outbox: {outbox}")
    if backlog.pending:
        oldest = backlog.oldest_created_at
        lines.append(
            f"  waiting: {backlog.pending}, of which {backlog.in_doubt} in doubt (a send was"
            " interrupted; checked in the chat before going out again)"
            + (f"; the oldest queued {format_age(now - oldest)}" if oldest else "")
            + (f"; last error: {backlog.oldest_error}" if backlog.oldest_error else "")
        )
    retrying = await store.list_ingest_failures("retrying")
    dead = await store.list_ingest_failures("dead", limit=DEAD_LETTERS_SHOWN + 1)
    lines.append(
        f"posts that failed to store: {len(retrying)} being retried, "
        f"{len(dead) if len(dead) <= DEAD_LETTERS_SHOWN else f'more than {DEAD_LETTERS_SHOWN}'}"
        " dead letter(s)"
    )
    for failure in retrying[:DEAD_LETTERS_SHOWN]:
        lines.append(
            f"  retrying #{failure.failure_id} {display_channel(failure.channel)}/{failure.msg_id}"
            f" · attempt {failure.attempts + 1} at {format_time(failure.next_attempt_at)}"
            f" · {failure.last_error}"
        )
    for failure in dead[:DEAD_LETTERS_SHOWN]:
        lines.append(
            f"  dead letter #{failure.failure_id}"
            f" {display_channel(failure.channel)}/{failure.msg_id}"
            f" · {failure.attempts} attempts since {format_time(failure.first_failed_at)}"
            f" · {failure.last_error}"
            + (
                ""
                if failure.post is not None
                else " (no content kept: it is read again from the channel)"
            )
        )
    if dead:
        lines.append(
            "  `milwatch replay` tries every dead letter again;"
            " `milwatch replay ID …` only those."
        )
    return "\n".join(lines)


async def replay_dead_letters(store: Store, ids: Sequence[int]) -> tuple[int, list[int]]:
    """Queue dead letters (all, or these ids) for a retry: (how many, ids that are none)."""
    if not ids:
        return await store.requeue_ingest_failures(), []
    known = {f.failure_id for f in await store.list_ingest_failures("dead", limit=1_000_000)}
    unknown = [i for i in ids if i not in known]
    return await store.requeue_ingest_failures([i for i in ids if i in known]), unknown
