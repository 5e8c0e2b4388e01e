"""A rules file that cannot be used never stops anything: `milwatch check` reports it,
start-up refuses it with FILE:LINE:COL problems (exit 2), and a reload keeps the last
good rules. Each case below once gave a traceback, a RecursionError or a long hang."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import RulesHolder
from bot.cli import main
from bot.matching import Morphology
from bot.rules import parse_rules
from bot.rules.expr import MAX_DEPTH
from bot.rules.loader import check_rules
from bot.rules.model import RulesError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")
WITHDRAWAL = "Начался вывод войск из Сирии"


def with_rule(match: str) -> str:
    """The shipped rules plus one rule with the given condition (its line is the last)."""
    return SHIPPED.rstrip("\n") + f"\n  - id: extra\n    topic: withdrawal\n    match: {match}\n"


def with_concept(body: str) -> str:
    """The shipped rules with extra concepts (YAML lines) right after 'concepts:'."""
    return SHIPPED.replace("\nconcepts:\n", "\nconcepts:\n" + body, 1)


def cut_inside_a_letter(text: str) -> bytes:
    """The file as a reader sees it halfway through an in-place save: the cut falls
    between the two bytes of a Cyrillic letter."""
    data = text.encode("utf-8")
    middle = len(data) // 2
    while data[middle] & 0xC0 != 0x80:  # move onto a continuation byte
        middle += 1
    return data[:middle]


def diamond(levels: int) -> str:
    """Concepts d0..dN where each includes the two of the level below: 2**N paths."""
    lines = ["  d0_a: [ромб]\n", "  d0_b: [ромб]\n"]
    for i in range(1, levels + 1):
        for side in "ab":
            lines.append(f'  d{i}_{side}: ["@d{i - 1}_a", "@d{i - 1}_b"]\n')
    return "".join(lines)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


DIGITS = "9" * 5000
Case = tuple[str, Callable[[], bytes], Callable[[bytes], tuple[int, int] | None], str]
CASES: list[Case] = [
    (
        "cp1251",
        lambda: SHIPPED.encode("cp1251", "replace"),
        lambda data: None,  # located below: the first byte that is not UTF-8
        "not UTF-8 text",
    ),
    ("half-written", lambda: cut_inside_a_letter(SHIPPED), lambda data: None, "ends in the middle of a character"),
    ("utf-16", lambda: SHIPPED.encode("utf-16"), lambda data: (1, 1), "UTF-16"),
    (
        "198 parentheses",
        lambda: with_rule("(" * 198 + "pullout" + ")" * 198).encode(),
        lambda data: None,
        f"nested more than {MAX_DEPTH} levels",
    ),
    ("NOT chain", lambda: with_rule("NOT " * 300 + "pullout").encode(), lambda data: None, "nested more than"),
    (
        "NEAR chain",
        lambda: with_rule(" NEAR/3 ".join(["pullout", "forces"] * 300)).encode(),
        lambda data: None,
        "nested more than",
    ),
    ("5,000-digit NEAR/n", lambda: with_rule(f"pullout NEAR/{DIGITS} forces").encode(), lambda data: None, "1 to 100 words"),
    ("5,000-digit ~n", lambda: with_concept(f"  typo: [вывод~{DIGITS}]\n").encode(), lambda data: None, "edit count"),
    (
        "5,000-digit default",
        lambda: SHIPPED.replace("defaults:\n", f"defaults:\n  near: {DIGITS}\n", 1).encode(),
        lambda data: None,
        "number far too long",
    ),
    ("include cycle", lambda: with_concept('  c1: ["@c2"]\n  c2: ["@c3"]\n  c3: ["@c1"]\n').encode(), lambda data: None, "(a cycle)"),
    (
        "deep flow nesting",
        lambda: SHIPPED.replace("topics:\n", "topics:\n  deep: " + "[" * 3000 + "]" * 3000 + "\n", 1).encode(),
        lambda data: None,
        "nested more than",
    ),
    (
        "deep block nesting",
        lambda: with_concept("".join("  " * (i + 1) + f"k{i}:\n" for i in range(600))).encode(),
        lambda data: None,
        "nested more than",
    ),
    (
        "alias bomb",
        lambda: with_rule("*x6").replace(
            "\nconcepts:\n",
            "\nbomb:\n  - &x0 [aaaaaaaaaa, aaaaaaaaaa, aaaaaaaaaa, aaaaaaaaaa, aaaaaaaaaa]\n"
            + "".join(f"  - &x{i} [*x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1},"
                      f" *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}]\n" for i in range(1, 7))
            + "concepts:\n",
            1,
        ).encode(),
        lambda data: None,
        "aliases",
    ),
    (
        "include chain of 3,000",
        lambda: with_concept(
            "  ch0: [звено]\n" + "".join(f'  ch{i}: ["@ch{i - 1}"]\n' for i in range(1, 3000))
            + '  ch0x: ["@ch2999", "@nosuch"]\n'
        ).encode(),
        lambda data: None,
        "includes unknown concept '@nosuch'",
    ),
    ("NUL byte", lambda: SHIPPED.replace("topics:", "topics:\x00", 1).encode(), lambda data: None, "U+0000"),
]


def _first_bad_byte(data: bytes) -> tuple[int, int]:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8"))
        return data.count(b"\n", 0, exc.start) + 1, col + 1
    raise AssertionError("the case is valid UTF-8")


@pytest.mark.parametrize("name, build, where, fragment", CASES, ids=[c[0] for c in CASES])
def test_check_reports_a_located_problem(
    tmp_path: Path, name: str, build: Callable[[], bytes],
    where: Callable[[bytes], tuple[int, int] | None], fragment: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "rules.yaml"
    data = build()
    path.write_bytes(data)
    problems = check_rules(path)
    messages = "\n".join(map(str, problems))
    assert any(fragment in p.message for p in problems), messages
    assert all(p.file == str(path) and p.line >= 1 and p.col >= 1 for p in problems)
    expected = where(data)
    if name in ("cp1251", "half-written"):
        expected = _first_bad_byte(data)
    if expected is not None:
        assert (problems[0].line, problems[0].col) == expected, messages
    # The command line says the same, with exit 1 and no traceback.
    assert main(["check", "--rules", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and fragment in out
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", out, re.MULTILINE)


def test_nesting_problems_point_at_the_line(tmp_path: Path) -> None:
    text = with_rule("(" * 198 + "pullout" + ")" * 198)
    with pytest.raises(RulesError) as info:
        parse_rules(text, "r.yaml")
    (problem,) = info.value.problems
    assert problem.line == text.rstrip("\n").count("\n") + 1
    assert problem.col == len("    match: ") + MAX_DEPTH + 1  # the first '(' too many


def test_a_condition_as_deep_as_allowed_still_works(morph: Morphology) -> None:
    from bot.matching import build_matcher

    depth = MAX_DEPTH - 1
    rs = parse_rules(with_rule("(" * depth + "pullout NEAR/3 forces" + ")" * depth), "r.yaml")
    assert "extra" in {h.rule_id for h in build_matcher(rs, morph).match(WITHDRAWAL)}


def test_an_include_diamond_is_resolved_once_per_concept() -> None:
    """Twelve levels are 4,096 paths to each base term; each is included once."""
    rs = parse_rules(with_concept(diamond(12)), "r.yaml")
    top = rs.concepts["d12_a"]
    assert [(t.raw, t.line) for t in top.terms] == [
        ("ромб", rs.concepts["d0_a"].terms[0].line), ("ромб", rs.concepts["d0_b"].terms[0].line)
    ]
    assert all(t.concept == "d12_a" for t in top.terms)
    # A concept's own terms come first, then each include's in order, each once.
    rs = parse_rules(with_concept(
        '  base: [один, два]\n  left: [три, "@base"]\n  right: ["@base", четыре]\n'
        '  both: ["@left", пять, "@right"]\n'), "r.yaml")
    assert [t.raw for t in rs.concepts["both"].terms] == ["пять", "три", "один", "два", "четыре"]


def test_a_forty_level_diamond_checks_at_once(tmp_path: Path) -> None:
    """2**40 paths: unbearable when each path is walked, immediate when each concept is."""
    path = tmp_path / "rules.yaml"
    path.write_text(with_concept(diamond(40)), encoding="utf-8")
    assert check_rules(path) == []


def test_includes_that_expand_too_far_are_refused() -> None:
    """A chain where each concept adds a term and includes the last: n²/2 terms."""
    from bot.rules.loader import MAX_TERMS

    n = int((2 * MAX_TERMS) ** 0.5) + 50
    body = "  e0: [слово]\n" + "".join(f'  e{i}: [слово{i}, "@e{i - 1}"]\n' for i in range(1, n))
    with pytest.raises(RulesError) as info:
        parse_rules(with_concept(body), "r.yaml")
    assert any("include fewer concepts" in p.message for p in info.value.problems)


# -- the holder: start-up refuses, a reload keeps the last good rules ----------------


def _write(path: Path, data: bytes, bump: int) -> None:
    path.write_bytes(data)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + bump))  # visible on a coarse clock


@pytest.mark.parametrize("name, build, where, fragment", CASES, ids=[c[0] for c in CASES])
def test_a_reload_keeps_the_last_good_rules(
    tmp_path: Path, morph: Morphology, name: str, build: Callable[[], bytes],
    where: Callable[[bytes], tuple[int, int] | None], fragment: str,
) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, SHIPPED.encode(), 0)
    holder = RulesHolder(path, morph)
    good = holder.load()
    expected = {h.rule_id for h in holder.matcher().match(WITHDRAWAL)}
    assert expected

    _write(path, build(), 10)
    result = holder.reload_if_changed()
    assert result is not None and not result.ok and result.version == good.version
    assert result.problems and any(fragment in p for p in result.problems), result.problems
    assert all(p.startswith(f"{path}:") for p in result.problems)
    assert holder.ruleset is good
    assert {h.rule_id for h in holder.matcher().match(WITHDRAWAL)} == expected
    assert holder.reload_if_changed() is None  # reported once, not at every check

    _write(path, SHIPPED.encode(), 20)  # fixed again: same rules, nothing to announce
    assert holder.reload_if_changed() is None


@pytest.mark.parametrize(
    "name, build, where, fragment",
    [c for c in CASES if c[0] in ("cp1251", "half-written", "198 parentheses", "5,000-digit NEAR/n")],
    ids=["cp1251", "half-written", "198 parentheses", "5,000-digit NEAR/n"],
)
def test_start_up_refuses_with_located_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    name: str, build: Callable[[], bytes], where: object, fragment: str,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(build())
    values = {
        "TG_API_ID": "123456", "TG_API_HASH": "0123456789abcdef0123456789abcdef",
        "BOT_TOKEN": "123:ABC", "ALERT_CHAT_ID": "-1001234567890", "CHANNELS": "@example",
        "MILWATCH_DATA_DIR": str(tmp_path / "data"), "MILWATCH_RULES": str(rules),
    }
    env = tmp_path / ".env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    for key in values:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "user.session").write_bytes(b"")  # present; never opened here
    assert main(["run", "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and fragment in err
    assert re.search(rf"^{re.escape(str(rules))}:\d+:\d+: ", err, re.MULTILINE)
    assert "the rules file is broken; nothing was started" in err


async def test_the_live_service_announces_each_broken_file_and_goes_on(tmp_path: Path) -> None:
    """run_live with its real wiring: every broken save is one operator notice, the
    service keeps running on the last good rules, and a good save is applied."""
    from datetime import UTC, datetime, timedelta

    from telegram_fakes import FakeTelegram
    from test_live_service import (  # noqa: F401 - no_network guards this test too
        ALERT_CHANNEL_ID,
        ANALYST,
        CHANNEL,
        CHANNEL_ID,
        OPERATOR_CHANNEL_ID,
        Service,
        live_settings,
        no_network,
    )

    rules = tmp_path / "rules.yaml"
    rules.write_text(SHIPPED, encoding="utf-8")
    telegram = FakeTelegram()
    telegram.add_channel(CHANNEL_ID, CHANNEL, title="Front line")
    telegram.post(CHANNEL_ID, 1, WITHDRAWAL, date=datetime.now(UTC) - timedelta(minutes=1))
    service = Service(live_settings(tmp_path, rules), telegram)
    await service.start()
    await service.until(lambda: len(service.sent_to(ALERT_CHANNEL_ID)) == 1, "the alert card")

    def notices() -> list[str]:
        return [r.message for r in service.sent_to(OPERATOR_CHANNEL_ID)]

    for name, build, _, fragment in CASES:
        before = len(notices())
        tmp = rules.with_name("rules.yaml.new")
        tmp.write_bytes(build())
        os.replace(tmp, rules)  # whole files, so each is seen as it is written
        await service.until(lambda n=before: len(notices()) > n, f"the notice about {name}")
        notice = notices()[-1]
        assert notice.startswith("rules file NOT loaded, the last good rules stay active:"), name
        assert fragment in notice and f"{rules}:" in notice, (name, notice)
    (active,) = await service.command("/rules", ANALYST, 20)
    assert parse_rules(SHIPPED).version in active  # still the rules it started with

    before = len(notices())
    rules.with_name("rules.yaml.new").write_text(with_rule("pullout NEAR/3 forces"), encoding="utf-8")
    os.replace(rules.with_name("rules.yaml.new"), rules)
    await service.until(lambda: len(notices()) > before, "the reload notice")
    assert notices()[-1].startswith("rules reloaded: version ") and "+extra" in notices()[-1]
    assert await service.finish() == 0
    assert "stopping" not in service.err.getvalue()


def test_a_notice_lists_the_first_problems_and_fits_one_message(tmp_path: Path) -> None:
    from bot.app import refused_notice
    from bot.rules.loader import check_rules

    path = tmp_path / "rules.yaml"
    path.write_text(with_concept("".join(f'  u{i}: ["@nosuch{i}"]\n' for i in range(25))), encoding="utf-8")
    problems = [str(p) for p in check_rules(path)]
    assert len(problems) == 25
    notice = refused_notice(problems, path)
    lines = notice.splitlines()
    assert lines[0] == "rules file NOT loaded, the last good rules stay active:"
    assert lines[1:11] == problems[:10]
    assert lines[11] == f"… and 15 more: `milwatch check --rules {path}` lists them all"
    long = refused_notice([f"{path}:1:1: " + "x" * 5000] * 10, path)
    assert len(long) < 4096  # one Telegram message
