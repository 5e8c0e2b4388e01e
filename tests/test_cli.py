"""The command line: check, scan (JSONL and Telegram Desktop exports), eval, explain, --help."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = str(ROOT / "config" / "rules.yaml")

POSITIVE = "Россия выводит войска из Сирии."
NEGATIVE = "Котики спят на солнышке."
# A homoglyph (Latin o) and a zero-width space inside the highlighted words.
EVASIVE = "Срочно: начался вывoд вой\u200bск из Сирии."
EVAC = "Эвакуация посольства из Бейрута из-за обстрелов."


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    out = []
    for line in lines:
        out.append(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def post(i: int, text: str, channel: str = "milnews") -> dict[str, Any]:
    return {"id": i, "channel": channel, "date": f"2024-05-01T12:0{i % 10}:00Z", "text": text}


# -- check -------------------------------------------------------------------------------
def test_check_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--rules", SHIPPED)
    assert code == 0
    assert out.startswith(f"{SHIPPED}: OK, rules version ")
    assert "topics: withdrawal, evacuation" in out
    assert err == ""


def test_check_broken_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "topics:\n"
        "  withdrawal: x\n"
        "concepts:\n"
        "  pullout:\n"
        "    ru: [вывод, вы*]\n"
        "rules:\n"
        "  - id: r1\n"
        "    topic: retreat\n"
        "    match: pullout NEAR/3 forces\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", "--rules", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}:5:17: concept 'pullout': 'вы*': prefix 'вы'* is shorter than 3 letters "
        "and would match far too many words",
        f"{path}:8:12: rule 'r1': unknown topic 'retreat' (topics: withdrawal)",
        f"{path}:9:27: rule 'r1', match: unknown concept 'forces'",
    ]
    assert err.strip() == f"3 problem(s) in {path}"


def test_check_missing_rules_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    code, out, _ = run(capsys, "check", "--rules", str(path))
    assert code == 1
    assert out.strip() == f"{path}:1:1: cannot read the file: No such file or directory"


# -- scan: JSONL -------------------------------------------------------------------------
@pytest.fixture
def posts_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "posts.jsonl",
        [
            post(1, EVASIVE),
            "{not json",
            {"id": 3, "channel": "milnews", "date": "2024-05-01T12:03:00Z"},  # no text
            post(4, NEGATIVE),
            post(5, EVAC, channel="@other"),
        ],
    )


def test_scan_jsonl_format(capsys: pytest.CaptureFixture[str], posts_jsonl: Path) -> None:
    code, out, err = run(capsys, "scan", str(posts_jsonl), "--rules", SHIPPED, "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["1", "5"]
    texts = {"1": EVASIVE, "5": EVAC}
    for row in rows:
        assert set(row) == {"id", "channel", "channel_title", "date", "link", "text", "topics", "hits"}
        assert row["text"] == texts[row["id"]]
        assert row["link"] == f"https://t.me/{row['channel']}/{row['id']}"
        assert row["hits"]
        for hit in row["hits"]:
            assert {"rule", "topic", "severity", "terms", "spans"} <= set(hit)
            assert hit["topic"] in row["topics"]
            assert hit["severity"] in {"low", "medium", "high", "critical"}
            text = texts[row["id"]]
            for s, e in hit["spans"]:
                assert 0 <= s < e <= len(text)
                assert re.fullmatch(r"[\w\u200b]+(?: [\w\u200b]+)*", text[s:e]), text[s:e]
    first, second = rows
    assert first["channel"] == "milnews" and first["date"] == "2024-05-01T12:01:00+00:00"
    assert first["topics"] == ["withdrawal"]
    spans = {tuple(s) for h in first["hits"] for s in h["spans"]}
    highlighted = {EVASIVE[s:e] for s, e in spans}
    # the original words, homoglyph and zero-width included, exactly as written
    assert "вывoд" in highlighted or "вывoд вой\u200bск" in highlighted
    assert any("вой\u200bск" in w for w in highlighted)
    assert second["channel"] == "other" and second["topics"] == ["evacuation"]
    # bad lines are reported as file:line on stderr and skipped
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {posts_jsonl}:2: invalid JSON: Expecting property name enclosed in double "
        "quotes at column 2",
        f"warning: {posts_jsonl}:3: missing field 'text'",
    ]
    assert "scanned 3 posts" in err and "2 with hits" in err and "2 problem(s)" in err


def test_scan_jsonl_all(capsys: pytest.CaptureFixture[str], posts_jsonl: Path) -> None:
    code, out, _ = run(
        capsys, "scan", str(posts_jsonl), "--rules", SHIPPED, "--format", "jsonl", "--all"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["1", "4", "5"]
    assert rows[1]["topics"] == [] and rows[1]["hits"] == []


def test_scan_text_format(capsys: pytest.CaptureFixture[str], posts_jsonl: Path) -> None:
    code, out, _ = run(capsys, "scan", str(posts_jsonl), "--rules", SHIPPED, "--no-color")
    assert code == 0
    assert "\x1b[" not in out
    assert "[[вывoд" in out and "вой\u200bск]]" in out
    assert "[[Эвакуация]]" in out
    assert "https://t.me/milnews/1" in out and "https://t.me/other/5" in out
    assert "Котики" not in out


def test_scan_text_prints_one_card_per_post_naming_every_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [post(1, POSITIVE), post(2, NEGATIVE), post(3, EVAC)])
    code, out, err = run(capsys, "scan", str(path), "--rules", SHIPPED, "--no-color")
    assert code == 0
    heads = [line for line in out.splitlines() if re.match(r"\[(LOW|MEDIUM|HIGH|CRITICAL)\] ", line)]
    assert len(heads) == 2  # two posts with hits, however many rules each
    # "Россия выводит войска из Сирии." hits two rules: both on its one card, the higher severity.
    assert heads[0] == "[HIGH] withdrawal · rule withdrawal.pullout_forces + withdrawal.pullout_from_place"
    assert out.count("https://t.me/milnews/1") == 1
    assert "[[Россия]] [[выводит]] [[войска]] из [[Сирии]]." in out
    # Why each rule matched, under the card.
    assert "\n  withdrawal.pullout_forces:\n    pullout: 'выводит' → выводить" in out
    assert "\n  withdrawal.pullout_from_place:\n    regions: 'Россия'" in out
    assert err.splitlines()[-1].endswith("2 with hits, 3 hits, 0 problem(s)")


def test_scan_text_all(capsys: pytest.CaptureFixture[str], posts_jsonl: Path) -> None:
    code, out, _ = run(capsys, "scan", str(posts_jsonl), "--rules", SHIPPED, "--all")
    assert code == 0
    assert "@milnews/4 2024-05-01T12:04:00+00:00: no hits" in out


def test_scan_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "scan", str(tmp_path / "none.jsonl"), "--rules", SHIPPED)
    assert code == 2 and out == ""
    assert "no such file" in err


def test_scan_with_broken_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, posts_jsonl: Path
) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "topics:\n  t: x\nconcepts:\n  a: [b]\nrules:\n  - id: r\n    topic: t\n    match: zz\n"
    )
    code, out, err = run(capsys, "scan", str(posts_jsonl), "--rules", str(rules))
    assert code == 2 and out == ""
    assert f"{rules}:8:12: rule 'r', match: unknown concept 'zz'" in err


# -- scan: Telegram Desktop export -------------------------------------------------------
def _message(i: int, text: Any, **extra: Any) -> dict[str, Any]:
    return {"id": i, "type": "message", "date": "2024-05-01T15:00:00",
            "date_unixtime": str(1714575600 + i), "text": text, **extra}


def test_scan_single_chat_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    link = {"type": "link", "text": "эвакуация посольства", "href": "https://example.org/a"}
    parts = ["Подробнее: ", link,
             " из Бейрута из-за обстрелов"]
    export = {
        "name": "Военный канал",
        "type": "public_channel",
        "id": 1234567890,
        "messages": [
            _message(10, POSITIVE),
            {"id": 11, "type": "service", "date": "2024-05-01T15:01:00",
             "action": "pin_message", "text": ""},
            _message(12, parts),
            _message(13, NEGATIVE),
            _message(14, ""),  # a photo without caption
        ],
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    code, out, err = run(
        capsys, "scan", str(path), "--rules", SHIPPED, "--format", "jsonl", "--all"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["channel_title"] == "Военный канал" and rows[0]["text"] == POSITIVE
    assert [(r["id"], r["channel"], r["topics"]) for r in rows] == [
        ("10", "1234567890", ["withdrawal"]),
        ("12", "1234567890", ["evacuation"]),
        ("13", "1234567890", []),
    ]
    joined = "".join(p if isinstance(p, str) else p["text"] for p in parts)
    for hit in rows[1]["hits"]:
        for s, e in hit["spans"]:
            assert joined[s:e] in {"эвакуация", "посольства", "Бейрута", "обстрелов"}
    assert rows[0]["date"] == "2024-05-01T15:00:10+00:00"
    assert "0 problem(s)" in err


def test_scan_full_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    export = {
        "about": "Here is the data you requested.",
        "personal_information": {"first_name": "A"},
        "chats": {
            "about": "chats",
            "list": [
                {"name": "Канал А", "type": "public_channel", "id": 111,
                 "messages": [_message(1, POSITIVE), _message(2, NEGATIVE)]},
                {"name": "Канал Б", "type": "public_channel", "id": 222,
                 "messages": [_message(1, [{"type": "bold", "text": "Эвакуация"},
                                          " посольства из Бейрута из-за обстрелов"])]},
            ],
        },
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    code, out, _ = run(capsys, "scan", str(path), "--rules", SHIPPED, "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["channel"], r["id"], r["topics"]) for r in rows] == [
        ("111", "1", ["withdrawal"]),
        ("222", "1", ["evacuation"]),
    ]


# -- scan: bad input ------------------------------------------------------------------
def test_scan_a_directory_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "scan", str(tmp_path), "--rules", SHIPPED)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{tmp_path}: is a directory; give a JSONL file or a Telegram Desktop result.json"
    ]


@pytest.mark.parametrize("command", ["eval", "demo"])
def test_eval_and_demo_of_a_directory_are_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    argv = [command, str(tmp_path)] if command == "eval" else [
        command, "--seeds", str(tmp_path), "--db", str(tmp_path / "demo.sqlite3")]
    code, out, err = run(capsys, *argv, "--rules", SHIPPED)
    assert code == 2 and out == ""
    assert f"{tmp_path}: is a directory; give a JSONL file" in err and "Traceback" not in err


def _export_cut_in_half() -> bytes:
    export = {"name": "Канал", "type": "public_channel", "id": 1, "messages": [
        _message(i, POSITIVE) for i in range(1, 4)]}
    text = json.dumps(export, ensure_ascii=False, indent=1).encode("utf-8")
    return text[: len(text) // 2]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("posts.jsonl", b"", "empty file, nothing to scan"),
        ("posts.jsonl", b"\n\n  \n", "empty file, nothing to scan"),
        ("photo.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
         "a binary file, not JSONL or a Telegram Desktop result.json"),
        ("result.json", _export_cut_in_half(), "no posts read: 1 problem(s), see above"),
        ("posts.jsonl", b"not json\n{\"id\": 1}\n", "no posts read: 2 problem(s), see above"),
    ],
)
def test_scan_of_a_file_without_posts_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    """Exit 2 (bad input, as documented), not 0 as if the file held nothing of interest."""
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(capsys, "scan", str(path), "--rules", SHIPPED)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == f"{path}: {problem}"
    assert "Traceback" not in err


def test_scan_of_a_pipe_says_it_needs_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "posts.jsonl"
    os.mkfifo(fifo)
    code, out, err = run(capsys, "scan", str(fifo), "--rules", SHIPPED)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"{fifo}: not a regular file (a pipe or a device); save the posts to a file first"]


def test_scan_of_a_truncated_export_says_where_it_ends(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(_export_cut_in_half())
    code, _, err = run(capsys, "scan", str(path), "--rules", SHIPPED)
    assert code == 2
    warning = next(line for line in err.splitlines() if line.startswith("warning:"))
    assert re.fullmatch(rf"warning: {re.escape(str(path))}:\d+: invalid JSON: [A-Z][a-z ]+ at column \d+", warning)
    assert " at at " not in warning


def test_scan_warnings_never_land_inside_the_progress_bar(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [post(1, NEGATIVE), "{broken", post(3, NEGATIVE), "[]", post(5, POSITIVE)])
    code, _, err = run(capsys, "scan", str(path), "--rules", SHIPPED, "--progress")
    assert code == 0
    # What a terminal shows of each line is what follows its last carriage return.
    shown = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]
    warnings = [line for line in shown if "warning:" in line]
    assert len(warnings) == 2 and all(line.startswith("warning: ") for line in warnings)
    assert any("posts/s" in line for line in err.split("\r"))  # the bar was drawn


# -- the default rules file, from any directory ---------------------------------------
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the project, with no config/ of its own."""
    away = tmp_path / "elsewhere"
    away.mkdir()
    monkeypatch.chdir(away)
    for name in ("MILWATCH_RULES", "MILWATCH_DB", "MILWATCH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return away


def test_the_shipped_rules_are_found_from_any_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = _elsewhere(tmp_path, monkeypatch)
    code, out, err = run(capsys, "check")
    assert (code, err) == (0, "") and out.startswith(f"{SHIPPED}: OK, rules version ")
    posts = write_jsonl(away / "posts.jsonl", [post(1, POSITIVE), post(2, NEGATIVE)])
    code, out, _ = run(capsys, "scan", str(posts), "--format", "jsonl")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["1"]
    code, out, _ = run(capsys, "explain", POSITIVE)
    assert code == 0 and "\nHIT withdrawal." in out
    code, out, _ = run(capsys, "demo", "--db", str(away / "demo.sqlite3"))
    assert code == 0 and "summary: 68 posts read" in out


def test_milwatch_rules_in_env_names_the_default_rules_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = _elsewhere(tmp_path, monkeypatch)
    mine = away / "mine.yaml"
    mine.write_text(EVAL_RULES, encoding="utf-8")
    (away / ".env").write_text("MILWATCH_RULES=mine.yaml\n", encoding="utf-8")
    code, out, _ = run(capsys, "check")
    assert code == 0 and out.startswith("mine.yaml: OK") and "2 active rules" in out
    monkeypatch.setenv("MILWATCH_RULES", str(away / "missing.yaml"))  # the environment wins
    code, out, err = run(capsys, "scan", str(write_jsonl(away / "p.jsonl", [post(1, POSITIVE)])))
    assert code == 2 and out == ""
    assert err.startswith(f"{away / 'missing.yaml'}:1:1: cannot read the rules file: No such file")


# -- settings the offline commands do not need ----------------------------------------
@pytest.mark.parametrize("command", ["scan", "eval", "explain", "backtest"])
def test_offline_commands_ignore_a_malformed_telegram_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """TG_API_ID=abc in .env concerns `run` and `login`; scanning a file needs no Telegram."""
    (tmp_path / ".env").write_text("TG_API_ID=abc\nBACKFILL_HOURS=soon\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    posts = write_jsonl(tmp_path / "posts.jsonl", [{**post(1, POSITIVE), "topics": ["withdrawal"]}])
    argv = {
        "scan": ["scan", str(posts)],
        "eval": ["eval", str(posts)],
        "explain": ["explain", POSITIVE],
        "backtest": ["backtest", "--rules", SHIPPED, "--current", SHIPPED, "--db", str(tmp_path / "empty.sqlite3")],
    }[command]
    if command != "backtest":
        argv += ["--rules", SHIPPED]
    (tmp_path / "empty.sqlite3").write_bytes(b"")  # an empty SQLite database
    code, _, err = run(capsys, *argv)
    assert "Traceback" not in err and "TG_API_ID" not in err and "BACKFILL_HOURS" not in err
    assert code == 0, err
    # `run` still refuses the malformed value, naming it.
    assert main(["run", "--env-file", str(tmp_path / ".env")]) == 2
    assert "TG_API_ID: 'abc' is not a whole number" in capsys.readouterr().err


# -- eval --------------------------------------------------------------------------------
EVAL_RULES = """\
topics:
  withdrawal: troops leave
  evacuation: people taken out
concepts:
  wd:
    ru: [вывод войск, отступить]
  ev:
    ru: [эвакуация, эвакуировать]
rules:
  - id: w
    topic: withdrawal
    match: wd
  - id: e
    topic: evacuation
    match: ev
"""


def test_eval_exact_scores(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(EVAL_RULES, encoding="utf-8")
    labelled = [
        ("p1", "Начался вывод войск.", ["withdrawal"]),  # W: TP
        ("p2", "Эвакуация посольства.", ["evacuation"]),  # E: TP
        ("p3", "Котики спят.", []),  # nothing
        ("p4", "Войска уходят.", ["withdrawal"]),  # W: FN
        ("p5", "Эвакуация из-за паводка.", []),  # E: FP
        ("p6", "Вывод войск и эвакуация.", ["withdrawal"]),  # W: TP, E: FP
        ("p7", "Армия отступила, эвакуация.", ["withdrawal", "evacuation"]),  # W: TP, E: TP
        ("p8", "Эвакуировали дипломатов.", ["evacuation"]),  # E: TP
        ("p9", "Мирных вывозят.", ["evacuation"]),  # E: FN
    ]
    lines: list[Any] = [
        {"id": pid, "channel": "c", "date": "2024-05-01T00:00:00Z", "text": text, "topics": topics}
        for pid, text, topics in labelled
    ]
    lines.insert(3, '{"id": "bad", "channel": "c", "date": "2024-05-01T00:00:00Z", "text": "x"}')
    data = write_jsonl(tmp_path / "labelled.jsonl", lines)
    code, out, err = run(capsys, "eval", str(data), "--rules", str(rules))
    assert code == 0
    assert f"warning: {data}:4: no 'topics': counted for alert rates only" in err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:5]}
    # withdrawal: TP 3, FP 0, FN 1 → P 1, R 0.75, F1 6/7
    assert rows["withdrawal"] == ["1.000", "0.750", "0.857", "3", "0", "1"]
    # evacuation: TP 3, FP 2, FN 1 → P 0.6, R 0.75, F1 2/3
    assert rows["evacuation"] == ["0.600", "0.750", "0.667", "3", "2", "1"]
    # any topic: TP 5, FP 1 (p5), FN 2 (p4, p9) → P 5/6, R 5/7, F1 10/13
    assert rows["any"] == ["0.833", "0.714", "0.769", "5", "1", "2"]
    assert out.splitlines()[0] == "posts: 9"  # the unlabelled line only counts for alert rates
    assert "misses (withdrawal): p4" in out
    assert "false alarms (evacuation): p5 p6" in out
    assert "misses (evacuation): p9" in out
    # macro F1 = (6/7 + 2/3) / 2 = 0.76190…
    assert out.splitlines()[-1] == "F1(macro)=0.762"


# -- explain -----------------------------------------------------------------------------
def test_explain_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", POSITIVE, "--rules", SHIPPED)
    assert code == 0
    hit_lines = [line for line in out.splitlines() if line.startswith("HIT ")]
    assert hit_lines and all("→ withdrawal" in line for line in hit_lines)
    assert "'выводит' → выводить" in out


def test_explain_negative(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", NEGATIVE, "--rules", SHIPPED)
    assert code == 1
    assert "no rule matched" in out
    assert "HIT " not in out


def test_explain_shows_fuzzy_score_and_concepts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "Эвакуацыю дипломатов начали из-за обстрелов.",
                       "--rules", SHIPPED, "--concepts")
    assert code == 0
    assert re.search(r"'Эвакуацыю' → \S+ \(fuzzy \d\d%", out), out
    assert "concepts found:" in out


def test_explain_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(EVAC))
    code, out, _ = run(capsys, "explain", "-", "--rules", SHIPPED)
    assert code == 0 and "→ evacuation" in out


# -- help --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["scan", "eval", "check", "explain"])
def test_subcommand_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: milwatch {command}")
    assert "--rules FILE" in out


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("scan", "eval", "check", "explain"):
        assert command in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2 and out.startswith("usage: milwatch")


def test_python_m_bot_help() -> None:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: milwatch")
    assert "explain" in proc.stdout


def test_scan_with_worker_processes_prints_the_same_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--jobs 2 forks workers; output order and content must not change."""
    rows = [
        {"id": str(i), "channel": "c_demo", "date": "2024-12-10T08:00:00Z",
         "text": ("Начался вывод войск из Сирии." if i % 3 == 0 else "Погода: снег и ветер.") + f" #{i}"}
        for i in range(300)
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        assert main(["scan", str(path), "--format", "jsonl", "--jobs", jobs]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert [json.loads(line)["id"] for line in outputs[0].splitlines()] == [str(i) for i in range(0, 300, 3)]
