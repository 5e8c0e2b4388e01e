"""`milwatch train`: the relevance weights refit on labelled posts and on analysts' marks,
measured on channels held out, and written to a copy of the rules file number by number."""

from __future__ import annotations

import asyncio
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_post

from bot.cli import main
from bot.domain import Hit, Severity
from bot.relevance.train import Sample, Weights, fit, pinned, post_scores
from bot.rules import parse_rules
from bot.rules.editor import EditError, set_weights
from bot.storage import Store

RULES = """
topics: {withdrawal: troops leaving}
routes: {analysts: default}
defaults: {route: analysts}
concepts:
  pullout: [вывод, вывести]
  war: [войска, фронт, ВСУ, армия]
  money: [средства, деньги, рубль]
# The context signal starts weightless: the labels below teach it.
relevance:
  alert_at: 0.5
  bias: 0.0
  signals:
    - name: military context
      words: [war]
      in: post
      weights: [0, 0, 0]
    - name: money
      words: [money]
      in: sentence
      weight: 0.0   # [0, 0]: no say yet
rules:
  - id: withdrawal.core
    topic: withdrawal
    match: pullout
"""

WAR = ["Начался вывод войск с фронта.", "Армия начала вывод, ВСУ отходят с фронта.",
       "Вывод войск продолжается, армия уходит.", "Вывод ВСУ с фронта подтверждён, войска ушли."]
MONEY = ["Вывод средств со счёта заблокирован.", "Банк ограничил вывод денег, рубль упал.",
         "Мошенники вывели средства клиентов.", "Вывод денег за границу растёт."]


def labelled(tmp_path: Path) -> Path:
    rows = []
    for channel in ("a", "b", "c"):
        rows += [{"id": f"{channel}{i}", "channel": channel, "date": "2024-12-08T10:00:00Z", "text": t,
                  "topics": ["withdrawal"]} for i, t in enumerate(WAR)]
        rows += [{"id": f"{channel}m{i}", "channel": channel, "date": "2024-12-08T10:00:00Z", "text": t,
                  "topics": []} for i, t in enumerate(MONEY)]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


# -- the fit --------------------------------------------------------------------------------


def test_fit_learns_from_labels_and_the_pull_keeps_weights_near_their_start() -> None:
    ruleset = parse_rules(RULES)
    assert ruleset.relevance is not None
    start = Weights.current(ruleset.relevance, {}, ["withdrawal.core"])
    war = Sample("withdrawal.core", {"military context": 2, "money": 0}, True, "a", "p1", "withdrawal")
    money = Sample("withdrawal.core", {"military context": 0, "money": 1}, False, "a", "p2", "withdrawal")
    data = [war, money] * 20
    assert post_scores(start, data, 0.5).precision == 0.5  # everything alerts at 0.5 before
    free = fit(start, data, pull=0.0, fixed=pinned(ruleset.relevance))
    held = fit(start, data, pull=50.0, fixed=pinned(ruleset.relevance))
    assert free.score(war) > 0.9 and free.score(money) < 0.1
    assert post_scores(free, data, 0.5).f1 == 1.0
    # A strong pull moves the same weights less.
    moved = abs(free.values[("signal", "military context", "2")])
    assert 0 < abs(held.values[("signal", "military context", "2")]) < moved
    # "No money word" of a `weight:` signal stays 0: only the bias moves that level.
    assert free.values[("signal", "money", "0")] == 0.0


def test_weights_go_back_to_the_file_rounded_to_what_it_shows() -> None:
    ruleset = parse_rules(RULES)
    assert ruleset.relevance is not None
    weights = Weights.current(ruleset.relevance, {}, ["withdrawal.core"])
    weights.values[("signal", "military context", "2")] = 1.2345
    weights.values[("bias",)] = -0.0001
    config, priors = weights.apply(ruleset.relevance, {})
    assert config.signals[0].weights == (0.0, 0.0, 1.25) and config.bias == 0.0
    assert priors == {"withdrawal.core": 0.0}


# -- the rules file, number by number ----------------------------------------------------------


