"""Fuzz suites: hostile rules files and hostile post files (slow; CI runs them).

Rules: 1,000 mutations of the shipped config/rules.yaml (tests/fuzz_rules.py: encodings,
truncated saves, byte flips, line edits, deep nesting of conditions and of YAML, huge
numbers, include diamonds, chains and cycles, odd characters, YAML anchors, tags and
documents, token splices), each handed to a reload loop (RulesHolder.reload_if_changed,
what `milwatch run` calls every 5 s) with a per-case timeout: 0 tracebacks, 0 hangs, and
the loop always still serving; every 10th also through `milwatch check`. Then a sample
through the live service itself.

Posts: generated JSONL files (malformed lines, odd dates, lone surrogates, wrong types,
1 MB posts) scanned as `milwatch scan` does: every bad line reported, every post scanned,
output always writable as UTF-8.

    .venv/bin/python -m pytest -q -m slow tests/test_fuzz.py -s   # prints the figures
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import signal
import tempfile
import time
import traceback
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fuzz_rules import SHIPPED, mutation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import RulesHolder
from bot.cli import main
from bot.matching import Matcher, Morphology, build_matcher
from bot.rules import load_rules
from bot.scan import ScanOptions, scan_posts
from bot.sources import SourceProblem, iter_posts

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEED = 16
CASES = int(os.environ.get("MILWATCH_FUZZ_CASES", "1000"))
# Far above any case's real time (the slowest take a few seconds: reading YAML costs
# ~8 µs a byte, compiling ~0.1 ms a term); only a loop that does not end gets here.
CASE_TIMEOUT = 60.0
PROBE = "Начался вывод войск из Сирии"
_SURROGATE = re.compile("[\ud800-\udfff]")
_LOCATED = re.compile(r"^.+:\d+:\d+: \S")


# -- rules-file fuzz --------------------------------------------------------------------


class Hang(Exception):
    """A case ran past CASE_TIMEOUT."""


@dataclass(frozen=True)
class Outcome:
    index: int
    kind: str
    status: str  # "applied", "refused", "unchanged", "traceback", "hang"
    seconds: float
    detail: str = ""


_holder: RulesHolder | None = None
_path: Path | None = None


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang(f"no answer within {CASE_TIMEOUT:g} s")


def _start_worker(directory: str) -> None:
    """One reload loop per worker process, started on the shipped rules."""
    global _holder, _path
    _path = Path(directory) / f"rules-{os.getpid()}.yaml"
    _path.write_text(SHIPPED, encoding="utf-8")
    _holder = RulesHolder(_path, Morphology())
    _holder.load()
    signal.signal(signal.SIGALRM, _on_alarm)


def _run_case(index: int) -> Outcome:
    assert _holder is not None and _path is not None
    kind, data = mutation(SEED, index)
    _path.write_bytes(data)
    os.utime(_path, (index + 1_000_000.0, index + 1_000_000.0))  # always seen as a change
    before = _holder.ruleset.version
    started = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
    try:
        result = _holder.reload_if_changed()
        # The loop goes on serving, with the new rules or the last good ones.
        _holder.matcher().match(PROBE)
        if index % 10 == 0:
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main(["check", "--rules", str(_path)])
            if code not in (0, 1) or "Traceback" in out.getvalue() + err.getvalue():
                return Outcome(index, kind, "traceback", 0.0, f"check exit {code}: {err.getvalue()[-500:]}")
    except Hang as exc:
        return Outcome(index, kind, "hang", time.perf_counter() - started, str(exc))
    except BaseException:  # noqa: BLE001 - the fuzz counts whatever escapes
        return Outcome(index, kind, "traceback", time.perf_counter() - started, traceback.format_exc()[-1500:])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - started
    if result is None:
        return Outcome(index, kind, "unchanged", seconds)
    if result.ok:
        ok = _holder.ruleset.version == result.version
        return Outcome(index, kind, "applied" if ok else "traceback", seconds, "" if ok else "version not active")
    problems = result.problems or []
    # The loader's safety net hides an exception the checks did not foresee: a traceback.
    hidden = [p for p in problems if "cannot load the rules:" in p or "cannot compile the rules:" in p]
    unlocated = [p for p in problems if not _LOCATED.match(p)]
    if hidden or unlocated or not problems or _holder.ruleset.version != before:
        return Outcome(index, kind, "traceback", seconds, "; ".join((hidden + unlocated)[:3]) or "no problems")
    return Outcome(index, kind, "refused", seconds)


def test_rules_file_fuzz(tmp_path: Path) -> None:
    """1,000 hostile saves of the rules file: 0 tracebacks, 0 hangs, the loop serves on."""
    from bot.scan import default_jobs

    workers = min(4, default_jobs())
    started = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_start_worker, initargs=(str(tmp_path),)) as pool:
        outcomes = list(pool.imap_unordered(_run_case, range(CASES), chunksize=8))
    elapsed = time.perf_counter() - started
    by_status = Counter(o.status for o in outcomes)
    by_kind = Counter((o.kind, o.status) for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(
        f"\nrules-file fuzz: {len(outcomes)} mutations (seed {SEED}) in {elapsed:.0f} s on "
        f"{workers} process(es): {by_status['refused']} refused with located problems, "
        f"{by_status['applied']} applied, {by_status['unchanged']} unchanged; "
        f"{by_status['traceback']} tracebacks, {by_status['hang']} hangs; slowest case "
        f"#{slowest.index} ({slowest.kind}) {slowest.seconds:.2f} s"
    )
    for (kind, status), n in sorted(by_kind.items()):
        print(f"    {kind:16} {status:10} {n}")
    bad = [o for o in outcomes if o.status in ("traceback", "hang")]
    assert not bad, "\n\n".join(f"mutation({SEED}, {o.index}) {o.kind}: {o.status}\n{o.detail}" for o in bad[:5])
    assert len(outcomes) == CASES
    assert by_status["refused"] > CASES // 2 and by_status["applied"] > CASES // 50  # both sides


async def test_the_live_service_never_stops_on_fuzzed_rules(tmp_path: Path) -> None:
    """A sample of the mutations saved under a running `milwatch run`: each refused one is
    announced, each good one applied, and the service is still up at the end."""
    from telegram_fakes import FakeTelegram
    from test_live_service import (  # noqa: F401 - no_network guards this test too
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
    service = Service(live_settings(tmp_path, rules), telegram)
    await service.start()

    def notices() -> list[str]:
        return [r.message for r in service.sent_to(OPERATOR_CHANNEL_ID)]

    last = SHIPPED.encode("utf-8")
    announced = 0
    for index in range(0, 44 * 7, 7):  # every kind, four times
        _, data = mutation(SEED, index)
        if data == last:
            continue
        last = data
        before = len(notices())
        rules.with_name("next.yaml").write_bytes(data)
        os.replace(rules.with_name("next.yaml"), rules)
        try:
            await service.until(lambda n=before: len(notices()) > n, f"a notice about mutation {index}")
        except AssertionError:
            # A valid file with the same rules as before is applied silently.
            assert service.task is not None and not service.task.done(), service.output()
            continue
        announced += 1
        (notice,) = notices()[before:]  # one message per save, however broken
        assert notice.startswith(("rules reloaded: version ", "rules file NOT loaded")), notice
    (reply,) = await service.command("/rules", ANALYST, 99)
    assert "rules" in reply  # still answering
    assert await service.finish() == 0
    assert "stopping" not in service.err.getvalue()
    assert announced > 30


# -- scan fuzz ------------------------------------------------------------------------

TERMS = ("вывод войск", "эвакуация", "из Сирии", "ВСУ отходят", "troops withdraw", "Херсона", "матч")
_offsets = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
_dates = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=_offsets)
    .map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2024-05-01", "2024-05-01T12:00:00z"]),
)
# Any code point, lone surrogates included (json.dumps writes them as "\ud83d" escapes).
_chars = st.characters(codec=None, exclude_categories=())
_texts = st.one_of(
    st.text(_chars, max_size=200),
    st.lists(st.one_of(st.sampled_from(TERMS), st.text(_chars, max_size=12)), max_size=40).map(" ".join),
    st.sampled_from(["\ud83d", "вывод войск \ud83d из Сирии", "\x00\x1b[2J" + TERMS[0], ""]),
)


@st.composite
def _good(draw: st.DrawFn) -> tuple[str, bool]:
    record: dict[str, Any] = {
        "id": draw(st.one_of(st.integers(0, 10**18), st.text("abc123", min_size=1, max_size=8))),
        "channel": draw(st.text("abcdefxyz_", min_size=1, max_size=12)),
        "date": draw(_dates),
        "text": draw(_texts),
    }
    if draw(st.booleans()):
        record["channel_title"] = draw(st.one_of(st.none(), st.text(_chars, max_size=20)))
    line = json.dumps(record, ensure_ascii=draw(st.booleans()))
    if _SURROGATE.search(line):
        line = json.dumps(record)  # a file holds them only as "\ud83d" escapes
    return line, True


_bad_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.text(_chars, max_size=10),
)


@st.composite
def _bad(draw: st.DrawFn) -> tuple[str, bool]:
    kind = draw(st.sampled_from(["field", "missing", "cut", "junk", "number", "nesting", "not-object", "bytes"]))
    base = {"id": 1, "channel": "c", "date": "2024-05-01T12:00:00Z", "text": TERMS[0]}
    if kind == "field":
        name = draw(st.sampled_from(["id", "channel", "date", "text", "edited"]))
        value = draw(_bad_values.filter(
            lambda v: not isinstance(v, (int, str)) or name == "date" or (name == "edited" and not isinstance(v, bool))
        ))
        if name == "date" and isinstance(value, str):
            value = "not a date " + value
        return json.dumps({**base, name: value}), False
    if kind == "missing":
        dropped = draw(st.sampled_from(list(base)))
        return json.dumps({k: v for k, v in base.items() if k != dropped}), False
    if kind == "cut":
        line = json.dumps(base, ensure_ascii=False)
        return line[: draw(st.integers(1, len(line) - 1))], False
    if kind == "junk":
        return "{" + draw(st.text(_chars.filter(lambda c: c not in "\n\r"), max_size=30)), False
    if kind == "number":
        return '{"id": ' + "9" * draw(st.sampled_from([4301, 5000, 20000])) + ', "channel": "c"}', False
    if kind == "nesting":
        depth = draw(st.sampled_from([2000, 100_000]))
        return "[" * depth + "]" * depth, False
    if kind == "not-object":
        return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5)))), False
    return "\udcff" + json.dumps(base), False  # written as bytes that are no UTF-8


@dataclass(frozen=True)
class ScanFigures:
    lines: int
    bad_lines: int
    posts: int
    problems: int
    errors: int


def _write(path: Path, lines: list[tuple[str, bool]]) -> None:
    with open(path, "wb") as fh:
        for line, _ in lines:
            # A surrogate left in a (bad) line is written as the bytes no UTF-8 reader takes.
            fh.write(line.encode("utf-8", "surrogatepass") + b"\n")


def scan_file(path: Path, matcher: Matcher, fmt: str) -> tuple[list[SourceProblem], int, int, str]:
    """What `milwatch scan` does with a file: (problems, posts, error results, output)."""
    problems: list[SourceProblem] = []
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # as strict as a real stdout
    posts = errors = 0
    for _, result in scan_posts(iter_posts(path, problems.append), matcher, ScanOptions(format=fmt, all=True)):
        posts += 1
        if result.error:
            errors += 1
        out.write(result.output)
    out.flush()
    return problems, posts, errors, raw.getvalue().decode("utf-8")


@pytest.fixture(scope="module")
def shipped_matcher(morph: Morphology) -> Matcher:
    return build_matcher(load_rules(ROOT / "config" / "rules.yaml"), morph)


_totals: Counter[str] = Counter()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(lines=st.lists(st.one_of(_good(), _good(), _bad()), min_size=1, max_size=25), fmt=st.sampled_from(["text", "jsonl"]))
def test_scan_fuzz(shipped_matcher: Matcher, lines: list[tuple[str, bool]], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "posts.jsonl"
        _write(path, lines)
        problems, posts, errors, output = scan_file(path, shipped_matcher, fmt)
    good = [i + 1 for i, (_, ok) in enumerate(lines) if ok]
    bad = [i + 1 for i, (_, ok) in enumerate(lines) if not ok]
    assert posts == len(good)  # every good line scanned
    reported = {p.line for p in problems}
    assert set(bad) <= reported  # every bad line reported, by its number
    if fmt == "jsonl":
        assert len(output.splitlines()) == posts  # --all: one line per post
    _totals.update(lines=len(lines), bad=len(bad), posts=posts, problems=len(problems), errors=errors)


def test_scan_fuzz_with_long_posts_in_a_real_process(tmp_path: Path) -> None:
    """`milwatch scan` in its own process on 400 generated lines and three 1 MB posts:
    exit 0, every bad line reported, every post printed, stdout valid UTF-8."""
    import random
    import subprocess
    import sys

    rng = random.Random(SEED)
    lines: list[str] = []
    bad: list[int] = []
    for number in range(1, 401):
        choice = rng.random()
        record = {"id": number, "channel": "c", "date": "2024-05-01T12:00:00Z", "text": rng.choice(TERMS) * 3}
        if choice < 0.1:
            record["date"] = rng.choice(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
        elif choice < 0.2:
            record["text"] = "вывод войск из Сирии \ud83d"
        elif choice < 0.3:
            lines.append(json.dumps(record)[: rng.randrange(5, 40)])
            bad.append(number)
            continue
        elif choice < 0.35:
            lines.append(json.dumps({**record, "id": [1]}))
            bad.append(number)
            continue
        if number in (100, 200, 300):
            record["text"] = "Начался вывод войск из Сирии. Эвакуация из Херсона. " * 20_000  # 1 MB
        lines.append(json.dumps(record))
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "scan", str(path), "--all", "--format", "jsonl",
         "--rules", str(ROOT / "config" / "rules.yaml")],
        capture_output=True, cwd=ROOT, timeout=600, check=False,
    )
    elapsed = time.perf_counter() - started
    err = done.stderr.decode("utf-8")
    assert done.returncode == 0 and "Traceback" not in err, err[-2000:]
    printed = done.stdout.decode("utf-8").splitlines()
    assert len(printed) == 400 - len(bad)
    for number in bad:
        assert f"{path}:{number}: " in err
    print(f"\nscan of {len(lines)} hostile lines with three 1 MB posts: {elapsed:.1f} s, "
          f"{len(bad)} bad lines reported, {len(printed)} posts printed")


def test_scan_fuzz_figures() -> None:
    """Runs after test_scan_fuzz (file order): prints what the examples covered."""
    if not _totals:
        pytest.skip("test_scan_fuzz did not run")
    print(
        f"\nscan fuzz: {_totals['lines']} lines in 300 generated files, {_totals['bad']} bad "
        f"lines (all reported by number), {_totals['posts']} posts scanned, "
        f"{_totals['problems']} problems reported, {_totals['errors']} posts with an error "
        "result; every scan completed"
    )
