"""SQLite persistence: channels, posts, hits, the alert outbox and ruleset history."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from bot.domain import Alert, Evidence, Hit, Post, Severity, StoredHit
from bot.feedback import VERDICTS, RuleFeedback
from bot.storage.health import HealthQueries
from bot.storage.migrations import MIGRATIONS, Migration, apply_migrations
from bot.storage.times import from_db_time, to_db_time

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

ALERT_STATUSES = ("pending", "sent", "failed", "muted")
RULESET_SOURCES = ("file", "chat")
MUTE_KINDS = ("channel", "rule")

# Apostrophe look-alikes Ukrainian text uses interchangeably (п'ять / п’ять / пʼять).
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'", "`": "'"})

_HIT_COLUMNS = """
    h.id AS hit_id, h.rule_id, h.topic, h.severity, h.route, h.spans, h.terms,
    h.created_at AS hit_created_at, h.relevance, h.quiet, h.evidence,
    p.id AS post_id, p.msg_id, p.date, p.text, p.link, p.forwarded_from, p.edited,
    c.username, c.title
"""
_HIT_FROM = """
    FROM hits h
    JOIN posts p ON p.id = h.post_id
    JOIN channels c ON c.id = p.channel_id
"""


def fold_text(text: str) -> str:
    """Case- and ё-insensitive form used for search (SQLite lower() is ASCII-only)."""
    return text.casefold().replace("ё", "е").translate(_APOSTROPHES)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _create_private(path: Path) -> None:
    """Create a new database file with mode 0600 before SQLite opens it.

    It holds every post, the analysts' ids and their feedback; SQLite would create it
    with the umask (often 0644), and its -wal and -shm files take the database's mode.
    """
    if str(path) == ":memory:":
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning(
                "database %s can be read by other users (mode %04o): chmod 600 it", path, mode
            )


def _normalise_channel(username: str) -> str:
    name = username.strip().lstrip("@")
    if not name:
        raise ValueError("empty channel name")
    return name


def _relevance_columns(hit: Hit) -> tuple[float | None, int, str]:
    """(relevance, quiet, evidence JSON) of a hit for the hits table."""
    if hit.relevance is None:
        return None, 0, "[]"
    evidence = [
        {"name": e.name, "weight": e.weight, "words": list(e.words), "note": e.note}
        for e in hit.relevance.evidence
    ]
    return hit.relevance.score, int(not hit.relevance.alert), json.dumps(evidence, ensure_ascii=False)


def _evidence_from_json(text: str | None) -> tuple[Evidence, ...]:
    """The evidence stored with a hit (unknown shapes are skipped, not fatal)."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return ()
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            weight = item.get("weight")
            out.append(Evidence(
                name=item["name"],
                weight=float(weight) if isinstance(weight, (int, float)) else 0.0,
                words=tuple(str(w) for w in item.get("words") or ()),
                note=str(item.get("note") or ""),
            ))
    return tuple(out)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PostWrite:
    """Outcome of add_post: the row id, whether it was new, and whether its text changed."""

    post_id: int
    inserted: bool
    text_changed: bool


@dataclass(frozen=True)
class ChannelState:
    """A channel row: identity plus the reading cursor and last error."""

    channel_id: int
    username: str
    title: str | None
    tg_id: int | None
    access_hash: int | None
    last_msg_id: int | None
    last_post_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class IngestFailure:
    """A post that failed to store: retried with backoff, then kept as a dead letter."""

    failure_id: int
    channel: str
    msg_id: str
    post: Post | None  # None: no post could be built from the message; it is read again
    status: str  # "retrying" or "dead"
    attempts: int
    last_error: str
    next_attempt_at: datetime
    first_failed_at: datetime
    last_failed_at: datetime


@dataclass(frozen=True)
class DeliveryBacklog:
    """Alerts still waiting in the outbox: how many, since when, and why."""

    pending: int
    in_doubt: int
    oldest_created_at: datetime | None
    oldest_error: str | None


def post_to_json(post: Post) -> str:
    """A post as JSON text, for the retry queue (naive dates are kept as they came)."""
    return json.dumps(
        {
            "channel": post.channel,
            "msg_id": post.msg_id,
            "date": post.date.isoformat() if isinstance(post.date, datetime) else str(post.date),
            "text": post.text,
            "channel_title": post.channel_title,
            "link": post.link,
            "forwarded_from": post.forwarded_from,
            "edited": bool(post.edited),
        },
        ensure_ascii=False,
    )


def post_from_json(text: str) -> Post:
    """The post post_to_json wrote."""
    data = json.loads(text)
    return Post(
        channel=data["channel"],
        msg_id=data["msg_id"],
        date=datetime.fromisoformat(data["date"]),
        text=data["text"],
        channel_title=data.get("channel_title"),
        link=data.get("link"),
        forwarded_from=data.get("forwarded_from"),
        edited=bool(data.get("edited")),
    )


@dataclass(frozen=True)
class RulesetRecord:
    """One recorded version of the rule set."""

    record_id: int
    version: str
    source: str
    author: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Mute:
    """A muted channel or rule: hits are still recorded, no alert is queued or sent
    until `until`."""

    kind: str  # "channel" or "rule"
    target: str  # channel username without "@", or rule id
    until: datetime | None  # None: until /unmute
    author: str | None
    created_at: datetime

    def matches(self, channel: str, rule_id: str) -> bool:
        """Whether a hit of rule_id in channel falls under this mute."""
        value = channel.lstrip("@") if self.kind == "channel" else rule_id
        return value.casefold() == self.target.casefold()


