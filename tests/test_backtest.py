"""Backtest: stored posts replayed through the current and a proposed rule set (real Store,
real matchers compiled from rules written inline), the CLI and the chat entry point."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, matcher_from_yaml

from bot.app import RulesHolder
from bot.backtest import (
    CHAT_USAGE,
    BacktestReport,
    ChatBacktest,
    backtest,
    format_backtest,
    make_chat_backtest,
)
from bot.cli import main
from bot.domain import Post
from bot.matching import Matcher, Morphology
from bot.storage import Store

CURRENT = """\
topics:
  withdrawal: Forces leaving.
  evacuation: Evacuations.
concepts:
  pullout:
    ru: [вывод, отвод]
  forces:
    ru: [войска]
  evac:
    ru: [эвакуация]
rules:
  - id: withdrawal.forces
    topic: withdrawal
    match: pullout NEAR/3 forces
  - id: evacuation.any
    topic: evacuation
    match: evac
  - id: withdrawal.retreat
    topic: withdrawal
    match: "'отступление'"
"""

# pullout gains "отход"; evacuation.any gets an `unless`; withdrawal.retreat is removed;
# evacuation.refugees is new.
PROPOSED = """\
topics:
  withdrawal: Forces leaving.
  evacuation: Evacuations.
concepts:
  pullout:
    ru: [вывод, отвод, отход]
  forces:
    ru: [войска]
  evac:
    ru: [эвакуация]
  drill:
    ru: [учения]
rules:
  - id: withdrawal.forces
    topic: withdrawal
    match: pullout NEAR/3 forces
  - id: evacuation.any
    topic: evacuation
    match: evac
    unless: drill
  - id: evacuation.refugees
    topic: evacuation
    match: "'беженцы'"
