"""Hot reload of the rules file: good changes apply whole, broken ones change nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bot.app import RulesHolder
from bot.matching import Morphology

RULES = """
topics: {withdrawal: x}
concepts:
  pullout: [вывод, вывести]
  forces: [войска]
rules:
  - id: pullout
    topic: withdrawal
    match: pullout NEAR/5 forces
"""


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    # Make the change visible even when the file system's clock is coarse.
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + bump))


def test_good_change_applies_with_a_diff_summary(tmp_path: Path, morph: Morphology) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, RULES, 0)
    holder = RulesHolder(path, morph)
    holder.load()
    assert holder.reload_if_changed() is None  # nothing changed
    assert holder.matcher().match("Началась эвакуация войск") == []
    _write(path, RULES.replace("[вывод, вывести]", "[вывод, вывести, эвакуация]") + """
  - id: evac
    topic: withdrawal
    match: "'эвакуация'"
""", 10)
    result = holder.reload_if_changed()
    assert result is not None and result.ok
    assert result.summary.startswith("+1 rules -0 ~0 1 concepts changed")
    assert "+evac" in result.summary
    assert {h.rule_id for h in holder.matcher().match("Началась эвакуация войск")} == {"pullout", "evac"}


def test_broken_change_keeps_the_last_good_rules(tmp_path: Path, morph: Morphology) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, RULES, 0)
    holder = RulesHolder(path, morph)
    holder.load()
    version = holder.ruleset.version
    _write(path, RULES.replace("NEAR/5 forces", "NEAR/5 forcez"), 10)
    result = holder.reload_if_changed()
    assert result is not None and not result.ok
    assert result.problems and f"{path}:9:" in result.problems[0] and "forcez" in result.problems[0]
    assert holder.ruleset.version == version
    assert [h.rule_id for h in holder.matcher().match("Начался вывод войск")] == ["pullout"]


async def test_reload_during_a_burst_never_half_applies(tmp_path: Path, morph: Morphology) -> None:
    """Posts keep flowing while the file changes: each is matched by one whole version."""
    from conftest import make_post

    from bot.alerts.router import AlertRouter
    from bot.pipeline import Pipeline
    from bot.storage import Store

    path = tmp_path / "rules.yaml"
    _write(path, RULES, 0)
    holder = RulesHolder(path, morph)
    holder.load()
    v1 = holder.ruleset.version
    # Version 2 renames the rule: a post may carry "pullout" or "pullout2", never both.
    v2_text = RULES.replace("- id: pullout", "- id: pullout2")
    async with Store.open(tmp_path / "db.sqlite3") as store:
        pipeline = Pipeline(store, holder.matcher, AlertRouter({"default": "console"}))
        for i in range(60):
            if i == 30:
                _write(path, v2_text, 10)
                result = holder.reload_if_changed()
                assert result is not None and result.ok
            await pipeline.ingest(make_post("Начался вывод войск", msg_id=i))
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        rows = conn.execute("SELECT rule_id, ruleset_version FROM hits ORDER BY post_id").fetchall()
    versions = {str(r[1]): set() for r in rows}
    for rule_id, version in rows:
        versions[str(version)].add(str(rule_id))
    assert versions == {v1: {"pullout"}, holder.ruleset.version: {"pullout2"}}
    assert len(rows) == 60


def test_a_rollback_reuses_the_compiled_rules_and_options_are_never_mixed(tmp_path: Path, morph: Morphology) -> None:
    # Going back to a text compiled before (a rollback, a rule disabled then enabled)
    # takes the compiled matcher again instead of a second compile.
    from bot.compiled import compiled_matcher
    from bot.rules import parse_rules

    path = tmp_path / "rules.yaml"
    _write(path, RULES, 0)
    holder = RulesHolder(path, morph)
    holder.load()
    first = holder.matcher()
    _write(path, RULES.replace("NEAR/5", "NEAR/6"), 10)
    assert holder.reload_if_changed() is not None and holder.matcher() is not first
    _write(path, RULES, 20)
    assert holder.reload_if_changed() is not None and holder.matcher() is first
    # A matcher that looks up every word is another matcher, and so is one without the
    # Ukrainian dictionary.
    ruleset = parse_rules(RULES)
    every = compiled_matcher(ruleset, morph, exhaustive=True)
    assert every is not first and every.exhaustive and not first.exhaustive
    if morph.has_ukrainian:
        russian_only = compiled_matcher(ruleset, Morphology(use_ukrainian=False))
        assert russian_only is not first and not russian_only.morph.has_ukrainian
