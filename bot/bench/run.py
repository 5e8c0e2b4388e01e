"""`milwatch bench`: matcher throughput against an Aho-Corasick ceiling and a fuzzy floor.

One run, the same generated posts for everything:

* milwatch — `build_matcher(ruleset, Morphology()).match(text)` per post, single core, with
  the shipped rules and with a generated large rule set (1,000+ terms). The timed pass is
  the FIRST pass over the posts: word caches fill as they do in a real scan. It is run
  three times (`first_passes`), each with a newly built matcher and dictionaries, and the
  fastest counts, as the ceiling's fastest of three passes does; all three are shown. Matcher
  warm-up (a few fixed sentences that are not among the posts) is excluded; then the heap
  is frozen (`gc.freeze`), as the app does once its matcher is built. A second, warm
  pass is reported for information.
* ceiling — pyahocorasick over the same texts already normalised by
  `bot.matching.normalize` (normalisation done once, before timing): an automaton of
  every literal term of the rule set, all matches consumed. Best of three passes (an
  automaton has no caches to warm).
* long post — one post of `long_post` characters (default 1 MB) of repeated rule terms,
  matched whole and as the service matches it (its first MATCH_MAX_CHARS characters);
  a quarter of it too, to show that the time grows in proportion to the text.
* floor — what naive bots do: `rapidfuzz.fuzz.partial_ratio(term, text)` for every term
  against every post, on an evenly spaced sample of posts, extrapolated to posts/s.

Plus start-up time (rules + matcher incl. dictionary load; cold, in a fresh process, for
the shipped rules), peak RSS, and optionally a timed `milwatch scan` of a generated JSONL
file in a subprocess. This is a benchmark, not a test: nothing here asserts on timings;
the targets are printed next to the figures for information.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.bench.corpus import generate_labelled, vocabulary_size, write_jsonl
from bot.bench.large_rules import large_rules_yaml
from bot.matching import Matcher, Morphology, build_matcher, freeze_heap, normalize
from bot.rules import load_rules, parse_rules
from bot.rules.model import RuleSet

TARGETS = {
    "ratio_vs_ceiling_large_max": 4.0,  # milwatch(1,000+ terms) ≤ 4× ceiling time per post
    "speedup_vs_floor_min": 100.0,  # ≥ 100× faster than partial_ratio per term
    "rss_mb_max": 200.0,
    "scan_100k_s_max": 30.0,
    "long_post_1mb_s_max": 2.0,  # a 1 MB post of repeated terms, matched whole
}
# One long post is these sentences over and over: every NEAR of the shipped rules has
# thousands of occurrences on both sides, and every word is a candidate (worst case).
LONG_POST_UNIT = (
    "Начался вывод войск из Сирии. Эвакуация населения из Херсона. "
    "Troops withdraw from Syria. ВСУ отходят с позиций у Работино. "
)
FLOOR_THRESHOLD = 85  # a naive bot flags a post when any term scores this high
# Warm-up sentences: exercise every code path once (regexes, dictionaries, rapidfuzz),
# but are not among the timed posts, so the word caches stay cold for them.
WARMUP_TEXTS = (
    "Войска отошли от города, эвакуация продолжается.",
    "Війська відійшли, триває евакуація цивільних.",
    "Troops withdrew from the town; evacuation continues.",
    "Эвакуацыя пaсажиров и вывoд средств, Novaya Kakhovka.",
)
_ROOT = Path(__file__).resolve().parent.parent.parent

_COLD_STARTUP = """
import json, resource, sys, time
t0 = time.perf_counter()
from bot.matching import Morphology, build_matcher
from bot.rules import load_rules
t1 = time.perf_counter()
rs = load_rules(sys.argv[1])
t2 = time.perf_counter()
m = build_matcher(rs, Morphology())
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "build_s": t3 - t2, "total_s": t3 - t0,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