def test_set_weights_changes_only_the_numbers() -> None:
    new = set_weights(RULES, -0.25, {"military context": [0, 0.5, 1.75], "money": [0, -2.5]},
                      {"withdrawal.core": 0.4})
    diff = [line for line in difflib.unified_diff(RULES.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == [
        "-  bias: 0.0",
        "+  bias: -0.25",
        "-      weights: [0, 0, 0]",
        "+      weights: [0.0, 0.5, 1.75]",
        "-      weight: 0.0   # [0, 0]: no say yet",
        "+      weight: -2.5   # [0, 0]: no say yet",
        "+    prior: 0.4",
    ]
    assert "# The context signal starts weightless" in new
    reparsed = parse_rules(new)
    assert reparsed.relevance is not None and reparsed.relevance.signals[1].weights == (0.0, -2.5)
    assert [r.prior for r in reparsed.rules] == [0.4]
    # A `weight:` whose first weight would no longer be 0 becomes `weights:`.
    switched = set_weights(RULES, 0.0, {"money": [0.3, -1.0]}, {})
    assert "      weights: [0.3, -1.0]" in switched and "weight: 0.0" not in switched
    with pytest.raises(EditError):
        set_weights(RULES.split("relevance:")[0] + "rules: []\n", 0.0, {}, {})


# -- the command ----------------------------------------------------------------------------


def test_train_measures_on_held_out_channels_and_writes_a_copy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rules_file: Path
) -> None:
    data = labelled(tmp_path)
    new = tmp_path / "new.yaml"
    code, out, err = run(capsys, "train", str(data), "--rules", str(rules_file), "--holdout-channels", "c",
                         "--pull", "0.1", "--write", str(new))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "fitted on 16 rule hits; measured on 8 hits of channels held out: c"
    assert lines[1] == "held out  before: P 0.50 R 1.00 F1 0.67 (tp 4, fp 4, fn 0)"
    assert lines[2] == "held out  after:  P 1.00 R 1.00 F1 1.00 (tp 4, fp 0, fn 0)"
    assert any(line.strip().startswith("military context [weight 2]") for line in lines)
    assert rules_file.read_text(encoding="utf-8") == RULES  # the live file is never touched
    refit = parse_rules(new.read_text(encoding="utf-8"))
    assert refit.relevance is not None and refit.relevance.signals[0].weights[2] > 0
    assert f"milwatch backtest --rules {new}" in out


def test_train_reads_the_analysts_marks(capsys: pytest.CaptureFixture[str], tmp_path: Path, rules_file: Path) -> None:
    db = tmp_path / "milwatch.sqlite3"

    async def mark() -> None:
        async with Store.open(db) as store:
            for i, (text, verdict) in enumerate([(t, "useful") for t in WAR] + [(t, "false_positive") for t in MONEY]):
                post_id = (await store.add_post(make_post(text, i, channel=f"ch{i % 3}"))).post_id
                hit = Hit("withdrawal.core", "withdrawal", Severity.MEDIUM, "analysts", ())
                (hit_id,) = await store.add_hits(post_id, [hit], "v1")
                await store.add_feedback(hit_id, verdict, "analyst-1")
            # A tie between two analysts says nothing about that post.
            post_id = (await store.add_post(make_post("Вывод войск? Не уверен.", 99))).post_id
            (hit_id,) = await store.add_hits(post_id, [Hit("withdrawal.core", "withdrawal", Severity.MEDIUM,
                                                          "analysts", ())], "v1")
            await store.add_feedback(hit_id, "useful", "analyst-1")
            await store.add_feedback(hit_id, "false_positive", "analyst-2")
            judged = await store.judged_posts()
            assert len(judged) == 8 and all(set(t) == {"withdrawal"} for _, t in judged)

    asyncio.run(mark())
    code, out, err = run(capsys, "train", "--from-feedback", "--db", str(db), "--rules", str(rules_file))
    assert code == 0, err
    assert out.startswith("fitted on ") and "held out" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give labelled JSONL files, or --from-feedback, or both"),
        (["--from-feedback", "--db", "/nonexistent/x.sqlite3"], "no such database"),
    ],
)
def test_train_usage_errors(capsys: pytest.CaptureFixture[str], rules_file: Path, argv: list[str],
                            message: str) -> None:
    code, _, err = run(capsys, "train", *argv, "--rules", str(rules_file))
    assert code == 2 and message in err


def test_train_needs_a_relevance_section(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules: Any = tmp_path / "plain.yaml"
    rules.write_text(RULES.split("# The context")[0] + "rules:\n  - id: w\n    topic: withdrawal\n"
                     "    match: pullout\n", encoding="utf-8")
    code, _, err = run(capsys, "train", str(labelled(tmp_path)), "--rules", str(rules))
    assert code == 2 and "no 'relevance:' section" in err


async def test_a_backtest_of_refit_weights_shows_the_alerts_that_change(tmp_path: Path, store: Store) -> None:
    from conftest import matcher_from_yaml

    from bot.backtest import backtest, format_backtest
    from bot.matching import Morphology

    morph = Morphology()
    for i, text in enumerate(WAR + MONEY):
        await store.add_post(make_post(text, i))
    current = matcher_from_yaml(RULES, morph)
    proposed = matcher_from_yaml(set_weights(RULES, 0.0, {"money": [0, -3.0]}, {}), morph)
    report = await backtest(store, current, proposed, None)
    # The same words hit; the money posts now stay quiet.
    assert (report.posts_current, report.posts_proposed, report.posts_lost) == (8, 4, 4)
    assert (report.quiet_current, report.quiet_proposed) == (0, 4)
    delta = report.rule("withdrawal.core")
    assert (delta.current, delta.proposed, len(delta.lost), delta.quiet_proposed) == (8, 4, 4, 4)
    text = format_backtest(report)
    assert "Posts alerted: 8 → 4 (+0 gained, -4 lost)" in text
    assert "Posts with hits kept quiet by the relevance stage: 0 → 4" in text
