"""The one place that builds and wires everything: rules → matcher → store → alerts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.alerts.dispatcher import SEND_TIMEOUT, AlertDispatcher
from bot.alerts.router import AlertRouter
from bot.alerts.senders import ConsoleSender
from bot.backtest import make_chat_backtest
from bot.charts import Picture
from bot.commands import CommandHandler
from bot.commands.operator import OperatorCommands
from bot.compiled import compiled_matcher
from bot.matching import Matcher, Morphology, freeze_heap
from bot.pipeline import Pipeline
from bot.rules import Problem, RulesError, RuleSet, load_rules
from bot.rules.diff import diff_summary
from bot.settings import Settings
from bot.sources import SourceProblem, unreadable
from bot.sources.jsonl import read_labelled
from bot.storage import Store

if TYPE_CHECKING:
    from telethon import TelegramClient

logger = logging.getLogger(__name__)

CONSOLE = "console"


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


NOTICE_PROBLEMS = 10  # problems listed in a chat notice; `milwatch check` lists them all
NOTICE_LINE_CHARS = 300


def refused_notice(problems: list[str], path: Path) -> str:
    """The operator notice for a rules file that was not loaded: the first problems, each
    cut to a line, so that one broken save is one short message, not a dozen."""
    shown = [
        p if len(p) <= NOTICE_LINE_CHARS else p[: NOTICE_LINE_CHARS - 1] + "…"
        for p in problems[:NOTICE_PROBLEMS]
    ]
    lines = ["rules file NOT loaded, the last good rules stay active:", *shown]
    if len(problems) > len(shown):
        more = len(problems) - len(shown)
        lines.append(f"… and {more} more: `milwatch check --rules {path}` lists them all")
    return "\n".join(lines)


@dataclass(frozen=True)
class RuleReload:
    """What a reload did: the new version and a one-line diff, or the problems."""

    ok: bool
    version: str
    summary: str = ""
    problems: list[str] | None = None


class RulesHolder:
    """The active rule set and its compiled matcher, swapped whole on a good reload.

    reload_if_changed() may run in a worker thread (the live service reloads off the
    event loop: a large file takes seconds to read and compile); the swap itself happens
    under a lock, and a reload that an operator's edit (load()) overtook is dropped.
    """

    def __init__(self, path: Path, morph: Morphology, *, max_chars: int | None = None) -> None:
        self.path = path
        self.morph = morph
        self.max_chars = max_chars  # of a post, for matching (None: the matcher's default)
        self._ruleset: RuleSet | None = None
        self._matcher: Matcher | None = None
        self._mtime: tuple[float, int] | None = None
        self._lock = threading.Lock()
        self._generation = 0  # rule sets swapped in so far

    def load(self) -> RuleSet:
        """Load and compile the file; on RulesError the previous rules stay active."""
        stamp = self._stat()
        ruleset = self._read()
        matcher = self._compile(ruleset)
        with self._lock:
            # Swap both at once: a post is never matched against half-loaded rules.
            self._ruleset, self._matcher = ruleset, matcher
            self._generation += 1
            self._mtime = stamp
        freeze_heap()
        return ruleset

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def _read(self) -> RuleSet:
        """The validated file; every way reading it can fail is a RulesError."""
        try:
            return load_rules(self.path)
        except RulesError:
            raise
        except OSError as exc:
            raise self._failure(f"cannot read the rules file: {exc.strerror or exc}") from None
        except Exception as exc:
            # Deliberate catch-all: whatever a file does to the loader, the service keeps
            # its last good rules (or refuses to start) with a message, never a traceback.
            logger.debug("reading %s failed", self.path, exc_info=True)
            raise self._failure(f"cannot load the rules: {type(exc).__name__}: {exc}") from None

    def _compile(self, ruleset: RuleSet) -> Matcher:
        """The matcher for a validated rule set; a failure is a RulesError as well."""
        try:
            return compiled_matcher(ruleset, self.morph, max_chars=self.max_chars)
        except Exception as exc:
            # Same boundary as _read: a rule set that cannot be compiled is not applied.
            logger.debug("compiling %s failed", self.path, exc_info=True)
            raise self._failure(f"cannot compile the rules: {type(exc).__name__}: {exc}") from None

    def _failure(self, message: str) -> RulesError:
        return RulesError([Problem(str(self.path), 1, 1, message)])

    def reload_if_changed(self) -> RuleReload | None:
        """Reload when the file changed; a broken file keeps the last good rules.

        Never raises: every failure comes back as a RuleReload with the problems. A file
        that changes while it is read (a save in progress) is read again next time.
        """
        with self._lock:
            generation, known, old = self._generation, self._mtime, self._ruleset
        stamp = self._stat()
        if stamp == known:
            return None
        failure: RulesError | None = None
        matcher: Matcher | None = None
        try:
            ruleset = self._read()
            if old is None or ruleset.version != old.version:
                matcher = self._compile(ruleset)
        except RulesError as exc:
            failure = exc
        with self._lock:
            if self._generation != generation or self._stat() != stamp:
                # An edit was applied meanwhile, or the file is still being written:
                # judge the file as it is next time.
                return None
            self._mtime = stamp
            if failure is not None:
                problems = [str(p) for p in failure.problems]
                return RuleReload(ok=False, version=old.version if old else "", problems=problems)
            if matcher is None:
                return None  # the same rules (a touch, an edit already applied)
            self._ruleset, self._matcher = ruleset, matcher
            self._generation += 1
        return RuleReload(ok=True, version=ruleset.version, summary=diff_summary(old, ruleset))

    @property
    def ruleset(self) -> RuleSet:
        """The active rule set (load() must have succeeded once)."""
        if self._ruleset is None:
            raise RuntimeError("rules not loaded")
        return self._ruleset

    def matcher(self) -> Matcher:
        """The active matcher; the pipeline asks for it per post."""
        if self._matcher is None:
            raise RuntimeError("rules not loaded")
        return self._matcher


@dataclass
class OfflineApp:
    """Everything the offline pipeline needs, built in one place."""

    store: Store
    rules: RulesHolder
    pipeline: Pipeline
    dispatcher: AlertDispatcher
    commands: CommandHandler
    console: ConsoleSender

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()


async def build_offline_app(
    rules_path: Path,
    db_path: Path,
    out: TextIO,
    *,
    color: bool = False,
    morph: Morphology | None = None,
    clock: Callable[[], datetime] = utc_now,
    operator: bool = False,
) -> OfflineApp:
    """Wire rules, store, pipeline, console alerts and commands; raises RulesError early.

    operator=True also answers the operator commands, which EDIT the file at rules_path.
    """
    holder = RulesHolder(rules_path, morph or Morphology())
    ruleset = holder.load()  # refuse to start on a broken rules file
    store = await Store.open(db_path, clock=clock)
    await store.record_ruleset(ruleset.version, ruleset.source, "file", None)
    # Offline, every route of the rules file ends at the console.
    router = AlertRouter({name: CONSOLE for name in ruleset.routes}, "default")
    console = ConsoleSender(out, color=color)
    dispatcher = AlertDispatcher(store, {CONSOLE: console}, router, clock)
    pipeline = Pipeline(store, holder.matcher, router)
    operator_commands = OperatorCommands(
        rules_path, holder, store, clock, backtest=make_chat_backtest(store, holder, rules_path.parent)
    ) if operator else None
    commands = CommandHandler(
        store, clock, rules_summary=lambda: holder.ruleset.summary(), operator=operator_commands
    )
    return OfflineApp(store, holder, pipeline, dispatcher, commands, console)


async def run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay the seeds through the whole pipeline, print cards, /recent and a summary."""
    seeds: Path = args.seeds
    db_path: Path = args.db
    bad_input = unreadable(seeds)
    if bad_input:
        print(f"{seeds}: {bad_input}", file=err)
        return 2
    for suffix in ("", "-wal", "-shm"):
        # The demo database is disposable: every demo starts from an empty store.
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    rules: Path = args.rules
    if args.interactive:
        # Operator commands in the console edit a disposable copy, never the real file.
        copy = db_path.with_name(f"{db_path.stem}-rules.yaml")
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rules, copy)
        except OSError as exc:
            print(f"{rules}: cannot copy the rules for the console: {exc.strerror or exc}", file=err)
            return 2
        rules = copy
    try:
        app = await build_offline_app(
            rules, db_path, out, color=args.color or out.isatty(), operator=args.interactive
        )
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        print("milwatch: the rules file is broken; nothing was started", file=err)
        return 2
    try:
        return await _replay_and_report(app, seeds, args, out, err)
    finally:
        await app.close()