"""

# (channel, msg_id, age, text); inserted in this order, so post ids are 1..11.
POSTS = [
    ("frontnews", 1, timedelta(days=10), "Начался отвод войск с плацдарма"),
    ("frontnews", 2, timedelta(days=9), "Отход войск из города продолжается"),
    ("milblog", 3, timedelta(days=2), "Эвакуация жителей во время учений"),
    ("milblog", 4, timedelta(days=1), "Эвакуация жителей из Херсона"),
    ("frontnews", 5, timedelta(days=3), "Отступление по всему фронту"),
    ("milblog", 6, timedelta(days=1, hours=1), "Беженцы идут на запад"),
    ("frontnews", 7, timedelta(0), "Котики спят на солнышке"),
    ("frontnews", 8, timedelta(days=8), "Отход войск к реке"),
    # Three posts at the very same moment: batches must not skip or repeat ties.
    ("milblog", 9, timedelta(hours=12), "Новые беженцы на границе"),
    ("milblog", 10, timedelta(hours=12), "Беженцев везут в Польшу"),
    ("milblog", 11, timedelta(hours=12), "Беженцам помогают волонтёры"),
]
NOW = T0


async def fill(store: Store) -> dict[int, int]:
    """Store POSTS; msg_id -> post id."""
    ids = {}
    for channel, msg_id, age, text in POSTS:
        post = Post(channel=channel, msg_id=str(msg_id), date=NOW - age, text=text)
        ids[msg_id] = (await store.add_post(post)).post_id
    return ids


@pytest.fixture
def current(morph: Morphology) -> Matcher:
    return matcher_from_yaml(CURRENT, morph)


@pytest.fixture
def proposed(morph: Morphology) -> Matcher:
    return matcher_from_yaml(PROPOSED, morph)


@pytest.fixture
async def filled(store: Store) -> Store:
    ids = await fill(store)
    assert ids == {n: n for n in range(1, 12)}
    return store


def numbers(report: BacktestReport) -> dict[str, tuple[str, int, int, list[int], list[int]]]:
    return {d.rule_id: (d.status, d.current, d.proposed, d.gained, d.lost) for d in report.rules}


# -- the engine -----------------------------------------------------------------------------


async def test_gained_and_lost_per_rule_over_the_whole_database(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(filled, current, proposed, None)
    assert numbers(report) == {
        # Same rule, wider concept: posts 2 and 8 ("отход войск") come in.
        "withdrawal.forces": ("", 1, 3, [2, 8], []),
        # New `unless: drill` drops post 3 ("… во время учений").
        "evacuation.any": ("changed", 2, 1, [], [3]),
        "evacuation.refugees": ("new", 0, 4, [6, 9, 10, 11], []),
        "withdrawal.retreat": ("removed", 1, 0, [], [5]),
    }
    # Order: the proposed file's rules, then the removed ones.
    assert [d.rule_id for d in report.rules] == [
        "withdrawal.forces", "evacuation.any", "evacuation.refugees", "withdrawal.retreat",
    ]
    assert (report.posts, report.hits_current, report.hits_proposed) == (11, 4, 8)
    assert (report.gained, report.lost) == (6, 2)
    assert (report.posts_current, report.posts_proposed) == (4, 8)
    assert (report.posts_gained, report.posts_lost) == (6, 2)
    assert report.errors == 0
    assert report.current_version == current.version
    assert report.proposed_version == proposed.version


async def test_examples_carry_channel_link_and_matched_words(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(filled, current, proposed, None)
    refugees = report.rule("evacuation.refugees")
    # At most 3, oldest first: post 6, then the tied posts 9 and 10 in id order.
    assert [e.post_id for e in refugees.gained_examples] == [6, 9, 10]
    first = refugees.gained_examples[0]
    assert (first.channel, first.msg_id, first.link) == ("milblog", "6", "https://t.me/milblog/6")
    assert first.date == NOW - timedelta(days=1, hours=1)
    assert first.words == ("беженец",)
    assert first.excerpt == "[[Беженцы]] идут на запад"
    assert first.where == "@milblog/6"

    (lost,) = report.rule("evacuation.any").lost_examples
    assert (lost.post_id, lost.excerpt, lost.words) == (
        3, "[[Эвакуация]] жителей во время учений", ("эвакуация",)
    )
    forces = report.rule("withdrawal.forces")
    assert [e.excerpt for e in forces.gained_examples] == [
        "[[Отход]] [[войск]] из города продолжается", "[[Отход]] [[войск]] к реке",
    ]
    assert forces.gained_examples[0].words == ("отход", "войско")
    assert forces.lost_examples == []


async def test_since_keeps_only_newer_posts(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(filled, current, proposed, NOW - timedelta(days=7))
    assert report.posts == 8  # posts 1, 2 and 8 are older than a week
    assert numbers(report) == {
        "withdrawal.forces": ("", 0, 0, [], []),
        "evacuation.any": ("changed", 2, 1, [], [3]),
        "evacuation.refugees": ("new", 0, 4, [6, 9, 10, 11], []),
        "withdrawal.retreat": ("removed", 1, 0, [], [5]),
    }
    # The bound is inclusive: a post dated exactly `since` is replayed.
    exact = await backtest(filled, current, proposed, NOW - timedelta(hours=12))
    assert exact.posts == 4  # 9, 10, 11 and 7
    assert exact.rule("evacuation.refugees").gained == [9, 10, 11]


async def test_small_batches_neither_skip_nor_repeat_posts(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    seen: list[tuple[int, int]] = []
    whole = await backtest(filled, current, proposed, None)
    batched = await backtest(
        filled, current, proposed, None, lambda done, total: seen.append((done, total)),
        batch_size=2,
    )
    assert numbers(batched) == numbers(whole)
    assert seen == [(0, 11), (2, 11), (4, 11), (6, 11), (8, 11), (10, 11), (11, 11)]


async def test_post_batches_stream_every_post_once_in_date_order(filled: Store) -> None:
    batches = [batch async for batch in filled.post_batches(batch_size=3)]
    assert [len(b) for b in batches] == [3, 3, 3, 2]
    ids = [post_id for batch in batches for post_id, _ in batch]
    assert ids == [1, 2, 8, 5, 3, 6, 4, 9, 10, 11, 7]
    streamed = [(pid, post.channel, post.msg_id) async for pid, post in filled.stream_posts()]
    assert [s[0] for s in streamed] == ids
    assert streamed[0] == (1, "frontnews", "1")
    assert await filled.count_posts() == 11
    assert await filled.count_posts(NOW - timedelta(days=7)) == 8


async def test_forked_workers_give_the_same_report(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    one = await backtest(filled, current, proposed, None)
    two = await backtest(filled, current, proposed, None, jobs=2, batch_size=4)
    assert two.jobs == 2
    assert numbers(two) == numbers(one)
    assert two.rule("evacuation.refugees").gained_examples == one.rule(
        "evacuation.refugees"
    ).gained_examples


class Exploding:
    """A matcher that fails on one text, to show a bad post is skipped, not fatal."""

    def __init__(self, inner: Matcher) -> None:
        self.inner = inner
        self.version = inner.version
        self.ruleset = inner.ruleset

    def match(self, text: str) -> list:  # type: ignore[type-arg]
        if "Котики" in text:
            raise RuntimeError("boom")
        return self.inner.match(text)


async def test_a_failing_post_is_counted_and_skipped(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(filled, current, Exploding(proposed), None)  # type: ignore[arg-type]
    assert report.errors == 1
    assert report.error_samples == ["post frontnews/7: matcher error: RuntimeError: boom"]
    assert report.posts == 11
    assert (report.gained, report.lost) == (6, 2)


async def test_identical_rules_change_nothing(filled: Store, current: Matcher) -> None:
    report = await backtest(filled, current, current, None)
    assert (report.gained, report.lost, report.hits_current) == (0, 0, 4)
    assert {d.status for d in report.rules} == {""}
    assert format_backtest(report).endswith(
        "No post would change: the proposed rules flag exactly the same posts."
    )
    assert format_backtest(report, compact=True).endswith("No post would change.")


async def test_a_database_path_is_opened_and_a_missing_one_never_created(
    filled: Store, db_path: Path, tmp_path: Path, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(db_path, current, proposed, None)
    assert report.posts == 11 and report.gained == 6
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(FileNotFoundError):
        await backtest(missing, current, proposed, None)
    assert not missing.exists()


# -- text -------------------------------------------------------------------------------------


async def test_console_format(filled: Store, current: Matcher, proposed: Matcher) -> None:
    text = format_backtest(await backtest(filled, current, proposed, None))
    lines = text.splitlines()
    assert lines[0] == (
        f"Backtest over 11 stored post(s): rules {current.version} → {proposed.version}"
        " (current → proposed)"
    )
    assert lines[1:7] == [
        "rule                           current  proposed   gained     lost",
        "withdrawal.forces                    1         3       +2       -0",
        "evacuation.any (changed)             2         1       +0       -1",
        "evacuation.refugees (new)            0         4       +4       -0",
        "withdrawal.retreat (removed)         1         0       +0       -1",
        "total                                4         8       +6       -2",
    ]
    assert lines[7] == "Posts alerted: 4 → 8 (+6 gained, -2 lost)"
    block = text.split("\n\n")
    assert block[3] == (
        "evacuation.refugees (new): +4 gained (3 shown)\n"
        "  + 2024-04-30 11:00 UTC @milblog/6 https://t.me/milblog/6\n"
        "    matched: беженец\n"
        "    [[Беженцы]] идут на запад\n"
        "  + 2024-05-01 00:00 UTC @milblog/9 https://t.me/milblog/9\n"
        "    matched: беженец\n"
        "    Новые [[беженцы]] на границе\n"
        "  + 2024-05-01 00:00 UTC @milblog/10 https://t.me/milblog/10\n"
        "    matched: беженец\n"
        "    [[Беженцев]] везут в Польшу"
    )
    assert block[2].startswith("evacuation.any (changed): -1 lost\n  - 2024-04-29")


async def test_compact_format_for_the_chat(
    filled: Store, current: Matcher, proposed: Matcher
) -> None:
    report = await backtest(filled, current, proposed, NOW - timedelta(days=7))
    assert format_backtest(report, compact=True) == "\n".join(
        [
            (
                f"Backtest over 8 stored post(s) since 2024-04-24 12:00 UTC,"
                f" rules {current.version} → {proposed.version}"
            ),
            "Hits: 3 → 5 (+4 −2); posts alerted 3 → 5",
            "evacuation.any (changed): 2 → 1 (+0 −1)",
            "  − https://t.me/milblog/3: [[Эвакуация]] жителей во время учений",
            "evacuation.refugees (new): 0 → 4 (+4 −0)",
            "  + https://t.me/milblog/6: [[Беженцы]] идут на запад",
            "  + https://t.me/milblog/9: Новые [[беженцы]] на границе",
            "withdrawal.retreat (removed): 1 → 0 (+0 −1)",
            "  − https://t.me/frontnews/5: [[Отступление]] по всему фронту",
            "1 other rule(s) unchanged.",
        ]
    )


# -- the chat entry point ----------------------------------------------------------------------


@pytest.fixture
def holder(tmp_path: Path, morph: Morphology) -> RulesHolder:
    rules_dir = tmp_path / "config"
    rules_dir.mkdir()
    path = rules_dir / "rules.yaml"
    path.write_text(CURRENT, encoding="utf-8")
    holder = RulesHolder(path, morph)
    holder.load()
    return holder


async def test_chat_backtest_of_yaml_text(filled: Store, holder: RulesHolder) -> None:
    chat = ChatBacktest(filled, holder, clock=lambda: NOW)
    reply = await chat.chat_backtest(PROPOSED, NOW - timedelta(days=7))
    assert reply.startswith("Backtest over 8 stored post(s) since 2024-04-24 12:00 UTC")
    assert "evacuation.refugees (new): 0 → 4 (+4 −0)" in reply
    # The instance is the callable OperatorCommands takes: the text after "/rule backtest".
    assert await chat("since 7d\n" + PROPOSED) == reply
    assert (await chat(PROPOSED)).startswith("Backtest over 11 stored post(s), rules")


def test_chat_arguments(filled: Store, holder: RulesHolder) -> None:
    chat = ChatBacktest(filled, holder, clock=lambda: NOW)
    week = NOW - timedelta(days=7)
    assert chat.parse_args("since 7d new.yaml") == ("new.yaml", week)
    assert chat.parse_args("new.yaml since 7 days") == ("new.yaml", week)
    assert chat.parse_args("new.yaml") == ("new.yaml", None)
    assert chat.parse_args("since 24h\ntopics: {}\n") == ("topics: {}\n", NOW - timedelta(hours=24))
    assert chat.parse_args("topics:\n  a: b") == ("topics:\n  a: b", None)
    for bad in ("", "since 7d", "new.txt", "a.yaml b.yaml", "new.yaml\ntopics: {}"):
        assert chat.parse_args(bad) == CHAT_USAGE, bad
    assert chat.parse_args("since soon new.yaml").startswith("Bad period 'soon'")


async def test_chat_backtest_of_a_file_in_the_rules_dir(
    filled: Store, holder: RulesHolder
) -> None:
    rules_dir = holder.path.parent
    (rules_dir / "proposed.yaml").write_text(PROPOSED, encoding="utf-8")
    run = make_chat_backtest(filled, holder, rules_dir)
    reply = await run("proposed.yaml")
    assert reply.startswith("Backtest over 11 stored post(s), rules")
    assert "withdrawal.forces: 1 → 3 (+2 −0)" in reply
    (rules_dir.parent / "outside.yaml").write_text(PROPOSED, encoding="utf-8")
    assert await run("../outside.yaml") == f"Only files inside {rules_dir} can be tested."
    assert (await run("absent.yaml")).startswith("Cannot read absent.yaml: ")
    no_files = make_chat_backtest(filled, holder, None)
    assert (await no_files("proposed.yaml")).startswith("File names are not accepted")


async def test_chat_backtest_of_broken_rules_lists_the_problems(
    filled: Store, holder: RulesHolder
) -> None:
    broken = PROPOSED.replace("match: evac\n", "match: evak\n")
    reply = await ChatBacktest(filled, holder).chat_backtest(broken, None)
    lines = reply.splitlines()
    assert lines[0] == "The proposed rules have 1 problem(s); nothing was tested:"
    assert re.match(r"^proposed\.yaml:\d+:\d+: .*unknown concept 'evak'", lines[1]), lines[1]


async def test_one_chat_backtest_at_a_time(filled: Store, holder: RulesHolder) -> None:
    chat = ChatBacktest(filled, holder)
    first = asyncio.ensure_future(chat(PROPOSED))
    await asyncio.sleep(0)  # the first one holds the lock now
    assert await chat(PROPOSED) == (
        "A backtest is already running; try again when it has finished."
    )
    assert (await first).startswith("Backtest over 11 stored post(s)")


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A database file with POSTS and the two rules files (built without a running loop)."""
    db = tmp_path / "data" / "milwatch.sqlite3"

    async def build() -> None:
        async with Store.open(db) as store:
            await fill(store)

    asyncio.run(build())
    cur = tmp_path / "current.yaml"
    cur.write_text(CURRENT, encoding="utf-8")
    new = tmp_path / "new.yaml"
    new.write_text(PROPOSED, encoding="utf-8")
    return db, cur, new


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_backtest_prints_the_table(
    capsys: pytest.CaptureFixture[str], cli_setup: tuple[Path, Path, Path]
) -> None:
    db, cur, new = cli_setup
    code, out, err = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                         "--db", str(db), "--jobs", "1")
    assert code == 0
    assert out.startswith("Backtest over 11 stored post(s): rules ")
    assert "evacuation.refugees (new)            0         4       +4       -0" in out
    assert "total                                4         8       +6       -2" in out
    assert "    [[Беженцы]] идут на запад" in out
    assert re.fullmatch(
        r"backtest: 11 posts in \d+\.\ds \([\d,]+ posts/s, 1 process\(es\)\): "
        r"6 hits gained, 2 lost, 0 problem\(s\)\n",
        err,
    ), err


