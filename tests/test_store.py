"""Store against real SQLite files: migrations, idempotency, edits, outbox, queries."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import aiosqlite
import pytest
from conftest import T0, FakeClock, make_hit, make_post

from bot.domain import Severity
from bot.storage import Store, fold_text
from bot.storage.migrations import MIGRATIONS, Migration, apply_migrations
from bot.storage.store import to_db_time

TEXT = "Сегодня начался отвод войск от Херсона, эвакуация мирных жителей"


async def test_migrations_create_schema_and_pragmas(db_path: Path) -> None:
    async with Store.open(db_path):
        pass
    assert db_path.exists()  # parent directory was created
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"channels", "posts", "hits", "alerts", "ruleset_versions"} <= tables
    assert versions == [m.version for m in MIGRATIONS]
    assert mode == "wal"


async def test_reopen_does_not_reapply_and_keeps_data(db_path: Path) -> None:
    async with Store.open(db_path) as store:
        await store.add_post(make_post(TEXT))
    store = await Store.open(db_path)
    try:
        assert (await store.counts())["posts"] == 1
    finally:
        await store.close()


async def test_upgrade_to_muted_alerts_keeps_the_outbox(db_path: Path) -> None:
    # A database from before migration 4: its alerts survive the table rebuild (rows are
    # written as a version-3 database held them; today's code writes newer columns).
    async with Store.open(db_path, migrations=MIGRATIONS[:3]) as store:
        post_id = (await store.add_post(make_post(TEXT))).post_id
    when = to_db_time(T0)
    with sqlite3.connect(db_path) as conn:
        hit_ids = []
        for rule_id in ("withdrawal.core", "other"):
            cur = conn.execute(
                "INSERT INTO hits (post_id, rule_id, topic, severity, route, spans, terms,"
                " ruleset_version, created_at) VALUES (?, ?, 'withdrawal', 'high', 'analysts',"
                " '[[0, 5]]', '[\"отвод\"]', 'v1', ?)",
                (post_id, rule_id, when),
            )
            hit_ids.append(cur.lastrowid)
        sent, pending = (
            conn.execute(
                "INSERT INTO alerts (hit_id, route, status, next_attempt_at, created_at)"
                " VALUES (?, 'analysts', ?, ?, ?)",
                (hit_id, status, when, when),
            ).lastrowid
            for hit_id, status in zip(hit_ids, ("sent", "pending"), strict=True)
        )
    async with Store.open(db_path) as store:
        assert [(await store.get_alert(i)).status for i in (sent, pending)] == ["sent", "pending"]  # type: ignore[union-attr, arg-type]
        assert await store.mark_muted_many([pending], "muted: rule other until /unmute") == 1  # type: ignore[list-item]
        assert (await store.get_alert(pending)).status == "muted"  # type: ignore[union-attr, arg-type]
        # Hits from before the relevance stage read back as alerting, with no score.
        old = await store.get_hit(hit_ids[0])  # type: ignore[arg-type]
        assert old is not None and (old.relevance, old.quiet, old.evidence) == (None, False, ())
    with sqlite3.connect(db_path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "alerts_due" in indexes


async def test_function_migration_and_failed_migration_rolls_back(db_path: Path) -> None:
    async def add_column(conn: aiosqlite.Connection) -> None:
        await conn.execute("ALTER TABLE channels ADD COLUMN note TEXT")

    async def broken(conn: aiosqlite.Connection) -> None:
        await conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    extended = (*MIGRATIONS, Migration(100, "channel note", add_column))
    async with Store.open(db_path, migrations=extended):
        pass
    with pytest.raises(RuntimeError):
        await Store.open(db_path, migrations=(*extended, Migration(101, "broken", broken)))
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await apply_migrations(conn, extended) == []  # nothing left to do
        cur = await conn.execute("SELECT MAX(version) FROM schema_version")
        assert tuple(await cur.fetchone() or ()) == (100,)
        cur = await conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'")
        assert await cur.fetchone() is None
        cur = await conn.execute("SELECT note FROM channels")  # column from v100 exists
        assert await cur.fetchall() == []


async def test_migration_versions_must_increase(db_path: Path) -> None:
    bad = (Migration(2, "b", "SELECT 1;"), Migration(1, "a", "SELECT 1;"))
    with pytest.raises(ValueError):
        await Store.open(db_path, migrations=bad)


async def test_add_post_is_idempotent(store: Store) -> None:
    first = await store.add_post(make_post(TEXT, channel_title="Front News"))
    again = await store.add_post(make_post(TEXT))
    assert first.inserted and not first.text_changed
    assert again.post_id == first.post_id
    assert not again.inserted and not again.text_changed
    assert (await store.counts())["posts"] == 1
    channel = await store.get_channel("@FrontNews")  # case-insensitive, @ tolerated
    assert channel is not None and channel.title == "Front News"
    assert channel.last_msg_id == 1 and channel.last_post_at == T0


async def test_same_msg_id_in_other_channel_is_another_post(store: Store) -> None:
    a = await store.add_post(make_post(TEXT, channel="a"))
    b = await store.add_post(make_post(TEXT, channel="b"))
    assert a.post_id != b.post_id and b.inserted


async def test_edit_detection(store: Store) -> None:
    first = await store.add_post(make_post("старый текст"))
    edit = await store.add_post(make_post("новый текст про отвод войск", edited=True))
    same = await store.add_post(make_post("новый текст про отвод войск", edited=True))
    assert (edit.post_id, edit.inserted, edit.text_changed) == (first.post_id, False, True)
    assert not same.text_changed
    results = await store.search_posts("отвод", None, 10)
    assert len(results) == 1 and results[0][0].edited
    assert await store.search_posts("старый", None, 10) == []


async def test_naive_datetime_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.add_post(make_post(TEXT, date=T0.replace(tzinfo=None)))
    assert (await store.counts())["posts"] == 0


async def test_add_hits_dedups_per_post_and_rule(store: Store) -> None:
    post_id = (await store.add_post(make_post(TEXT))).post_id
    hit = make_hit(TEXT, ["отвод", "войск"])
    other = make_hit(TEXT, ["эвакуация"], rule_id="evacuation.core", topic="evacuation")
    ids = await store.add_hits(post_id, [hit, other], "v1")
    assert len(ids) == 2
    assert await store.add_hits(post_id, [hit], "v1") == []
    assert (await store.counts())["hits"] == 2
    stored = await store.get_hit(ids[0])
    assert stored is not None
    assert stored.spans == tuple(hit.spans)
    assert stored.terms == ("отвод", "войск")
    assert stored.severity is Severity.HIGH and stored.post.text == TEXT


async def test_add_hits_refreshes_spans_of_existing_rule(store: Store) -> None:
    post_id = (await store.add_post(make_post(TEXT))).post_id
    (hit_id,) = await store.add_hits(post_id, [make_hit(TEXT, ["отвод"])], "v1")
    edited = "UPDATE: " + TEXT
    await store.add_post(make_post(edited))
    assert await store.add_hits(post_id, [make_hit(edited, ["отвод"])], "v2") == []
    stored = await store.get_hit(hit_id)
    assert stored is not None
    start = edited.index("отвод")
    assert stored.spans == ((start, start + 5),)


async def test_outbox_transitions(store: Store, clock: FakeClock) -> None:
    post_id = (await store.add_post(make_post(TEXT))).post_id
    (hit_id,) = await store.add_hits(post_id, [make_hit(TEXT, ["отвод"])], "v1")
    alert_id = await store.enqueue_alert(hit_id, "analysts")
    assert alert_id is not None
    assert await store.enqueue_alert(hit_id, "analysts") is None

    (due,) = await store.due_alerts(clock.now)
    assert (due.alert_id, due.status, due.attempts) == (alert_id, "pending", 0)
    assert due.extra["route"] == "analysts" and due.hit.hit_id == hit_id

    await store.mark_retry(alert_id, "timeout", clock.now + timedelta(minutes=5))
    assert await store.due_alerts(clock.now) == []
    (due,) = await store.due_alerts(clock.now + timedelta(minutes=5))
    assert (due.attempts, due.last_error) == (1, "timeout")

    await store.mark_sent(alert_id)
    assert await store.due_alerts(clock.now + timedelta(days=1)) == []
    sent = await store.get_alert(alert_id)
    assert sent is not None and (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)

    await store.mark_failed(alert_id, "too late")  # sent is final: ignored
    final = await store.get_alert(alert_id)
    assert final is not None and final.status == "sent"


async def test_mark_failed_and_due_order(store: Store, clock: FakeClock) -> None:
    alert_ids: list[int] = []
    for n in range(3):
        text = f"пост {n}: отвод"
        post_id = (await store.add_post(make_post(text, msg_id=n))).post_id
        (hit_id,) = await store.add_hits(post_id, [make_hit(text, ["отвод"])], "v1")
        alert_id = await store.enqueue_alert(hit_id, "analysts")
        assert alert_id is not None
        alert_ids.append(alert_id)
    await store.mark_failed(alert_ids[1], "chat not found")
    due = await store.due_alerts(clock.now, limit=10)
    assert [a.alert_id for a in due] == [alert_ids[0], alert_ids[2]]
    assert [a.alert_id for a in await store.due_alerts(clock.now, limit=1)] == [alert_ids[0]]
    failed = await store.get_alert(alert_ids[1])
    assert failed is not None and (failed.status, failed.last_error) == ("failed", "chat not found")


async def test_record_ruleset_skips_repeat_of_latest(store: Store) -> None:
    first = await store.record_ruleset("abc", "rules: []", "file", None)
    assert await store.record_ruleset("abc", "rules: []", "file", None) == first
    second = await store.record_ruleset("def", "rules: [x]", "chat", "@analyst")
    back = await store.record_ruleset("abc", "rules: []", "file", None)
    assert len({first, second, back}) == 3  # reverting is a new event
    latest = await store.latest_ruleset()
    assert latest is not None and latest.version == "abc" and latest.record_id == back
    with pytest.raises(ValueError):
        await store.record_ruleset("x", "", "web", None)


async def _fill(store: Store) -> None:
    rows = [
        ("a", 1, T0, "отвод войск с плацдарма", ["отвод"], "withdrawal"),
        ("a", 2, T0 + timedelta(hours=2), "эвакуация из города", ["эвакуация"], "evacuation"),
        ("b", 7, T0 + timedelta(hours=1), "Отвод подразделений", ["Отвод"], "withdrawal"),
    ]
    for channel, msg_id, date, text, words, topic in rows:
        post_id = (await store.add_post(make_post(text, msg_id, channel, date))).post_id
        hit = make_hit(text, words, rule_id=f"{topic}.core", topic=topic)
        (hit_id,) = await store.add_hits(post_id, [hit], "v1")
        await store.enqueue_alert(hit_id, "analysts")
    await store.add_post(make_post("погода хорошая", 3, "a", T0 + timedelta(hours=3)))


async def test_recent_hits_order_and_filters(store: Store) -> None:
    await _fill(store)
    recent = await store.recent_hits(10)
    assert [(h.post.channel, h.post.msg_id) for h in recent] == [("a", "2"), ("b", "7"), ("a", "1")]
    assert [h.post.msg_id for h in await store.recent_hits(1)] == ["2"]
    assert [h.post.msg_id for h in await store.recent_hits(10, topic="withdrawal")] == ["7", "1"]
    assert [h.post.msg_id for h in await store.recent_hits(10, channel="@A")] == ["2", "1"]
    both = await store.recent_hits(10, topic="withdrawal", channel="b")
    assert [h.post.msg_id for h in both] == ["7"]
    assert await store.known_topics() == ["evacuation", "withdrawal"]


async def test_search_is_case_and_yo_insensitive_for_cyrillic(store: Store) -> None:
    await _fill(store)
    await store.add_post(make_post("Отход ВСЁ-таки начался", 9, "c", T0))
    found = await store.search_posts("ОТВОД", None, 10)
    assert [p.msg_id for p, _ in found] == ["7", "1"]
    assert [h.topic for h in found[0][1]] == ["withdrawal"]
    assert [p.msg_id for p, _ in await store.search_posts("всё-ТАКИ", None, 10)] == ["9"]
    assert [p.msg_id for p, _ in await store.search_posts("все-таки", None, 10)] == ["9"]
    since = await store.search_posts("отвод", T0 + timedelta(minutes=30), 10)
    assert [p.msg_id for p, _ in since] == ["7"]
    assert await store.search_posts("100%", None, 10) == []  # wildcard taken literally
    with pytest.raises(ValueError):
        await store.search_posts("   ", None, 10)


def test_fold_text() -> None:
    assert fold_text("ЁЛКА Straße п’ять") == "елка strasse п'ять"


async def test_stats_and_counts(store: Store, clock: FakeClock) -> None:
    await _fill(store)
    due = await store.due_alerts(clock.now)
    await store.mark_sent(due[0].alert_id)
    await store.mark_failed(due[1].alert_id, "blocked")
    stats = await store.stats(clock.now - timedelta(days=1))
    assert stats["posts"] == 4
    assert stats["hits"] == 3
    assert stats["hits_by_topic"] == {"withdrawal": 2, "evacuation": 1}
    assert stats["hits_by_channel"] == {"a": 2, "b": 1}
    assert stats["alerts_by_status"] == {"pending": 1, "sent": 1, "failed": 1, "muted": 0}
    later = await store.stats(clock.now + timedelta(seconds=1))
    assert later["posts"] == 0 and later["alerts_by_status"]["pending"] == 0
    assert await store.counts() == {"channels": 2, "posts": 4, "hits": 3, "alerts": 3}


async def test_transaction_rolls_back_everything(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction():
            await store.add_post(make_post(TEXT))
            raise RuntimeError("crash mid-way")
    assert (await store.counts())["posts"] == 0


async def test_channel_metadata(store: Store) -> None:
    await store.update_channel("frontnews", tg_id=42, access_hash=-7, title="FN")
    await store.set_channel_error("frontnews", "ChannelPrivateError")
    await store.update_channel("frontnews")  # None keeps stored values
    channel = await store.get_channel("frontnews")
    assert channel is not None
    assert (channel.tg_id, channel.access_hash, channel.title) == (42, -7, "FN")
    assert channel.last_error == "ChannelPrivateError"
    assert await store.get_channel("nobody") is None
    await store.add_post(make_post(TEXT))
    assert await store.mark_deleted("frontnews", "1")
    assert not await store.mark_deleted("frontnews", "999")


async def test_concurrent_tasks_share_one_store(store: Store, clock: FakeClock) -> None:
    async def ingest(n: int) -> None:
        async with store.transaction():
            post_id = (await store.add_post(make_post(f"{n} отвод", msg_id=n))).post_id
            await asyncio.sleep(0)  # yield mid-transaction: others must wait, not interleave
            (hit_id,) = await store.add_hits(post_id, [make_hit(f"{n} отвод", ["отвод"])], "v1")
            await store.enqueue_alert(hit_id, "analysts")

    async def read() -> None:
        await store.recent_hits(5)
        await store.due_alerts(clock.now)

    await asyncio.gather(*(ingest(n) for n in range(20)), *(read() for _ in range(20)))
    assert await store.counts() == {"channels": 1, "posts": 20, "hits": 20, "alerts": 20}
