"""Rules file edits: only the edited lines change, broken edits write nothing, writes are
atomic and every written version is recorded. Real files, real SQLite, real parse_rules."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from bot.rules import parse_rules
from bot.rules.editor import (
    EditError,
    add_terms,
    apply_edit,
    guess_lang,
    remove_terms,
    set_enabled,
)
from bot.rules.model import RulesError
from bot.storage import Store

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_TEXT = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")

SMALL = """\
# header comment
version: 1  # inline after a scalar

topics:
  withdrawal: troops leave   # the only topic
concepts:
  # block-style lists, a plain list, a flow-style rule
  pullout:
    description: withdraw words
    ru:
    - вывод       # exact form below
    - "выводы"
    - 'вывести'
  forces: [войска, армия]   # trailing comment
rules:
  # the first rule
- id: r1
  topic: withdrawal
  match: pullout NEAR/3 forces
- {id: r2, topic: withdrawal, match: pullout AND forces}
"""


def changes(old: str, new: str) -> list[str]:
    """The unified diff without headers and context: '-old line' / '+new line'."""
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]


def terms_of(text: str, concept: str) -> list[tuple[str, str, str]]:
    """(raw, lang, kind of the first word) of every term of a concept."""
    return [(t.raw, t.lang, t.words[0].kind) for t in parse_rules(text).concepts[concept].terms]


# -- the shipped file: minimal diffs --------------------------------------------------


def test_add_to_a_multi_line_flow_list_changes_only_its_last_line() -> None:
    new = add_terms(SHIPPED_TEXT, "pullout", ["ретироваться"], "ru")
    assert changes(SHIPPED_TEXT, new) == [
        "-         перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание]",
        "+         перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание, ретироваться]",
    ]
    assert ("ретироваться", "ru", "lemma") in terms_of(new, "pullout")


def test_a_line_that_would_grow_too_long_continues_on_a_new_aligned_line() -> None:
    new = add_terms(SHIPPED_TEXT, "pullout", ["ретироваться", '"выводов"'], "ru")
    assert changes(SHIPPED_TEXT, new) == [
        "-         перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание]",
        "+         перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание,",
        '+         ретироваться, "выводов"]',
    ]
    # Chat quotes become YAML quotes: the exact form, as in the file's own syntax.
    assert ("выводов", "ru", "exact") in terms_of(new, "pullout")


def test_add_to_a_one_line_list_and_language_guessed_from_the_script() -> None:
    new = add_terms(SHIPPED_TEXT, "flag", ["стяг", "білий прапор", "banner"])
    assert changes(SHIPPED_TEXT, new) == [
        "-    ru: [флаг]",
        "-    uk: [прапор]",
        "-    en: [flag, flags]",
        "+    ru: [флаг, стяг]",
        "+    uk: [прапор, білий прапор]",
        "+    en: [flag, flags, banner]",
    ]
    assert guess_lang("їхати") == "uk" and guess_lang("флаг") == "ru" and guess_lang("flag") == "en"


def test_add_in_a_language_the_concept_lacks_adds_one_line() -> None:
    new = add_terms(SHIPPED_TEXT, "out_back", ["назад"], "ru")
    assert changes(SHIPPED_TEXT, new) == ["+    ru: [назад]"]
    lines = new.splitlines()
    assert lines[lines.index("    ru: [назад]") - 1] == '    en: ["out", "back", "home"]'
    assert ("назад", "ru", "lemma") in terms_of(new, "out_back")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # First on its line: the item and its comma go, the line stays.
        ("вывестись", ["-         вывестись, выведение,", "+         выведение,"]),
        # Last on its line: ", item" goes, the trailing comma stays.
        ("выводиться", [
            '-    ru: ["вывод", "вывода", "выводу", "выводом", "выводе", вывести, выводить, выводиться,',
            '+    ru: ["вывод", "вывода", "выводу", "выводом", "выводе", вывести, выводить,',
        ]),
        # Alone on its line: the line goes.
        ("сокращение присутствия", ["-         сокращение присутствия,"]),
        # The last of the list: ", item" goes, the bracket stays.
        ("свертывание", [
            "-         перегруппировать, перегруппироваться, сворачивать, свернуть, свертывание]",
            "+         перегруппировать, перегруппироваться, сворачивать, свернуть]",
        ]),
        # A quoted term is found without its quotes.
        ("вывода", [
            '-    ru: ["вывод", "вывода", "выводу", "выводом", "выводе", вывести, выводить, выводиться,',
            '+    ru: ["вывод", "выводу", "выводом", "выводе", вывести, выводить, выводиться,',
        ]),
    ],
)
def test_remove_from_a_multi_line_flow_list_changes_only_that_line(word: str, expected: list[str]) -> None:
    new = remove_terms(SHIPPED_TEXT, "pullout", [word])
    assert changes(SHIPPED_TEXT, new) == expected
    assert word not in [raw for raw, _, _ in terms_of(new, "pullout")]


def test_remove_takes_the_term_from_every_language_list() -> None:
    new = remove_terms(SHIPPED_TEXT, "goodwill", ["жест доброї волі"])
    assert changes(SHIPPED_TEXT, new) == [
        "-    uk: [жест доброї волі, виведення військ, відведення військ, виведення сил,",
        "+    uk: [виведення військ, відведення військ, виведення сил,",
    ]


def test_disable_adds_one_line_and_enable_gives_back_the_original_bytes() -> None:
    off = set_enabled(SHIPPED_TEXT, "withdrawal.redeployed", False)
    assert changes(SHIPPED_TEXT, off) == ["+    enabled: false"]
    lines = off.splitlines()
    assert lines[lines.index("    enabled: false") - 1] == "  - id: withdrawal.redeployed"
    rule = next(r for r in parse_rules(off).rules if r.id == "withdrawal.redeployed")
    assert rule.enabled is False
    assert set_enabled(off, "withdrawal.redeployed", True) == SHIPPED_TEXT


def test_enable_keeps_an_enabled_line_that_carries_a_comment() -> None:
    text = SMALL.replace("  match: pullout NEAR/3 forces\n", "  match: pullout NEAR/3 forces\n  enabled: false  # noisy\n")
    on = set_enabled(text, "r1", True)
    assert changes(text, on) == ["-  enabled: false  # noisy", "+  enabled: true  # noisy"]


# -- small files: block lists, flow-style rules ----------------------------------------


def test_block_lists_get_new_dash_lines_and_lose_whole_lines() -> None:
    added = add_terms(SMALL, "pullout", ["отвод", "отвести"], "ru")
    assert changes(SMALL, added) == ["+    - отвод", "+    - отвести"]
    removed = remove_terms(SMALL, "pullout", ["выводы"])
    assert changes(SMALL, removed) == ['-    - "выводы"']


def test_plain_list_concept_keeps_its_trailing_comment() -> None:
    new = add_terms(SMALL, "forces", ["контингент"])
    assert changes(SMALL, new) == [
        "-  forces: [войска, армия]   # trailing comment",
        "+  forces: [войска, армия, контингент]   # trailing comment",
    ]


def test_new_language_key_in_a_block_concept() -> None:
    new = add_terms(SMALL, "pullout", ["withdraw"])
    assert changes(SMALL, new) == ["+    en: [withdraw]"]
    assert terms_of(new, "pullout")[-1] == ("withdraw", "en", "lemma")


def test_flow_style_rule_is_edited_through_the_dump_fallback_minimally() -> None:
    new = set_enabled(SMALL, "r2", False)
    assert changes(SMALL, new) == [
        "-- {id: r2, topic: withdrawal, match: pullout AND forces}",
        "+- {id: r2, topic: withdrawal, match: pullout AND forces, enabled: false}",
    ]
    off = set_enabled(SMALL, "r1", False)
    assert changes(SMALL, off) == ["+  enabled: false"]


def test_includes_are_quoted() -> None:
    new = add_terms(SMALL, "pullout", ["@forces"], "any")
    assert changes(SMALL, new) == ['+    any: ["@forces"]']
    assert {"войска", "армия"} <= {raw for raw, _, _ in terms_of(new, "pullout")}


# -- refused edits ------------------------------------------------------------------------


def test_a_broken_edit_reports_file_line_col_of_the_new_term() -> None:
    with pytest.raises(RulesError) as info:
        add_terms(SHIPPED_TEXT, "flag", ["эвак*x"], "uk", filename="config/rules.yaml")
    (problem,) = info.value.problems
    line = SHIPPED_TEXT.splitlines().index("    uk: [прапор]") + 1
    assert str(problem).startswith(f"config/rules.yaml:{line}:18: concept 'flag': 'эвак*x'")


def test_emptying_a_concept_is_refused_with_its_position() -> None:
    with pytest.raises(RulesError) as info:
        remove_terms(SMALL, "pullout", ["вывод", "выводы", "вывести"], filename="small.yaml")
    assert [str(p) for p in info.value.problems] == ["small.yaml:8:3: concept 'pullout' has no terms"]


def test_a_file_broken_already_is_not_edited() -> None:
    broken = SMALL.replace("pullout NEAR/3 forces", "pullout NEAR/3 forcez")
    with pytest.raises(RulesError) as info:
        add_terms(broken, "pullout", ["отвод"], filename="small.yaml")
    assert "small.yaml:19:" in str(info.value) and "forcez" in str(info.value)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: add_terms(SMALL, "pulout", ["x"]), "no concept 'pulout' (did you mean pullout?)"),
        (lambda: add_terms(SMALL, "pullout", ["ВЫВОД"]), "nothing to add: already in concept 'pullout'"),
        (lambda: add_terms(SMALL, "forces", ["troops"], "en"), "one list for every language"),
        (lambda: add_terms(SMALL, "pullout", ["a: b"]), "cannot be written as a plain term"),
        (lambda: add_terms(SMALL, "pullout", ["x"], "de"), "unknown language 'de'"),
        (lambda: remove_terms(SMALL, "pullout", ["отвод"]), "not in concept 'pullout': отвод"),
        (lambda: set_enabled(SMALL, "r3", False), "no rule 'r3'"),
        (lambda: set_enabled(SMALL, "r1", True), "rule 'r1' is already enabled"),
    ],
)
def test_edits_that_make_no_sense_say_why(call, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EditError) as info:
        call()
    assert fragment in str(info.value)


# -- writing: atomic, validated, recorded ----------------------------------------------------


def config_dir(tmp_path: Path) -> Path:
    """A directory of its own for the rules file (the store's database is under tmp_path/data)."""
    path = tmp_path / "config"
    path.mkdir(exist_ok=True)
    return path


async def test_apply_edit_writes_and_records_the_version(tmp_path: Path, store: Store) -> None:
    path = config_dir(tmp_path) / "rules.yaml"
    path.write_text(SHIPPED_TEXT, encoding="utf-8")
    path.chmod(0o644)
    new = add_terms(SHIPPED_TEXT, "flag", ["стяг"], "uk")
    activated: list[str] = []
    ruleset = await apply_edit(
        path, new, "2002", store, activate=lambda: activated.append(path.read_text(encoding="utf-8"))
    )
    assert path.read_text(encoding="utf-8") == new
    assert activated == [new]  # called once the file is in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the file keeps its permissions
    assert [p.name for p in path.parent.iterdir()] == ["rules.yaml"]  # no temp file left
    record = await store.latest_ruleset()
    assert record is not None
    assert (record.version, record.source, record.author, record.text) == (ruleset.version, "chat", "2002", new)
    assert ruleset.version == parse_rules(new).version


async def test_apply_edit_of_a_broken_text_writes_nothing(tmp_path: Path, store: Store) -> None:
    path = config_dir(tmp_path) / "rules.yaml"
    path.write_text(SMALL, encoding="utf-8")
    with pytest.raises(RulesError) as info:
        await apply_edit(path, SMALL.replace("forces\n", "forcez\n", 1), "2002", store)
    assert f"{path}:19:" in str(info.value)
    assert path.read_text(encoding="utf-8") == SMALL
    assert [p.name for p in path.parent.iterdir()] == ["rules.yaml"]
    assert await store.latest_ruleset() is None


async def test_a_failed_replace_leaves_the_old_file_whole(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_dir(tmp_path) / "rules.yaml"
    path.write_text(SMALL, encoding="utf-8")
    new = add_terms(SMALL, "forces", ["контингент"])
    seen: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: object) -> None:
        # The complete new text sits in a temp file in the same directory, then the move fails.
        seen.append((str(Path(src).parent), Path(src).read_text(encoding="utf-8")))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        await apply_edit(path, new, "2002", store)
    assert seen == [(str(path.parent), new)]
    assert path.read_text(encoding="utf-8") == SMALL
    assert [p.name for p in path.parent.iterdir()] == ["rules.yaml"]
    assert await store.latest_ruleset() is None


async def test_apply_edit_through_a_symlink_replaces_the_real_file(tmp_path: Path, store: Store) -> None:
    real = config_dir(tmp_path) / "real.yaml"
    real.write_text(SMALL, encoding="utf-8")
    link = tmp_path / "rules.yaml"
    link.symlink_to(real)
    new = add_terms(SMALL, "forces", ["контингент"])
    await apply_edit(link, new, None, store)
    assert link.is_symlink() and real.read_text(encoding="utf-8") == new
