"""`milwatch` command line: demo, scan, eval, backtest, check, explain (and `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.matching.matcher import Matcher
from bot.rules.model import RulesError, RuleSet
from bot.settings import Settings

logger = logging.getLogger(__name__)

# --rules and --current default to MILWATCH_RULES, else the project's config/rules.yaml
# (bot/settings.py), whatever the current directory.
DEFAULT_RULES_HELP = "MILWATCH_RULES, else the project's config/rules.yaml"


# -- helpers -----------------------------------------------------------------------
def _load_ruleset(path: Path, err: TextIO) -> RuleSet | None:
    """Load rules or print every problem as FILE:LINE:COL and return None."""
    from bot.rules.loader import load_rules

    try:
        return load_rules(path)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        return None
    except OSError as exc:
        print(f"{path}:1:1: cannot read the rules file: {exc.strerror or exc}", file=err)
        return None


def _build_matcher(ruleset: RuleSet) -> Matcher:
    from bot.compiled import compiled_matcher
    from bot.matching.matcher import freeze_heap
    from bot.matching.morph import Morphology
    from bot.settings import load_offline_settings

    settings = load_offline_settings(Path(".env"), os.environ)
    matcher = compiled_matcher(
        ruleset, Morphology(use_ukrainian=settings.use_ukrainian), max_chars=settings.match_max_chars
    )
    freeze_heap()
    return matcher


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal (or forced)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = 0  # characters of the bar on screen now

    def update(self, done: int) -> None:
        """Redraw at most five times a second."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        frac = min(done / self.total, 1.0)
        rate = done / max(now - self.started, 1e-6)
        bar = "#" * int(frac * 30)
        line = f"[{bar:<30}] {done:,}/~{self.total:,} posts {rate:,.0f}/s "
        self.stream.write("\r" + line)
        self.stream.flush()
        self._drawn = len(line)

    def clear(self) -> None:
        """Blank the bar line, so a message printed next starts a clean line."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
            self._last = 0.0  # redraw at the next update

    def close(self) -> None:
        """Clear the bar line."""
        self.clear()


# -- commands ----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Validate a rules file; every problem as FILE:LINE:COL: message."""
    from bot.rules.loader import check_rules, load_rules

    problems = check_rules(args.rules)
    for problem in problems:
        print(problem, file=out)
    if problems:
        print(f"{len(problems)} problem(s) in {args.rules}", file=err)
        return 1
    print(f"{args.rules}: OK, {load_rules(args.rules).summary()}", file=out)
    return 0


