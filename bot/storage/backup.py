"""`milwatch backup` and `milwatch restore`: a consistent copy of the database, and back.

A backup is SQLite's `VACUUM INTO`: one read transaction, so the copy is the database
as of one moment even while the service writes (the WAL's committed pages included),
compacted, in a single self-contained file. It is written next to its target under a
temporary name, checked (`PRAGMA integrity_check`), synced and only then renamed into
place: a full disk or a crash leaves no half backup that looks whole, and never touches
the database itself.

A restore checks the backup the same way (and that this milwatch knows its schema),
moves the current database aside (with its -wal and -shm files, as one set) and puts a
copy of the backup in its place. The service must be stopped: the CLI refuses while
its heartbeat is fresh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.storage.migrations import MIGRATIONS

TABLES_COUNTED = ("channels", "posts", "hits", "alerts")
_SIDE_FILES = ("-wal", "-shm")


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why and what to do."""


@dataclass(frozen=True)
class DatabaseFacts:
    """What a checked database file holds."""

    path: Path
    size: int
    schema_version: int
    counts: dict[str, int]

    def summary(self) -> str:
        """'12 channels, 3,400 posts, 51 hits, 40 alerts; schema 8; 1.2 MB'."""
        rows = ", ".join(f"{self.counts.get(t, 0):,} {t}" for t in TABLES_COUNTED)
        return f"{rows}; schema {self.schema_version}; {self.size / 1e6:.1f} MB"


def _describe(exc: BaseException, where: Path) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    lowered = text.lower()
    if "full" in lowered or "no space" in lowered:
        return f"no space left on the disk of {where.parent}: {text}"
    return f"{type(exc).__name__}: {text}"


def check_database(path: Path) -> DatabaseFacts:
    """Open a database file read-only and check it is whole; raise BackupError if not."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from exc
    try:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"{path}: damaged ({verdict}); use another backup")
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in names:
            raise BackupError(f"{path}: not a milwatch database (no schema_version table)")
        (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        counts = {
            table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in TABLES_COUNTED
            if table in names
        }
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database: {exc}") from exc
    finally:
        conn.close()
    return DatabaseFacts(path, path.stat().st_size, int(version), counts)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_database(database: Path, target: Path, *, overwrite: bool = False) -> DatabaseFacts:
    """Write a checked, consistent copy of database to target; the database is untouched."""
    if not database.is_file():
        raise BackupError(f"{database}: no such database (use --db PATH or set MILWATCH_DB)")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists: give a new file name, or --force to replace it")
    if target.resolve() == database.resolve():
        raise BackupError(f"{target} is the database itself: give another file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(database, timeout=30)
        try:
            conn.execute("VACUUM INTO ?", (str(partial),))
        finally:
            conn.close()
        facts = check_database(partial)
        _sync(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"backup to {target} failed, nothing was written: {_describe(exc, target)}"
        ) from exc
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # a directory sync is not possible everywhere
        _sync(target.parent)
    return DatabaseFacts(target, facts.size, facts.schema_version, facts.counts)


def restore_database(backup: Path, database: Path, now: datetime | None = None) -> tuple[DatabaseFacts, Path | None]:
    """Put a copy of backup in place of database; return the backup's facts and where the
    previous database went (None if there was none). The service must be stopped."""
    facts = check_database(backup)
    newest = max(m.version for m in MIGRATIONS)
    if facts.schema_version > newest:
        raise BackupError(
            f"{backup}: made by a newer milwatch (schema {facts.schema_version}; this one knows"
            f" up to {newest}): upgrade milwatch first"
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".{database.name}.restoring-{os.getpid()}")
    try:
        shutil.copyfile(backup, partial)
        _sync(partial)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"restore failed, the database is unchanged: {_describe(exc, database)}"
        ) from exc
    aside: Path | None = None
    if database.exists():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        aside = database.with_name(f"{database.name}.before-restore-{stamp}")
        # The database and its WAL are one set: moved together, they stay readable.
        for suffix in ("", *_SIDE_FILES):
            source = Path(f"{database}{suffix}")
            if source.exists():
                os.replace(source, Path(f"{aside}{suffix}"))
    os.replace(partial, database)
    with contextlib.suppress(OSError):
        _sync(database.parent)
    return facts, aside
