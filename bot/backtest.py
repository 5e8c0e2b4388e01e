"""Backtest: replay the stored posts through the active and a proposed rule set, rule by rule.

Operators see, before a rules change goes live, which posts each rule would gain or lose:
counts per rule, the post ids, and a few example posts with the matched words. Posts are
read from the store in batches (one query per batch, never one per post) and matched in
a worker thread, or in forked worker processes for large databases (`milwatch backtest`),
so the whole database replays at scan speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.alerts.card import build_excerpt, display_channel, format_time, render_excerpt
from bot.compiled import compiled_matcher
from bot.domain import Hit, Post
from bot.matching import Matcher, Morphology
from bot.rules import RulesError, parse_rules
from bot.storage import Store

logger = logging.getLogger(__name__)

EXAMPLES = 3  # example posts kept per rule for gained and for lost
EXCERPT_CHARS = 140
BATCH_SIZE = 1000
MAX_ERRORS_KEPT = 20
CHAT_EXAMPLES = 2
CHAT_MAX_PROBLEMS = 10

# (rule_id, topic, spans, words, alerts): what the parent needs of a hit (small to pickle).
# A hit the relevance stage keeps quiet counts as no alert: the backtest compares alerts.
CompactHit = tuple[str, str, tuple[tuple[int, int], ...], tuple[str, ...], bool]
# (current hits, proposed hits, error): None when neither rule set matched the post.
Outcome = tuple[tuple[CompactHit, ...], tuple[CompactHit, ...], str | None]
ProgressCallback = Callable[[int, int], None]  # (posts done, posts in total)


# -- the report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One post a rule gained or lost, with the words that matched."""

    post_id: int
    channel: str
    msg_id: str
    date: datetime
    link: str | None
    words: tuple[str, ...]
    excerpt: str  # one line; matched words in [[ ]]

    @property
    def where(self) -> str:
        """'@channel/123'."""
        return f"{display_channel(self.channel)}/{self.msg_id}"


@dataclass
class RuleDelta:
    """One rule's hits with the current and with the proposed rules."""

    rule_id: str
    topic: str
    status: str = ""  # "new", "removed", "disabled", "changed" or "" (same definition)
    current: int = 0  # posts it alerts on with the current rules
    proposed: int = 0  # … with the proposed rules
    quiet_current: int = 0  # posts it hits but the relevance stage keeps quiet
    quiet_proposed: int = 0
    gained: list[int] = field(default_factory=list)  # post ids only the proposed rules hit
    lost: list[int] = field(default_factory=list)  # post ids only the current rules hit
    gained_examples: list[Example] = field(default_factory=list)
    lost_examples: list[Example] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any post moved in or out."""
        return bool(self.gained or self.lost)


@dataclass
class BacktestReport:
    """What the proposed rules would have flagged among the stored posts, against the current."""

    current_version: str
    proposed_version: str
    since: datetime | None
    rules: list[RuleDelta] = field(default_factory=list)
    posts: int = 0  # posts replayed
    posts_current: int = 0  # posts with at least one alerting hit, current rules
    posts_proposed: int = 0
    posts_gained: int = 0  # posts that did not alert before and do now
    posts_lost: int = 0
    quiet_current: int = 0  # posts with hits, all kept quiet by the relevance stage
    quiet_proposed: int = 0
    errors: int = 0  # posts a matcher failed on (skipped, logged)
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    jobs: int = 1

    def rule(self, rule_id: str) -> RuleDelta:
        """The delta of one rule by id."""
        for delta in self.rules:
            if delta.rule_id == rule_id:
                return delta
        raise KeyError(rule_id)

    @property
    def hits_current(self) -> int:
        """All hits with the current rules (one per post and rule)."""
        return sum(d.current for d in self.rules)

    @property
    def hits_proposed(self) -> int:
        """All hits with the proposed rules."""
        return sum(d.proposed for d in self.rules)

    @property
    def gained(self) -> int:
        """Hits only the proposed rules make."""
        return sum(len(d.gained) for d in self.rules)

    @property
    def lost(self) -> int:
        """Hits only the current rules make."""
        return sum(len(d.lost) for d in self.rules)


# -- matching (in a thread or in forked workers) ----------------------------------------


def _compact(hits: Sequence[Hit]) -> tuple[CompactHit, ...]:
    return tuple((h.rule_id, h.topic, tuple(h.spans), tuple(h.words), h.alerts) for h in hits)


def compare_text(current: Matcher, proposed: Matcher, text: str) -> Outcome | None:
    """Both rule sets' hits on one text; a matcher exception becomes an error, never a crash."""
    try:
        before = _compact(current.match(text))
        after = _compact(proposed.match(text))
    except Exception as exc:  # noqa: BLE001 - one odd post must not stop a whole replay
        return (), (), f"{type(exc).__name__}: {exc}"
    if not before and not after:
        return None
    return before, after, None