def cmd_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Scan a JSONL file or Telegram Desktop export and print the posts that match."""
    from bot.scan import ScanOptions, default_jobs, scan_posts
    from bot.sources import (
        ReadStats,
        SourceProblem,
        count_hint,
        detect_format,
        iter_posts,
        unreadable,
    )

    ruleset = _load_ruleset(args.rules, err)
    if ruleset is None:
        return 2
    bad_input = unreadable(args.path)
    if bad_input:
        print(f"{args.path}: {bad_input}", file=err)
        return 2
    matcher = _build_matcher(ruleset)
    problems: list[SourceProblem] = []
    total = count_hint(args.path)
    progress = Progress(total, err, args.progress or err.isatty())

    def report(problem: SourceProblem) -> None:
        problems.append(problem)
        progress.clear()
        print(f"warning: {problem}", file=err)

    options = ScanOptions(
        format=args.format, all=args.all, color=args.color or (out.isatty() and not args.no_color),
        quiet=args.quiet_hits,
    )
    # Workers only pay off once there is enough to share out.
    jobs = args.jobs if args.jobs is not None else (default_jobs() if total > 5000 else 1)
    started = time.monotonic()
    n_posts = n_hit_posts = n_hits = 0
    write = out.write
    stats = ReadStats()
    for _post, result in scan_posts(iter_posts(args.path, report, stats), matcher, options, jobs):
        n_posts += 1
        if result.error:
            report(SourceProblem(str(args.path), None, result.error))
        if result.hits:
            n_hit_posts += 1
            n_hits += result.hits
        if result.output:
            write(result.output)
        progress.update(n_posts)
    progress.close()
    elapsed = time.monotonic() - started
    rate = n_posts / elapsed if elapsed > 0 else 0.0
    print(
        f"scanned {n_posts:,} posts in {elapsed:.1f}s ({rate:,.0f} posts/s, {jobs} process(es)): "
        f"{n_hit_posts:,} with hits, {n_hits:,} hits, {len(problems)} problem(s)",
        file=err,
    )
    if stats.posts == 0 and stats.problems:
        print(f"{args.path}: no posts read: {stats.problems} problem(s), see above", file=err)
        return 2
    if stats.posts == stats.problems == 0 and detect_format(args.path) == "jsonl":
        # Not a line with anything on it (an export of photos only is not empty).
        print(f"{args.path}: empty file, nothing to scan", file=err)
        return 2
    return 0


def cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Explain why a text does or does not match."""
    from textwrap import indent

    from bot.relevance import describe
    from bot.scan import explain_terms

    ruleset = _load_ruleset(args.rules, err)
    if ruleset is None:
        return 2
    text = args.text if args.text != "-" else sys.stdin.read()
    matcher = _build_matcher(ruleset)
    analysis = matcher.analyse(text, all_concepts=args.concepts)
    if analysis.normalized.text != text:
        print(f"normalised: {analysis.normalized.text}", file=out)
    if not analysis.hits:
        print("no rule matched", file=out)
    for hit in analysis.hits:
        quiet = "" if hit.alerts else " — quiet: stored, no alert"
        print(f"HIT {hit.rule_id} → {hit.topic} ({hit.severity.value}, route {hit.route}){quiet}", file=out)
        if hit.description:
            print(f"    {hit.description}", file=out)
        print(explain_terms(hit), file=out)
        if hit.relevance is not None:
            print(indent(describe(hit.relevance), "    "), file=out)
    for rule_id in analysis.suppressed:
        print(f"vetoed by 'unless': {rule_id}", file=out)
    if args.concepts:
        print("concepts found:", file=out)
        for name, occs in sorted(analysis.concepts.items()):
            words = ", ".join(sorted({t.surface for o in occs for t in analysis.term_matches(o)}))
            print(f"    {name}: {words}", file=out)
    return 0 if any(h.alerts for h in analysis.hits) else 1


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Precision/recall on labelled posts (with and without marginal ones), alerts per
    1,000 posts per channel, and the unlabelled posts that alerted (or feedback precision)."""
    from bot.evaluation import EvalPost, evaluate_run, format_run
    from bot.sources import SourceProblem, unreadable
    from bot.sources.jsonl import read_evaluation, read_labels

    if args.from_feedback:
        return _eval_feedback(args, out, err)
    if args.path is None or args.db is not None or args.since is not None:
        print("milwatch eval: give a JSONL file of posts (labelled or not), or --from-feedback "
              "(--db and --since only apply with --from-feedback)", file=err)
        return 2
    ruleset = _load_ruleset(args.rules, err)
    if ruleset is None:
        return 2
    bad_input = unreadable(args.path)
    if bad_input:
        print(f"{args.path}: {bad_input}", file=err)
        return 2
    matcher = _build_matcher(ruleset)

    def report(problem: SourceProblem) -> None:
        print(f"warning: {problem}", file=err)

    labels = read_labels(args.labels, report) if args.labels is not None else None
    only = {c.strip() for c in args.channels.split(",")} if args.channels else None
    skip = {c.strip() for c in args.exclude_channels.split(",")} if args.exclude_channels else set()
    rows = []
    unlabelled_lines: list[int] = []
    for number, post, expected, marginal in read_evaluation(args.path, report, labels):
        if expected is None:
            unlabelled_lines.append(number)
        if (only is not None and post.channel not in only) or post.channel in skip:
            continue
        hits = matcher.match(post.text)
        scores = [h.relevance.score for h in hits if h.relevance is not None]
        rows.append(EvalPost(
            post_id=post.msg_id,
            channel=post.channel,
            expected=expected,
            predicted=frozenset(h.topic for h in hits if h.alerts),
            marginal=marginal,
            quiet=frozenset(h.topic for h in hits if not h.alerts),
            score=max(scores) if scores else None,
            excerpt=" ".join(post.text.split())[:100],
        ))
    if not rows:
        print(f"{args.path}: no posts read (each line needs id, channel, date, text)", file=err)
        return 2
    if labels is None and len(unlabelled_lines) < len(rows):
        # A labelled file with some lines unlabelled: probably a slip, so say where.
        for number in unlabelled_lines[:10]:
            print(f"warning: {args.path}:{number}: no 'topics': counted for alert rates only", file=err)
        if len(unlabelled_lines) > 10:
            print(f"warning: … and {len(unlabelled_lines) - 10} more posts without 'topics'", file=err)
    topics = list(ruleset.topics) or ["withdrawal", "evacuation"]
    # A stream (labels joined by id) is read for its alert rates; a labelled file for its scores.
    rates = args.rates or args.labels is not None
    print(format_run(evaluate_run(rows, topics), review=args.review, rates=rates), file=out)
    return 0


def _since(text: str | None, err: TextIO) -> tuple[bool, datetime | None, str]:
    """--since as (ok, moment, phrase): '7d' back from now, or an ISO date/time (UTC if bare)."""
    from bot.alerts.card import format_time
    from bot.commands.handler import parse_duration

    if text is None:
        return True, None, ""
    duration = parse_duration(text)
    if duration is not None:
        return True, datetime.now(UTC) - duration.delta, f"in the last {duration.label}"
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        print(f"--since {text!r}: use a period such as 7d or 24h (up to 366d), "
              "or a date such as 2024-05-01", file=err)
        return False, None, ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return True, moment, f"since {format_time(moment)}"


def _database(args: argparse.Namespace, err: TextIO) -> Path | None:
    """--db, else the settings database (MILWATCH_DB or MILWATCH_DATA_DIR); None if missing."""
    from bot.settings import load_offline_settings

    path: Path = args.db or load_offline_settings(Path(".env"), os.environ).database
    if not path.is_file():
        # Never create an empty database by looking at one that is not there.
        print(f"{path}: no such database (use --db PATH or set MILWATCH_DB)", file=err)
        return None
    return path


def _eval_feedback(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Precision per rule from the analysts' marks on alert cards, worst first."""
    from bot.feedback import format_feedback
    from bot.storage import Store

    if args.path is not None:
        print("milwatch eval: --from-feedback reads the database; give no PATH", file=err)
        return 2
    ok, since, scope = _since(args.since, err)
    db = _database(args, err)
    if not ok or db is None:
        return 2

    async def read() -> list[Any]:
        async with Store.open(db) as store:
            return await store.feedback_by_rule(since)

    print(format_feedback(asyncio.run(read()), scope), file=out)
    return 0


def cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Refit the relevance weights on labelled posts and the analysts' marks."""
    from bot.retrain import Labelled, format_refit, held_out_channels, refit, samples, write_rules
    from bot.sources import SourceProblem, unreadable
    from bot.sources.jsonl import read_evaluation, read_labels
    from bot.storage import Store

    if not args.paths and not args.from_feedback:
        print("milwatch train: give labelled JSONL files, or --from-feedback, or both", file=err)
        return 2
    ruleset = _load_ruleset(args.rules, err)
    if ruleset is None:
        return 2
    if ruleset.relevance is None:
        print(f"{args.rules}: no 'relevance:' section, so no weights to fit", file=err)
        return 2
    for path in [*args.paths, *([args.labels] if args.labels else [])]:
        bad_input = unreadable(path)
        if bad_input:
            print(f"{path}: {bad_input}", file=err)
            return 2

    def report(problem: SourceProblem) -> None:
        print(f"warning: {problem}", file=err)

    labels = read_labels(args.labels, report) if args.labels is not None else None
    posts: list[Labelled] = []
    for path in args.paths:
        for _, post, expected, marginal in read_evaluation(path, report, labels):
            if expected is None or (marginal and not args.marginal):
                continue
            posts.append(Labelled(post, {topic: topic in expected for topic in ruleset.topics}))
    if args.from_feedback:
        ok, since, _ = _since(args.since, err)
        db = _database(args, err)
        if not ok or db is None:
            return 2

        async def read() -> list[tuple[Any, dict[str, bool]]]:
            async with Store.open(db) as store:
                return await store.judged_posts(since)

        posts += [Labelled(post, topics) for post, topics in asyncio.run(read())]
    found = samples(_build_matcher(ruleset), posts)
    if not found:
        print("milwatch train: no labelled post hits a rule, so there is nothing to fit", file=err)
        return 2
    chosen = {c.strip() for c in args.holdout_channels.split(",")} if args.holdout_channels else None
    result = refit(ruleset, found, held_out_channels(found, chosen), args.pull)
    print(format_refit(result), file=out)
    if args.write is not None:
        write_rules(ruleset, result, args.write)
        print(f"wrote {args.write}; try it on stored posts first: "
              f"milwatch backtest --rules {args.write}", file=out)
    return 0


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay the stored posts through the current and the proposed rules; per-rule changes."""
    from bot.backtest import backtest, format_backtest
    from bot.compiled import compiled_matcher
    from bot.matching.morph import Morphology
    from bot.scan import default_jobs
    from bot.settings import load_offline_settings

    proposed_rules = _load_ruleset(args.rules, err)
    current_rules = _load_ruleset(args.current, err)
    if proposed_rules is None or current_rules is None:
        return 2
    ok, since, _ = _since(args.since, err)
    db = _database(args, err)
    if not ok or db is None:
        return 2
    morph = Morphology(use_ukrainian=load_offline_settings(Path(".env"), os.environ).use_ukrainian)
    current = compiled_matcher(current_rules, morph)
    proposed = compiled_matcher(proposed_rules, morph)
    # Workers only pay off on a database of some size (roughly 5,000 posts and up).
    jobs = args.jobs if args.jobs is not None else (
        default_jobs() if db.stat().st_size > 5_000_000 else 1
    )
    bar: Progress | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(total, err, args.progress or err.isatty())
        bar.update(done)

    try:
        report = asyncio.run(backtest(db, current, proposed, since, progress, jobs=jobs))
    finally:
        if bar is not None:
            bar.close()
    print(format_backtest(report), file=out)
    rate = report.posts / report.elapsed if report.elapsed > 0 else 0.0
    print(
        f"backtest: {report.posts:,} posts in {report.elapsed:.1f}s ({rate:,.0f} posts/s, "
        f"{report.jobs} process(es)): {report.gained:,} hits gained, {report.lost:,} lost, "
        f"{report.errors} problem(s)",
        file=err,
    )
    return 0


def _settings(args: argparse.Namespace, err: TextIO) -> Settings | None:
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings(args.env_file, os.environ)
    except SettingsError as exc:
        print(f"{args.env_file}: {exc}", file=err)
        return None


def cmd_login(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Interactive one-time login of the Telegram user account."""
    from bot.app import run_login

    settings = _settings(args, err)
    return 2 if settings is None else asyncio.run(run_login(settings, out, err))


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the listener, alert sender and command handler."""
    from bot.app import run_live
    from bot.logs import configure_logging

    settings = _settings(args, err)
    if settings is None:
        return 2
    configure_logging(
        "DEBUG" if args.verbose else settings.log_level,
        settings.log_format,
        secrets=(settings.bot_token, settings.tg_api_hash),
    )
    return asyncio.run(run_live(settings, out, err))


def cmd_health(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0 when the running service wrote a heartbeat recently (for Docker)."""
    from datetime import UTC, datetime

    from bot.health import check_heartbeat

    settings = _settings(args, err)
    if settings is None:
        return 2
    ok, message = check_heartbeat(settings.data_dir, datetime.now(UTC))
    print(message, file=out if ok else err)
    return 0 if ok else 1


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Channels, outbox and posts that failed to store (dead letters), from the database."""
    from bot.health import check_heartbeat
    from bot.status import status_report
    from bot.storage import Store

    settings = _settings(args, err)
    db = args.db or (settings.database if settings is not None else None)
    if settings is None or db is None:
        return 2
    if not db.is_file():
        print(f"{db}: no such database (use --db PATH or set MILWATCH_DB)", file=err)
        return 2
    healthy, health = check_heartbeat(settings.data_dir, datetime.now(UTC))

    async def read() -> str:
        async with Store.open(db) as store:
            return await status_report(store, datetime.now(UTC), health)

    print(f"database: {db}", file=out)
    print(asyncio.run(read()), file=out)
    return 0 if healthy else 1  # as `milwatch health`: usable as a health check too


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Give dead letters (all, or the ids given) a fresh round of retries."""
    from bot.status import replay_dead_letters
    from bot.storage import Store

    settings = _settings(args, err)
    db = args.db or (settings.database if settings is not None else None)
    if settings is None or db is None:
        return 2
    if not db.is_file():
        print(f"{db}: no such database (use --db PATH or set MILWATCH_DB)", file=err)
        return 2

    async def replay() -> tuple[int, list[int]]:
        async with Store.open(db) as store:
            return await replay_dead_letters(store, args.ids)

    queued, unknown = asyncio.run(replay())
    for failure_id in unknown:
        print(f"milwatch replay: no dead letter #{failure_id} (see `milwatch status`)", file=err)
    if queued:
        print(
            f"{queued} dead letter(s) queued again: the running service retries them within "
            "seconds (a stopped one at its next start); `milwatch status` shows how it went",
            file=out,
        )
    elif not unknown:
        print("no dead letters to replay", file=out)
    return 1 if unknown else 0