def test_cli_backtest_since_progress_and_workers(
    capsys: pytest.CaptureFixture[str], cli_setup: tuple[Path, Path, Path]
) -> None:
    db, cur, new = cli_setup
    # 8 posts are at most a week older than T0; "now" is later, so use a date instead.
    code, out, err = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                         "--db", str(db), "--since", "2024-04-24T12:00:00", "--progress",
                         "--jobs", "2")
    assert code == 0
    assert out.startswith("Backtest over 8 stored post(s) since 2024-04-24 12:00 UTC")
    assert "withdrawal.forces                    0         0       +0       -0" in out
    assert "\r[" in err and "/~8 posts" in err  # the bar was drawn (at most 5 times a second)
    assert "2 process(es)" in err
    # A relative period counts back from now: every stored post is older than a day.
    code, out, _ = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                       "--db", str(db), "--since", "1d")
    assert code == 0 and out.startswith("Backtest over 0 stored post(s) since ")


def test_cli_backtest_uses_the_settings_database(
    capsys: pytest.CaptureFixture[str], cli_setup: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, cur, new = cli_setup
    monkeypatch.setenv("MILWATCH_DB", str(db))
    code, out, _ = run(capsys, "backtest", "--rules", str(new), "--current", str(cur))
    assert code == 0 and "total                                4         8" in out
    monkeypatch.delenv("MILWATCH_DB")
    monkeypatch.setenv("MILWATCH_DATA_DIR", str(db.parent))
    code, out, _ = run(capsys, "backtest", "--rules", str(new), "--current", str(cur))
    assert code == 0 and out.startswith("Backtest over 11 stored post(s)")


def test_cli_backtest_broken_proposed_file(
    capsys: pytest.CaptureFixture[str], cli_setup: tuple[Path, Path, Path]
) -> None:
    db, cur, new = cli_setup
    new.write_text(PROPOSED.replace("match: evac\n", "match: evak\n"), encoding="utf-8")
    code, out, err = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                         "--db", str(db))
    assert code == 2
    assert out == ""
    line = next(n for n, text in enumerate(PROPOSED.splitlines(), 1) if text.endswith("evac"))
    assert re.fullmatch(rf"{re.escape(str(new))}:{line}:\d+: .*unknown concept 'evak'.*\n", err), err


def test_cli_backtest_usage_errors(
    capsys: pytest.CaptureFixture[str], cli_setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    db, cur, new = cli_setup
    missing = tmp_path / "missing.sqlite3"
    code, out, err = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                         "--db", str(missing))
    assert (code, out) == (2, "")
    assert err == f"{missing}: no such database (use --db PATH or set MILWATCH_DB)\n"
    assert not missing.exists()
    code, _, err = run(capsys, "backtest", "--rules", str(new), "--current", str(cur),
                       "--db", str(db), "--since", "last tuesday")
    assert code == 2 and err.startswith("--since 'last tuesday': use a period such as 7d")
    code, _, err = run(capsys, "backtest", "--rules", str(tmp_path / "absent.yaml"),
                       "--current", str(cur), "--db", str(db))
    assert code == 2 and "absent.yaml:1:1: cannot read the rules file" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--db", str(db)])  # --rules is required
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_cli_backtest_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    out = capsys.readouterr().out
    for flag in ("--rules", "--current", "--since", "--db", "--progress", "--jobs"):
        assert flag in out