# ----------------------------------------------------------------------------- helpers
def _rss_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _resolve_rules(path: Path) -> Path:
    if path.exists() or path.is_absolute():
        return path.resolve()
    shipped = _ROOT / path
    return shipped.resolve() if shipped.exists() else path


def literal_table(ruleset: RuleSet) -> dict[str, bool]:
    """Every literal term (word or phrase) of a rule set, normalised like post text → is a prefix.

    Quotes, a prefix's `*` and a `~n` typo suffix are dropped; `<place>` classes have no
    literal form and are skipped. Includes (`@other`) are already expanded by the loader.
    """
    out: dict[str, bool] = {}
    for concept in (*ruleset.concepts.values(), *ruleset.inline_concepts.values()):
        for term in concept.terms:
            if any(w.kind == "tag" for w in term.words):
                continue
            raw = term.raw.strip().strip("\"'«»“”")
            words = [w.split("~")[0].rstrip("*") for w in raw.split()]
            text = normalize(" ".join(words)).text.strip()
            if text:
                out[text] = out.get(text, False) or term.words[-1].kind == "prefix"
    return dict(sorted(out.items()))


def literals(ruleset: RuleSet) -> list[str]:
    """The literal terms of a rule set (what the Aho-Corasick ceiling and the floor use)."""
    return list(literal_table(ruleset))


def _whole_word(text: str, end: int, lit: str, prefix: bool) -> bool:
    start = end - len(lit) + 1
    if start > 0 and text[start - 1].isalnum():
        return False
    return prefix or end + 1 >= len(text) or not text[end + 1].isalnum()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def _time_matcher(match: Callable[[str], list[Any]], texts: list[str], kinds: list[str],
                  langs: list[str]) -> dict[str, Any]:
    """One pass: per-post times (perf_counter overhead ~0.1 µs is noise next to a match)."""
    gc.collect()
    pc = time.perf_counter
    times: list[float] = []
    hit_kinds: Counter[str] = Counter()
    per_lang: dict[str, float] = {}
    started = pc()
    for text, kind in zip(texts, kinds, strict=True):
        t = pc()
        hits = match(text)
        times.append(pc() - t)
        if hits:
            hit_kinds[kind] += 1
    total = pc() - started
    for lang, dt in zip(langs, times, strict=True):
        per_lang[lang] = per_lang.get(lang, 0.0) + dt
    # Posts from military channels (they have candidate words) vs everyday traffic.
    group_t: dict[str, float] = {}
    group_n: Counter[str] = Counter()
    for kind, dt in zip(kinds, times, strict=True):
        group = "general" if kind == "general" else "military"
        group_t[group] = group_t.get(group, 0.0) + dt
        group_n[group] += 1
    lang_counts = Counter(langs)
    ordered = sorted(times)
    n = max(len(texts), 1)
    return {
        "seconds": total,
        "us_per_post": total / n * 1e6,
        "posts_per_s": n / total if total > 0 else 0.0,
        "p50_us": _percentile(ordered, 0.5) * 1e6,
        "p99_us": _percentile(ordered, 0.99) * 1e6,
        "max_us": (ordered[-1] if ordered else 0.0) * 1e6,
        "by_lang_us": {lang: per_lang[lang] / lang_counts[lang] * 1e6 for lang in sorted(per_lang)},
        "by_group_us": {g: group_t[g] / group_n[g] * 1e6 for g in sorted(group_t)},
        "hit_posts": sum(hit_kinds.values()),
        "hit_kinds": dict(hit_kinds),
    }