# Set in the parent before forking, so workers share both compiled matchers (copy-on-write).
_PAIR: tuple[Matcher, Matcher] | None = None


def _work(text: str) -> Outcome | None:
    assert _PAIR is not None
    return compare_text(_PAIR[0], _PAIR[1], text)


class _Runner:
    """Matches a batch of texts with both matchers, off the event loop thread."""

    def __init__(self, current: Matcher, proposed: Matcher, jobs: int) -> None:
        global _PAIR
        self.jobs = 1
        self._current, self._proposed = current, proposed
        self._pool: Any = None
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            _PAIR = (current, proposed)
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork() with threads; workers only match text.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._pool = multiprocessing.get_context("fork").Pool(jobs)
            self.jobs = jobs

    def _local(self, texts: list[str]) -> list[Outcome | None]:
        return [compare_text(self._current, self._proposed, text) for text in texts]

    async def run(self, texts: list[str]) -> list[Outcome | None]:
        if self._pool is None:
            return await asyncio.to_thread(self._local, texts)
        # map_async + callbacks rather than a thread blocked in map(): a cancelled
        # backtest (Ctrl-C) terminates the pool, and nothing is left waiting on it.
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Outcome | None]] = loop.create_future()

        def settle(result: Any, failed: bool) -> None:
            if done.done():
                return
            if failed:
                done.set_exception(result)
            else:
                done.set_result(result)

        def call(result: Any, failed: bool = False) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(settle, result, failed)

        chunk = max(1, len(texts) // (self.jobs * 4))
        self._pool.map_async(
            _work, texts, chunk, callback=call, error_callback=lambda exc: call(exc, True)
        )
        return await done

    def close(self) -> None:
        global _PAIR
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            _PAIR = None


# -- tallying ---------------------------------------------------------------------------


def _rule_deltas(current: Matcher, proposed: Matcher) -> list[RuleDelta]:
    """A row per rule enabled on either side: the proposed file's order, then removed rules."""
    before = {r.id: r for r in getattr(getattr(current, "ruleset", None), "rules", ())}
    after = {r.id: r for r in getattr(getattr(proposed, "ruleset", None), "rules", ())}
    deltas: list[RuleDelta] = []
    for rule_id, rule in after.items():
        old = before.get(rule_id)
        old_on = old is not None and old.enabled
        if not rule.enabled:
            if old_on:
                deltas.append(RuleDelta(rule_id, rule.topic, "disabled"))
            continue
        if not old_on:
            status = "new"
        else:
            assert old is not None
            status = "changed" if replace(old, line=0) != replace(rule, line=0) else ""
        deltas.append(RuleDelta(rule_id, rule.topic, status))
    for rule_id, rule in before.items():
        if rule.enabled and rule_id not in after:
            deltas.append(RuleDelta(rule_id, rule.topic, "removed"))
    return deltas


def _example(post_id: int, post: Post, hit: CompactHit) -> Example:
    excerpt = render_excerpt(build_excerpt(post.text, hit[2], EXCERPT_CHARS), one_line=True)
    return Example(
        post_id=post_id,
        channel=post.channel,
        msg_id=post.msg_id,
        date=post.date,
        link=post.url,
        words=hit[3],
        excerpt=excerpt.strip(),
    )


class _Tally:
    def __init__(self, report: BacktestReport, examples: int) -> None:
        self.report = report
        self.examples = examples
        self.by_rule = {d.rule_id: d for d in report.rules}

    def _delta(self, hit: CompactHit) -> RuleDelta:
        delta = self.by_rule.get(hit[0])
        if delta is None:  # a rule the listing did not know (duck-typed matchers)
            delta = self.by_rule[hit[0]] = RuleDelta(hit[0], hit[1])
            self.report.rules.append(delta)
        return delta

    def add(self, post_id: int, post: Post, outcome: Outcome | None) -> None:
        report = self.report
        report.posts += 1
        if outcome is None:
            return
        before_hits, after_hits, error = outcome
        if error is not None:
            report.errors += 1
            message = f"post {post.channel}/{post.msg_id}: matcher error: {error}"
            logger.warning("%s", message)
            if len(report.error_samples) < MAX_ERRORS_KEPT:
                report.error_samples.append(message)
            return
        before = {h[0]: h for h in before_hits if h[4]}
        after = {h[0]: h for h in after_hits if h[4]}
        for hit in before_hits:
            if not hit[4]:
                self._delta(hit).quiet_current += 1
        for hit in after_hits:
            if not hit[4]:
                self._delta(hit).quiet_proposed += 1
        report.quiet_current += bool(before_hits) and not before
        report.quiet_proposed += bool(after_hits) and not after
        report.posts_current += bool(before)
        report.posts_proposed += bool(after)
        report.posts_gained += bool(after) and not before
        report.posts_lost += bool(before) and not after
        for rule_id, hit in before.items():
            delta = self._delta(hit)
            delta.current += 1
            if rule_id not in after:
                delta.lost.append(post_id)
                if len(delta.lost_examples) < self.examples:
                    delta.lost_examples.append(_example(post_id, post, hit))
        for rule_id, hit in after.items():
            delta = self._delta(hit)
            delta.proposed += 1
            if rule_id not in before:
                delta.gained.append(post_id)
                if len(delta.gained_examples) < self.examples:
                    delta.gained_examples.append(_example(post_id, post, hit))


# -- running ----------------------------------------------------------------------------


async def backtest(
    store_or_db_path: Store | str | Path,
    current: Matcher,
    proposed: Matcher,
    since: datetime | None = None,
    progress: ProgressCallback | None = None,
    *,
    jobs: int = 1,
    batch_size: int = BATCH_SIZE,
    examples: int = EXAMPLES,
) -> BacktestReport:
    """Replay every stored post (posted at or after since) through both matchers.

    store_or_db_path: an open Store, or the path of an existing database (opened read
    and closed again; a missing file is FileNotFoundError, never created). progress is
    called after every batch with (posts done, posts in total). jobs > 1 matches in
    that many forked processes.
    """
    if isinstance(store_or_db_path, Store):
        runner = _Runner(current, proposed, jobs)
        try:
            return await _replay(store_or_db_path, runner, current, proposed, since, progress,
                                 batch_size, examples)
        finally:
            runner.close()
    path = Path(store_or_db_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such database")
    # Fork the workers before the store starts its connection thread.
    runner = _Runner(current, proposed, jobs)
    try:
        async with Store.open(path) as store:
            return await _replay(store, runner, current, proposed, since, progress,
                                 batch_size, examples)
    finally:
        runner.close()


async def _replay(
    store: Store,
    runner: _Runner,
    current: Matcher,
    proposed: Matcher,
    since: datetime | None,
    progress: ProgressCallback | None,
    batch_size: int,
    examples: int,
) -> BacktestReport:
    started = time.monotonic()
    report = BacktestReport(
        current_version=str(getattr(current, "version", "")),
        proposed_version=str(getattr(proposed, "version", "")),
        since=since.astimezone(UTC) if since is not None else None,
        rules=_rule_deltas(current, proposed),
        jobs=runner.jobs,
    )
    tally = _Tally(report, examples)
    total = await store.count_posts(since)
    if progress is not None:
        progress(0, total)
    batches = store.post_batches(since, batch_size)
    # The next batch is read while this one is matched.
    pending: asyncio.Future[list[tuple[int, Post]] | None] = asyncio.ensure_future(
        anext(batches, None)
    )
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(anext(batches, None))
            outcomes = await runner.run([post.text for _, post in batch])
            for (post_id, post), outcome in zip(batch, outcomes, strict=True):
                tally.add(post_id, post, outcome)
            if progress is not None:
                progress(report.posts, total)
    finally:
        if not pending.done():
            pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        await batches.aclose()
    report.elapsed = time.monotonic() - started
    return report


# -- text ---------------------------------------------------------------------------------


def _label(delta: RuleDelta) -> str:
    return f"{delta.rule_id} ({delta.status})" if delta.status else delta.rule_id


def _scope(report: BacktestReport) -> str:
    since = f" since {format_time(report.since)}" if report.since is not None else ""
    return f"{report.posts:,} stored post(s){since}"


def _versions(report: BacktestReport) -> str:
    return f"rules {report.current_version or '?'} → {report.proposed_version or '?'}"


def format_backtest(report: BacktestReport, compact: bool = False) -> str:
    """The report as text: a full table with examples, or (compact) the changes for a chat."""
    return _format_compact(report) if compact else _format_full(report)


def _format_full(report: BacktestReport) -> str:
    lines = [
        f"Backtest over {_scope(report)}: {_versions(report)} (current → proposed)",
    ]
    rows = [(_label(d), d.current, d.proposed, len(d.gained), len(d.lost)) for d in report.rules]
    rows.append(("total", report.hits_current, report.hits_proposed, report.gained, report.lost))
    width = max(len("rule"), *(len(r[0]) for r in rows))
    lines.append(f"{'rule':<{width}}  {'current':>8}  {'proposed':>8}  {'gained':>7}  {'lost':>7}")
    for name, before, after, gained, lost in rows:
        lines.append(
            f"{name:<{width}}  {before:>8,}  {after:>8,}  {'+' + format(gained, ','):>7}"
            f"  {'-' + format(lost, ','):>7}"
        )
    lines.append(
        f"Posts alerted: {report.posts_current:,} → {report.posts_proposed:,}"
        f" (+{report.posts_gained:,} gained, -{report.posts_lost:,} lost)"
    )
    if report.quiet_current or report.quiet_proposed:
        lines.append(
            f"Posts with hits kept quiet by the relevance stage: {report.quiet_current:,} →"
            f" {report.quiet_proposed:,} (stored, not alerted; counted in no column above)"
        )
    if report.errors:
        lines.append(f"{report.errors:,} post(s) could not be matched and were skipped (logged).")
    for delta in report.rules:
        for sign, ids, shown in (("+", delta.gained, delta.gained_examples),
                                 ("-", delta.lost, delta.lost_examples)):
            if not ids:
                continue
            what = "gained" if sign == "+" else "lost"
            lines.append("")
            lines.append(f"{_label(delta)}: {sign}{len(ids):,} {what}"
                         + (f" ({len(shown)} shown)" if len(shown) < len(ids) else ""))
            for example in shown:
                lines.append(
                    f"  {sign} {format_time(example.date)} {example.where}"
                    + (f" {example.link}" if example.link else "")
                )
                lines.append(f"    matched: {', '.join(example.words)}")
                lines.append(f"    {example.excerpt}")
    if not report.gained and not report.lost:
        lines.append("No post would change: the proposed rules flag exactly the same posts.")
    return "\n".join(lines)


def _format_compact(report: BacktestReport) -> str:
    lines = [
        f"Backtest over {_scope(report)}, {_versions(report)}",
        (
            f"Hits: {report.hits_current:,} → {report.hits_proposed:,}"
            f" (+{report.gained:,} −{report.lost:,});"
            f" posts alerted {report.posts_current:,} → {report.posts_proposed:,}"
            + (f"; kept quiet {report.quiet_current:,} → {report.quiet_proposed:,}"
               if report.quiet_current or report.quiet_proposed else "")
        ),
    ]
    if report.errors:
        lines.append(f"{report.errors:,} post(s) could not be matched (logged).")
    changed = [d for d in report.rules if d.changed]
    for delta in changed:
        lines.append(
            f"{_label(delta)}: {delta.current:,} → {delta.proposed:,}"
            f" (+{len(delta.gained):,} −{len(delta.lost):,})"
        )
        for sign, shown in (("+", delta.gained_examples), ("−", delta.lost_examples)):
            for example in shown[:CHAT_EXAMPLES]:
                lines.append(f"  {sign} {example.link or example.where}: {example.excerpt}")
    same = len(report.rules) - len(changed)
    if not changed:
        lines.append("No post would change.")
    elif same:
        lines.append(f"{same} other rule(s) unchanged.")
    return "\n".join(lines)


# -- from the operator chat ----------------------------------------------------------------


class RulesSource(Protocol):
    """What the chat backtest needs of the live rules (bot.app.RulesHolder)."""

    morph: Morphology

    def matcher(self) -> Matcher:
        """The active matcher."""
        ...


CHAT_USAGE = (
    "Usage: /rule backtest [since 7d] FILE.yaml (a file next to the rules file), or "
    "/rule backtest [since 7d] with the proposed rules file pasted on the following lines."
)


class ChatBacktest:
    """`/rule backtest`: the proposed rules (YAML text or a file name) against the active ones.

    One backtest at a time; matching runs in a worker thread, so the bot keeps serving.
    The instance is OperatorCommands' `backtest`: `await it(args)` with the text after
    `/rule backtest`; `chat_backtest(proposed_text, since)` is the same without parsing.
    """

    def __init__(
        self,
        store: Store,
        holder: RulesSource,
        rules_dir: Path | None = None,
        *,
        jobs: int = 1,
        examples: int = EXAMPLES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """rules_dir: where proposed files may be named from (None: YAML text only)."""
        self._clock = clock
        self._store = store
        self._holder = holder
        self._rules_dir = rules_dir
        self._jobs = jobs
        self._examples = examples
        self._lock = asyncio.Lock()

    async def __call__(self, args: str) -> str:
        """`/rule backtest ARGS`: '[since 7d] FILE.yaml', or '[since 7d]' then YAML lines."""
        parsed = self.parse_args(args)
        if isinstance(parsed, str):
            return parsed
        return await self.chat_backtest(*parsed)

    def parse_args(self, args: str) -> tuple[str, datetime | None] | str:
        """(YAML text or file name, since) from the command's arguments, or a usage reply."""
        from bot.commands.handler import parse_duration

        body = args.lstrip()
        first, _, rest = body.partition("\n")
        if ":" in first:  # the YAML starts right after the command
            return body, None
        tokens = first.split()
        since: datetime | None = None
        lowered = [t.lower() for t in tokens]
        if "since" in lowered:
            at = lowered.index("since")
            width = 3 if at + 2 < len(tokens) and tokens[at + 1].isdigit() else 2
            period = " ".join(tokens[at + 1 : at + width])
            duration = parse_duration(period) if period else None
            if duration is None:
                return f"Bad period {period!r}: use a number and m/h/d/w, e.g. 7d.\n{CHAT_USAGE}"
            since = self._clock() - duration.delta
            del tokens[at : at + width]
        if not tokens and rest.strip():
            return rest, since
        if len(tokens) == 1 and not rest.strip() and tokens[0].lower().endswith((".yaml", ".yml")):
            return tokens[0], since
        return CHAT_USAGE

    async def chat_backtest(self, proposed_text: str, since: datetime | None) -> str:
        """The compact report, or why the proposal could not be tested (never raises)."""
        if self._lock.locked():
            return "A backtest is already running; try again when it has finished."
        async with self._lock:
            try:
                return await self._run(proposed_text, since)
            except Exception:
                logger.exception("chat backtest failed")
                return "Sorry, the backtest failed with an internal error (logged)."

    async def _run(self, proposed_text: str, since: datetime | None) -> str:
        loaded = self._source(proposed_text)
        if isinstance(loaded, str):
            return loaded
        source, name = loaded
        try:
            ruleset = parse_rules(source, name)
        except RulesError as exc:
            problems = [str(p) for p in exc.problems]
            shown = problems[:CHAT_MAX_PROBLEMS]
            more = len(problems) - len(shown)
            return "\n".join(
                [f"The proposed rules have {len(problems)} problem(s); nothing was tested:",
                 *shown, *([f"… and {more} more"] if more > 0 else [])]
            )
        proposed = await asyncio.to_thread(compiled_matcher, ruleset, self._holder.morph)
        report = await backtest(
            self._store, self._holder.matcher(), proposed, since,
            jobs=self._jobs, examples=self._examples,
        )
        return format_backtest(report, compact=True)

    def _source(self, proposed_text: str) -> tuple[str, str] | str:
        """(YAML text, name for problems), or a reply saying what is wrong."""
        text = proposed_text.strip()
        if not text:
            return "Nothing to test: send the proposed rules as YAML text or name a .yaml file."
        if "\n" in text or not text.lower().endswith((".yaml", ".yml")):
            return proposed_text, "proposed.yaml"
        if self._rules_dir is None:
            return "File names are not accepted here: send the proposed rules as YAML text."
        base = self._rules_dir.resolve()
        path = (base / text).resolve()
        if not path.is_relative_to(base):
            return f"Only files inside {self._rules_dir} can be tested."
        try:
            return path.read_text(encoding="utf-8"), text
        except (OSError, UnicodeDecodeError) as exc:
            return f"Cannot read {text}: {getattr(exc, 'strerror', None) or exc}"


def make_chat_backtest(
    store: Store, holder: RulesSource, rules_dir: Path | None
) -> ChatBacktest:
    """The `backtest` callable for OperatorCommands: `await it(args_after_the_command)`.

    Its `chat_backtest(yaml_text_or_file_name, since)` skips the argument parsing.
    """
    return ChatBacktest(store, holder, rules_dir)
