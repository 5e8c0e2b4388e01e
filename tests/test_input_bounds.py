"""Inputs with no sensible size or content get a clear answer: /search with a NUL finds
nothing instead of everything, long /search and /rule test inputs are refused by name,
`-v` turns on DEBUG for `run`, DEBUG logs hold no SQL parameters, and the database is
private to its owner like the session files."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeClock, make_post

from bot.alerts.router import AlertRouter
from bot.app import RulesHolder
from bot.commands import CommandHandler
from bot.commands.handler import MAX_QUERY_CHARS
from bot.commands.operator import MAX_TEST_CHARS, OperatorCommands
from bot.matching import Morphology
from bot.pipeline import Pipeline
from bot.storage import Store

ROOT = Path(__file__).resolve().parents[1]
POSTS = ("Начался вывод войск из Сирии", "Погода сегодня хорошая, в Москве солнечно")


@pytest.fixture
async def handler(store: Store, clock: FakeClock, morph: Morphology, tmp_path: Path) -> CommandHandler:
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    holder = RulesHolder(rules, morph)
    holder.load()
    pipeline = Pipeline(store, holder.matcher, AlertRouter({"default": "console"}))
    for i, text in enumerate(POSTS, 1):
        await pipeline.ingest(make_post(text, msg_id=i))
    return CommandHandler(store, clock, operator=OperatorCommands(rules, holder, store, clock))


@pytest.mark.parametrize("query", ["\x00\x00", "в\x00", "Сирии\x00", "%\x00", "__"])
async def test_search_with_odd_characters_finds_only_what_holds_them(
    handler: CommandHandler, query: str
) -> None:
    reply = await handler.handle(f"/search {query}")
    assert reply.startswith("No posts contain"), reply


async def test_search_still_finds_text_literally(handler: CommandHandler) -> None:
    assert (await handler.handle("/search войск из")).startswith("1 post(s) containing")
    assert (await handler.handle("/search ВОЙСК")).startswith("1 post(s) containing")
    assert (await handler.handle("/search %%")).startswith("No posts contain")


async def test_a_100_kb_search_is_refused_by_name(handler: CommandHandler, store: Store) -> None:
    reply = await handler.handle("/search " + "войск" * 20_000)
    assert reply.startswith("Query too long: 100,000 characters")
    assert f"at most {MAX_QUERY_CHARS}" in reply
    # The store itself answers any length (no LIKE pattern limit behind it).
    assert await store.search_posts("войск " * 17_000) == []


async def test_a_long_rule_test_is_refused_by_name(handler: CommandHandler) -> None:
    text = "Начался вывод войск из Сирии." * 400  # 11,600 characters
    reply = await handler.handle(f"/rule test {text}", role="operator", author="op")
    assert reply.startswith("Text too long to test: 11,600 characters")
    short = await handler.handle(f"/rule test {text[:MAX_TEST_CHARS]}", role="operator", author="op")
    assert short.startswith("Would alert: yes")


# -- logging ----------------------------------------------------------------------------


def _env_file(tmp_path: Path, level: str) -> Path:
    env = tmp_path / ".env"
    env.write_text(
        "TG_API_ID=123456\nTG_API_HASH=0123456789abcdef0123456789abcdef\nBOT_TOKEN=123:ABC\n"
        f"ALERT_CHAT_ID=-1001234567890\nCHANNELS=@example\nLOG_LEVEL={level}\n"
        f"MILWATCH_DATA_DIR={tmp_path / 'data'}\n",
        encoding="utf-8",
    )
    return env


def _milwatch(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "MILWATCH_", "LOG_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv], capture_output=True, text=True, cwd=cwd,
        env=environ, timeout=120, check=False,
    )


def test_verbose_turns_on_debug_for_run(tmp_path: Path) -> None:
    """`milwatch -v run` logs at DEBUG even when LOG_LEVEL says INFO (it stops early here:
    no session; asyncio's first DEBUG line is there by then)."""
    env = _env_file(tmp_path, "INFO")
    verbose = _milwatch("-v", "run", "--env-file", str(env))
    quiet = _milwatch("run", "--env-file", str(env))
    assert verbose.returncode == quiet.returncode == 2
    assert "milwatch login" in quiet.stderr
    assert "DEBUG asyncio" in verbose.stderr
    assert "DEBUG" not in quiet.stderr


def test_debug_logs_hold_no_sql_or_post_texts(tmp_path: Path) -> None:
    """The demo at DEBUG: the pipeline stores every seed post, and none of them, nor any
    SQL statement, reaches the log."""
    done = _milwatch("-v", "demo", "--db", str(tmp_path / "demo.sqlite3"))
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr  # the log was at DEBUG
    assert "INSERT" not in done.stderr and "SELECT" not in done.stderr
    assert "aiosqlite" not in done.stderr
    seeds = (ROOT / "seeds" / "posts.jsonl").read_text(encoding="utf-8")
    assert "Сирии" in seeds and "Сирии" not in done.stderr


# -- the database file ------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_is_created_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "milwatch.sqlite3"
    old = os.umask(0o022)  # the usual umask, which made it 0644
    try:
        async with Store.open(db) as store:
            await store.add_post(make_post("Начался вывод войск из Сирии"))
            side = [Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert all(p.exists() for p in side)
            assert [_mode(p) for p in (db, *side)] == [0o600, 0o600, 0o600]
    finally:
        os.umask(old)
    assert _mode(db.parent) == 0o700


async def test_an_open_database_file_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "shared.sqlite3"
    async with Store.open(db):
        pass
    os.chmod(db, 0o644)
    with caplog.at_level(logging.WARNING, logger="bot.storage.store"):
        async with Store.open(db):
            pass
    assert f"database {db} can be read by other users (mode 0644)" in caplog.text
