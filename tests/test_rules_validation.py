"""Rules validation: every problem reported at once, each as FILE:LINE:COL: message."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.rules import parse_rules
from bot.rules.loader import check_rules, load_rules, make_yaml
from bot.rules.model import Problem, RulesError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "rules.yaml"

# A valid file; the cases below break one thing each. Line numbers matter:
#  1 version        6 concepts:       11 rules:
#  2 routes:        7   pullout:      12   - id: r1
#  3   analysts     8     ru: [...]   13     topic: withdrawal
#  4 topics:        9   forces:       14     match: pullout NEAR/3 forces
#  5   withdrawal  10     ru: [войска]
BASE = """\
version: 1
routes:
  analysts: default
topics:
  withdrawal: troops leave
concepts:
  pullout:
    ru: [вывод, вывести]
  forces:
    ru: [войска]
rules:
  - id: r1
    topic: withdrawal
    match: pullout NEAR/3 forces
"""

RULE2 = """\
  - id: r2
    topic: withdrawal
    match: pullout AND forces
"""


def problems(text: str, filename: str = "f.yaml") -> list[Problem]:
    with pytest.raises(RulesError) as info:
        parse_rules(text, filename)
    return info.value.problems


def locs(text: str) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in problems(text)]


def test_base_file_is_valid() -> None:
    rs = parse_rules(BASE, "f.yaml")
    assert [r.id for r in rs.rules] == ["r1"]
    assert set(rs.concepts) == {"pullout", "forces"}


def test_problem_prints_as_file_line_col_message() -> None:
    (p,) = problems(BASE.replace("version: 1", "version: 1\nbogus: 1"), "rules/x.yaml")
    assert str(p) == (
        "rules/x.yaml:2:1: unknown key 'bogus' in the rules file "
        "(expected: version, defaults, routes, topics, concepts, rules, relevance)"
    )


# (replace old → new in BASE [, append]), expected line, col, message fragment
CASES = [
    ("yaml-flow-unclosed", ("    ru: [войска]", "    ru: [войска"), 11, 6, "YAML syntax"),
    ("yaml-mapping-values", ("version: 1", "version: 1\nfoo: bar: baz"), 2, 9,
     "YAML syntax: mapping values are not allowed here"),
    ("yaml-indentation", ("    ru: [войска]", "    ru: [войска]\n   bad: 1"), 11, 4, "YAML syntax"),
    ("unknown-top-level-key", ("version: 1", "version: 1\nbogus: 1"), 2, 1,
     "unknown key 'bogus' in the rules file"),
    ("unknown-rule-key", ("  - id: r1\n", "  - id: r1\n    when: always\n"), 13, 5,
     "unknown key 'when' in rule 1"),
    ("unknown-concept-key", ("    ru: [войска]", "    ru: [войска]\n    de: [Truppen]"), 11, 5,
     "unknown key 'de' in concept 'forces'"),
    ("unknown-concept", ("pullout NEAR/3 forces", "pullout NEAR/3 forcez"), 14, 27,
     "rule 'r1', match: unknown concept 'forcez' (did you mean 'forces'?)"),
    ("unknown-concept-first", ("pullout NEAR/3 forces", "pulout NEAR/3 forces"), 14, 12,
     "unknown concept 'pulout'"),
    ("unknown-concept-folded", ("match: pullout NEAR/3 forces",
                                "match: >\n      pullout AND\n      (forces OR nothere)"), 16, 18,
     "rule 'r1', match: unknown concept 'nothere'"),
    ("unknown-topic", ("topic: withdrawal", "topic: retreat"), 13, 12,
     "rule 'r1': unknown topic 'retreat' (topics: withdrawal)"),
    ("unknown-route", ("topic: withdrawal", "topic: withdrawal\n    route: urgent"), 14, 12,
     "rule 'r1': unknown route 'urgent'"),
    ("bad-severity", ("topic: withdrawal", "topic: withdrawal\n    severity: urgent"), 14, 15,
     "unknown severity 'urgent' (use one of: low, medium, high, critical)"),
    ("bad-enabled", ("topic: withdrawal", "topic: withdrawal\n    enabled: maybe"), 14, 14,
     "'enabled' must be true or false"),
    ("prefix-too-short", ("[вывод, вывести]", "[вывод, вы*]"), 8, 17,
     "prefix 'вы'* is shorter than 3 letters"),
    ("unbalanced-quote", ("[вывод, вывести]", "[вывод, «вывод войск]"), 8, 17,
     "unbalanced quote in '«вывод войск': close it with »"),
    ("star-in-quotes", ("[вывод, вывести]", "[вывод, 'вы*вод']"), 8, 17,
     "quoted terms are exact; drop the quotes"),
    ("tilde-7", ("[вывод, вывести]", "[вывод, эвак~7]"), 8, 17,
     "~7 is neither an edit count (1-3) nor a similarity (50-100)"),
    ("unknown-word-class", ("[вывод, вывести]", "[вывод, <city>]"), 8, 17,
     "unknown word class (known: <place>, <village>)"),
    ("near-0", ("pullout NEAR/3 forces", "pullout NEAR/0 forces"), 14, 20,
     "NEAR/0: the distance must be 1 to 100 words"),
    ("near-101", ("pullout NEAR/3 forces", "pullout WITHIN/101 forces"), 14, 20,
     "NEAR/101: the distance must be 1 to 100 words"),
    ("near-dangling", ("pullout NEAR/3 forces", "pullout NEAR"), 14, 23,
     "the condition ends too early: a concept is missing"),
    ("near-bad-number", ("pullout NEAR/3 forces", "pullout NEAR/x forces"), 14, 20,
     "'NEAR/x': write the distance in words after the slash, e.g. NEAR/5"),
    # Each at its own place, not at an earlier NEAR/3 or 'forces' of the same condition.
    ("near-no-number-after-near", ("pullout NEAR/3 forces", "pullout NEAR/3 forces NEAR/ pullout"), 14, 34,
     "'NEAR/': write the distance in words after the slash, e.g. NEAR/5"),
    ("not-within-no-number", ("pullout NEAR/3 forces", "pullout NEAR/3 forces NOT WITHIN/ pullout"), 14, 34,
     "'NOT WITHIN/': write the distance in words after the slash, e.g. NOT WITHIN/5"),
    ("repeated-name", ("pullout NEAR/3 forces", "forces NEAR/3 pullout forces"), 14, 34,
     "unexpected 'forces': join conditions with AND, OR or NEAR/n"),
    ("near-not-operand", ("pullout NEAR/3 forces", "pullout NEAR/3 NOT forces"), 14, 20,
     "use 'A NOT NEAR/n B' to exclude"),
    ("missing-operator", ("pullout NEAR/3 forces", "pullout forces"), 14, 20,
     "unexpected 'forces': join conditions with AND, OR or NEAR/n"),
    ("missing-paren", ("pullout NEAR/3 forces", "(pullout AND forces"), 14, 12, "missing ')'"),
    ("only-not", ("pullout NEAR/3 forces", "NOT pullout"), 14, 12,
     "'match' must require some words; a rule of only NOT would flag every post"),
    ("only-nots", ("pullout NEAR/3 forces", "NOT pullout AND NOT forces"), 14, 12,
     "a rule of only NOT"),
    ("unknown-include", ("[вывод, вывести]", '["@nosuch", вывод]'), 8, 10,
     "concept 'pullout' includes unknown concept '@nosuch'"),
    ("empty-concept-list", ("    ru: [войска]", "    ru: []"), 9, 3,
     "concept 'forces' has no terms"),
    ("empty-concept-map", ("  forces:\n    ru: [войска]", "  forces: {}"), 9, 3,
     "concept 'forces' has no terms"),
    ("empty-concept-description-only", ("    ru: [войска]", "    description: who"), 9, 3,
     "concept 'forces' has no terms"),
    ("fuzzy-120", ("    ru: [войска]", "    ru: [войска]\n    fuzzy: 120"), 11, 12,
     "'fuzzy' must be 0 (off) or a similarity 50-100, not 120"),
    ("fuzzy-20-default", ("version: 1", "version: 1\ndefaults:\n  fuzzy: 20"), 3, 10,
     "'fuzzy' must be 0 (off) or a similarity 50-100, not 20"),
    ("near-default-0", ("version: 1", "version: 1\ndefaults:\n  near: 0"), 3, 9,
     "'near' must be a whole number of words 1-100, not 0"),
]


@pytest.mark.parametrize(
    ("edit", "line", "col", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_each_problem_is_located(edit: tuple[str, str], line: int, col: int, fragment: str) -> None:
    old, new = edit
    assert old in BASE
    found = problems(BASE.replace(old, new, 1))
    assert len(found) == 1, [str(p) for p in found]
    (p,) = found
    assert (p.file, p.line, p.col) == ("f.yaml", line, col), str(p)
    assert fragment in p.message, str(p)


def test_duplicate_rule_id_points_at_the_second_id() -> None:
    text = BASE + RULE2.replace("id: r2", "id: r1")
    assert locs(text) == [(15, 9, "duplicate rule id 'r1'")]


def test_include_cycle_reports_both_ends() -> None:
    text = BASE.replace(
        "  forces:\n    ru: [войска]",
        '  forces:\n    ru: [войска]\n  a:\n    ru: ["@b", альфа]\n  b:\n    ru: ["@a", бета]',
    )
    found = {(line, col): msg for line, col, msg in locs(text)}
    assert found == {
        (12, 10): "concept 'a' includes '@b', which includes it back (a cycle)",
        (14, 10): "concept 'b' includes '@a', which includes it back (a cycle)",
    }


def test_self_include_is_a_cycle() -> None:
    text = BASE.replace("[вывод, вывести]", '[вывод, "@pullout"]')
    assert locs(text) == [
        (8, 17, "concept 'pullout' includes '@pullout', which includes it back (a cycle)")
    ]


def test_three_different_errors_give_three_problems() -> None:
    text = (
        BASE.replace("[вывод, вывести]", "[вывод, вы*]")
        .replace("topic: withdrawal", "topic: retreat")
        .replace("pullout NEAR/3 forces", "pullout NEAR/3 forcez")
    )
    assert [(p.line, p.col) for p in problems(text)] == [(8, 17), (13, 12), (14, 27)]


def test_every_problem_at_once_in_a_badly_broken_file() -> None:
    text = """\
