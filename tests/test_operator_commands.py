"""Operator commands: every one refused for analysts and answered for operators; rule tests,
term edits, enable/disable, mutes, history and rollback, end to end on a copy of the
shipped rules with the real matcher, real SQLite and the real pipeline."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, FakeClock, make_post
from telegram_fakes import OfflineNetwork, offline_client
from telethon import events, types

from bot.alerts.router import AlertRouter
from bot.app import RulesHolder
from bot.cli import main
from bot.commands import CommandHandler
from bot.commands.operator import OperatorCommands
from bot.matching import Morphology
from bot.pipeline import Pipeline
from bot.rules import load_rules
from bot.storage import Store
from bot.telegram.bot_commands import BotCommandAdapter

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "rules.yaml"
ORIGINAL = SHIPPED.read_text(encoding="utf-8")

REDEPLOYED = "Группировка переброшена под Херсон"  # only withdrawal.redeployed matches
NEW_WORD = "Армия ретировалась с позиций"  # matches nothing until "ретироваться" is added


@dataclass
class Env:
    path: Path
    holder: RulesHolder
    store: Store
    clock: FakeClock
    handler: CommandHandler
    pipeline: Pipeline

    async def op(self, text: str, author: str = "2002") -> str:
        return await self.handler.handle(text, role="operator", author=author)

    async def analyst(self, text: str) -> str:
        return await self.handler.handle(text, role="analyst", author="1001")

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "rules.yaml"
    path.parent.mkdir()
    shutil.copyfile(SHIPPED, path)
    return path


def build_env(rules_path: Path, store: Store, clock: FakeClock, morph: Morphology, **options: Any) -> Env:
    holder = RulesHolder(rules_path, morph)
    ruleset = holder.load()
    operator = OperatorCommands(rules_path, holder, store, clock, **options)
    handler = CommandHandler(store, clock, rules_summary=lambda: holder.ruleset.summary(), operator=operator)
    router = AlertRouter({name: "console" for name in ruleset.routes}, "default")
    return Env(rules_path, holder, store, clock, handler, Pipeline(store, holder.matcher, router))


@pytest.fixture
async def env(rules_path: Path, store: Store, clock: FakeClock, morph: Morphology) -> Env:
    built = build_env(rules_path, store, clock, morph)
    ruleset = built.holder.ruleset
    await store.record_ruleset(ruleset.version, ruleset.source, "file", None)
    return built


# -- permissions: every operator command -------------------------------------------

# (command, the name the refusal gives, a fragment of the operator's answer)
EVERY_OPERATOR_COMMAND = [
    ("/rule list", "/rule list", f"{len(load_rules(SHIPPED).rules)} rules, version"),
    ("/rule show withdrawal.redeployed", "/rule show", "match: ((redeploy NOT WITHIN/10 sport) NOT NEAR/4 reinforce) NEAR/4 forces"),
    (f"/rule test {REDEPLOYED}", "/rule test", "Would alert: yes, 1 rule(s)."),
    ("/rule disable withdrawal.redeployed", "/rule disable", "Rule withdrawal.redeployed disabled."),
    ("/rule enable withdrawal.redeployed", "/rule enable", "rule 'withdrawal.redeployed' is already enabled"),
    ("/rule backtest", "/rule backtest", "/rule backtest is not available here"),
    ("/term add pullout ретироваться", "/term add", "Added to concept pullout: ретироваться (ru)."),
    ("/term remove pullout отступление", "/term remove", "Removed from concept pullout: отступление (ru)."),
    ("/mute @frontnews for 2h", "/mute", "Muted @frontnews until 2024-05-01 14:00 UTC (2h)"),
    ("/mute", "/mute", "Nothing is muted."),
    ("/unmute @frontnews", "/unmute", "@frontnews was not muted."),
    ("/rules history", "/rules history", "· file · by —"),
    ("/rules rollback 0000ffff", "/rules rollback", "No recorded version starts with '0000ffff'."),
]


@pytest.mark.parametrize(("command", "name", "answer"), EVERY_OPERATOR_COMMAND)
async def test_analysts_are_refused_every_operator_command(env: Env, command: str, name: str, answer: str) -> None:
    reply = await env.analyst(command)
    assert reply == (
        f"Sorry, {name} is an operator command: only users listed in OPERATOR_IDS may use it. "
        "Ask an operator, or see /help for your commands."
    )
    # Nothing happened: same file, no mute, no new version.
    assert env.text() == ORIGINAL
    assert await env.store.active_mutes() == []
    assert len(await env.store.ruleset_history()) == 1


@pytest.mark.parametrize(("command", "name", "answer"), EVERY_OPERATOR_COMMAND)
async def test_operators_get_every_operator_command(env: Env, command: str, name: str, answer: str) -> None:
    reply = await env.op(command)
    assert answer in reply
    assert "operator command" not in reply


async def test_help_shows_the_operator_section_to_operators_only(env: Env) -> None:
    analyst_help = await env.analyst("/help")
    operator_help = await env.op("/help")
    assert "/recent" in analyst_help and "Operator commands" not in analyst_help and "/term add" not in analyst_help
    assert operator_help.startswith(analyst_help)
    assert "\nOperator commands" in operator_help and "/rules rollback VERSION" in operator_help
    unknown = await env.op("/frobnicate")
    assert unknown.startswith("Unknown command /frobnicate.") and "/mute @channel|RULE_ID" in unknown
    assert (await env.op("/rule frob")).startswith("Usage: /rule list | show ID")
    assert (await env.op("/term add pullout")).startswith("Usage: /term add CONCEPT")


async def test_without_operator_commands_wired_operators_are_told(store: Store, clock: FakeClock) -> None:
    handler = CommandHandler(store, clock)
    assert (await handler.handle("/rule list", role="operator")).startswith("/rule list is not available here.")


# -- /rule show, /rule test ----------------------------------------------------------


async def test_rule_show_lists_condition_and_truncated_terms(env: Env) -> None:
    reply = await env.op("/rule show withdrawal.pullout_forces")
    lines = reply.splitlines()
    assert lines[0].startswith("Rule withdrawal.pullout_forces (enabled; line ")
    assert lines[1] == "topic: withdrawal · severity: high · route: analysts"
    assert (
        "match: (((pullout NOT NEAR/3 not_pullout) NOT NEAR/1 conclusion) NOT WITHIN/10 sport)"
        " NEAR/8 (forces OR us)"
    ) in lines
    assert any(line.startswith("  pullout — Unambiguous") for line in lines)
    ru = next(line for line in lines if line.startswith('    ru: "вывод", "вывода"'))
    shown = len(ru.removeprefix("    ru: ").split(" … ")[0].split(", "))
    total = sum(1 for t in load_rules(ROOT / "config" / "rules.yaml").concepts["pullout"].terms if t.lang == "ru")
    assert shown == 12 and ru.endswith(f"… +{total - 12} more")  # the first 12 terms shown
    assert (await env.op("/rule show no.such")).startswith("No rule 'no.such'.")


async def test_rule_test_explains_rules_terms_forms_spans_and_fuzzy_scores(env: Env) -> None:
    reply = await env.op("/rule test Россия выводит контенгент из Сирии")
    lines = reply.splitlines()
    assert lines[0] == "Would alert: yes, 2 rule(s)."
    assert "HIT withdrawal.pullout_forces → withdrawal (high, route analysts)" in lines
    assert "    pullout: 'выводит' → выводить (lemma; term 'выводить') at 7-14" in lines
    # A typo is matched by similarity, with its score.
    assert "    forces: 'контенгент' → контингент (fuzzy 90%; term 'контингент') at 15-25" in lines
    assert "HIT withdrawal.pullout_from_place → withdrawal (medium, route analysts)" in lines
    nothing = await env.op("/rule test Погода хорошая")
    assert nothing.startswith("Would alert: no, no rule matches.\nconcepts found: none")


async def test_rule_test_names_concepts_found_and_unless_vetoes(env: Env) -> None:
    reply = await env.op("/rule test Эвакуация жителей из-за наводнения")
    assert reply.startswith("Would alert: no, no rule matches.")
    assert "concepts found:" in reply and "evac (Эвакуация)" in reply


# -- edits ---------------------------------------------------------------------------


async def test_term_add_then_rule_test_matches_and_the_pipeline_alerts(env: Env) -> None:
    assert (await env.op(f"/rule test {NEW_WORD}")).startswith("Would alert: no")
    old_version = env.holder.ruleset.version
    reply = await env.op("/term add pullout ru ретироваться")
    new_version = env.holder.ruleset.version
    assert new_version != old_version
    last = "перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание"
    shipped = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(shipped, 1) if line.strip() == last + "]")  # pullout's last ru line
    assert reply.splitlines() == [
        "Added to concept pullout: ретироваться (ru).",
        f"Rules version {new_version} is active: +0 rules -0 ~0 1 concepts changed.",
        f"-{n}: {last}]",
        f"+{n}: {last}, ретироваться]",
    ]
    test = await env.op(f"/rule test {NEW_WORD}")
    assert test.startswith("Would alert: yes")
    assert "    pullout: 'ретировалась' → ретироваться (lemma; term 'ретироваться') at 6-18" in test
    result = await env.pipeline.ingest(make_post(NEW_WORD, 1))
    assert result.alerts_enqueued >= 1
    record = await env.store.latest_ruleset()
    assert record is not None and (record.version, record.source, record.author) == (new_version, "chat", "2002")


async def test_phrases_with_commas_quotes_for_exact_forms_and_skipped_duplicates(env: Env) -> None:
    reply = await env.op('/term add pullout ru вывод войск, "ретировались", отход')
    assert reply.startswith(
        "Added to concept pullout: вывод войск (ru), ретировались (ru). Terms already listed were skipped."
    )
    assert 'свертывание,\n         вывод войск, "ретировались"]' in env.text()
    assert (await env.op("/term add pullout отход")) == "Not changed: nothing to add: already in concept 'pullout'."


async def test_a_broken_term_edit_replies_file_line_col_and_writes_nothing(env: Env) -> None:
    reply = await env.op("/term add flag uk эвак*x")
    line = ORIGINAL.splitlines().index("    uk: [прапор]") + 1
    assert reply.splitlines() == [
        "Not changed: the rules file would not load:",
        f"{env.path}:{line}:18: concept 'flag': 'эвак*x': '*' is only allowed at the end of a word",
    ]
    assert env.text() == ORIGINAL
    assert len(await env.store.ruleset_history()) == 1
    assert (await env.op("/term remove pullout нетакого")) == "Not changed: not in concept 'pullout': нетакого."
    assert (await env.op("/term add pulout x")).startswith("Not changed: no concept 'pulout' (did you mean pullout")


async def test_rule_disable_stops_the_rule_and_enable_restores_the_file(env: Env) -> None:
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 1))).hits
    reply = await env.op("/rule disable withdrawal.redeployed")
    assert reply.splitlines()[:2] == [
        "Rule withdrawal.redeployed disabled.",
        (
            f"Rules version {env.holder.ruleset.version} is active: +0 rules -0 ~1 0 concepts changed "
            "(~withdrawal.redeployed)."
        ),
    ]
    assert (await env.op(f"/rule test {REDEPLOYED}")).startswith("Would alert: no")
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 2))).hits == []
    assert "OFF withdrawal.redeployed · withdrawal · medium" in await env.op("/rule list")
    await env.op("/rule enable withdrawal.redeployed")
    assert env.text() == ORIGINAL
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 3))).hits


# -- mutes -----------------------------------------------------------------------------


async def test_mute_channel_for_2h_keeps_hits_sends_no_alerts_and_expires(env: Env) -> None:
    await env.pipeline.ingest(make_post("Погода хорошая", 99, "frontnews"))  # a channel read
    reply = await env.op("/mute @frontnews for 2h")
    assert reply == (
        "Muted @frontnews until 2024-05-01 14:00 UTC (2h): its hits are still recorded, "
        "no alerts are sent. /unmute @frontnews lifts it."
    )
    muted = await env.pipeline.ingest(make_post(REDEPLOYED, 1, "frontnews"))
    assert [h.rule_id for h in muted.hits] == ["withdrawal.redeployed"]
    assert (muted.alerts_enqueued, muted.alerts_muted) == (0, 1)
    other = await env.pipeline.ingest(make_post(REDEPLOYED, 1, "otherchannel"))
    assert (other.alerts_enqueued, other.alerts_muted) == (1, 0)
    counts = await env.store.counts()
    assert (counts["hits"], counts["alerts"]) == (2, 1)  # the muted hit is recorded
    assert "@frontnews until 2024-05-01 14:00 UTC (by 2002)" in await env.op("/mute")

    env.clock.advance(2 * 3600 - 1)
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 2, "FrontNews"))).alerts_muted == 1
    env.clock.advance(2)  # the two hours are over
    after = await env.pipeline.ingest(make_post(REDEPLOYED, 3, "frontnews"))
    assert (after.alerts_enqueued, after.alerts_muted) == (1, 0)
    assert await env.store.active_mutes() == []
    assert await env.op("/unmute @frontnews") == "@frontnews was not muted. /mute lists the mutes."


async def test_mute_rule_until_unmute(env: Env) -> None:
    reply = await env.op("/mute withdrawal.redeployed")
    assert reply.startswith("Muted rule withdrawal.redeployed until /unmute:")
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 1))).alerts_muted == 1
    test = await env.op(f"/rule test {REDEPLOYED}")
    assert test.startswith("Would alert: no (matched, but every matching rule is muted).")
    assert "— rule muted until /unmute: recorded, no alert" in test
    assert "withdrawal.redeployed · withdrawal · medium · muted until /unmute" in await env.op("/rule list")
    env.clock.advance(365 * 86400)
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 2))).alerts_muted == 1
    assert await env.op("/unmute withdrawal.redeployed") == (
        "Unmuted rule withdrawal.redeployed: its alerts are sent again."
    )
    assert (await env.pipeline.ingest(make_post(REDEPLOYED, 3))).alerts_enqueued == 1


async def test_mute_arguments_are_checked(env: Env) -> None:
    assert (await env.op("/mute no.such.rule")).startswith("No rule 'no.such.rule' (channels start with @).")
    assert (await env.op("/mute @bad!name")).startswith("'@bad!name' is not a channel name.")
    assert (await env.op("/mute @frontnews for 2 fortnights")).startswith("Bad period '2 fortnights'")
    assert (await env.op("/mute @frontnews 30m")).startswith("Muted @frontnews until 2024-05-01 12:30 UTC (30m)")
    assert await env.store.active_mutes() != []


async def test_muting_a_channel_never_read_says_so(env: Env) -> None:
    """A typo in a channel name must not pass for a working mute."""
    await env.pipeline.ingest(make_post("Погода хорошая", 99, "frontnews"))
    reply = await env.op("/mute @nosuchchannel for 2 hours")
    assert reply.splitlines() == [
        "Muted @nosuchchannel until 2024-05-01 14:00 UTC (2h): its hits are still recorded, "
        "no alerts are sent. /unmute @nosuchchannel lifts it.",
        "Note: no post from @nosuchchannel has been read; check the name (/channels lists "
        "the channels read).",
    ]
    known = await env.op("/mute @FrontNews for 2h")
    assert "Note:" not in known


async def test_a_later_mute_replaces_the_earlier_one(env: Env) -> None:
    await env.op("/mute @frontnews for 2h")
    await env.op("/mute @FrontNews for 10m", author="3003")
    (mute,) = await env.store.active_mutes()
    assert (mute.target, mute.author, mute.until) == ("frontnews", "3003", env.clock.now + timedelta(minutes=10))


# -- history and rollback -----------------------------------------------------------


async def test_rules_history_lists_versions_with_source_and_author(env: Env) -> None:
    first = env.holder.ruleset.version
    env.clock.advance(3600)
    await env.op("/term add pullout ретироваться", author="2002")
    second = env.holder.ruleset.version
    env.clock.advance(60)
    await env.op("/rule disable withdrawal.redeployed", author="3003")
    third = env.holder.ruleset.version
    lines = (await env.op("/rules history")).splitlines()
    assert lines == [
        "Rule set versions, newest first (/rules rollback VERSION puts one back):",
        f"{third} · 2024-05-01 13:01 UTC (just now) · chat · by 3003 · ACTIVE",
        f"{second} · 2024-05-01 13:00 UTC (1m ago) · chat · by 2002",
        f"{first} · 2024-05-01 12:00 UTC (1h 1m ago) · file · by —",
    ]
    assert len((await env.op("/rules history 2")).splitlines()) == 3
    assert (await env.op("/rules history 0")).startswith("N must be between 1 and 50.")


async def test_rollback_with_too_short_a_version_says_how_long_it_must_be(env: Env) -> None:
    version = env.holder.ruleset.version
    assert await env.op(f"/rules rollback {version[:2]}") == (
        f"Give at least 4 characters of the version ({version[:2]!r} has 2). "
        "/rules history lists them."
    )
    assert await env.op("/rules rollback 0000ffff") == (
        "No recorded version starts with '0000ffff'. /rules history lists them."
    )


async def test_rollback_restores_the_file_and_the_behaviour(env: Env) -> None:
    first = env.holder.ruleset.version
    await env.op("/term add pullout ретироваться")
    await env.op("/rule disable withdrawal.redeployed")
    assert (await env.op(f"/rule test {NEW_WORD}")).startswith("Would alert: yes")
    reply = await env.op(f"/rules rollback {first[:6]}", author="3003")
    assert reply.splitlines()[:2] == [
        f"Rolled back to version {first} (recorded 2024-05-01 12:00 UTC, file, by —).",
        f"Rules version {first} is active: +0 rules -0 ~1 1 concepts changed (~withdrawal.redeployed).",
    ]
    assert env.text() == ORIGINAL
    assert env.holder.ruleset.version == first
    assert (await env.op(f"/rule test {NEW_WORD}")).startswith("Would alert: no")
    assert (await env.op(f"/rule test {REDEPLOYED}")).startswith("Would alert: yes")
    record = await env.store.latest_ruleset()
    assert record is not None and (record.version, record.source, record.author) == (first, "chat", "3003")
    assert await env.op(f"/rules rollback {first}") == f"Version {first} is already active."


async def test_rollback_refuses_ambiguous_or_unknown_versions(env: Env) -> None:
    assert (await env.op("/rules rollback abc")).startswith("Give at least 4 characters of the version ('abc' has 3)")
    assert (await env.op("/rules rollback")).startswith("Usage: /rules history [N]")


async def test_hot_reload_does_not_announce_a_chat_edit_again(env: Env) -> None:
    await env.op("/term add pullout ретироваться")
    assert env.holder.reload_if_changed() is None  # already applied by the command


# -- /rule backtest delegates ------------------------------------------------------------


async def test_rule_backtest_calls_the_backtest_when_there_is_one(
    rules_path: Path, store: Store, clock: FakeClock, morph: Morphology
) -> None:
    calls: list[str] = []

    async def backtest(args: str) -> str:
        calls.append(args)
        return "backtest: 3 posts would change"

    env = build_env(rules_path, store, clock, morph, backtest=backtest)
    assert await env.op("/rule backtest since 7d") == "backtest: 3 posts would change"
    assert calls == ["since 7d"]


# -- through the Telegram adapter (offline fakes) -----------------------------------------

ANALYST, OPERATOR = 1001, 2002


def private_message(client: Any, text: str, user_id: int) -> Any:
    message = types.Message(id=10, peer_id=types.PeerUser(user_id), date=T0, message=text)
    event = events.NewMessage.Event(message)
    event._entities = {user_id: types.User(id=user_id, access_hash=user_id * 3, first_name="x")}
    event._set_client(client)
    return event


def group_message(client: Any, text: str, user_id: int) -> Any:
    message = types.Message(
        id=20, peer_id=types.PeerChat(77), from_id=types.PeerUser(user_id), date=T0, message=text
    )
    event = events.NewMessage.Event(message)
    event._entities = {user_id: types.User(id=user_id, access_hash=user_id * 3, first_name="x")}
    event._set_client(client)
    return event


async def test_bot_operator_term_add_works_and_analyst_is_refused(env: Env) -> None:
    network = OfflineNetwork()
    bot = offline_client(network)
    adapter = BotCommandAdapter(bot, env.handler, {ANALYST}, {OPERATOR}, bot_username="mw_bot")

    await adapter.on_message(private_message(bot, "/term add pullout ретироваться", ANALYST))
    (refusal,) = [r.message for r in network.messages]
    assert refusal.startswith("Sorry, /term add is an operator command")
    assert env.text() == ORIGINAL

    await adapter.on_message(private_message(bot, "/term add pullout ретироваться", OPERATOR))
    reply = network.messages[-1].message
    assert reply.startswith("Added to concept pullout: ретироваться (ru).")
    assert "ретироваться]" in env.text()
    record = await env.store.latest_ruleset()
    assert record is not None and (record.source, record.author) == ("chat", str(OPERATOR))

    # In a group too (operator commands are known commands there), threaded under the command.
    await adapter.on_message(group_message(bot, f"/rule@mw_bot test {NEW_WORD}", OPERATOR))
    request = network.messages[-1]
    assert request.message.startswith("Would alert: yes")
    assert request.reply_to == types.InputReplyToMessage(reply_to_msg_id=20)


async def test_rule_changes_from_a_private_chat_are_announced_to_the_operator_chat(
    rules_path: Path, store: Store, clock: FakeClock, morph: Morphology
) -> None:
    announced: list[str] = []

    async def announce(text: str) -> None:
        announced.append(text)

    env = build_env(rules_path, store, clock, morph, announce=announce)
    network = OfflineNetwork()
    bot = offline_client(network)
    adapter = BotCommandAdapter(bot, env.handler, {ANALYST}, {OPERATOR}, bot_username="mw_bot")

    await adapter.on_message(private_message(bot, "/term add pullout ретироваться", OPERATOR))
    (text,) = announced
    assert text.startswith(f"Rules changed from a private chat by user {OPERATOR}:\nAdded to concept pullout")
    assert f"Rules version {env.holder.ruleset.version} is active" in text

    # Nothing to tell: a read-only command, a refused edit, an edit made in a group.
    await adapter.on_message(private_message(bot, f"/rule test {NEW_WORD}", OPERATOR))
    await adapter.on_message(private_message(bot, "/term add pullout ретироваться", OPERATOR))  # already there
    await adapter.on_message(group_message(bot, "/rule@mw_bot disable withdrawal.redeployed", OPERATOR))
    assert len(announced) == 1
    assert network.messages[-1].message.startswith("Rule withdrawal.redeployed disabled.")


async def test_a_file_reload_during_a_private_command_is_not_announced_as_its_edit(
    rules_path: Path, store: Store, clock: FakeClock, morph: Morphology
) -> None:
    announced: list[str] = []

    async def announce(text: str) -> None:
        announced.append(text)

    holder = RulesHolder(rules_path, morph)
    holder.load()

    async def backtest(args: str) -> str:
        # Meanwhile someone edits the file and the reload loop picks it up.
        rules_path.write_text(ORIGINAL.replace("severity: high", "severity: critical", 1), encoding="utf-8")
        result = holder.reload_if_changed()
        assert result is not None and result.ok
        return "backtest: 3 hits over 7 days"

    operator = OperatorCommands(rules_path, holder, store, clock, backtest=backtest, announce=announce)
    reply = await operator.handle("/rule backtest withdrawal.redeployed 7d", "2002", private=True)
    assert reply == "backtest: 3 hits over 7 days" and announced == []


async def test_a_failed_announcement_does_not_undo_the_edit(
    rules_path: Path, store: Store, clock: FakeClock, morph: Morphology
) -> None:
    async def announce(text: str) -> None:
        raise ConnectionError("operator chat unreachable")

    env = build_env(rules_path, store, clock, morph, announce=announce)
    reply = await env.handler.handle("/term add pullout ретироваться", role="operator", author="2002", private=True)
    assert reply.startswith("Added to concept pullout: ретироваться (ru).")
    assert "ретироваться]" in env.text()


# -- the demo console ---------------------------------------------------------------------


def test_interactive_demo_edits_a_copy_of_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = tmp_path / "posts.jsonl"
    seeds.write_text(
        '{"id": "1", "channel": "demo", "date": "2024-12-10T08:00:00Z", "text": "Погода хорошая", "topics": []}\n',
        encoding="utf-8",
    )
    rules = tmp_path / "rules.yaml"
    shutil.copyfile(SHIPPED, rules)
    db = tmp_path / "demo" / "demo.sqlite3"
    commands = f"/term add pullout ретироваться\n/rule test {NEW_WORD}\n/rules history\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(commands))
    code = main(["demo", "--interactive", "--seeds", str(seeds), "--db", str(db), "--rules", str(rules)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    copy = tmp_path / "demo" / "demo-rules.yaml"
    tail = captured.out.split("Type analyst commands", 1)[1]
    assert f"Operator edits change the copy {copy}" in tail
    assert "Added to concept pullout: ретироваться (ru)." in tail
    assert "Would alert: yes" in tail
    assert "· chat · by console · ACTIVE" in tail
    assert "ретироваться]" in copy.read_text(encoding="utf-8")
    assert rules.read_text(encoding="utf-8") == ORIGINAL  # the original is untouched
