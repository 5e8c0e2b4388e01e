"""Data care: backup and restore give back the same rows, retention blanks only what it
should, and a full disk gives a clear error and no corruption (SQLite's own "database or
disk is full", and a real, tiny filesystem where the machine lets us mount one)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import T0, FakeClock, make_hit, make_post

from bot.alerts.router import AlertRouter
from bot.cli import main
from bot.commands import CommandHandler
from bot.health import write_heartbeat
from bot.health.channels import ChannelObservation
from bot.health.monitor import HealthMonitor, ServiceFacts
from bot.metrics import CountedPipeline, ServiceCounters
from bot.pipeline import Pipeline
from bot.storage import Store
from bot.storage.backup import BackupError, backup_database, restore_database
from bot.storage.health import HealthRecord

DISK = (100 * 2**30, 10 * 2**30, 90 * 2**30)


def table_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: what "the same rows" means."""
    with closing(sqlite3.connect(db)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}"), key=repr) for t in tables}


async def fill(store: Store) -> None:
    """A bit of everything the service keeps."""
    await store.record_ruleset("v1", "rules: []", "file", None)
    for number in range(1, 6):
        text = f"Начался отвод войск, сводка {number}" if number % 2 else f"Погода, {number}"
        post_id = (await store.add_post(make_post(text, number, "frontnews"))).post_id
        if number % 2:
            (hit_id,) = await store.add_hits(post_id, [make_hit(text, ["отвод"])], "v1")
            alert_id = await store.enqueue_alert(hit_id, "analysts")
            assert alert_id is not None
            if number == 1:
                await store.mark_sent(alert_id)
                await store.add_feedback(hit_id, "useful", "1001")
    await store.add_mute("channel", "noisy", None, "2002")
    await store.record_ingest_failure("frontnews", "9", None, "ValueError: odd", lambda n: 5, 3)
    await store.save_health_records(
        [HealthRecord("channel", "frontnews", "ok", "fine", T0, T0, T0, None, None)]
    )


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"MILWATCH_DATA_DIR={tmp_path / 'data'}\n", encoding="utf-8")
    return path


# -- backup and restore -------------------------------------------------------------