def _time_ceiling(table: dict[str, bool], norm_texts: list[str], repeats: int = 3) -> dict[str, Any]:
    import ahocorasick

    t = time.perf_counter()
    automaton = ahocorasick.Automaton()
    for lit, prefix in table.items():
        automaton.add_word(lit, (lit, prefix))
    automaton.make_automaton()
    build_s = time.perf_counter() - t
    best = float("inf")
    with_literal = n_matches = 0
    for _ in range(repeats):
        gc.collect()
        with_literal = n_matches = 0
        it = automaton.iter
        started = time.perf_counter()
        for text in norm_texts:
            found = 0
            for _end, _value in it(text):
                found += 1
            if found:
                with_literal += 1
                n_matches += found
        best = min(best, time.perf_counter() - started)
    # Untimed: how many of those posts hold a literal as a whole word (AC matches substrings).
    whole = sum(
        1 for text in norm_texts
        if any(_whole_word(text, end, lit, prefix) for end, (lit, prefix) in automaton.iter(text))
    )
    n = max(len(norm_texts), 1)
    return {
        "build_s": build_s,
        "seconds": best,
        "us_per_post": best / n * 1e6,
        "posts_per_s": n / best if best > 0 else 0.0,
        "posts_with_literal": with_literal,
        "posts_with_literal_frac": with_literal / n,
        "posts_with_whole_word_literal_frac": whole / n,
        "matches_per_post": n_matches / n,
    }


def _time_floor(lits: list[str], texts: list[str]) -> dict[str, Any]:
    """A naive bot: partial_ratio of every term against every (lower-cased) post."""
    from rapidfuzz import fuzz

    gc.collect()
    flagged = 0
    started = time.perf_counter()
    for text in texts:
        low = text.lower()
        best = 0.0
        for term in lits:
            score = fuzz.partial_ratio(term, low)
            if score > best:
                best = score
        if best >= FLOOR_THRESHOLD:
            flagged += 1
    total = time.perf_counter() - started
    n = max(len(texts), 1)
    return {
        "sample": len(texts),
        "seconds": total,
        "us_per_post": total / n * 1e6,
        "posts_per_s": n / total if total > 0 else 0.0,
        "flagged": flagged,
    }