version: 1
bogus: 1
topics:
  withdrawal: troops leave
concepts:
  pullout:
    ru: [вывод, вы*, «вывод войск, эвак~7]
  forces:
    ru: [войска]
  c:
    ru: ["@nosuch"]
  empty: {}
  fz:
    fuzzy: 120
    ru: [x]
rules:
  - id: r1
    topic: withdrawal
    match: pullout NEAR/3 forcez
  - id: r1
    topic: nosuch
    severity: urgent
    route: nowhere
    match: pullout NEAR/0 forces
  - id: r3
    topic: withdrawal
    match: NOT pullout
"""
    got = sorted((p.line, p.col) for p in problems(text, "broken.yaml"))
    assert got == [
        (2, 1),  # unknown key
        (7, 17), (7, 22), (7, 36),  # short prefix, unbalanced quote, ~7
        (11, 10),  # unknown include
        (12, 3),  # empty concept
        (14, 12),  # fuzzy 120
        (19, 27),  # unknown concept forcez
        (20, 9),  # duplicate id
        (21, 12), (22, 15), (23, 12),  # topic, severity, route
        (24, 20),  # NEAR/0
        (27, 12),  # only NOT
    ]
    with pytest.raises(RulesError) as info:
        parse_rules(text, "broken.yaml")
    lines = str(info.value).splitlines()
    assert len(lines) == 14
    assert all(re.match(r"^broken\.yaml:\d+:\d+: \S", line) for line in lines)


def test_unknown_concept_column_is_the_name_itself() -> None:
    text = BASE.replace("  forces:", "  forces_all:").replace(
        "pullout NEAR/3 forces", "forces_all AND forces"
    )
    # "    match: forces_all AND forces": the unknown 'forces' starts at column 27
    assert [(p.line, p.col) for p in problems(text)] == [(14, 27)]


def test_null_concept_is_reported_at_its_own_line() -> None:
    text = BASE.replace("  forces:\n    ru: [войска]", "  forces:")
    found = problems(text)
    assert any(p.line == 9 and "concept 'forces'" in p.message for p in found), [
        str(p) for p in found
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
        ("version: 1\n", "missing top-level section 'topics'"),
    ],
)
def test_not_a_rules_file(text: str, fragment: str) -> None:
    found = problems(text)
    assert found and fragment in found[0].message
    assert (found[0].line, found[0].col) == (1, 1)


# -- check_rules / load_rules on files ---------------------------------------------------
def test_check_rules_on_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    (p,) = check_rules(path)
    assert str(p) == f"{path}:1:1: cannot read the file: No such file or directory"


def test_check_rules_on_a_directory(tmp_path: Path) -> None:
    (p,) = check_rules(tmp_path)
    assert (p.line, p.col) == (1, 1) and "cannot read the file" in p.message


def test_check_rules_on_a_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.yaml"
    path.write_bytes(BASE.encode("cp1251"))
    (p,) = check_rules(path)
    # The first Cyrillic letter: "    ru: [вывод" on line 8.
    assert (p.line, p.col) == (8, 10) and "not UTF-8" in p.message
    assert "Windows-1251" in p.message


def test_check_rules_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BASE.replace("topic: withdrawal", "topic: retreat"), encoding="utf-8")
    (p,) = check_rules(path)
    assert str(p).startswith(f"{path}:13:12: rule 'r1': unknown topic 'retreat'")
    with pytest.raises(RulesError):
        load_rules(path)


def test_terms_are_counted_as_written_everywhere() -> None:
    """`check`, /rules and `bench` give one number: an included concept's terms count once."""
    from bot.bench.large_rules import count_terms

    rs = parse_rules(BASE.replace("ru: [войска]", 'ru: [войска, "@pullout"]'))
    assert len(rs.concepts["forces"].terms) == 3  # войска and pullout's two, copied in
    assert rs.summary().endswith("2 concepts, 3 terms; topics: withdrawal")
    shipped = SHIPPED.read_text(encoding="utf-8")
    assert f" {count_terms(shipped)[0]} terms;" in load_rules(SHIPPED).summary()


