"""Charts: seeded hits in a real store drawn as a PNG, with the expected series; /stats chart
through the bot (a real photo upload through Telethon), and `milwatch stats --png`."""

from __future__ import annotations

import asyncio
import io
import struct
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, FakeClock, make_hit, make_post
from matplotlib.container import BarContainer
from matplotlib.image import imread
from telegram_fakes import OfflineNetwork, offline_client
from telethon import events, types

from bot.charts import ChartData, Picture, build_figure, chart_data, render_png
from bot.cli import main
from bot.commands import CommandHandler
from bot.commands.handler import StatsCommand, parse_command
from bot.domain import Relevance
from bot.storage import Store
from bot.telegram.bot_commands import BotCommandAdapter

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANALYST = 1001


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG starts with."""
    assert png.startswith(PNG_SIGNATURE)
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


# Day offset from T0, channel, topic, quiet: seven hits over three days, two channels.
SEEDED = [
    (0, "frontnews", "withdrawal", False),
    (0, "frontnews", "withdrawal", False),
    (0, "milblog", "evacuation", True),
    (1, "milblog", "withdrawal", False),
    (2, "frontnews", "evacuation", False),
    (2, "frontnews", "withdrawal", True),
    (2, "frontnews", "withdrawal", False),
]


async def seed(store: Store) -> None:
    for number, (day, channel, topic, quiet) in enumerate(SEEDED, start=1):
        text = f"Отвод войск, сводка {number}"
        date = T0 + timedelta(days=day, hours=number)
        post_id = (await store.add_post(make_post(text, number, channel, date))).post_id
        hit = make_hit(text, ["Отвод"], rule_id=f"{topic}.core", topic=topic)
        if quiet:
            hit = replace(hit, relevance=Relevance(score=0.2, threshold=0.5))
        await store.add_hits(post_id, [hit], "v1")
    await store.add_post(make_post("Погода хорошая", 99, "weather", T0))  # no hit: not drawn


@pytest.fixture
async def seeded(store: Store, clock: FakeClock) -> Store:
    await seed(store)
    clock.now = T0 + timedelta(days=3)
    return store


EXPECTED_DAYS = ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]


async def test_chart_data_counts_per_day_topic_and_channel(seeded: Store) -> None:
    data = await chart_data(seeded, T0 - timedelta(days=1), T0 + timedelta(days=3))
    assert data.days == EXPECTED_DAYS
    assert data.alerting == {"withdrawal": [0, 2, 1, 1, 0], "evacuation": [0, 0, 0, 1, 0]}
    assert data.quiet == {"withdrawal": [0, 0, 0, 1, 0], "evacuation": [0, 1, 0, 0, 0]}
    assert [(c.channel, c.alerting, c.quiet) for c in data.channels] == [
        ("frontnews", 4, 1),
        ("milblog", 1, 1),
    ]
    assert data.hits == 7


async def test_the_chart_is_a_valid_png_with_the_expected_series(seeded: Store) -> None:
    data = await chart_data(seeded, T0 - timedelta(days=1), T0 + timedelta(days=3))
    figure = build_figure(data)
    per_day, per_channel = figure.axes
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in per_day.containers if isinstance(c, BarContainer)}
    assert bars == {
        "evacuation (alerting)": [0, 0, 0, 1, 0],
        "evacuation (quiet)": [0, 1, 0, 0, 0],
        "withdrawal (alerting)": [0, 2, 1, 1, 0],
        "withdrawal (quiet)": [0, 0, 0, 1, 0],
    }
    assert [t.get_text() for t in per_day.get_xticklabels()] == [d[5:] for d in EXPECTED_DAYS]
    channels = {c.get_label(): [p.get_width() for p in c.patches] for c in per_channel.containers}
    assert channels == {"alerting": [1, 4], "quiet": [1, 1]}  # bottom to top: milblog, frontnews
    assert [t.get_text() for t in per_channel.get_yticklabels()] == ["@milblog", "@frontnews"]

    png = render_png(data)
    assert png_size(png) == (1000, 750)
    pixels = imread(io.BytesIO(png), format="png")  # decodes: not just a valid header
    assert pixels.shape[:2] == (750, 1000)


def test_an_empty_period_still_draws_a_chart_that_says_so() -> None:
    data = ChartData(T0, T0 + timedelta(days=1), ["2024-05-01", "2024-05-02"])
    figure = build_figure(data)
    assert "no hits in this period" in [t.get_text() for t in figure.axes[0].texts]
    assert png_size(render_png(data)) == (1000, 750)


async def test_stats_chart_command_answers_with_a_picture(seeded: Store, clock: FakeClock) -> None:
    assert parse_command("/stats 7d chart") == parse_command("/stats chart 7d")
    command = parse_command("/stats chart")
    assert isinstance(command, StatsCommand) and command.chart and command.window.label == "24h"
    handler = CommandHandler(seeded, clock)
    picture = await handler.answer("/stats 7d chart")
    assert isinstance(picture, Picture)
    assert picture.caption == (
        "Hits in the last 7d: 7 (2 kept quiet), 2 topic(s), top channel: @frontnews"
    )
    assert png_size(picture.png) == (1000, 750)
    text = await handler.handle("/stats 7d chart")  # where no picture can be shown
    assert text.startswith("Hits in the last 7d: 7") and "picture" in text


async def test_the_bot_sends_the_chart_as_a_photo(seeded: Store, clock: FakeClock) -> None:
    network = OfflineNetwork()
    bot = offline_client(network)
    adapter = BotCommandAdapter(
        bot, CommandHandler(seeded, clock), {ANALYST}, set(), bot_username="mw_bot"
    )
    message = types.Message(
        id=10, peer_id=types.PeerUser(ANALYST), date=T0, message="/stats 7d chart"
    )
    event = events.NewMessage.Event(message)
    event._entities = {ANALYST: types.User(id=ANALYST, access_hash=3, first_name="a")}
    event._set_client(bot)
    await adapter.on_message(event)
    ((request, uploaded),) = network.photos()
    assert isinstance(request.media, types.InputMediaUploadedPhoto)
    assert request.message.startswith("Hits in the last 7d: 7 (2 kept quiet)")
    assert png_size(uploaded) == (1000, 750)
    assert network.messages == []  # the picture is the whole answer


def test_milwatch_stats_png_offline(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fill() -> None:
        async with Store.open(db_path) as store:
            await seed(store)

    asyncio.run(fill())
    png = tmp_path / "charts" / "stats.png"
    code = main(["stats", "--db", str(db_path), "--since", "2024-04-30", "--png", str(png)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("Hits from 2024-04-30 to ")
    assert lines[0].endswith(" (UTC, by post date): 7 (2 kept quiet)")
    assert lines[1:4] == [
        "  evacuation: 2 (1 quiet); busiest day 2024-05-01",
        "  withdrawal: 5 (1 quiet); busiest day 2024-05-01",
        "  top channels: @frontnews 5, @milblog 2",
    ]
    assert lines[-1] == f"chart written to {png} ({png.stat().st_size:,} bytes)"
    assert png_size(png.read_bytes()) == (1000, 750)


def test_without_matplotlib_the_answer_says_how_to_get_charts(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
        "from bot.cli import main\n"
        f"sys.exit(main(['stats', '--db', {str(db)!r}, '--png', {str(tmp_path / 'x.png')!r}]))\n"
    )
    import sqlite3

    sqlite3.connect(db).close()  # an empty file: the store migrates it
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert run.returncode == 1, run.stderr
    assert "charts need matplotlib: pip install 'milwatch[charts]'" in run.stderr
    assert not (tmp_path / "x.png").exists()