def _time_long_post(rules_path: Path, chars: int) -> dict[str, Any]:
    """Seconds to match one long post of repeated terms: whole, a quarter, and capped."""
    matcher = build_matcher(load_rules(rules_path), Morphology())
    for text in WARMUP_TEXTS:
        matcher.match(text)
    text = (LONG_POST_UNIT * (chars // len(LONG_POST_UNIT) + 1))[:chars]
    cap = matcher.max_chars

    def best(part: str, limit: int) -> float:
        matcher.max_chars = limit
        times = []
        for _ in range(2):
            t = time.perf_counter()
            matcher.match(part)
            times.append(time.perf_counter() - t)
        return min(times)

    quarter = best(text[: chars // 4], chars)
    whole = best(text, chars)
    capped = best(text, cap)
    return {"chars": chars, "whole_s": whole, "quarter_s": quarter, "capped_s": capped, "cap": cap,
            "hits": len(matcher.match(text))}


def _cold_startup(rules_path: Path) -> dict[str, Any]:
    """Load rules + build the matcher in a fresh interpreter (dictionaries load cold)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _COLD_STARTUP, str(rules_path)],
        capture_output=True, text=True, env=_child_env(), check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"start-up probe failed: {proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["process_wall_s"] = wall
    data["rss_mb"] = data.pop("rss_kb") / 1024
    return dict(data)


def _run_scan(n: int, seed: int, rules_path: Path, progress: Callable[[str], None], mix: str = "mixed") -> dict[str, Any]:
    """Write n posts as JSONL and time `python -m bot scan FILE --format jsonl` end to end."""
    with tempfile.TemporaryDirectory(prefix="milwatch-bench-") as tmp:
        path = Path(tmp) / "posts.jsonl"
        t = time.perf_counter()
        write_jsonl(path, n, seed, mix)
        gen_s = time.perf_counter() - t
        progress(f"scan: {n:,} posts written ({path.stat().st_size / 1e6:.0f} MB) in {gen_s:.1f}s; scanning…")
        cmd = [sys.executable, "-m", "bot", "scan", str(path), "--format", "jsonl", "--rules", str(rules_path)]
        err_path = Path(tmp) / "stderr.txt"
        with open(os.devnull, "w") as devnull, open(err_path, "w") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=devnull, stderr=err, env=_child_env())
            rss_kb: float | None = None
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                rss_kb = usage.ru_maxrss
            else:  # pragma: no cover - non-Unix
                proc.wait()
            seconds = time.perf_counter() - started
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"scan failed ({proc.returncode}): {stderr.strip()[-500:]}")
    summary = next((ln for ln in stderr.splitlines() if ln.startswith("scanned ")), "")
    return {
        "posts": n,
        "seconds": seconds,
        "posts_per_s": n / seconds if seconds > 0 else 0.0,
        "rss_mb": (rss_kb / 1024) if rss_kb is not None else None,
        "generate_s": gen_s,
        "summary": summary,
    }


# ----------------------------------------------------------------------------- report
def _fmt(x: float | None, digits: int = 0, suffix: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}{suffix}"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def format_table(r: dict[str, Any]) -> str:
    """The human-readable report of a `run_bench` result."""
    d, g = r["default"], r["large"]
    rows: list[tuple[str, str, str, str]] = []

    def row(label: str, a: str, b: str, target: str = "") -> None:
        rows.append((label, a, b, target))

    def both(key: str, sub: str | None, digits: int = 0, suffix: str = "") -> tuple[str, str]:
        def get(s: dict[str, Any]) -> Any:
            v = s[key]
            return v[sub] if sub else v
        return _fmt(get(d), digits, suffix), _fmt(get(g), digits, suffix)

    row("rules / concepts / terms",
        f"{d['rules']} / {d['concepts']} / {d['terms']:,}", f"{g['rules']} / {g['concepts']} / {g['terms']:,}")
    row("AC literals", f"{d['ac_literals']:,}", f"{g['ac_literals']:,}")
    row("start-up: load rules + build (s)",
        f"{d['startup_s']:.2f} cold proc", f"{g['startup_s']:.2f} in-proc")
    row("milwatch µs/post (1st pass)", *both("milwatch", "us_per_post"))
    row("  … each fresh 1st pass µs/post",
        " / ".join(f"{x:,.0f}" for x in d["milwatch"].get("runs_us_per_post", [])),
        " / ".join(f"{x:,.0f}" for x in g["milwatch"].get("runs_us_per_post", [])))
    row("milwatch posts/s (1st pass)", *both("milwatch", "posts_per_s"))
    row("milwatch p50 / p99 µs",
        f"{d['milwatch']['p50_us']:,.0f} / {d['milwatch']['p99_us']:,.0f}",
        f"{g['milwatch']['p50_us']:,.0f} / {g['milwatch']['p99_us']:,.0f}")
    row("milwatch µs/post ru / uk / en",
        " / ".join(f"{d['milwatch']['by_lang_us'].get(x, 0):,.0f}" for x in ("ru", "uk", "en")),
        " / ".join(f"{g['milwatch']['by_lang_us'].get(x, 0):,.0f}" for x in ("ru", "uk", "en")))
    row("milwatch µs/post military / everyday posts",
        " / ".join(f"{d['milwatch']['by_group_us'].get(x, 0):,.0f}" for x in ("military", "general")),
        " / ".join(f"{g['milwatch']['by_group_us'].get(x, 0):,.0f}" for x in ("military", "general")))
    row("milwatch µs/post (warm 2nd pass)", *both("milwatch_warm", "us_per_post"))
    row("ceiling: Aho-Corasick µs/post", *both("ceiling", "us_per_post", 1))
    row("ceiling posts/s", *both("ceiling", "posts_per_s"))
    ratio_t = TARGETS["ratio_vs_ceiling_large_max"]
    row("milwatch / ceiling (time per post)",
        f"{d['ratio_vs_ceiling']:,.1f}×", f"{g['ratio_vs_ceiling']:,.1f}×",
        f"≤ {ratio_t:g}× (large) {_mark(g['ratio_vs_ceiling'] <= ratio_t)}")
    row(f"floor: partial_ratio µs/post (n={d['floor']['sample']})", *both("floor", "us_per_post"))
    row("floor posts/s (extrapolated)", *both("floor", "posts_per_s", 1))
    sp_t = TARGETS["speedup_vs_floor_min"]
    row("speed-up vs floor (floor / milwatch)",
        f"{d['speedup_vs_floor']:,.0f}×", f"{g['speedup_vs_floor']:,.0f}×",
        f"≥ {sp_t:g}× {_mark(min(d['speedup_vs_floor'], g['speedup_vs_floor']) >= sp_t)}")
    n = r["posts"]
    row("posts with milwatch hits",
        f"{d['milwatch']['hit_posts']:,} ({d['milwatch']['hit_posts'] / n:.1%})",
        f"{g['milwatch']['hit_posts']:,} ({g['milwatch']['hit_posts'] / n:.1%})")
    planted = r["planted"]
    for kind in ("relevant", "hard_negative", "plain", "general"):
        total = planted.get(kind, 0)
        if not total:
            continue
        label = {"plain": "plain war news", "general": "everyday posts"}.get(kind, f"planted {kind.replace('_', ' ')}")
        row(f"  of {total:,} {label}",
            f"{d['milwatch']['hit_kinds'].get(kind, 0):,}", f"{g['milwatch']['hit_kinds'].get(kind, 0):,}")
    row("posts with ≥1 AC literal (substring)",
        f"{d['ceiling']['posts_with_literal_frac']:.1%}", f"{g['ceiling']['posts_with_literal_frac']:.1%}")
    row("  … as a whole word (untimed check)",
        f"{d['ceiling']['posts_with_whole_word_literal_frac']:.1%}",
        f"{g['ceiling']['posts_with_whole_word_literal_frac']:.1%}")
    row(f"floor flagged (score ≥ {FLOOR_THRESHOLD}) in sample",
        f"{d['floor']['flagged']}/{d['floor']['sample']}", f"{g['floor']['flagged']}/{g['floor']['sample']}")

    w0 = max(len(x[0]) for x in rows) + 2
    w1 = max(max(len(x[1]) for x in rows), len("default rules")) + 3
    w2 = max(max(len(x[2]) for x in rows), len("large rules")) + 3
    lines = [
        f"milwatch bench — {n:,} posts ({r['langs_text']}), mean {r['mean_chars']:,.0f} chars, "
        f"{r['vocabulary']:,} distinct word forms; seed {r['seed']}; mix {r['mix']} "
        f"({r['military_share']:.0%} from military channels)",
        f"{'':<{w0}}{'default rules':>{w1}}{'large rules':>{w2}}   target (information only)",
    ]
    for label, a, b, target in rows:
        lines.append(f"{label:<{w0}}{a:>{w1}}{b:>{w2}}   {target}".rstrip())
    rss_t = TARGETS["rss_mb_max"]
    lines.append("")
    lines.append(f"normalise (shared by all, not in the ceiling) : {r['normalize_us_per_post']:,.1f} µs/post")
    cold = r["startup_cold"]
    lines.append(
        f"cold start-up, default rules                  : {cold['total_s']:.2f} s in process "
        f"(imports {cold['import_s']:.2f} + rules {cold['load_s']:.2f} + matcher & dictionaries "
        f"{cold['build_s']:.2f}); {cold['process_wall_s']:.2f} s with interpreter start"
    )
    lines.append(
        f"RSS, fresh process with default matcher ready : {cold['rss_mb']:.0f} MB   "
        f"target < {rss_t:g} MB {_mark(cold['rss_mb'] < rss_t)}"
    )
    lines.append(
        f"RSS, peak of this bench process               : {r['rss_peak_mb']:.0f} MB "
        f"(2 matchers in turn + {n:,} posts and their normalised copies held in memory)"
    )
    long_post = r.get("long_post")
    if long_post:
        target = TARGETS["long_post_1mb_s_max"] * long_post["chars"] / 1_000_000
        growth = long_post["whole_s"] / max(long_post["quarter_s"], 1e-9)
        lines.append(
            f"{'one post of ' + format(long_post['chars'], ',') + ' chars':<46}: "
            f"{long_post['whole_s']:.2f} s matched whole "
            f"(a quarter of it {long_post['quarter_s']:.2f} s: "
            f"×{growth:.1f} for 4× the text); {long_post['capped_s']:.2f} s up to the "
            f"{long_post['cap']:,}-character cap   target whole < {target:g} s "
            f"{_mark(long_post['whole_s'] < target)}"
        )
    scan = r.get("scan")
    if scan:
        per_100k = scan["seconds"] * 100_000 / max(scan["posts"], 1)
        label = f"scan of {scan['posts']:,} posts (subprocess, jsonl)"
        lines.append(
            f"{label:<46}: {scan['seconds']:.1f} s, "
            f"{scan['posts_per_s']:,.0f} posts/s, peak RSS {_fmt(scan['rss_mb'])} MB   "
            f"target 100k < {TARGETS['scan_100k_s_max']:g} s {_mark(per_100k < TARGETS['scan_100k_s_max'])}"
            + ("" if scan["posts"] == 100_000 else f" (≈{per_100k:.0f} s per 100k)")
        )
        if scan.get("summary"):
            lines.append(f"    {scan['summary']}")
    lines.append(f"total bench time: {r['bench_seconds']:.0f} s")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- bench
def _bench_ruleset(name: str, build: Callable[[], RuleSet], texts: list[str], kinds: list[str],
                   langs: list[str], progress: Callable[[str], None],
                   first_passes: int = 3) -> tuple[dict[str, Any], dict[str, bool]]:
    """Time `first_passes` first passes, each with a newly built matcher (cold caches), and
    keep the fastest (the ceiling is also best of three); then one warm pass."""
    firsts: list[dict[str, Any]] = []
    startup = 0.0
    matcher: Matcher | None = None
    for run in range(max(1, first_passes)):
        # The previous run's matcher and dictionaries go first (they were frozen, and
        # the dictionaries hold reference cycles only the collector can free).
        gc.unfreeze()
        matcher = None
        gc.collect()
        t = time.perf_counter()
        ruleset = build()
        matcher = build_matcher(ruleset, Morphology())
        if not run:
            startup = time.perf_counter() - t
        for text in WARMUP_TEXTS:  # warm-up, excluded from timing
            matcher.match(text)
        freeze_heap()  # as `milwatch run` and `scan` do once their matcher is built
        progress(f"{name}: matcher built; first pass {run + 1} of {first_passes} over {len(texts):,} posts…")
        firsts.append(_time_matcher(matcher.match, texts, kinds, langs))
    assert matcher is not None
    first = min(firsts, key=lambda f: f["seconds"])
    first["runs_us_per_post"] = [f["us_per_post"] for f in firsts]
    progress(f"{name}: {first['posts_per_s']:,.0f} posts/s (best first pass); warm pass…")
    warm = _time_matcher(matcher.match, texts, kinds, langs)
    lits = literal_table(ruleset)
    result = {
        "rules": len([r for r in ruleset.rules if r.enabled]),
        "concepts": len(ruleset.concepts),
        "terms": ruleset.written_terms,
        "matcher_terms": len(matcher.terms),
        "ac_literals": len(lits),
        "startup_s": startup,
        "milwatch": first,
        "milwatch_warm": warm,
        "rss_peak_mb_after": _rss_mb(),
    }
    del matcher
    gc.unfreeze()
    gc.collect()
    return result, lits


def run_bench(
    posts: int = 20000,
    sample_floor: int = 150,
    scan_posts: int = 0,
    rules_path: Path = Path("config/rules.yaml"),
    out: TextIO | None = sys.stdout,
    *,
    seed: int = 7,
    progress: TextIO | None = None,
    mix: str = "mixed",
    first_passes: int = 3,
    long_post: int = 1_000_000,
) -> dict[str, Any]:
    """Run the benchmark, print the table to `out` (None: don't) and return the numbers."""
    bench_started = time.perf_counter()

    def say(msg: str) -> None:
        if progress is not None:
            progress.write(f"[bench {time.perf_counter() - bench_started:6.1f}s] {msg}\n")
            progress.flush()

    rules_path = _resolve_rules(Path(rules_path))
    posts = max(int(posts), 1)
    say(f"generating {posts:,} posts…")
    t = time.perf_counter()
    generated = list(generate_labelled(posts, seed, mix))
    gen_s = time.perf_counter() - t
    texts = [str(g.post["text"]) for g in generated]
    kinds = [g.kind for g in generated]
    langs = [g.lang for g in generated]
    del generated
    lang_counts = Counter(langs)

    say("cold start-up probe (fresh interpreter, default rules)…")
    cold = _cold_startup(rules_path)
    # Before any matcher is built here: a child's peak RSS (ru_maxrss) starts from this
    # process's size at fork time on Linux, so it is measured while this one is small.
    scan = None
    if scan_posts and scan_posts > 0:
        scan = _run_scan(int(scan_posts), seed, rules_path, say, mix)

    default, default_lits = _bench_ruleset(
        "default rules", lambda: load_rules(rules_path), texts, kinds, langs, say, first_passes)
    # The shipped rules' start-up is the cold figure; the in-process one is for reference.
    default["startup_in_process_s"] = default["startup_s"]
    default["startup_s"] = cold["total_s"]
    large_yaml = large_rules_yaml(seed=seed)
    large, large_lits = _bench_ruleset(
        "large rules", lambda: parse_rules(large_yaml, "<large rules>"), texts, kinds, langs, say, first_passes)

    long_result = None
    if long_post > 0:
        say(f"one post of {long_post:,} characters…")
        long_result = _time_long_post(rules_path, long_post)
        gc.unfreeze()
        gc.collect()

    say("normalising posts for the ceiling…")
    gc.collect()
    t = time.perf_counter()
    norm_texts = [normalize(text).text for text in texts]
    normalize_s = time.perf_counter() - t

    say("ceiling: Aho-Corasick scans…")
    default["ceiling"] = _time_ceiling(default_lits, norm_texts)
    large["ceiling"] = _time_ceiling(large_lits, norm_texts)
    del norm_texts

    k = max(1, min(int(sample_floor), len(texts)))
    step = len(texts) / k
    sample = [texts[int(i * step)] for i in range(k)]
    say(f"floor: partial_ratio × every term on {k} posts…")
    default["floor"] = _time_floor(list(default_lits), sample)
    large["floor"] = _time_floor(list(large_lits), sample)

    for s in (default, large):
        s["ratio_vs_ceiling"] = s["milwatch"]["us_per_post"] / max(s["ceiling"]["us_per_post"], 1e-9)
        s["speedup_vs_floor"] = s["floor"]["us_per_post"] / max(s["milwatch"]["us_per_post"], 1e-9)

    result: dict[str, Any] = {
        "posts": posts,
        "seed": seed,
        "mix": mix,
        "military_share": sum(1 for k in kinds if k != "general") / posts,
        "rules_path": str(rules_path),
        "langs": dict(lang_counts),
        "langs_text": " / ".join(f"{x} {lang_counts[x] / posts:.0%}" for x in ("ru", "uk", "en")),
        "planted": dict(Counter(kinds)),
        "mean_chars": sum(map(len, texts)) / posts,
        "vocabulary": vocabulary_size(texts),
        "generate_s": gen_s,
        "normalize_us_per_post": normalize_s / posts * 1e6,
        "startup_cold": cold,
        "default": default,
        "large": large,
        "rss_peak_mb": _rss_mb(),
        "scan": scan,
        "long_post": long_result,
        "targets": dict(TARGETS),
    }
    result["bench_seconds"] = time.perf_counter() - bench_started
    if out is not None:
        out.write(format_table(result) + "\n")
        out.flush()
    return result


def main_json(result: dict[str, Any]) -> str:
    """The result as JSON (for `milwatch bench --json`)."""
    return json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True)