def test_shipped_rules_have_no_problems() -> None:
    assert check_rules(SHIPPED) == []
    rs = load_rules(SHIPPED)
    assert rs.path == SHIPPED
    assert set(rs.topics) == {"withdrawal", "evacuation"}
    assert {r.topic for r in rs.rules} == {"withdrawal", "evacuation"}


def test_version_identifies_the_exact_text() -> None:
    a = parse_rules(BASE, "f.yaml").version
    assert parse_rules(BASE, "other.yaml").version == a
    assert parse_rules(BASE + "# a comment\n", "f.yaml").version != a


# -- ruamel round trip -------------------------------------------------------------------
def _round_trip(text: str) -> str:
    yaml = make_yaml()
    data = yaml.load(text)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")] + [
        line.split(" #", 1)[1].strip() for line in text.splitlines()
        if " #" in line and not line.strip().startswith("#")
    ]


def test_round_trip_of_a_block_style_file_is_byte_identical() -> None:
    text = """\
# header comment
version: 1  # inline after a scalar

topics:
  # comment inside a mapping
  withdrawal: troops leave
concepts:
  pullout:
    ru:
    - вывод       # exact form below
    - "выводы"
    - 'вывести'
rules:
  # the only rule
- id: r1
  topic: withdrawal
  match: pullout   # trailing
"""
    assert _round_trip(text) == text


def test_round_trip_of_shipped_rules_keeps_comments_and_meaning() -> None:
    src = SHIPPED.read_text(encoding="utf-8")
    out = _round_trip(src)
    assert _comments(out) == _comments(src)
    before, after = parse_rules(src, "a.yaml"), parse_rules(out, "b.yaml")

    def terms(rs):  # type: ignore[no-untyped-def]
        return {n: [(t.raw, t.words, t.lang) for t in c.terms] for n, c in rs.concepts.items()}

    def rules(rs):  # type: ignore[no-untyped-def]
        return [(r.id, r.topic, r.severity, r.route, r.match, r.unless) for r in rs.rules]

    assert terms(after) == terms(before)
    assert rules(after) == rules(before)
    assert after.topics == before.topics and after.routes == before.routes


@pytest.mark.xfail(
    strict=True,
    reason="BUG: make_yaml() round trip of config/rules.yaml is not byte-identical: ruamel "
    "re-wraps lines longer than 80 columns and re-flows the multi-line [a, b,\\n c] lists "
    "(comments and meaning do survive)",
)
def test_round_trip_of_shipped_rules_is_byte_identical() -> None:
    src = SHIPPED.read_text(encoding="utf-8")
    assert _round_trip(src) == src