def test_backup_then_restore_gives_the_same_rows(
    tmp_path: Path, env_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "data" / "milwatch.sqlite3"
    backup = tmp_path / "backups" / "monday.sqlite3"

    async def scenario() -> dict[str, list[tuple[object, ...]]]:
        async with Store.open(db) as store:
            await fill(store)
            # Taken while the store is open and its last writes sit in the WAL only.
            assert Path(f"{db}-wal").stat().st_size > 0
            before = table_rows(db)
            code, out, err = await asyncio.to_thread(
                cli, capsys, "backup", str(backup), "--env-file", str(env_file)
            )
            assert (code, err) == (0, ""), err
            assert out.startswith(f"backup of {db} written to {backup}: 1 channels, 5 posts, 3 hits, 3 alerts; schema 8")
            # Life goes on after the backup ...
            post_id = (await store.add_post(make_post("Новый пост", 77, "other"))).post_id
            await store.add_hits(post_id, [make_hit("Новый пост", ["пост"])], "v1")
            await store.remove_mute("channel", "noisy")
            return before

    before = asyncio.run(scenario())
    assert table_rows(db) != before
    assert table_rows(backup) == before  # the copy is the database as of the backup

    code, out, err = cli(capsys, "restore", str(backup), "--env-file", str(env_file))
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith(f"restored {backup} into {db}: 1 channels, 5 posts")
    (aside,) = db.parent.glob("milwatch.sqlite3.before-restore-*")
    assert out.splitlines()[1] == f"the previous database is kept as {aside}"
    assert table_rows(db) == before
    assert ("Новый пост",) in [(r[4],) for r in table_rows(aside)["posts"]]  # kept, whole

    async def still_works() -> list[str]:
        async with Store.open(db) as store:
            return [h.post.msg_id for h in await store.recent_hits(10)]

    assert sorted(asyncio.run(still_works())) == ["1", "3", "5"]


def test_backup_refuses_to_overwrite_and_names_what_is_missing(
    tmp_path: Path, env_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "data" / "milwatch.sqlite3"
    code, _, err = cli(capsys, "backup", str(tmp_path / "b.sqlite3"), "--env-file", str(env_file))
    assert code == 1 and f"{db}: no such database" in err

    async def make() -> None:
        async with Store.open(db) as store:
            await fill(store)

    asyncio.run(make())
    target = tmp_path / "b.sqlite3"
    target.write_text("an older backup", encoding="utf-8")
    code, _, err = cli(capsys, "backup", str(target), "--env-file", str(env_file))
    assert code == 1 and "exists: give a new file name, or --force" in err
    assert target.read_text(encoding="utf-8") == "an older backup"
    assert cli(capsys, "backup", str(target), "--force", "--env-file", str(env_file))[0] == 0
    assert table_rows(target) == table_rows(db)
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_restore_refuses_a_running_service_a_damaged_file_and_a_newer_schema(
    tmp_path: Path, env_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    db = data / "milwatch.sqlite3"

    async def make() -> None:
        async with Store.open(db) as store:
            await fill(store)

    asyncio.run(make())
    good = tmp_path / "good.sqlite3"
    backup_database(db, good)
    rows_now = table_rows(db)

    write_heartbeat(data, datetime.now(UTC) - timedelta(seconds=20))
    code, _, err = cli(capsys, "restore", str(good), "--env-file", str(env_file))
    assert code == 1 and "the service seems to be running (heartbeat 20 s ago): stop it first" in err

    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(good.read_bytes()[:4096] + b"\0" * 4096)
    newer = tmp_path / "newer.sqlite3"
    shutil.copyfile(good, newer)
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01')")
        conn.commit()
    for bad, words in (
        (damaged, "damaged|not a readable SQLite database"),
        (tmp_path / "missing.sqlite3", "no such file"),
        (newer, "made by a newer milwatch (schema 99"),
    ):
        with pytest.raises(BackupError, match=words.replace("(", r"\(")):
            restore_database(bad, db)
    assert table_rows(db) == rows_now  # nothing touched
    assert list(data.glob("*.before-restore-*")) == []


# -- retention ------------------------------------------------------------------------


async def test_prune_blanks_old_texts_but_keeps_rows_and_evidence(store: Store, clock: FakeClock) -> None:
    old, recent = T0 - timedelta(days=100), T0 - timedelta(days=1)
    await store.add_post(make_post("Старая погода", 1, "front", old))
    hit_post = (await store.add_post(make_post("Старый отвод войск", 2, "front", old))).post_id
    await store.add_hits(hit_post, [make_hit("Старый отвод войск", ["отвод"])], "v1")
    await store.add_post(make_post("Свежая погода", 3, "front", recent))
    before = await store.counts()

    assert await store.prune_post_texts(T0 - timedelta(days=90)) == 1
    assert await store.prune_post_texts(T0 - timedelta(days=90)) == 0  # nothing left to do
    handler = CommandHandler(store, clock)
    assert (await handler.handle("/search погода")).startswith("1 post(s)")  # the fresh one
    assert "Старый [[отвод]] войск" in await handler.handle("/recent")  # evidence is kept
    assert await store.counts() == before  # rows stay: counts, rhythm, read position
    assert await store.prune_post_texts(T0 - timedelta(days=90), include_hits=True) == 1
    assert "Старый отвод" not in await handler.handle("/search отвод")


# -- a full disk ----------------------------------------------------------------------


async def test_a_full_database_is_a_clear_error_without_corruption(
    store: Store, clock: FakeClock, db_path: Path, tmp_path: Path
) -> None:
    counters = ServiceCounters()
    pipeline = CountedPipeline(
        store, lambda: _NoMatch(), AlertRouter({"a": "console"}, "a"), counters=counters,
        retry_base=1,
    )
    monitor = HealthMonitor(store, counters, clock, tmp_path, disk_usage=lambda _: DISK)
    await monitor.start()
    facts = ServiceFacts(started_at=T0)
    await pipeline.ingest(make_post("Первый пост", 1))
    kept = table_rows(db_path)
    (pages,) = (await store._db.execute_fetchall("PRAGMA page_count"))[0]
    # SQLite's own limit, set on the store's connection (it is per connection): from
    # here on every page more is "database or disk is full", as on a full disk.
    await store._db.execute(f"PRAGMA max_page_count = {pages}")

    big = "Длинный пост. " * 2000
    results = [await pipeline.ingest(make_post(big, n)) for n in range(2, 6)]
    assert [r.error for r in results] == ["OperationalError: database or disk is full"] * 4
    checked = await monitor.check([ChannelObservation("frontnews")], facts)
    (notice,) = checked.notices
    assert notice.startswith("milwatch: the database cannot be written since ")
    assert "database or disk is full. Nothing is lost" in notice
    assert checked.problems == [notice.removeprefix("milwatch: ")]  # `milwatch health` fails
    clock.advance(60)
    assert (await monitor.check([ChannelObservation("frontnews")], facts)).notices == []

    await store._db.execute("PRAGMA max_page_count = 1073741823")  # space again
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert table_rows(db_path)["posts"] == kept["posts"]  # nothing half-written
    # The failures could not even be recorded: they waited in memory, and go in now.
    clock.advance(60)
    await pipeline.retry_due()
    clock.advance(60)
    await pipeline.retry_due()
    assert sorted(int(r[0]) for r in table_rows(db_path)["posts"]) == [1, 2, 3, 4, 5]
    (recovered,) = (await monitor.check([ChannelObservation("frontnews")], facts)).notices
    assert recovered.startswith("milwatch: the database can be written again")


class _NoMatch:
    version = "none"

    def match(self, text: str) -> list[object]:
        return []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs), where this machine lets the tests mount one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_real_full_disk(tiny_disk: Path, tmp_path: Path) -> None:
    db = tiny_disk / "milwatch.sqlite3"
    clock = FakeClock()

    async def scenario() -> tuple[list[str], int, int]:
        async with Store.open(db, clock=clock) as store:
            pipeline = Pipeline(store, lambda: _NoMatch(), AlertRouter({"a": "c"}, "a"), retry_base=1)
            errors: list[str] = []
            sent = 0
            while len(errors) < 5:  # ~20 KB a post: the disk fills after a few dozen
                sent += 1
                result = await pipeline.ingest(make_post(f"{sent} " + "ж" * 10_000, sent))
                if result.error is not None:
                    errors.append(result.error)
            stored = len(table_rows(db)["posts"])
            # The operator frees space (here: the filler the test wrote first).
            (tiny_disk / "filler").unlink()
            for _ in range(5):
                clock.advance(700)
                await pipeline.retry_due()
            return errors, stored, sent

    (tiny_disk / "filler").write_bytes(b"\0" * 1_000_000)
    errors, stored_when_full, sent = asyncio.run(scenario())
    assert errors == ["OperationalError: database or disk is full"] * 5
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (stored,) = conn.execute("SELECT COUNT(*) FROM posts").fetchone()
    assert stored_when_full == sent - 5 and stored == sent  # the waiting posts went in

    # A backup onto the full disk fails cleanly: nothing half-written is left behind.
    (tiny_disk / "filler").write_bytes(b"\0" * max(0, shutil.disk_usage(tiny_disk).free - 4096))
    with pytest.raises(BackupError, match="no space left"):
        backup_database(db, tiny_disk / "backup.sqlite3")
    assert [p.name for p in tiny_disk.iterdir() if "backup" in p.name] == []