class _OpenStore:
    """Result of Store.open: await it, or use it directly with `async with`."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._store: Store | None = None

    def __await__(self) -> Generator[Any, None, Store]:
        return self._opener().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> Store:
        self._store = await self._opener()
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


class Store(HealthQueries):
    """Async SQLite store (WAL, foreign keys on); one connection, serialised by a lock."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock | None = None) -> None:
        """Wrap an open, migrated connection; prefer Store.open()."""
        self._db = db
        self._clock: Clock = clock or _utc_now
        # One connection is shared by every coroutine; the lock keeps one task's
        # transaction from interleaving with another task's statements.
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        busy_timeout_ms: int = 5000,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> _OpenStore:
        """Open (creating if needed) the database at path and apply pending migrations."""

        async def _open() -> Store:
            target = Path(path)
            _create_private(target)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
            db = await aiosqlite.connect(target, isolation_level=None)
            try:
                db.row_factory = aiosqlite.Row
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA foreign_keys=ON")
                await db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                # NORMAL is durable across application crashes in WAL mode.
                await db.execute("PRAGMA synchronous=NORMAL")
                applied = await apply_migrations(db, migrations)
                if applied:
                    logger.info("database %s migrated to version %d", target, applied[-1])
            except BaseException:
                await db.close()
                raise
            return cls(db, clock)

        return _OpenStore(_open)

    async def close(self) -> None:
        """Close the underlying connection."""
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- transactions -------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the enclosed store calls atomically; nests (as a savepoint) within one task."""
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            savepoint = f"sp{self._depth}"
            await self._db.execute(f"SAVEPOINT {savepoint}")
            try:
                yield
            except BaseException:
                # SQLite rolls the whole transaction back by itself on some errors (a
                # full disk, an I/O error): then there is nothing to undo, and trying
                # would hide the error that matters behind "no such savepoint".
                if self._db.in_transaction:
                    await self._db.execute(f"ROLLBACK TO {savepoint}")
                    await self._db.execute(f"RELEASE {savepoint}")
                raise
            finally:
                self._depth -= 1
            await self._db.execute(f"RELEASE {savepoint}")
            return
        async with self._lock:
            self._owner = task
            try:
                # IMMEDIATE takes the write lock up front, so busy_timeout applies
                # here instead of failing later on lock upgrade.
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    if self._db.in_transaction:  # see above: maybe rolled back already
                        await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")
            finally:
                self._owner = None

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Serialise a read with other tasks' transactions (joins our own)."""
        if self._owner is not None and self._owner is asyncio.current_task():
            yield
            return
        async with self._lock:
            yield

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cur:
            return await cur.fetchone()

    def _now(self) -> str:
        return to_db_time(self._clock())

    def now(self) -> datetime:
        """The store's clock: the time it writes into created/due columns."""
        return self._clock()

    # -- channels -----------------------------------------------------------

    async def upsert_channel(self, username: str, title: str | None = None) -> int:
        """Insert the channel if unknown (updating its title if given); return its id."""
        async with self.transaction():
            return await self._upsert_channel(_normalise_channel(username), title)

    async def _upsert_channel(self, username: str, title: str | None) -> int:
        row = await self._fetchone(
            "INSERT INTO channels (username, title, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(username) DO UPDATE SET title = COALESCE(excluded.title, title)"
            " RETURNING id",
            (username, title, self._now()),
        )
        assert row is not None  # RETURNING yields a row on insert and on update
        return int(row[0])

    async def get_channel(self, username: str) -> ChannelState | None:
        """The stored state of a channel, or None if unknown."""
        async with self._reading():
            row = await self._fetchone(
                "SELECT * FROM channels WHERE username = ?", (_normalise_channel(username),)
            )
        if row is None:
            return None
        return self._channel_from_row(row)

    async def list_channels(self) -> list[ChannelState]:
        """Every known channel with its reading state, by name."""
        async with self._reading():
            rows = await self._fetchall("SELECT * FROM channels ORDER BY username COLLATE NOCASE")
        return [self._channel_from_row(row) for row in rows]

    @staticmethod
    def _channel_from_row(row: aiosqlite.Row) -> ChannelState:
        return ChannelState(
            channel_id=row["id"],
            username=row["username"],
            title=row["title"],
            tg_id=row["tg_id"],
            access_hash=row["access_hash"],
            last_msg_id=row["last_msg_id"],
            last_post_at=from_db_time(row["last_post_at"]) if row["last_post_at"] else None,
            last_error=row["last_error"],
        )

    async def update_channel(
        self,
        username: str,
        *,
        title: str | None = None,
        tg_id: int | None = None,
        access_hash: int | None = None,
    ) -> int:
        """Record resolved channel metadata (None keeps the stored value); return its id."""
        async with self.transaction():
            channel_id = await self._upsert_channel(_normalise_channel(username), title)
            await self._db.execute(
                "UPDATE channels SET tg_id = COALESCE(?, tg_id),"
                " access_hash = COALESCE(?, access_hash) WHERE id = ?",
                (tg_id, access_hash, channel_id),
            )
        return channel_id

    async def set_channel_error(self, username: str, error: str | None) -> None:
        """Remember (or clear, with None) the last error reading this channel."""
        async with self.transaction():
            channel_id = await self._upsert_channel(_normalise_channel(username), None)
            await self._db.execute(
                "UPDATE channels SET last_error = ? WHERE id = ?", (error, channel_id)
            )

    async def advance_channel_cursor(self, username: str, msg_id: int) -> None:
        """Move the reading cursor forward to msg_id (never back) for a message that was no post.

        Service messages and caption-less media are read but not stored; without this
        the next backfill would fetch them again forever.
        """
        async with self.transaction():
            channel_id = await self._upsert_channel(_normalise_channel(username), None)
            await self._db.execute(
                "UPDATE channels SET last_msg_id = MAX(COALESCE(last_msg_id, 0), ?) WHERE id = ?",
                (int(msg_id), channel_id),
            )

    async def set_channel_cursor(self, username: str, msg_id: int | None) -> None:
        """Put the reading cursor at msg_id, also backwards (None: never read).

        Used inside a transaction around an ingest to keep the cursor below a gap that
        could not be fetched yet, so the next backfill still covers it.
        """
        async with self.transaction():
            channel_id = await self._upsert_channel(_normalise_channel(username), None)
            await self._db.execute(
                "UPDATE channels SET last_msg_id = ? WHERE id = ?", (msg_id, channel_id)
            )

    async def has_post(self, channel: str, msg_id: str) -> bool:
        """Whether the post (channel, msg_id) is stored (deleted ones included)."""
        async with self._reading():
            row = await self._fetchone(
                "SELECT 1 FROM posts p JOIN channels c ON c.id = p.channel_id"
                " WHERE c.username = ? AND p.msg_id = ?",
                (_normalise_channel(channel), str(msg_id)),
            )
        return row is not None

    # -- posts --------------------------------------------------------------

    async def add_post(self, post: Post) -> PostWrite:
        """Store a post idempotently on (channel, msg_id); a changed text counts as an edit."""
        channel = _normalise_channel(post.channel)
        msg_id = str(post.msg_id).strip()
        if not msg_id:
            raise ValueError("post without msg_id")
        if not isinstance(post.text, str):
            raise TypeError(f"post text must be str, not {type(post.text).__name__}")
        date = to_db_time(post.date)
        digest = _text_hash(post.text)
        async with self.transaction():
            channel_id = await self._upsert_channel(channel, post.channel_title)
            existing = await self._fetchone(
                "SELECT id, text_hash, edited FROM posts WHERE channel_id = ? AND msg_id = ?",
                (channel_id, msg_id),
            )
            if existing is None:
                row = await self._fetchone(
                    "INSERT INTO posts (channel_id, msg_id, date, text, text_fold, text_hash,"
                    " link, forwarded_from, edited, ingested_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        channel_id,
                        msg_id,
                        date,
                        post.text,
                        fold_text(post.text),
                        digest,
                        post.link,
                        post.forwarded_from,
                        int(post.edited),
                        self._now(),
                    ),
                )
                assert row is not None
                result = PostWrite(int(row[0]), inserted=True, text_changed=False)
            else:
                post_id = int(existing["id"])
                changed = existing["text_hash"] != digest
                if changed:
                    await self._db.execute(
                        "UPDATE posts SET text = ?, text_fold = ?, text_hash = ?, edited = 1"
                        " WHERE id = ?",
                        (post.text, fold_text(post.text), digest, post_id),
                    )
                elif post.edited and not existing["edited"]:
                    await self._db.execute("UPDATE posts SET edited = 1 WHERE id = ?", (post_id,))
                result = PostWrite(post_id, inserted=False, text_changed=changed)
            # The reading cursor only moves forward, so replays of old posts are harmless.
            numeric_id = int(msg_id) if msg_id.isdigit() else None
            await self._db.execute(
                "UPDATE channels SET last_msg_id = MAX(COALESCE(last_msg_id, 0), COALESCE(?, 0)),"
                " last_post_at = MAX(COALESCE(last_post_at, ''), ?) WHERE id = ?",
                (numeric_id, date, channel_id),
            )
        return result

    async def mark_deleted(self, channel: str, msg_id: str) -> bool:
        """Flag a post as deleted at the source (it is kept); False if unknown."""
        async with self.transaction():
            cur = await self._db.execute(
                "UPDATE posts SET deleted = 1 WHERE msg_id = ? AND channel_id ="
                " (SELECT id FROM channels WHERE username = ?)",
                (str(msg_id), _normalise_channel(channel)),
            )
            return cur.rowcount > 0

    # -- posts that failed to store: retry queue and dead letters ---------------

    async def record_ingest_failure(
        self,
        channel: str,
        msg_id: str,
        post: Post | None,
        error: str,
        delay: Callable[[int], float],
        max_attempts: int,
    ) -> IngestFailure:
        """Count one failed attempt to store a post; after max_attempts it is a dead letter.

        delay(attempts) is the number of seconds until the next try. The latest content
        wins (an edit may arrive while the post waits); a dead letter stays dead until
        requeue_ingest_failures().
        """
        name = channel.strip().lstrip("@") or "?"
        key = str(msg_id).strip() or "?"
        payload = post_to_json(post) if post is not None else None
        now = self._now()
        async with self.transaction():
            old = await self._fetchone(
                "SELECT attempts, status FROM ingest_failures WHERE channel = ? AND msg_id = ?",
                (name, key),
            )
            attempts = (int(old["attempts"]) if old is not None else 0) + 1
            dead = attempts >= max_attempts or (old is not None and old["status"] == "dead")
            next_attempt_at = self._clock() + timedelta(seconds=delay(attempts))
            await self._db.execute(
                "INSERT INTO ingest_failures (channel, msg_id, post, status, attempts, last_error,"
                " next_attempt_at, first_failed_at, last_failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(channel, msg_id) DO UPDATE SET"
                " post = COALESCE(excluded.post, post), status = excluded.status,"
                " attempts = excluded.attempts, last_error = excluded.last_error,"
                " next_attempt_at = excluded.next_attempt_at,"
                " last_failed_at = excluded.last_failed_at",
                (
                    name,
                    key,
                    payload,
                    "dead" if dead else "retrying",
                    attempts,
                    error,
                    to_db_time(next_attempt_at),
                    now,
                    now,
                ),
            )
            row = await self._fetchone(
                "SELECT * FROM ingest_failures WHERE channel = ? AND msg_id = ?", (name, key)
            )
        assert row is not None
        return self._failure_from_row(row)

    async def clear_ingest_failure(self, channel: str, msg_id: str) -> bool:
        """Forget a failure once its post is stored; False if there was none."""
        async with self.transaction():
            cur = await self._db.execute(
                "DELETE FROM ingest_failures WHERE channel = ? AND msg_id = ?",
                (channel.strip().lstrip("@"), str(msg_id).strip()),
            )
            return cur.rowcount > 0

    async def due_ingest_failures(self, now: datetime, limit: int = 50) -> list[IngestFailure]:
        """Failed posts whose content is kept and whose next try is due, oldest first."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT * FROM ingest_failures WHERE status = 'retrying' AND post IS NOT NULL"
                " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (to_db_time(now), int(limit)),
            )
        return [self._failure_from_row(row) for row in rows]

    async def list_ingest_failures(
        self, status: str | None = None, limit: int = 100
    ) -> list[IngestFailure]:
        """Failed posts (all, or of one status), oldest first."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT * FROM ingest_failures WHERE (? IS NULL OR status = ?)"
                " ORDER BY first_failed_at, id LIMIT ?",
                (status, status, int(limit)),
            )
        return [self._failure_from_row(row) for row in rows]

    async def ingest_failure_counts(self) -> dict[str, dict[str, int]]:
        """Per channel: how many posts are waiting for a retry and how many are dead letters."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT channel, status, COUNT(*) FROM ingest_failures GROUP BY channel, status"
            )
        counts: dict[str, dict[str, int]] = {}
        for channel, status, count in rows:
            counts.setdefault(str(channel), {"retrying": 0, "dead": 0})[str(status)] = int(count)
        return counts

    async def requeue_ingest_failures(self, failure_ids: Sequence[int] | None = None) -> int:
        """Give dead letters (all, or these ids) a fresh round of retries, due now."""
        now = self._now()
        async with self.transaction():
            if failure_ids is None:
                cur = await self._db.execute(
                    "UPDATE ingest_failures SET status = 'retrying', attempts = 0,"
                    " next_attempt_at = ? WHERE status = 'dead'",
                    (now,),
                )
                return cur.rowcount
            changed = 0
            for failure_id in dict.fromkeys(int(i) for i in failure_ids):
                cur = await self._db.execute(
                    "UPDATE ingest_failures SET status = 'retrying', attempts = 0,"
                    " next_attempt_at = ? WHERE id = ?",
                    (now, failure_id),
                )
                changed += cur.rowcount
            return changed

    async def resume_point(self, channel: str) -> int | None:
        """Where reading the channel resumes: its cursor, held below any post still retried.

        None when the channel was never read.
        """
        name = _normalise_channel(channel)
        async with self._reading():
            row = await self._fetchone(
                "SELECT c.last_msg_id,"
                " (SELECT MIN(CAST(f.msg_id AS INTEGER)) FROM ingest_failures f"
                "  WHERE f.channel = c.username AND f.status = 'retrying'"
                "  AND f.msg_id NOT GLOB '*[^0-9]*' AND f.msg_id != '')"
                " FROM channels c WHERE c.username = ?",
                (name,),
            )
        if row is None or row[0] is None:
            return None
        cursor, failed = int(row[0]), row[1]
        return cursor if failed is None else min(cursor, int(failed) - 1)

    @staticmethod
    def _failure_from_row(row: aiosqlite.Row) -> IngestFailure:
        return IngestFailure(
            failure_id=int(row["id"]),
            channel=row["channel"],
            msg_id=row["msg_id"],
            post=post_from_json(row["post"]) if row["post"] else None,
            status=row["status"],
            attempts=int(row["attempts"]),
            last_error=row["last_error"],
            next_attempt_at=from_db_time(row["next_attempt_at"]),
            first_failed_at=from_db_time(row["first_failed_at"]),
            last_failed_at=from_db_time(row["last_failed_at"]),
        )

    # -- hits and the outbox --------------------------------------------------

    async def add_hits(self, post_id: int, hits: Sequence[Hit], ruleset_version: str) -> list[int]:
        """Record hits for a post; return the ids that now need an alert: NEW rows (one
        row per post and rule) and rows an edit raised from quiet to alerting.

        A rule that already hit this post keeps its row (and so its alert); its spans,
        terms and relevance are refreshed, because an edited text moves the offsets.
        Quiet hits are returned too when new: the caller decides by `hit.alerts`.
        """
        new_ids: list[int] = []
        async with self.transaction():
            now = self._now()
            for hit in hits:
                spans = json.dumps([list(span) for span in hit.spans])
                terms = json.dumps(hit.words, ensure_ascii=False)
                score, quiet, evidence = _relevance_columns(hit)
                row = await self._fetchone(
                    "INSERT INTO hits (post_id, rule_id, topic, severity, route, spans, terms,"
                    " ruleset_version, created_at, relevance, quiet, evidence)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(post_id, rule_id) DO NOTHING RETURNING id",
                    (
                        post_id,
                        hit.rule_id,
                        hit.topic,
                        Severity(hit.severity).value,
                        hit.route,
                        spans,
                        terms,
                        ruleset_version,
                        now,
                        score,
                        quiet,
                        evidence,
                    ),
                )
                if row is not None:
                    new_ids.append(int(row[0]))
                    continue
                old = await self._fetchone(
                    "SELECT id, quiet FROM hits WHERE post_id = ? AND rule_id = ?", (post_id, hit.rule_id)
                )
                await self._db.execute(
                    "UPDATE hits SET spans = ?, terms = ?, ruleset_version = ?, relevance = ?,"
                    " quiet = ?, evidence = ? WHERE post_id = ? AND rule_id = ?",
                    (spans, terms, ruleset_version, score, quiet, evidence, post_id, hit.rule_id),
                )
                if old is not None and old["quiet"] and not quiet:
                    new_ids.append(int(old["id"]))  # an edit made it sure enough to alert
        return new_ids

    async def enqueue_alert(
        self, hit_id: int, route: str, at: datetime | None = None
    ) -> int | None:
        """Put a hit in the outbox for route, due at `at` (default now); None if already there.

        The alerts of one post share one `at`, so no flush sees some of them due and not
        the others (they go out as one card).
        """
        async with self.transaction():
            now = to_db_time(at) if at is not None else self._now()
            row = await self._fetchone(
                "INSERT INTO alerts (hit_id, route, status, next_attempt_at, created_at)"
                " VALUES (?, ?, 'pending', ?, ?) ON CONFLICT(hit_id) DO NOTHING RETURNING id",
                (hit_id, route, now, now),
            )
        return int(row[0]) if row is not None else None

    async def due_alerts(self, now: datetime, limit: int = 100) -> list[Alert]:
        """Pending alerts whose next attempt is due, oldest first."""
        async with self._reading():
            rows = await self._fetchall(
                f"SELECT a.id AS alert_id, a.route AS alert_route, a.status, a.attempts,"
                f" a.last_error, a.sending_at, {_HIT_COLUMNS} FROM alerts a"
                f" JOIN hits h ON h.id = a.hit_id"
                f" JOIN posts p ON p.id = h.post_id JOIN channels c ON c.id = p.channel_id"
                f" WHERE a.status = 'pending' AND a.next_attempt_at <= ?"
                f" ORDER BY a.id LIMIT ?",
                (to_db_time(now), limit),
            )
        return [self._alert_from_row(row) for row in rows]

    async def get_alert(self, alert_id: int) -> Alert | None:
        """One outbox entry by id, whatever its status."""
        async with self._reading():
            row = await self._fetchone(
                f"SELECT a.id AS alert_id, a.route AS alert_route, a.status, a.attempts,"
                f" a.last_error, a.sending_at, {_HIT_COLUMNS} FROM alerts a"
                f" JOIN hits h ON h.id = a.hit_id"
                f" JOIN posts p ON p.id = h.post_id JOIN channels c ON c.id = p.channel_id"
                f" WHERE a.id = ?",
                (alert_id,),
            )
        return self._alert_from_row(row) if row is not None else None

    async def mark_sent(self, alert_id: int) -> None:
        """Record a successful delivery."""
        await self._set_status(
            "UPDATE alerts SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
            " sent_at = ? WHERE id = ? AND status = 'pending'",
            (self._now(), alert_id),
            alert_id,
        )

    async def mark_retry(
        self, alert_id: int, error: str, next_attempt_at: datetime, *, in_doubt: bool = False
    ) -> None:
        """Record a failed attempt that should be retried at next_attempt_at.

        in_doubt: the card may have arrived all the same (a timeout, a cut connection),
        so the alert stays marked as in doubt; otherwise Telegram refused it and the mark
        set by mark_sending_many is cleared.
        """
        await self._set_status(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " sending_at = CASE WHEN ? THEN sending_at ELSE NULL END"
            " WHERE id = ? AND status = 'pending'",
            (error, to_db_time(next_attempt_at), int(in_doubt), alert_id),
            alert_id,
        )

    async def mark_sending_many(self, alert_ids: Sequence[int]) -> int:
        """Record that a send of these alerts begins (committed before the send).

        If the process dies before the outcome is recorded, the mark stays: the next
        start knows these alerts are in doubt and checks the chat before sending again.
        A mark already there is kept, so it always says when the first unrecorded
        attempt began.
        """
        return await self._set_many(
            "UPDATE alerts SET sending_at = COALESCE(sending_at, ?)"
            " WHERE status = 'pending' AND id IN ({ids})",
            (self._now(),),
            alert_ids,
        )

    async def clear_sending_many(self, alert_ids: Sequence[int]) -> int:
        """Forget the in-doubt mark: the chat shows these cards never arrived."""
        return await self._set_many(
            "UPDATE alerts SET sending_at = NULL WHERE status = 'pending' AND id IN ({ids})",
            (),
            alert_ids,
        )

    async def mark_sent_many(self, alert_ids: Sequence[int]) -> int:
        """Record one delivery (a digest) of several alerts atomically; return how many moved."""
        return await self._set_many(
            "UPDATE alerts SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
            " sent_at = ? WHERE status = 'pending' AND id IN ({ids})",
            (self._now(),),
            alert_ids,
        )

    async def defer(
        self, alert_id: int, next_attempt_at: datetime, reason: str = "rate limited"
    ) -> None:
        """Postpone a pending alert without counting an attempt (rate limit, flood wait)."""
        await self.defer_many([alert_id], next_attempt_at, reason)

    async def defer_many(
        self, alert_ids: Sequence[int], next_attempt_at: datetime, reason: str = "rate limited"
    ) -> int:
        """defer() for several alerts in one transaction; return how many moved."""
        return await self._set_many(
            "UPDATE alerts SET last_error = ?, next_attempt_at = ?"
            " WHERE status = 'pending' AND id IN ({ids})",
            (reason, to_db_time(next_attempt_at)),
            alert_ids,
        )

    async def _set_many(self, sql: str, params: Sequence[Any], alert_ids: Sequence[int]) -> int:
        ids = list(dict.fromkeys(int(i) for i in alert_ids))
        changed = 0
        async with self.transaction():
            # Chunks stay far below SQLite's bound-parameter limit.
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" for _ in chunk)
                cur = await self._db.execute(sql.format(ids=marks), [*params, *chunk])
                changed += cur.rowcount
        if changed != len(ids):
            logger.warning(
                "%d of %d alerts were not pending; status left unchanged",
                len(ids) - changed,
                len(ids),
            )
        return changed

    async def mark_muted_many(self, alert_ids: Sequence[int], reason: str) -> int:
        """Drop pending alerts a mute now covers (kept, with the reason); return how many."""
        return await self._set_many(
            "UPDATE alerts SET status = 'muted', last_error = ? WHERE status = 'pending' AND id IN ({ids})",
            (reason,),
            alert_ids,
        )

    async def delivery_backlog(self) -> DeliveryBacklog:
        """Pending alerts: how many, how many in doubt, the oldest one's age and error."""
        async with self._reading():
            row = await self._fetchone(
                "SELECT COUNT(*), COUNT(sending_at) FROM alerts WHERE status = 'pending'"
            )
            oldest = await self._fetchone(
                "SELECT created_at, last_error FROM alerts WHERE status = 'pending'"
                " ORDER BY created_at, id LIMIT 1"
            )
        assert row is not None
        return DeliveryBacklog(
            pending=int(row[0]),
            in_doubt=int(row[1]),
            oldest_created_at=from_db_time(oldest[0]) if oldest is not None else None,
            oldest_error=oldest[1] if oldest is not None else None,
        )

    async def alert_status_counts(self) -> dict[str, int]:
        """How many alerts the outbox holds in each status (all time)."""
        async with self._reading():
            rows = await self._fetchall("SELECT status, COUNT(*) FROM alerts GROUP BY status")
        counts = {status: 0 for status in ALERT_STATUSES}
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    async def mark_failed(self, alert_id: int, error: str) -> None:
        """Give up on an alert; it stays in the outbox with its error."""
        await self._set_status(
            "UPDATE alerts SET status = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ? AND status = 'pending'",
            (error, alert_id),
            alert_id,
        )

    async def _set_status(self, sql: str, params: Sequence[Any], alert_id: int) -> None:
        async with self.transaction():
            cur = await self._db.execute(sql, params)
            changed = cur.rowcount
        if not changed:
            # Only pending alerts move; anything else means a double delivery attempt.
            logger.warning("alert %d was not pending; status left unchanged", alert_id)

    # -- ruleset history ----------------------------------------------------

    async def record_ruleset(self, version: str, text: str, source: str, author: str | None) -> int:
        """Record a rule set version; returns the latest row's id if it is the same version."""
        if source not in RULESET_SOURCES:
            raise ValueError(f"ruleset source must be one of {RULESET_SOURCES}, not {source!r}")
        async with self.transaction():
            latest = await self._fetchone(
                "SELECT id, version FROM ruleset_versions ORDER BY id DESC LIMIT 1"
            )
            if latest is not None and latest["version"] == version:
                return int(latest["id"])
            row = await self._fetchone(
                "INSERT INTO ruleset_versions (version, source, author, text, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (version, source, author, text, self._now()),
            )
        assert row is not None
        return int(row[0])

    async def latest_ruleset(self) -> RulesetRecord | None:
        """The most recently recorded rule set, if any."""
        async with self._reading():
            row = await self._fetchone("SELECT * FROM ruleset_versions ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        return RulesetRecord(
            record_id=row["id"],
            version=row["version"],
            source=row["source"],
            author=row["author"],
            text=row["text"],
            created_at=from_db_time(row["created_at"]),
        )

    async def ruleset_history(self, limit: int = 20) -> list[RulesetRecord]:
        """The most recently recorded rule set versions, newest first."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT * FROM ruleset_versions ORDER BY id DESC LIMIT ?", (int(limit),)
            )
        return [self._ruleset_from_row(row) for row in rows]

    async def find_ruleset(self, version: str) -> list[RulesetRecord]:
        """Recorded versions whose id starts with version (4+ characters), newest first."""
        prefix = version.strip().lower()
        if len(prefix) < 4:
            return []
        async with self._reading():
            rows = await self._fetchall(
                "SELECT * FROM ruleset_versions WHERE substr(version, 1, ?) = ? ORDER BY id DESC",
                (len(prefix), prefix),
            )
        return [self._ruleset_from_row(row) for row in rows]

    @staticmethod
    def _ruleset_from_row(row: aiosqlite.Row) -> RulesetRecord:
        return RulesetRecord(
            record_id=row["id"],
            version=row["version"],
            source=row["source"],
            author=row["author"],
            text=row["text"],
            created_at=from_db_time(row["created_at"]),
        )

    # -- mutes: a channel or a rule silenced for a while ----------------------

    async def add_mute(
        self, kind: str, target: str, until: datetime | None, author: str | None
    ) -> None:
        """Mute a channel or rule until a time (None: until removed); replaces an older mute."""
        if kind not in MUTE_KINDS:
            raise ValueError(f"mute kind must be one of {MUTE_KINDS}, not {kind!r}")
        name = _normalise_channel(target) if kind == "channel" else target.strip()
        if not name:
            raise ValueError("empty mute target")
        async with self.transaction():
            await self._db.execute(
                "INSERT INTO mutes (kind, target, until, author, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(kind, target) DO UPDATE SET until = excluded.until,"
                " author = excluded.author, created_at = excluded.created_at",
                (kind, name, to_db_time(until) if until else None, author, self._now()),
            )

    async def remove_mute(self, kind: str, target: str) -> bool:
        """Lift a mute; False if there was none (expired mutes count as none)."""
        name = _normalise_channel(target) if kind == "channel" else target.strip()
        async with self.transaction():
            cur = await self._db.execute(
                "DELETE FROM mutes WHERE kind = ? AND target = ? AND (until IS NULL OR until > ?)",
                (kind, name, self._now()),
            )
            removed = cur.rowcount
            # Expired rows are only history; drop them too.
            await self._db.execute(
                "DELETE FROM mutes WHERE kind = ? AND target = ?", (kind, name)
            )
        return removed > 0

    async def active_mutes(self, now: datetime | None = None) -> list[Mute]:
        """Mutes in force at now (the store's clock if not given), soonest to end first."""
        moment = to_db_time(now or self._clock())
        async with self._reading():
            rows = await self._fetchall(
                "SELECT kind, target, until, author, created_at FROM mutes"
                " WHERE until IS NULL OR until > ?"
                " ORDER BY until IS NULL, until, kind, target",
                (moment,),
            )
        return [
            Mute(
                kind=row["kind"],
                target=row["target"],
                until=from_db_time(row["until"]) if row["until"] else None,
                author=row["author"],
                created_at=from_db_time(row["created_at"]),
            )
            for row in rows
        ]

    # -- queries for analyst commands ---------------------------------------

    async def recent_hits(
        self, limit: int, topic: str | None = None, channel: str | None = None
    ) -> list[StoredHit]:
        """Latest hits, newest post first, optionally for one topic and/or channel."""
        channel_name = _normalise_channel(channel) if channel is not None else None
        async with self._reading():
            rows = await self._fetchall(
                f"SELECT {_HIT_COLUMNS} {_HIT_FROM}"
                " WHERE (? IS NULL OR h.topic = ? COLLATE NOCASE)"
                " AND (? IS NULL OR c.username = ?)"
                " ORDER BY p.date DESC, h.id DESC LIMIT ?",
                (topic, topic, channel_name, channel_name, limit),
            )
        return [self._hit_from_row(row) for row in rows]

    async def recent_hit_posts(
        self, limit: int, topic: str | None = None, channel: str | None = None
    ) -> list[list[StoredHit]]:
        """The latest posts with hits, newest first, each as its hits (optionally only one
        topic's, and/or one channel's posts)."""
        channel_name = _normalise_channel(channel) if channel is not None else None
        where = "(? IS NULL OR h.topic = ? COLLATE NOCASE) AND (? IS NULL OR c.username = ?)"
        params = (topic, topic, channel_name, channel_name)
        async with self._reading():
            rows = await self._fetchall(
                f"SELECT {_HIT_COLUMNS} {_HIT_FROM} WHERE {where} AND h.post_id IN ("
                f"  SELECT h.post_id {_HIT_FROM} WHERE {where}"
                "   GROUP BY h.post_id ORDER BY MAX(p.date) DESC, h.post_id DESC LIMIT ?)"
                " ORDER BY p.date DESC, p.id DESC, h.id",
                (*params, *params, limit),
            )
        posts: dict[int, list[StoredHit]] = {}
        for row in rows:
            posts.setdefault(int(row["post_id"]), []).append(self._hit_from_row(row))
        return list(posts.values())

    async def get_hit(self, hit_id: int) -> StoredHit | None:
        """One stored hit by id."""
        async with self._reading():
            row = await self._fetchone(
                f"SELECT {_HIT_COLUMNS} {_HIT_FROM} WHERE h.id = ?", (hit_id,)
            )
        return self._hit_from_row(row) if row is not None else None

    async def search_posts(
        self, query: str, since: datetime | None = None, limit: int = 10
    ) -> list[tuple[Post, list[StoredHit]]]:
        """Posts whose text contains query (case/ё-insensitive), newest first, with their hits."""
        needle = fold_text(query.strip())
        if not needle:
            raise ValueError("empty search query")
        since_text = to_db_time(since) if since is not None else None
        async with self._reading():
            rows = await self._fetchall(
                "SELECT p.id AS post_id, p.msg_id, p.date, p.text, p.link, p.forwarded_from,"
                " p.edited, c.username, c.title FROM posts p"
                " JOIN channels c ON c.id = p.channel_id"
                # instr(), not LIKE: a LIKE pattern ends at a NUL character ("%\0%" found
                # every post) and is refused past 50,000 bytes; instr compares the bytes.
                " WHERE instr(p.text_fold, ?) > 0 AND (? IS NULL OR p.date >= ?)"
                " ORDER BY p.date DESC, p.id DESC LIMIT ?",
                (needle, since_text, since_text, limit),
            )
            post_ids = [int(row["post_id"]) for row in rows]
            hit_rows: list[aiosqlite.Row] = []
            if post_ids:
                marks = ",".join("?" for _ in post_ids)
                hit_rows = await self._fetchall(
                    f"SELECT {_HIT_COLUMNS} {_HIT_FROM} WHERE h.post_id IN ({marks}) ORDER BY h.id",
                    post_ids,
                )
        hits_by_post: dict[int, list[StoredHit]] = {pid: [] for pid in post_ids}
        for hit_row in hit_rows:
            hits_by_post[int(hit_row["post_id"])].append(self._hit_from_row(hit_row))
        return [(self._post_from_row(row), hits_by_post[int(row["post_id"])]) for row in rows]

    async def count_posts_containing(self, query: str, since: datetime | None = None) -> int:
        """How many posts search_posts would find without its limit."""
        needle = fold_text(query.strip())
        since_text = to_db_time(since) if since is not None else None
        async with self._reading():
            row = await self._fetchone(
                # instr(), as search_posts: a LIKE pattern would end at a NUL character.
                "SELECT COUNT(*) FROM posts p WHERE instr(p.text_fold, ?) > 0"
                " AND (? IS NULL OR p.date >= ?)",
                (needle, since_text, since_text),
            )
        return int(row[0]) if row is not None else 0

    async def known_topics(self) -> list[str]:
        """Every topic that has at least one hit, alphabetically."""
        async with self._reading():
            rows = await self._fetchall("SELECT DISTINCT topic FROM hits ORDER BY topic")
        return [str(row[0]) for row in rows]

    async def stats(self, since: datetime) -> dict[str, Any]:
        """Activity since a moment: posts read, hits per topic and channel, alerts by status."""
        since_text = to_db_time(since)
        async with self._reading():
            posts = await self._fetchone(
                "SELECT COUNT(*) FROM posts WHERE ingested_at >= ?", (since_text,)
            )
            by_topic = await self._fetchall(
                "SELECT topic, COUNT(*) FROM hits WHERE created_at >= ?"
                " GROUP BY topic ORDER BY COUNT(*) DESC, topic",
                (since_text,),
            )
            by_channel = await self._fetchall(
                f"SELECT c.username, COUNT(*) {_HIT_FROM} WHERE h.created_at >= ?"
                " GROUP BY c.username ORDER BY COUNT(*) DESC, c.username",
                (since_text,),
            )
            by_status = await self._fetchall(
                "SELECT status, COUNT(*) FROM alerts WHERE created_at >= ? GROUP BY status",
                (since_text,),
            )
            quiet = await self._fetchone(
                "SELECT COUNT(*) FROM hits WHERE created_at >= ? AND quiet = 1", (since_text,)
            )
        statuses = {status: 0 for status in ALERT_STATUSES}
        statuses.update({str(row[0]): int(row[1]) for row in by_status})
        topics = {str(row[0]): int(row[1]) for row in by_topic}
        return {
            "since": since.astimezone(UTC),
            "posts": int(posts[0]) if posts else 0,
            "hits": sum(topics.values()),
            "hits_by_topic": topics,
            "hits_by_channel": {str(row[0]): int(row[1]) for row in by_channel},
            "alerts_by_status": statuses,
            "quiet_hits": int(quiet[0]) if quiet else 0,
        }

    async def counts(self) -> dict[str, int]:
        """Overall row counts: channels, posts, hits, alerts."""
        async with self._reading():
            row = await self._fetchone(
                "SELECT (SELECT COUNT(*) FROM channels), (SELECT COUNT(*) FROM posts),"
                " (SELECT COUNT(*) FROM hits), (SELECT COUNT(*) FROM alerts)"
            )
        assert row is not None
        return {"channels": row[0], "posts": row[1], "hits": row[2], "alerts": row[3]}

    # -- backtests: every stored post, in batches ----------------------------

    async def count_posts(self, since: datetime | None = None) -> int:
        """How many posts are stored (posted at or after since, if given)."""
        since_text = to_db_time(since) if since is not None else None
        async with self._reading():
            row = await self._fetchone(
                "SELECT COUNT(*) FROM posts WHERE (? IS NULL OR date >= ?)",
                (since_text, since_text),
            )
        return int(row[0]) if row else 0

    async def post_batches(
        self, since: datetime | None = None, batch_size: int = 1000
    ) -> AsyncGenerator[list[tuple[int, Post]], None]:
        """Every stored post with its channel as (post id, Post), oldest first, in batches.

        Keyset pagination on (date, id) over the date index: one query per batch, the
        lock is held only while a batch is read, and memory stays bounded on any size.
        Posts deleted at the source are included (they were real posts when they came).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        since_text = to_db_time(since) if since is not None else ""
        last_date, last_id = since_text, 0
        while True:
            async with self._reading():
                rows = await self._fetchall(
                    "SELECT p.id AS post_id, p.msg_id, p.date, p.text, p.link, p.forwarded_from,"
                    " p.edited, c.username, c.title FROM posts p"
                    " JOIN channels c ON c.id = p.channel_id"
                    " WHERE p.date >= ? AND (p.date > ? OR p.id > ?)"
                    " ORDER BY p.date, p.id LIMIT ?",
                    (last_date, last_date, last_id, batch_size),
                )
            if not rows:
                return
            yield [(int(row["post_id"]), self._post_from_row(row)) for row in rows]
            if len(rows) < batch_size:
                return
            last_date, last_id = str(rows[-1]["date"]), int(rows[-1]["post_id"])

    async def stream_posts(
        self, since: datetime | None = None, batch_size: int = 1000
    ) -> AsyncIterator[tuple[int, Post]]:
        """post_batches() one post at a time."""
        async for batch in self.post_batches(since, batch_size):
            for item in batch:
                yield item

    # -- analyst feedback on alert cards ---------------------------------------

    async def add_feedback(
        self, hit_id: int, verdict: str, author: str, *, whole_post: bool = False
    ) -> bool:
        """Record an analyst's verdict on a hit; a second vote by the same author replaces it.

        verdict is "useful" or "false_positive". False if the hit is not (or no longer)
        stored. With whole_post, the verdict covers every hit of the hit's post: one alert
        card names all the rules that fired on a post, so a mark on the card judges them all.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        async with self.transaction():
            known = await self._fetchone("SELECT post_id FROM hits WHERE id = ?", (int(hit_id),))
            if known is None:
                return False
            if whole_post:
                rows = await self._fetchall("SELECT id FROM hits WHERE post_id = ?", (known[0],))
                targets = [int(row[0]) for row in rows]
            else:
                targets = [int(hit_id)]
            for target in targets:
                await self._db.execute(
                    "INSERT INTO feedback (hit_id, verdict, author, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(hit_id, author) DO UPDATE SET verdict = excluded.verdict,"
                    " created_at = excluded.created_at",
                    (target, verdict, str(author), self._now()),
                )
        return True

    async def judged_posts(self, since: datetime | None = None) -> list[tuple[Post, dict[str, bool]]]:
        """Posts the analysts marked, with per topic whether the marks found it useful (the
        majority of the marks on its hits of that topic; a tie says nothing)."""
        since_text = to_db_time(since) if since is not None else None
        async with self._reading():
            rows = await self._fetchall(
                "SELECT p.id AS post_id, p.msg_id, p.date, p.text, p.link, p.forwarded_from, p.edited,"
                " c.username, c.title, h.topic,"
                " SUM(f.verdict = 'useful') AS useful, SUM(f.verdict = 'false_positive') AS wrong"
                " FROM feedback f JOIN hits h ON h.id = f.hit_id JOIN posts p ON p.id = h.post_id"
                " JOIN channels c ON c.id = p.channel_id"
                " WHERE (? IS NULL OR f.created_at >= ?) GROUP BY p.id, h.topic ORDER BY p.id",
                (since_text, since_text),
            )
        posts: dict[int, tuple[Post, dict[str, bool]]] = {}
        for row in rows:
            useful, wrong = int(row["useful"]), int(row["wrong"])
            if useful == wrong:
                continue
            entry = posts.setdefault(int(row["post_id"]), (self._post_from_row(row), {}))
            entry[1][str(row["topic"])] = useful > wrong
        return list(posts.values())

    async def feedback_for_hit(self, hit_id: int) -> dict[str, str]:
        """Every author's verdict on one hit."""
        async with self._reading():
            rows = await self._fetchall(
                "SELECT author, verdict FROM feedback WHERE hit_id = ? ORDER BY author",
                (int(hit_id),),
            )
        return {str(row[0]): str(row[1]) for row in rows}

    async def feedback_by_rule(self, since: datetime | None = None) -> list[RuleFeedback]:
        """(rule_id, useful, false_positive, precision) per rule from the marks, worst first.

        Every author's mark counts once per hit; since filters on when the mark was made.
        Ties on precision put the rule with more false positives first.
        """
        since_text = to_db_time(since) if since is not None else None
        async with self._reading():
            rows = await self._fetchall(
                "SELECT h.rule_id,"
                " SUM(f.verdict = 'useful'), SUM(f.verdict = 'false_positive')"
                " FROM feedback f JOIN hits h ON h.id = f.hit_id"
                " WHERE (? IS NULL OR f.created_at >= ?) GROUP BY h.rule_id",
                (since_text, since_text),
            )
        out = [
            RuleFeedback(str(rule), int(useful), int(wrong), int(useful) / (int(useful) + int(wrong)))
            for rule, useful, wrong in rows
        ]
        out.sort(key=lambda r: (r.precision, -r.false_positive, r.rule_id))
        return out

    # -- row mapping ----------------------------------------------------------

    @staticmethod
    def _post_from_row(row: aiosqlite.Row) -> Post:
        return Post(
            channel=row["username"],
            msg_id=row["msg_id"],
            date=from_db_time(row["date"]),
            text=row["text"],
            channel_title=row["title"],
            link=row["link"],
            forwarded_from=row["forwarded_from"],
            edited=bool(row["edited"]),
        )

    @classmethod
    def _hit_from_row(cls, row: aiosqlite.Row) -> StoredHit:
        return StoredHit(
            hit_id=row["hit_id"],
            post=cls._post_from_row(row),
            rule_id=row["rule_id"],
            topic=row["topic"],
            severity=Severity(row["severity"]),
            route=row["route"],
            spans=tuple((int(s), int(e)) for s, e in json.loads(row["spans"])),
            terms=tuple(str(t) for t in json.loads(row["terms"])),
            created_at=from_db_time(row["hit_created_at"]),
            relevance=row["relevance"],
            quiet=bool(row["quiet"]),
            evidence=_evidence_from_json(row["evidence"]),
        )

    @classmethod
    def _alert_from_row(cls, row: aiosqlite.Row) -> Alert:
        return Alert(
            alert_id=row["alert_id"],
            hit=cls._hit_from_row(row),
            status=row["status"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            # The outbox route may differ from the rule's (unknown routes fall back to
            # the default), so it travels in extra rather than via hit.route.
            extra={"route": row["alert_route"]},
            in_doubt_since=from_db_time(row["sending_at"]) if row["sending_at"] else None,
        )
