"""`milwatch status` and `milwatch replay` on a real database the service left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_hit, make_post, matcher_from_yaml

from bot.alerts.router import AlertRouter
from bot.cli import main
from bot.domain import Hit
from bot.health import write_heartbeat
from bot.matching import Morphology
from bot.pipeline import Pipeline
from bot.storage import Store

RULES_YAML = """
topics: {withdrawal: troops leaving}
defaults: {route: analysts}
routes: {analysts: default}
concepts:
  pullout: [отвод]
rules:
  - id: withdrawal.core
    topic: withdrawal
    severity: high
    match: pullout
"""
BAD = "Начался отвод войск, но матчер спотыкается"


class BrokenOnOne:
    """The real matcher, failing on one text while `broken` (a bug fixed later)."""

    def __init__(self, morph: Morphology) -> None:
        self.inner = matcher_from_yaml(RULES_YAML, morph)
        self.broken = True

    @property
    def version(self) -> str:
        return self.inner.version

    def match(self, text: str) -> list[Hit]:
        if self.broken and text == BAD:
            raise RuntimeError("matcher bug")
        return self.inner.match(text)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "milwatch.env"
    path.write_text(f"MILWATCH_DATA_DIR={data}\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def _service_left(db: Path, matcher: BrokenOnOne, attempts: int) -> None:
    """What a service leaves: posts, a sent and a pending alert, a post that kept failing."""
    async with Store.open(db) as store:
        pipeline = Pipeline(
            store,
            lambda: matcher,
            AlertRouter({"analysts": "console"}, "analysts"),
            retry_base=0,
            max_attempts=attempts,
        )
        now = datetime.now(UTC)
        await pipeline.ingest(make_post("Погода хорошая", 1, "front", now))
        for _ in range(attempts):
            await pipeline.ingest(make_post(BAD, 2, "front", datetime.now(UTC)))
        post_id = (await store.add_post(make_post("отвод", 3, "front", now))).post_id
        (hit_id,) = await store.add_hits(post_id, [make_hit("отвод", ["отвод"])], "v1")
        alert_id = await store.enqueue_alert(hit_id, "analysts")
        assert alert_id is not None
        await store.mark_sending_many([alert_id])  # the process died mid-send


def test_status_shows_the_outbox_and_dead_letters_and_replay_retries_them(
    capsys: pytest.CaptureFixture[str], env_file: Path, morph: Morphology
) -> None:
    data = env_file.parent / "data"
    db = data / "milwatch.sqlite3"
    matcher = BrokenOnOne(morph)
    asyncio.run(_service_left(db, matcher, attempts=3))
    write_heartbeat(data, datetime.now(UTC) - timedelta(seconds=5), "3 posts, 1 alerts")

    code, out, err = run(capsys, "status", "--env-file", str(env_file))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"database: {db}"
    assert lines[1].startswith("service: alive, last heartbeat 5 s ago. 3 posts, 1 alerts")
    assert lines[2] == "channels: 1 channel(s), worst first: 0 error, 0 silent, 0 quiet, 1 ok"
    assert lines[3].startswith("  🟢 ok · @front · last post") and "read up to #3" in lines[3]
    assert "pipeline: not recorded yet (a running service records it every 30 s)" in lines
    assert "outbox: 1 pending, 0 sent, 0 failed, 0 muted" in lines
    assert "of which 1 in doubt" in out
    assert "posts that failed to store: 0 being retried, 1 dead letter(s)" in lines
    (dead,) = [line for line in lines if line.startswith("  dead letter #")]
    assert "@front/2 · 3 attempts since" in dead and dead.endswith("RuntimeError: matcher bug")
    failure_id = int(dead.split("#", 1)[1].split()[0])

    code, _, err = run(capsys, "replay", "--env-file", str(env_file), "999")
    assert code == 1 and "no dead letter #999" in err

    matcher.broken = False  # the fix is deployed; the operator replays the dead letter
    code, out, _ = run(capsys, "replay", "--env-file", str(env_file), str(failure_id))
    assert code == 0 and out.startswith("1 dead letter(s) queued again")
    code, out, _ = run(capsys, "status", "--env-file", str(env_file))
    assert "posts that failed to store: 1 being retried, 0 dead letter(s)" in out

    async def service_retries() -> list[str]:
        async with Store.open(db) as store:
            pipeline = Pipeline(
                store, lambda: matcher, AlertRouter({"analysts": "console"}, "analysts")
            )
            await pipeline.retry_due()
            return [h.post.msg_id for h in await store.recent_hits(10)]

    assert sorted(asyncio.run(service_retries())) == ["2", "3"]
    code, out, _ = run(capsys, "status", "--env-file", str(env_file))
    assert "posts that failed to store: 0 being retried, 0 dead letter(s)" in out
    code, out, _ = run(capsys, "replay", "--env-file", str(env_file))
    assert (code, out) == (0, "no dead letters to replay\n")


def test_status_without_a_database_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], env_file: Path
) -> None:
    code, _, err = run(capsys, "status", "--env-file", str(env_file))
    assert code == 2 and "milwatch.sqlite3: no such database" in err


def test_status_fails_like_health_when_the_service_is_not_alive(
    capsys: pytest.CaptureFixture[str], env_file: Path
) -> None:
    data = env_file.parent / "data"

    async def make() -> None:
        async with Store.open(data / "milwatch.sqlite3"):
            pass

    asyncio.run(make())
    code, out, _ = run(capsys, "status", "--env-file", str(env_file))
    assert code == 1  # no heartbeat: what `milwatch health` says too
    assert out.splitlines()[1].startswith("service: ") and "no heartbeat yet" in out
    write_heartbeat(data, datetime.now(UTC), "0 posts", problems=["alert delivery stopped: x"])
    code, out, _ = run(capsys, "status", "--env-file", str(env_file))
    assert code == 1 and "problem: alert delivery stopped: x" in out
    write_heartbeat(data, datetime.now(UTC), "0 posts")
    assert run(capsys, "status", "--env-file", str(env_file))[0] == 0