def _service_db(args: argparse.Namespace, err: TextIO) -> tuple[Settings, Path] | None:
    """The settings and the database (--db, else MILWATCH_DB or MILWATCH_DATA_DIR), or None."""
    settings = _settings(args, err)
    if settings is None:
        return None
    return settings, args.db or settings.database


def cmd_backup(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """A consistent, checked copy of the database, safe beside the running service."""
    from bot.storage.backup import BackupError, backup_database

    found = _service_db(args, err)
    if found is None:
        return 2
    _, db = found
    try:
        facts = backup_database(db, args.file, overwrite=args.force)
    except BackupError as exc:
        print(f"milwatch backup: {exc}", file=err)
        return 1
    print(f"backup of {db} written to {args.file}: {facts.summary()}", file=out)
    return 0


def cmd_restore(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Put a backup in place of the database (the service stopped); the old one is kept."""
    from bot.health import DEFAULT_MAX_AGE, last_beat
    from bot.storage import Store
    from bot.storage.backup import BackupError, restore_database

    found = _service_db(args, err)
    if found is None:
        return 2
    settings, db = found
    now = datetime.now(UTC)
    beat = last_beat(settings.data_dir)
    if beat is not None and now - beat < DEFAULT_MAX_AGE and not args.force:
        print(
            f"milwatch restore: the service seems to be running (heartbeat {int((now - beat).total_seconds())} s"
            " ago): stop it first (docker compose stop milwatch), or --force if it is not",
            file=err,
        )
        return 1
    try:
        facts, aside = restore_database(args.file, db, now)
    except BackupError as exc:
        print(f"milwatch restore: {exc}", file=err)
        return 1

    async def migrate() -> None:
        async with Store.open(db):  # brings an older backup's schema up to date
            pass

    asyncio.run(migrate())
    print(f"restored {args.file} into {db}: {facts.summary()}", file=out)
    if aside is not None:
        print(f"the previous database is kept as {aside}", file=out)
    return 0


def cmd_prune(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Blank the texts of old posts (without hits, unless --include-hits); rows stay."""
    from bot.commands.handler import parse_duration
    from bot.storage import Store

    found = _service_db(args, err)
    if found is None:
        return 2
    _, db = found
    period = parse_duration(args.older_than)
    if period is None:
        print(f"--older-than {args.older_than!r}: use a period such as 90d or 12w", file=err)
        return 2
    if not db.is_file():
        print(f"{db}: no such database (use --db PATH or set MILWATCH_DB)", file=err)
        return 2
    before = datetime.now(UTC) - period.delta

    async def prune() -> int:
        async with Store.open(db) as store:
            return await store.prune_post_texts(before, include_hits=args.include_hits)

    count = asyncio.run(prune())
    kept = "" if args.include_hits else " (posts with hits keep theirs)"
    print(f"{count} post text(s) older than {period.label} blanked{kept}", file=out)
    return 0


def cmd_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Hits per day per topic and the top channels from the database; --png draws them."""
    from bot.charts import ChartsUnavailable, chart_data, describe_chart, render_png
    from bot.storage import Store

    ok, since, _ = _since(args.since, err)
    db = _database(args, err)
    if not ok or db is None:
        return 2
    until = datetime.now(UTC)
    start = since or until - timedelta(days=7)

    async def read() -> Any:
        async with Store.open(db) as store:
            return await chart_data(store, start, until)

    data = asyncio.run(read())
    print(describe_chart(data), file=out)
    if args.png is None:
        return 0
    try:
        png = render_png(data)
        args.png.parent.mkdir(parents=True, exist_ok=True)
        args.png.write_bytes(png)
    except ChartsUnavailable as exc:
        print(f"milwatch stats: {exc}", file=err)
        return 1
    except OSError as exc:
        print(f"milwatch stats: cannot write {args.png}: {exc.strerror or exc}", file=err)
        return 1
    print(f"chart written to {args.png} ({len(png):,} bytes)", file=out)
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay the seeds through the whole pipeline with console alerts."""
    from bot.app import run_demo

    return asyncio.run(run_demo(args, out, err))


def cmd_bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Benchmark the matcher against an Aho-Corasick ceiling and a fuzzy floor (no assertions)."""
    from bot.bench.run import main_json, run_bench

    if _load_ruleset(args.rules, err) is None:
        return 2
    result = run_bench(posts=args.posts, sample_floor=args.floor_sample, scan_posts=args.scan_posts,
                       rules_path=args.rules, out=err if args.json else out, progress=err, mix=args.mix,
                       first_passes=args.first_passes, long_post=args.long_post)
    if args.json:
        print(main_json(result), file=out)
    return 0


def _default_paths(args: argparse.Namespace) -> None:
    """Fill in the rules and seeds files not given, independent of the current directory."""
    from bot.settings import load_offline_settings, shipped_file

    if getattr(args, "rules", False) is None or getattr(args, "current", False) is None:
        rules = load_offline_settings(Path(".env"), os.environ).rules_path
        if getattr(args, "rules", False) is None:
            args.rules = rules
        if getattr(args, "current", False) is None:
            args.current = rules
    if getattr(args, "seeds", False) is None:
        args.seeds = shipped_file("seeds/posts.jsonl")


# -- parser ------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="milwatch",
        description="Telegram channel monitor: flags posts about troop withdrawal and evacuation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def rules_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rules", type=Path, default=None, metavar="FILE",
                       help=f"rules file (default: {DEFAULT_RULES_HELP})")

    p = sub.add_parser("demo", help="replay seeds/ through the pipeline with console alerts",
                       description="Replay the demo posts through normalise → match → SQLite → "
                       "alert routing → console sender, then show /recent.")
    rules_arg(p)
    p.add_argument("--seeds", type=Path, default=None,
                   help="posts to replay (default: the project's seeds/posts.jsonl)")
    p.add_argument("--db", type=Path, default=Path("data/demo.sqlite3"), help="demo database (recreated)")
    p.add_argument("--interactive", action="store_true", help="then type analyst and operator commands (/recent, /rule test …; edits go to a copy of the rules)")
    p.add_argument("--color", action="store_true", help="force coloured highlights")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("scan", help="scan a JSONL file or Telegram Desktop export",
                       description="Match every post of a JSONL file (id, channel, date, text) or a "
                       "Telegram Desktop result.json; bad lines are reported as FILE:LINE and skipped.")
    p.add_argument("path", type=Path, help="posts.jsonl or result.json")
    rules_arg(p)
    p.add_argument("--all", action="store_true", help="print every post, not only those with hits")
    p.add_argument("--quiet-hits", action="store_true",
                   help="also print hits the relevance stage keeps quiet (marked \"alert\": false)")
    p.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--color", action="store_true", help="force coloured highlights")
    p.add_argument("--no-color", action="store_true", help="never colour")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core for files over 5,000 posts)")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("eval", help="precision/recall/F1 on a labelled JSONL file",
                       description="Score the rules on labelled posts (JSONL: id, channel, date, "
                       "text, topics); "
                       "ends with F1(macro)=0.xxx.")
    p.add_argument("path", type=Path, nargs="?",
                   help="JSONL of posts; labelled ones carry topics (and marginal), or give --labels")
    p.add_argument("--labels", type=Path, default=None, metavar="FILE",
                   help="labels by post id (JSONL of id, topics, marginal) for an unlabelled posts file")
    p.add_argument("--channels", default=None, metavar="A,B",
                   help="only these channels (to measure on channels the rules were not tuned on)")
    p.add_argument("--exclude-channels", default=None, metavar="A,B", help="leave these channels out")
    p.add_argument("--review", type=int, default=20, metavar="N",
                   help="list at most N unlabelled posts that alerted (default 20)")
    p.add_argument("--rates", action="store_true",
                   help="alerts per 1,000 posts by channel even when every post is labelled")
    rules_arg(p)
    p.add_argument("--from-feedback", action="store_true",
                   help="instead: precision per rule from the analysts' ✅/❌ marks in the database")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="with --from-feedback: database (default: MILWATCH_DB or data/milwatch.sqlite3)")
    p.add_argument("--since", default=None, metavar="PERIOD",
                   help="with --from-feedback: only marks made in the last PERIOD (30d) or since a date")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("backtest", help="compare a proposed rules file with the current one on stored posts",
                       description="Replay the posts stored in the database through the current and "
                       "the proposed rules; print per rule the hits with each, the posts gained and "
                       "lost, and example posts. A broken rules file prints FILE:LINE:COL problems "
                       "(exit 2).")
    p.add_argument("--rules", type=Path, required=True, metavar="NEW.yaml", help="the proposed rules file")
    p.add_argument("--current", type=Path, default=None, metavar="FILE",
                   help=f"the rules to compare with (default: {DEFAULT_RULES_HELP})")
    p.add_argument("--since", default=None, metavar="PERIOD",
                   help="only posts from the last PERIOD (7d, 24h) or since a date (2024-05-01)")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="database (default: MILWATCH_DB or MILWATCH_DATA_DIR/milwatch.sqlite3)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core for databases over 5 MB)")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("train", help="refit the relevance weights on labelled posts and analysts' marks",
                       description="Fit the relevance section's weights (bias, rule priors, signal "
                       "weights) to labelled posts and/or the ✅/❌ marks in the database, pulled "
                       "towards the current weights; print precision and recall before and after on "
                       "channels held out, and write the refit to a copy of the rules file (--write).")
    p.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                   help="labelled JSONL files (topics, optional marginal), or posts with --labels")
    p.add_argument("--labels", type=Path, default=None, metavar="FILE", help="labels by post id")
    p.add_argument("--from-feedback", action="store_true", help="also the analysts' marks in the database")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="with --from-feedback: database (default: MILWATCH_DB or data/milwatch.sqlite3)")
    p.add_argument("--since", default=None, metavar="PERIOD",
                   help="with --from-feedback: only marks made in the last PERIOD (30d) or since a date")
    p.add_argument("--holdout-channels", default=None, metavar="A,B",
                   help="measure on these channels, fit on the rest (default: every third channel)")
    p.add_argument("--pull", type=float, default=1.0, metavar="X",
                   help="how strongly weights stay near their current values (default 1.0; 0 = plain fit)")
    p.add_argument("--marginal", action="store_true", help="also fit on posts labelled marginal")
    p.add_argument("--write", type=Path, default=None, metavar="NEW.yaml",
                   help="write the rules file with the refit weights here (never over the live file)")
    rules_arg(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("check", help="validate a rules file",
                       description="Print every problem as FILE:LINE:COL: message; exit 1 if any.")
    rules_arg(p)
    p.set_defaults(func=cmd_check)

    def env_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--env-file", type=Path, default=Path(".env"), metavar="FILE",
                       help="settings file (default: .env; real environment variables win)")

    p = sub.add_parser("login", help="log the Telegram user account in (once, interactive)",
                       description="Ask for the phone number, login code and 2FA password and save "
                       "the user session under MILWATCH_DATA_DIR (mode 0600). Docker: "
                       "`docker compose run --rm milwatch login`.")
    env_arg(p)
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("run", help="watch the channels and deliver alerts (the service)",
                       description="Start the channel listener (user account), the alert sender and "
                       "the command handler (bot) in one process. Ctrl-C / SIGTERM stops cleanly.")
    env_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("health", help="exit 0 if the running service is alive (for Docker)",
                       description="Reads the heartbeat file the service writes every 30 s.")
    env_arg(p)
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("status", help="channel and pipeline health, outbox and dead letters",
                       description="Show each channel's reading state, the outbox (pending, in "
                       "doubt, sent, failed, muted) and the posts that failed to store: those "
                       "being retried and the dead letters `milwatch replay` tries again. Safe "
                       "beside a running service. Exit status 1 when `milwatch health` would "
                       "fail.")
    env_arg(p)
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="database (default: MILWATCH_DB or MILWATCH_DATA_DIR/milwatch.sqlite3)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("replay", help="try dead letters (posts that failed to store) again",
                       description="Put dead letters back in the retry queue, all of them or the "
                       "ids `milwatch status` shows; the running service retries them within "
                       "seconds (a stopped one at its next start).")
    env_arg(p)
    p.add_argument("ids", type=int, nargs="*", metavar="ID", help="dead letter ids (default: all)")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="database (default: MILWATCH_DB or MILWATCH_DATA_DIR/milwatch.sqlite3)")
    p.set_defaults(func=cmd_replay)

    def db_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=Path, default=None, metavar="PATH",
                       help="database (default: MILWATCH_DB or MILWATCH_DATA_DIR/milwatch.sqlite3)")

    p = sub.add_parser("stats", help="hits per day per topic and the top channels; --png draws them",
                       description="Count the hits per day (by post date, UTC) and topic, alerting "
                       "and kept quiet, and the channels with the most hits; --png FILE writes "
                       "the same as a chart (needs the `charts` extra).")
    p.add_argument("--since", default=None, metavar="PERIOD",
                   help="the last PERIOD (default 7d) or since a date (2024-12-01)")
    p.add_argument("--png", type=Path, default=None, metavar="FILE", help="write the chart here")
    db_arg(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("backup", help="a consistent copy of the database (safe while running)",
                       description="Write a checked, compacted copy of the database to FILE "
                       "(SQLite's VACUUM INTO), consistent even while the service writes. "
                       "Restore it with `milwatch restore FILE`.")
    env_arg(p)
    p.add_argument("file", type=Path, metavar="FILE", help="the backup file to write")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    db_arg(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="put a backup in place of the database (service stopped)",
                       description="Check FILE, move the current database aside "
                       "(DB.before-restore-TIME) and put a copy of FILE in its place. Stop the "
                       "service first.")
    env_arg(p)
    p.add_argument("file", type=Path, metavar="FILE", help="a file written by `milwatch backup`")
    p.add_argument("--force", action="store_true",
                   help="restore even though the heartbeat says the service runs")
    db_arg(p)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("prune", help="blank the texts of old posts to save space",
                       description="Blank the texts of posts dated more than --older-than ago. "
                       "Posts with hits keep their text unless --include-hits; the rows stay, so "
                       "counts, channel rhythms and read positions are unchanged. The service does "
                       "this daily when RETENTION_DAYS is set.")
    env_arg(p)
    p.add_argument("--older-than", required=True, metavar="PERIOD", help="e.g. 90d")
    p.add_argument("--include-hits", action="store_true", help="blank posts with hits too")
    db_arg(p)
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("explain", help="show which rules and words match a text",
                       description="Explain a match: rules, terms, word forms, spans, fuzzy scores.")
    p.add_argument("text", help="the post text ('-' reads stdin)")
    rules_arg(p)
    p.add_argument("--concepts", action="store_true", help="also list every concept found")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("bench", help="benchmark: posts/s vs an Aho-Corasick ceiling and a fuzzy floor",
                       description="Time the matcher on generated posts (shipped and a large generated "
                       "rule set) against pyahocorasick (ceiling) and rapidfuzz partial_ratio per term "
                       "(floor); start-up, RSS, optional timed `scan`. Prints a table.")
    p.add_argument("--posts", type=int, default=20000, metavar="N", help="generated posts to time (default 20000)")
    p.add_argument("--floor-sample", type=int, default=150, metavar="N", help="posts for the slow floor (default 150)")
    p.add_argument("--scan-posts", type=int, default=0, metavar="N", help="also time `milwatch scan` of N posts")
    p.add_argument("--first-passes", type=int, default=3, metavar="N",
                   help="first passes, each with a fresh matcher; the fastest counts (default 3)")
    p.add_argument("--long-post", type=int, default=1_000_000, metavar="CHARS",
                   help="also time one post of CHARS characters of repeated terms "
                   "(default 1000000; 0: skip)")
    p.add_argument("--mix", choices=("mixed", "military"), default="mixed",
                   help="mixed: 10%% of posts from military channels, 90%% everyday traffic (default); "
                   "military: milblogger channels only")
    rules_arg(p)
    p.add_argument("--json", action="store_true", help="print the numbers as JSON (the table goes to stderr)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `milwatch` and `python -m bot`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.logs import FORMATS, configure_logging

    log_format = os.environ.get("LOG_FORMAT", "").strip().lower()
    configure_logging(
        "DEBUG" if getattr(args, "verbose", False) else "WARNING",
        log_format if log_format in FORMATS else "text",  # `run` reports a bad value
        secrets=(os.environ.get("BOT_TOKEN"), os.environ.get("TG_API_HASH")),
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _default_paths(args)
    try:
        return int(args.func(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `milwatch scan … | head` closes the pipe early: not an error.
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