async def _replay_and_report(
    app: OfflineApp, seeds: Path, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    problems: list[SourceProblem] = []

    def report(problem: SourceProblem) -> None:
        problems.append(problem)
        print(f"warning: {problem}", file=err)

    ruleset = app.rules.ruleset
    print(f"milwatch demo — {ruleset.summary()}", file=out)
    print(f"replaying {seeds} into {args.db}\n", file=out)
    posts = with_hits = quiet = 0
    agree = 0
    labelled = list(read_labelled(seeds, report))
    for post, expected in labelled:
        result = await app.pipeline.ingest(post)
        posts += 1
        with_hits += bool(result.hits)
        alerting = frozenset(h.topic for h in result.hits if h.alerts)
        quiet += bool(result.hits) and not alerting
        if result.error:
            print(f"warning: post {post.channel}/{post.msg_id} skipped: {result.error}", file=err)
        agree += alerting == expected
        report_ = await app.dispatcher.flush()
        if report_.sent:
            print("", file=out)

    # Replaying the same posts must change nothing: ingest is idempotent.
    again = 0
    for post, _ in labelled:
        again += (await app.pipeline.ingest(post)).alerts_enqueued
    await app.dispatcher.flush()

    print("— /recent —", file=out)
    print(await app.commands.handle("/recent"), file=out)
    await _demo_health_and_chart(app, Path(args.db), out)
    counts = await app.store.counts()
    # Cards, not outbox rows: a post that hit three rules is one card (and three rows).
    print(
        f"\nsummary: {posts} posts read, {with_hits} with hits ({counts['hits']} rule hits), "
        f"{app.console.cards} cards printed, {quiet} kept quiet; replayed again: {again} new alerts; the matcher "
        f"agrees with the seed labels on {agree}/{posts} posts; {len(problems)} bad input line(s)",
        file=out,
    )
    if args.interactive:
        await _interactive(app, out)
    return 0


async def _demo_health_and_chart(app: OfflineApp, db_path: Path, out: TextIO) -> None:
    """/channels as of the newest post replayed, and the stats chart of the replayed days."""
    from bot.charts import ChartsUnavailable, chart_data, render_png
    from bot.health.channels import channels_report

    span = await app.store.post_date_range()
    if span is None:
        return
    first, newest = span
    # The demo posts are history: judged at their own time, not years later.
    print(f"\n— /channels, as of the newest post replayed ({newest:%Y-%m-%d %H:%M} UTC) —", file=out)
    print(await channels_report(app.store, newest + timedelta(minutes=1)), file=out)
    chart = db_path.with_name(f"{db_path.stem}-stats.png")
    try:
        data = await chart_data(app.store, first, newest + timedelta(seconds=1))
        chart.write_bytes(render_png(data))
    except ChartsUnavailable as exc:
        print(f"\nchart skipped: {exc}", file=out)
        return
    except OSError as exc:
        print(f"\nchart not written: {chart}: {exc.strerror or exc}", file=out)
        return
    print(
        f"\nchart: {chart} (hits per day per topic and the top channels; open it in any image"
        " viewer; `milwatch stats --png FILE` draws one from any database)",
        file=out,
    )


async def _interactive(app: OfflineApp, out: TextIO) -> None:
    """A tiny REPL over the same command code the bot uses."""
    print(
        "\nType analyst commands (/recent, /search TEXT, /stats, /stats 7d chart, /channels, /help)"
        " or operator commands "
        "(/rule list, /rule test TEXT, /term add …, /mute …); Ctrl-D or /quit ends the session.\n"
        f"Operator edits change the copy {app.rules.path}, not the original rules file.",
        file=out,
    )
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "milwatch> ")
        except EOFError:
            break
        command = line.strip()
        if command.lower() in ("/quit", "/exit"):
            break
        if command:  # an empty line (Enter once too often) just asks again
            reply = await app.commands.answer(command, role="operator", author="console")
            if isinstance(reply, Picture):
                picture = app.rules.path.with_name("demo-chart.png")
                picture.write_bytes(reply.png)
                reply = f"{reply.caption}\n(chart written to {picture})"
            print(reply, file=out)


