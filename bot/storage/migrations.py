"""Numbered, append-only schema migrations, tracked in the `schema_version` table."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

logger = logging.getLogger(__name__)

MigrationStep = str | Callable[[aiosqlite.Connection], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL script or an async function run inside a transaction."""

    version: int
    name: str
    step: MigrationStep


# Append only: never edit or renumber a migration that has shipped, because
# databases in the field have already recorded it as applied.
_V1_SCHEMA = """
CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    title         TEXT,
    tg_id         INTEGER,
    access_hash   INTEGER,
    last_msg_id   INTEGER,
    last_post_at  TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE posts (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    msg_id          TEXT NOT NULL,
    date            TEXT NOT NULL,
    text            TEXT NOT NULL,
    text_fold       TEXT NOT NULL,
    text_hash       TEXT NOT NULL,
    link            TEXT,
    forwarded_from  TEXT,
    edited          INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    ingested_at     TEXT NOT NULL,
    UNIQUE (channel_id, msg_id)
);
CREATE INDEX posts_date ON posts(date);
CREATE INDEX posts_ingested_at ON posts(ingested_at);

CREATE TABLE hits (
    id               INTEGER PRIMARY KEY,
    post_id          INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    rule_id          TEXT NOT NULL,
    topic            TEXT NOT NULL,
    severity         TEXT NOT NULL,
    route            TEXT NOT NULL,
    spans            TEXT NOT NULL,
    terms            TEXT NOT NULL,
    ruleset_version  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (post_id, rule_id)
);
CREATE INDEX hits_topic ON hits(topic);
CREATE INDEX hits_created_at ON hits(created_at);

CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    hit_id           INTEGER NOT NULL UNIQUE REFERENCES hits(id) ON DELETE CASCADE,
    route            TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX alerts_due ON alerts(status, next_attempt_at);

CREATE TABLE ruleset_versions (
    id          INTEGER PRIMARY KEY,
    version     TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('file', 'chat')),
    author      TEXT,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX ruleset_versions_version ON ruleset_versions(version);
"""

_V2_MUTES = """
CREATE TABLE mutes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('channel', 'rule')),
    target      TEXT NOT NULL COLLATE NOCASE,
    until       TEXT,
    author      TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (kind, target)
);
"""

_V3_FEEDBACK = """
CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    hit_id      INTEGER NOT NULL REFERENCES hits(id) ON DELETE CASCADE,
    verdict     TEXT NOT NULL CHECK (verdict IN ('false_positive', 'useful')),
    author      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    UNIQUE (hit_id, author)
);
CREATE INDEX feedback_hit ON feedback(hit_id);
"""

# SQLite cannot change a CHECK constraint in place: the table is rebuilt (nothing
# refers to alerts; its index is made again).
_V4_MUTED_ALERTS = """
CREATE TABLE alerts_v4 (
    id               INTEGER PRIMARY KEY,
    hit_id           INTEGER NOT NULL UNIQUE REFERENCES hits(id) ON DELETE CASCADE,
    route            TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed', 'muted')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
INSERT INTO alerts_v4 (id, hit_id, route, status, attempts, last_error, next_attempt_at, created_at, sent_at)
    SELECT id, hit_id, route, status, attempts, last_error, next_attempt_at, created_at, sent_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v4 RENAME TO alerts;
CREATE INDEX alerts_due ON alerts(status, next_attempt_at);
"""

_V5_RELEVANCE = """
ALTER TABLE hits ADD COLUMN relevance REAL;
ALTER TABLE hits ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hits ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]';
"""

_V6_DELIVERY_SAFETY = """
CREATE TABLE ingest_failures (
    id               INTEGER PRIMARY KEY,
    channel          TEXT NOT NULL COLLATE NOCASE,
    msg_id           TEXT NOT NULL,
    post             TEXT,
    status           TEXT NOT NULL DEFAULT 'retrying' CHECK (status IN ('retrying', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    first_failed_at  TEXT NOT NULL,
    last_failed_at   TEXT NOT NULL,
    UNIQUE (channel, msg_id)
);
CREATE INDEX ingest_failures_due ON ingest_failures(status, next_attempt_at);
ALTER TABLE alerts ADD COLUMN sending_at TEXT;
"""

_V8_HEALTH = """
CREATE TABLE health_checks (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('channel', 'pipeline')),
    subject         TEXT NOT NULL COLLATE NOCASE,
    state           TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    since           TEXT NOT NULL,
    checked_at      TEXT NOT NULL,
    last_read_at    TEXT,
    notified_state  TEXT,
    notified_at     TEXT,
    UNIQUE (kind, subject)
);
CREATE INDEX posts_date_channel ON posts(date, channel_id);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1_SCHEMA),
    # Operators silence a channel or a rule for a while: hits are kept, alerts are not sent.
    Migration(2, "mutes", _V2_MUTES),
    # Analysts mark alert cards "false positive" or "useful"; precision per rule from it.
    Migration(3, "feedback", _V3_FEEDBACK),
    # A mute also stops alerts already queued for the muted channel or rule.
    Migration(4, "muted alerts", _V4_MUTED_ALERTS),
    # The relevance stage's score and evidence per hit; quiet hits are kept, not alerted.
    Migration(5, "hit relevance", _V5_RELEVANCE),
    # Posts that failed to store wait for a retry (then a dead letter) instead of being
    # skipped; an alert whose send began but was never recorded is known to be in doubt.
    Migration(6, "ingest failures, alerts in doubt", _V6_DELIVERY_SAFETY),
    # The service's last verdict on each channel (ok, quiet, silent, error) and on its
    # own pipeline, and what the operator was last told, so a notice is sent once per
    # change, also across restarts. The index lets the rhythms of every channel be read
    # from the index alone (9x faster on 112,000 posts). (7 is another change's number.)
    Migration(8, "channel and pipeline health", _V8_HEALTH),
)


async def current_version(conn: aiosqlite.Connection) -> int:
    """The highest applied migration version, 0 for an empty database."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements, so each runs inside our own transaction."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]!r}")
    return statements


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply every migration newer than the recorded version; return the versions applied.

    The connection must be in autocommit mode (isolation_level=None): each migration
    runs in its own explicit transaction together with its schema_version row, so a
    failing step leaves the database at the previous version.
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be unique and increasing: {versions}")
    done = await current_version(conn)
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= done:
            continue
        logger.info("applying migration %d: %s", migration.version, migration.name)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(migration.step, str):
                # Not executescript(): it would COMMIT first and break atomicity.
                for statement in _split_statements(migration.step):
                    await conn.execute(statement)
            else:
                await migration.step(conn)
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        applied.append(migration.version)
    return applied