# -- live service ------------------------------------------------------------------
DISPATCH_INTERVAL = 1.0  # seconds between outbox flushes
RELOAD_INTERVAL = 5.0  # seconds between checks of the rules file
HEARTBEAT_INTERVAL = 30.0
RETRY_INTERVAL = 5.0  # seconds between retry rounds of posts that failed to store
# An alert waiting longer than this is reported to the operator (once per episode).
DELIVERY_DELAY_NOTICE = timedelta(minutes=15)


def live_routes(ruleset: RuleSet, settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Route name → "telegram:<chat>" for every route of the rules file, and the problems."""
    routes: dict[str, str] = {}
    problems: list[str] = []
    for name, value in ruleset.routes.items():
        chat = settings.destination(value)
        if not chat:
            what = "ALERT_CHAT_ID" if value == "default" else f"ROUTE_{value[4:].upper()}" if value.startswith("env:") else value
            problems.append(f"route {name!r} ({value}) has no chat: set {what} in .env")
            continue
        routes[name] = f"telegram:{chat}"
    return routes, problems


async def run_login(
    settings: Settings,
    out: TextIO,
    err: TextIO,
    *,
    make_client: Callable[[Settings], TelegramClient] | None = None,
    input: Callable[[str], str] = input,
) -> int:
    """`milwatch login`: the one interactive step, writing the user session file.

    make_client and input exist for tests (default: the real client, the terminal).
    """
    from bot.settings import SettingsError
    from bot.telegram.clients import interactive_login, make_user_client
    from bot.telegram.errors import FatalTelegramError

    missing = [m for m in ("TG_API_ID", "TG_API_HASH") if not getattr(settings, m.lower())]
    if missing:
        print(f"milwatch login: set {', '.join(missing)} in .env first (see config/.env.example)", file=err)
        return 2
    try:
        who = await interactive_login(settings, input, make_client=make_client or make_user_client)
    except (FatalTelegramError, SettingsError) as exc:
        print(f"milwatch login: {exc}", file=err)
        return 2
    except (OSError, EOFError) as exc:  # EOFError: a connection cut mid-handshake
        print(f"milwatch login: cannot reach Telegram: {type(exc).__name__}: {exc}; "
              "nothing was saved, try again", file=err)
        return 1
    print(f"logged in as {who}; session saved under {settings.data_dir}/ (mode 0600)", file=out)
    return 0


async def run_live(
    settings: Settings,
    out: TextIO,
    err: TextIO,
    *,
    make_clients: Callable[[Settings], tuple[TelegramClient, TelegramClient]] | None = None,
    stop: asyncio.Event | None = None,
    dispatch_interval: float = DISPATCH_INTERVAL,
    reload_interval: float = RELOAD_INTERVAL,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
    retry_interval: float = RETRY_INTERVAL,
    send_timeout: float = SEND_TIMEOUT,
    delay_notice: timedelta = DELIVERY_DELAY_NOTICE,
) -> int:
    """`milwatch run`: listener, alert sender and command handler in one process.

    The keyword arguments exist for tests; production passes none of them.
    make_clients builds the (user, bot) clients, not yet connected (default: the real
    ones, with their session files under settings.data_dir). stop, when given, stops the
    service once set, and no signal handlers are installed (default: a private event set
    by SIGINT/SIGTERM). The intervals and send_timeout are in seconds.
    """
    import signal

    from bot.health import write_heartbeat
    from bot.health.channels import ChannelObservation
    from bot.health.monitor import HealthMonitor, ServiceFacts
    from bot.logs import Redactor
    from bot.metrics import (
        CountedPipeline,
        CountedRateLimiter,
        MetricsServer,
        ServiceCounters,
        serve_metrics,
        timed_matchers,
    )
    from bot.telegram.bot_commands import BotCommandAdapter
    from bot.telegram.clients import (
        check_credentials,
        connect_authorized,
        make_bot_client,
        make_user_client,
        user_session_path,
    )
    from bot.telegram.errors import FatalTelegramError
    from bot.telegram.listener import ChannelListener
    from bot.telegram.sender import TelegramSender

    missing = check_credentials(settings)
    if missing:
        print(f"milwatch run: missing settings {', '.join(missing)}: put them in .env (see config/.env.example)", file=err)
        return 2
    if not settings.channels:
        print("milwatch run: CHANNELS is empty: list the channels to watch in .env", file=err)
        return 2
    session = user_session_path(settings)
    if not session.exists():
        # Checked before any connection: the service never prompts, and a missing
        # session is an operator step, not a network problem.
        print(
            f"milwatch run: no Telegram user session at {session}: run `milwatch login` once "
            "(docker: `docker compose run --rm milwatch login`), then start again",
            file=err,
        )
        return 2
    holder = RulesHolder(
        settings.rules_path, Morphology(use_ukrainian=settings.use_ukrainian),
        max_chars=settings.match_max_chars,
    )
    try:
        ruleset = holder.load()
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        print("milwatch run: the rules file is broken; nothing was started", file=err)
        return 2
    routes, route_problems = live_routes(ruleset, settings)
    if route_problems or "default" not in routes:
        for message in route_problems or ["route 'default' has no chat: set ALERT_CHAT_ID in .env"]:
            print(f"milwatch run: {message}", file=err)
        return 2

    # Errors quoted to the operator (stderr, notices) never show a secret, like the log.
    redact = Redactor((settings.bot_token, settings.tg_api_hash))
    if make_clients is None:
        user, bot = make_user_client(settings), make_bot_client(settings)
    else:
        user, bot = make_clients(settings)
    try:
        await connect_authorized(user, "user account")
        await connect_authorized(bot, "bot", bot_token=settings.bot_token)
    except FatalTelegramError as exc:
        print(redact(f"milwatch run: {exc}"), file=err)
        await _disconnect(user, bot)
        return 2
    except (OSError, EOFError) as exc:  # EOFError: a connection cut mid-handshake
        print(redact(f"milwatch run: cannot reach Telegram: {type(exc).__name__}: {exc}"), file=err)
        await _disconnect(user, bot)
        return 1

    counters = ServiceCounters()
    metrics: MetricsServer | None = None
    if settings.metrics_port is not None:
        try:
            metrics = serve_metrics(counters, settings.metrics_port, settings.metrics_addr)
        except OSError as exc:
            print(
                f"milwatch run: METRICS_PORT {settings.metrics_port}: cannot listen on "
                f"{settings.metrics_addr}: {exc.strerror or exc}",
                file=err,
            )
            await _disconnect(user, bot)
            return 2
    store = await Store.open(settings.database)
    await store.record_ruleset(ruleset.version, ruleset.source, "file", None)
    operator_chat = settings.operator_chat or settings.alert_chat
    router = AlertRouter(routes, "default")
    sender = TelegramSender(
        bot, user, settings.forward_originals, operator_chat=operator_chat, chunk_spacing=1.05
    )
    # What makes `milwatch health` fail (the service runs but cannot do its job), and
    # what it only reports; written with every heartbeat.
    problems: dict[str, str] = {}
    health: dict[str, list[str]] = {"problems": [], "warnings": [], "summary": []}

    async def alarm(text: str) -> None:
        """Tell the operator through whatever still works (the log always has it)."""
        logger.warning("%s", text)
        where = await sender.alarm(text)
        if where is None:
            logger.critical("could not tell the operator through Telegram: %s", text)

    def beat() -> None:
        detail = "; ".join(
            [f"{beat_counts.get('posts', 0)} posts, {beat_counts.get('alerts', 0)} alerts"]
            + health["summary"]
        )
        try:
            write_heartbeat(
                settings.data_dir,
                utc_now(),
                detail,
                [*problems.values(), *health["problems"]],
                health["warnings"],
            )
        except OSError as exc:
            # A full disk: the heartbeat goes stale, so `milwatch health` fails, which is
            # right; the service goes on with what it can still do.
            logger.error("cannot write the heartbeat in %s: %s", settings.data_dir, exc)

    beat_counts: dict[str, int] = {}

    async def delivery_down(reason: str) -> None:
        problems["delivery"] = f"alert delivery stopped: {reason}"
        beat()
        await alarm(
            "milwatch: alert delivery STOPPED; new alerts wait in the outbox and go out once "
            f"this is fixed and milwatch is restarted.\n{reason}"
        )

    dispatcher = AlertDispatcher(
        store,
        {"telegram": sender},
        router,
        utc_now,
        limiter=CountedRateLimiter(utc_now, counters=counters),
        send_timeout=send_timeout,
        on_sender_down=delivery_down,
    )
    pipeline = CountedPipeline(
        store, timed_matchers(holder.matcher, counters), router, clock=utc_now, counters=counters
    )
    listener = ChannelListener(user, store, pipeline, settings, utc_now)
    monitor = HealthMonitor(
        store, counters, utc_now, settings.database.parent, delivery_delay=delay_notice
    )
    await monitor.start()
    started_at = utc_now()
    # The rules file as the service last found it: its problems, and since when.
    rules_broken: list[str] = []
    rules_broken_since: list[datetime] = []
    async def announce(text: str) -> None:
        if operator_chat:
            await sender.notify(operator_chat, text)

    operator_commands = OperatorCommands(
        settings.rules_path, holder, store, utc_now,
        backtest=make_chat_backtest(store, holder, settings.rules_path.parent),
        announce=announce if operator_chat else None,
    )
    commands = CommandHandler(
        store, utc_now, rules_summary=lambda: holder.ruleset.summary(), operator=operator_commands
    )
    adapter = BotCommandAdapter(bot, commands, settings.analyst_ids, settings.operator_ids)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    async def dispatch_forever() -> None:
        while not stop.is_set():
            try:
                counters.dispatched(await dispatcher.flush())
            except Exception:
                # The outbox keeps every alert; a failed flush is retried next tick.
                logger.exception("alert dispatch failed")
            await _wait(stop, dispatch_interval)

    async def reload_once() -> None:
        # In a worker thread: reading and compiling a large file takes seconds, during
        # which posts, alerts and commands go on being handled.
        result = await asyncio.to_thread(holder.reload_if_changed)
        if result is not None:
            counters.rules_reloaded(result.ok)
            rules_broken[:] = [] if result.ok else (result.problems or ["unreadable"])
            rules_broken_since[:] = [] if result.ok else rules_broken_since or [utc_now()]
            if result.ok:
                await store.record_ruleset(result.version, holder.ruleset.source, "file", None)
                text = f"rules reloaded: version {result.version}: {result.summary}"
            else:
                text = refused_notice(result.problems or [], holder.path)
            logger.warning("%s", text)
            if operator_chat:
                await sender.notify(operator_chat, text)

    async def reload_forever() -> None:
        while not stop.is_set():
            try:
                await reload_once()
            except Exception:
                # A reload that fails to be recorded or announced must not end the
                # service: the rules in use stay, and the next tick tries again.
                logger.exception("rules reload failed")
            await _wait(stop, reload_interval)

    async def retry_forever() -> None:
        while not stop.is_set():
            try:
                await pipeline.retry_due()
            except Exception:
                # The queue keeps every failed post; the next round tries again.
                logger.exception("retrying posts that failed to store failed")
            for failure in pipeline.take_dead_letters():
                await alarm(
                    f"milwatch: post {failure.channel}/{failure.msg_id} could not be stored "
                    f"after {failure.attempts} attempts and is kept as dead letter "
                    f"#{failure.failure_id}: {failure.last_error}\n"
                    "`milwatch status` lists dead letters; `milwatch replay` tries them again."
                )
            await _wait(stop, retry_interval)

    async def heartbeat_forever() -> None:
        while not stop.is_set():
            try:
                beat_counts.update(await store.counts())
                observations = [
                    ChannelObservation(
                        channel=h.channel,
                        title=h.title,
                        last_post_at=h.last_post_at,
                        last_msg_id=h.last_msg_id,
                        last_error=h.last_error,
                        last_read_at=h.last_sweep_at,
                        blocked=h.blocked,
                    )
                    for h in await listener.health()
                ]
                facts = ServiceFacts(
                    started_at=started_at,
                    reconnects=listener.stats.reconnects,
                    disconnected_since=listener.stats.disconnected_since,
                    listener_flood_wait=listener.stats.flood_wait_seconds,
                    rules_version=holder.ruleset.version,
                    rules_broken=list(rules_broken),
                    rules_broken_since=rules_broken_since[0] if rules_broken_since else None,
                )
                checked = await monitor.check(observations, facts)
                health.update(
                    problems=checked.problems,
                    warnings=checked.warnings,
                    summary=[checked.summary()],
                )
                for notice in checked.notices:
                    await alarm(notice)
            except Exception:
                # The health check is a boundary of its own: when it fails (a bug, a
                # database that cannot be read) the service goes on, and the log has it.
                logger.exception("health check failed")
            beat()
            await _wait(stop, heartbeat_interval)

    await adapter.start()
    print(f"milwatch running: {len(settings.channels)} channel(s), {ruleset.summary()}", file=out)
    if metrics is not None:
        host, port = metrics.address
        print(f"metrics: http://{host}:{port}/metrics", file=out)
    dispatching = asyncio.ensure_future(dispatch_forever())
    tasks = {
        asyncio.ensure_future(listener.run()),
        dispatching,
        asyncio.ensure_future(reload_forever()),
        asyncio.ensure_future(retry_forever()),
        asyncio.ensure_future(heartbeat_forever()),
        asyncio.ensure_future(bot.run_until_disconnected()),
    }
    if settings.retention_days:
        tasks.add(asyncio.ensure_future(_prune_forever(store, settings.retention_days, stop)))
    stopper = asyncio.ensure_future(stop.wait())
    code = 0
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            failure = None if task is stopper else task.exception()
            if failure is not None:
                print(redact(f"milwatch run: stopping: {failure}"), file=err)
                code = 2 if isinstance(failure, FatalTelegramError) else 1
                problems["stopped"] = redact(f"milwatch stopped: {failure}")
                beat()
                await alarm(redact(f"milwatch STOPPED: {failure}"))
    finally:
        # Clean shutdown: stop reading, finish (and record) the send in progress but
        # start no other, keep the outbox. Cancelling a send between Telegram's answer
        # and the outbox record would send that card again at the next start.
        stop.set()
        dispatcher.request_stop()
        await listener.stop()
        await asyncio.wait({dispatching}, timeout=send_timeout + 5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        await _disconnect(user, bot)
        await store.close()
        if metrics is not None:
            metrics.close()
        print("milwatch stopped; unsent alerts stay in the outbox", file=out)
    return code


PRUNE_INTERVAL = 86400.0  # seconds between two rounds of retention


async def _prune_forever(store: Store, days: int, stop: asyncio.Event) -> None:
    """RETENTION_DAYS: blank the texts of old posts without hits, at start and daily."""
    while not stop.is_set():
        try:
            count = await store.prune_post_texts(utc_now() - timedelta(days=days))
            if count:
                logger.info("retention: blanked the texts of %d post(s) older than %d days", count, days)
        except Exception:
            # Retention can wait a day; it must never stop the service.
            logger.exception("retention failed")
        await _wait(stop, PRUNE_INTERVAL)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, waking early when the service stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _disconnect(*clients: object) -> None:
    for client in clients:
        try:
            await client.disconnect()  # type: ignore[attr-defined]
        except Exception:
            # Shutdown must finish even when a connection is already broken.
            logger.debug("disconnect failed", exc_info=True)
