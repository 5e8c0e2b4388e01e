"""Analyst commands (/recent, /search, /stats, /channels, /rules, /help), for console and bot."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.alerts.card import (
    build_excerpt,
    build_post_card,
    display_channel,
    format_time,
    render_excerpt,
)
from bot.charts import ChartsUnavailable, Picture, stats_picture
from bot.domain import Post, StoredHit
from bot.feedback import format_feedback
from bot.health.channels import channels_report
from bot.storage import Store, fold_text

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DEFAULT_RECENT = 5
MAX_RECENT = 50
SEARCH_LIMIT = 10
MAX_QUERY_CHARS = 200  # a phrase to find, not a post: longer is a paste gone wrong
DEFAULT_STATS_WINDOW = "24h"
MAX_WINDOW = timedelta(days=366)
EXCERPT_CHARS = 160

_DURATION = re.compile(r"^(\d{1,4})\s*([a-zа-я]+)$", re.IGNORECASE)
_UNIT_SECONDS = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes", "мин"), 60),
    **dict.fromkeys(("h", "hour", "hours", "ч"), 3600),
    **dict.fromkeys(("d", "day", "days", "д"), 86400),
    **dict.fromkeys(("w", "week", "weeks", "н"), 7 * 86400),
}
_UNIT_LABEL = {60: "m", 3600: "h", 86400: "d", 7 * 86400: "w"}
_CHART_WORDS = frozenset({"chart", "png", "picture", "график"})
_CHANNEL_NAME = re.compile(r"^@[A-Za-z0-9_]{1,64}$|^@-?\d{1,20}$")

HELP_TEXT = """Commands:
/recent [N] [topic|@channel] - latest posts with hits, each with its rules (N: 1-50, default 5)
/search TEXT [since 24h|7d] - posts containing TEXT (case- and ё-insensitive)
/stats [24h|7d] - posts read, hits per topic and channel, alerts by status (default 24h)
/stats [7d] chart - the same as a picture: hits per day per topic, top channels
/stats feedback [30d] - precision per rule from the ✅/❌ marks on alert cards, worst first
/channels - each channel's health, worst first: error, silent, quiet, ok (by its own rhythm)
/help - this list"""
RULES_HELP = "\n/rules - summary of the active rules"
OPERATOR_HELP = """
Operator commands (they edit the rules file; every edit is validated, versioned and applied at once):
/rule list - every rule: on/off, topic, severity, mutes
/rule show ID - a rule's condition, severity, route, topic and its concepts' terms
/rule test TEXT - would TEXT alert? which rules, which words in which forms, where
/rule enable ID, /rule disable ID - switch a rule on or off
/rule backtest [ARGS] - how the rules file would have done on stored posts
/term add CONCEPT [ru|uk|en|any] WORD... - add terms ("quoted" = exact form; commas separate phrases)
/term remove CONCEPT WORD... - remove terms from every language list of the concept
/mute @channel|RULE_ID [for 2h] - record hits but send no alerts (no period: until /unmute); /mute lists mutes
/unmute @channel|RULE_ID - send alerts again
/rules history [N] - recorded versions: when, from the file or the chat, who
/rules rollback VERSION - put an earlier version back (as a new chat edit)"""

# Operator commands: /rule …, /term …, /mute, /unmute, /rules history|rollback.
OPERATOR_COMMAND_NAMES = frozenset({"rule", "term", "mute", "unmute"})
_RULES_OPERATOR_ARGS = ("history", "rollback")


def operator_command(text: str) -> str | None:
    """'/rule show', '/term add', '/mute', '/rules rollback' … for operator commands, else None."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, *rest = stripped.split(None, 2)
    name = head[1:].split("@", 1)[0].lower()
    sub = rest[0].lower()[:32] if rest else ""
    if name in ("rule", "term"):
        return f"/{name} {sub}".rstrip()
    if name in ("mute", "unmute"):
        return f"/{name}"
    if name == "rules" and sub in _RULES_OPERATOR_ARGS:
        return f"/rules {sub}"
    return None


class OperatorLike(Protocol):
    """What CommandHandler needs from bot.commands.operator.OperatorCommands."""

    def handle(self, text: str, author: str | None, private: bool = False) -> Awaitable[str]:
        """Run one operator command; always a reply. private: typed in a private chat."""
        ...


@dataclass(frozen=True)
class Duration:
    """A look-back window as typed ('7d') and as a timedelta."""

    label: str
    delta: timedelta


@dataclass(frozen=True)
class RecentCommand:
    """/recent: the latest posts with hits, optionally filtered."""

    limit: int = DEFAULT_RECENT
    topic: str | None = None
    channel: str | None = None
    clamped: bool = False  # the requested N was above MAX_RECENT


@dataclass(frozen=True)
class SearchCommand:
    """/search: posts containing a text."""

    query: str
    since: Duration | None = None


@dataclass(frozen=True)
class StatsCommand:
    """/stats: activity over a window (chart: as a picture)."""

    window: Duration
    chart: bool = False


@dataclass(frozen=True)
class FeedbackStatsCommand:
    """/stats feedback: precision per rule from the analysts' marks (all time or a window)."""

    since: Duration | None = None


@dataclass(frozen=True)
class HelpCommand:
    """/help (also /start)."""


@dataclass(frozen=True)
class RulesCommand:
    """/rules: summary of the active rule set."""


@dataclass(frozen=True)
class ChannelsCommand:
    """/channels: reading state of every channel."""


@dataclass(frozen=True)
class CommandError:
    """The input could not be parsed; message says why and how to fix it."""

    message: str
    show_help: bool = False  # append the command list to the reply


Command = (
    RecentCommand
    | SearchCommand
    | StatsCommand
    | FeedbackStatsCommand
    | HelpCommand
    | RulesCommand
    | ChannelsCommand
)


def parse_duration(token: str) -> Duration | None:
    """'30m', '24h', '7d', '2w', '7 days' (or мин/ч/д/н) to a Duration; None if invalid."""
    match = _DURATION.match(token.strip())
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2).lower()
    seconds = _UNIT_SECONDS.get(unit)
    if seconds is None or amount <= 0:
        return None
    delta = timedelta(seconds=amount * seconds)
    if delta > MAX_WINDOW:
        return None
    return Duration(f"{amount}{_UNIT_LABEL[seconds]}", delta)


def parse_command(text: str) -> Command | CommandError:
    """Parse one command line; pure, no I/O."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return CommandError("Commands start with '/'.", show_help=True)
    head, _, rest = stripped.partition(" ")
    # Telegram appends the bot's name in groups: /recent@milwatch_bot
    name = head[1:].split("@", 1)[0].lower()
    args = rest.split()
    if name == "recent":
        return _parse_recent(args)
    if name == "search":
        return _parse_search(args)
    if name == "stats":
        return _parse_stats(args)
    if name in ("help", "start"):
        return HelpCommand()
    if name == "rules":
        return RulesCommand()
    if name == "channels":
        return ChannelsCommand()
    return CommandError(f"Unknown command /{name}.", show_help=True)


def _parse_recent(args: list[str]) -> RecentCommand | CommandError:
    usage = "Usage: /recent [N] [topic|@channel]"
    limit: int | None = None
    topic: str | None = None
    channel: str | None = None
    for arg in args:
        if arg.lstrip("-").isdigit():
            if limit is not None:
                return CommandError(f"N given twice ({limit} and {arg}). {usage}")
            limit = int(arg)
            if limit < 1:
                return CommandError(f"N must be between 1 and {MAX_RECENT}, got {arg}. {usage}")
        elif arg.startswith("@"):
            if channel is not None:
                return CommandError(f"Only one @channel is allowed. {usage}")
            if not _CHANNEL_NAME.match(arg):
                return CommandError(f"{arg!r} is not a channel name. {usage}")
            channel = arg[1:]
        else:
            if topic is not None:
                return CommandError(
                    f"Only one topic is allowed (got {topic!r} and {arg!r}). {usage}"
                )
            topic = arg
    wanted = DEFAULT_RECENT if limit is None else limit
    return RecentCommand(
        limit=min(wanted, MAX_RECENT), topic=topic, channel=channel, clamped=wanted > MAX_RECENT
    )


def _parse_search(args: list[str]) -> SearchCommand | CommandError:
    usage = "Usage: /search TEXT [since 24h|7d]"
    since: Duration | None = None
    lowered = [arg.lower() for arg in args]
    # "since" is only special as the second- or third-last word ("since 7d",
    # "since 7 days"), so a query may still contain the word elsewhere.
    for tail in (2, 3):
        if tail == 3 and not (len(args) >= 3 and args[-2].isdigit()):
            continue
        if len(args) >= tail and lowered[-tail] == "since":
            period = " ".join(args[-tail + 1 :])
            since = parse_duration(period)
            if since is None:
                return CommandError(
                    f"Bad period {period!r}: use a number and m/h/d/w, e.g. 24h or 7d. {usage}"
                )
            args = args[:-tail]
            break
    else:
        if args and lowered[-1] == "since":
            return CommandError(f"'since' needs a period such as 24h or 7d. {usage}")
    query = " ".join(args)
    if not query:
        return CommandError(f"Nothing to search for. {usage}")
    if len(query) < 2:
        return CommandError(f"Search text must be at least 2 characters. {usage}")
    if len(query) > MAX_QUERY_CHARS:
        return CommandError(
            f"Query too long: {len(query):,} characters; search for a phrase of at most "
            f"{MAX_QUERY_CHARS}. {usage}"
        )
    return SearchCommand(query=query, since=since)


def _parse_stats(args: list[str]) -> StatsCommand | FeedbackStatsCommand | CommandError:
    usage = "Usage: /stats [24h|7d] [chart] or /stats feedback [30d]"
    if args and args[0].lower() == "feedback":
        if len(args) > 3:
            return CommandError(f"Too many arguments. {usage}")
        if len(args) == 1:
            return FeedbackStatsCommand()
        period = " ".join(args[1:])
        since = parse_duration(period)
        if since is None:
            return CommandError(
                f"Bad period {period!r}: use a number and m/h/d/w, e.g. 30d. {usage}"
            )
        return FeedbackStatsCommand(since=since)
    chart = any(arg.lower() in _CHART_WORDS for arg in args)
    args = [arg for arg in args if arg.lower() not in _CHART_WORDS]
    if len(args) > 2:
        return CommandError(f"Too many arguments. {usage}")
    label = " ".join(args) if args else DEFAULT_STATS_WINDOW
    window = parse_duration(label)
    if window is None:
        return CommandError(f"Bad period {label!r}: use a number and m/h/d/w, e.g. 7d. {usage}")
    return StatsCommand(window=window, chart=chart)


def _folded_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Offsets in the ORIGINAL text of every case/ё-insensitive occurrence of query."""
    needle = fold_text(query)
    if not needle:
        return []
    owners: list[int] = []
    pieces: list[str] = []
    for index, char in enumerate(text):
        folded = fold_text(char)  # may be longer than one char (ß -> ss)
        pieces.append(folded)
        owners.extend([index] * len(folded))
    haystack = "".join(pieces)
    spans: list[tuple[int, int]] = []
    start = haystack.find(needle)
    while start != -1:
        spans.append((owners[start], owners[start + len(needle) - 1] + 1))
        start = haystack.find(needle, start + len(needle))
    return spans


def _short_excerpt(text: str, spans: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
    return render_excerpt(build_excerpt(text, spans, EXCERPT_CHARS), one_line=True).strip()


def _post_head(post: Post) -> str:
    return f"{format_time(post.date)} · {display_channel(post.channel)}"


class CommandHandler:
    """Answers analyst commands with plain text (the Telegram layer escapes it)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rules_summary: Callable[[], str] | None = None,
        operator: OperatorLike | None = None,
    ) -> None:
        """rules_summary, when given, enables /rules; operator enables the operator commands."""
        self._store = store
        self._clock = clock
        self._rules_summary = rules_summary
        self._operator = operator

    @property
    def store(self) -> Store:
        """The store the commands read (the bot records feedback marks in it too)."""
        return self._store

    def help_text(self, role: str = "analyst") -> str:
        """The command list, including /rules when available and, for operators, theirs."""
        text = HELP_TEXT + (RULES_HELP if self._rules_summary else "")
        if role == "operator" and self._operator is not None:
            text += "\n" + OPERATOR_HELP
        return text

    async def handle(
        self, text: str, role: str = "analyst", author: str | None = None, private: bool = False
    ) -> str:
        """Parse and run one command; always returns a text reply, never raises.

        role is "analyst" or "operator"; operator commands (/rule, /term, /mute, /unmute,
        /rules history|rollback) are refused for analysts. author names who made an edit;
        private says the command was typed in a private chat with the bot. A picture
        answer (/stats chart) is given as its caption here; answer() gives the picture.
        """
        reply = await self.answer(text, role, author, private)
        if isinstance(reply, Picture):
            return f"{reply.caption}\n(a chart: the bot sends it as a picture)"
        return reply

    async def answer(
        self, text: str, role: str = "analyst", author: str | None = None, private: bool = False
    ) -> str | Picture:
        """handle(), but a command that answers with a picture gives the Picture."""
        wanted = operator_command(text)
        if wanted is not None:
            if role != "operator":
                return (
                    f"Sorry, {wanted} is an operator command: only users listed in OPERATOR_IDS "
                    "may use it. Ask an operator, or see /help for your commands."
                )
            if self._operator is None:
                return f"{wanted} is not available here.\n{self.help_text(role)}"
            try:
                return await self._operator.handle(text, author, private)
            except Exception:
                logger.exception("operator command %r failed", wanted)
                return "Sorry, that command failed with an internal error (logged)."
        command = parse_command(text)
        if isinstance(command, CommandError):
            if command.show_help:
                return f"{command.message}\n{self.help_text(role)}"
            return command.message
        if isinstance(command, HelpCommand):
            return self.help_text(role)
        try:
            return await self.run(command)
        except Exception:
            # A failing query must not take the bot down; the analyst gets an answer.
            logger.exception("command %r failed", text)
            return "Sorry, that command failed with an internal error (logged)."

    async def run(self, command: Command) -> str | Picture:
        """Execute a parsed command."""
        if isinstance(command, RecentCommand):
            return await self._recent(command)
        if isinstance(command, SearchCommand):
            return await self._search(command)
        if isinstance(command, StatsCommand):
            return await (self._stats_chart(command) if command.chart else self._stats(command))
        if isinstance(command, FeedbackStatsCommand):
            return await self._feedback_stats(command)
        if isinstance(command, ChannelsCommand):
            return await self._channels()
        if isinstance(command, RulesCommand):
            if self._rules_summary is None:
                return "/rules is not available here.\n" + self.help_text()
            return self._rules_summary()
        return self.help_text()

    async def _recent(self, command: RecentCommand) -> str:
        posts = await self._store.recent_hit_posts(command.limit, command.topic, command.channel)
        filters = []
        if command.topic:
            filters.append(f"topic {command.topic}")
        if command.channel:
            filters.append(display_channel(command.channel))
        scope = f" ({', '.join(filters)})" if filters else ""
        if not posts:
            reply = f"No hits{scope}."
            if command.topic:
                topics = await self._store.known_topics()
                if topics and command.topic.lower() not in (t.lower() for t in topics):
                    reply += f" Known topics: {', '.join(topics)}."
            return reply
        # One entry per post, naming every rule it hit, like its alert card.
        lines = [f"Latest {len(posts)} post(s) with hits{scope}:"]
        if command.clamped:
            lines[0] += f" (at most {MAX_RECENT} are shown)"
        for number, hits in enumerate(posts, 1):
            lines.append(_hit_lines(number, hits))
        return "\n".join(lines)

    async def _search(self, command: SearchCommand) -> str:
        since = self._clock() - command.since.delta if command.since else None
        results = await self._store.search_posts(command.query, since, SEARCH_LIMIT)
        window = f" in the last {command.since.label}" if command.since else ""
        if not results:
            return f"No posts contain “{command.query}”{window}."
        total = len(results)
        if total == SEARCH_LIMIT:
            total = await self._store.count_posts_containing(command.query, since)
        if total > len(results):
            narrow = "" if command.since else f"/search {command.query} since 24h, or "
            lines = [
                f"{total} post(s) containing “{command.query}”{window}; the newest {len(results)} "
                f"are shown (narrow it down: {narrow}more words):"
            ]
        else:
            lines = [f"{total} post(s) containing “{command.query}”{window}, newest first:"]
        for number, (post, hits) in enumerate(results, 1):
            head = f"{number}. {_post_head(post)}"
            if hits:
                head += " · hits: " + ", ".join(
                    f"{h.topic} ({h.rule_id}{', quiet' if h.quiet else ''})" for h in hits
                )
            lines.append(head)
            spans = _folded_spans(post.text, command.query)
            lines.append(f"   {_short_excerpt(post.text, spans)}")
            if post.url:
                lines.append(f"   {post.url}")
        return "\n".join(lines)

    async def _channels(self) -> str:
        return await channels_report(self._store, self._clock())

    async def _stats_chart(self, command: StatsCommand) -> str | Picture:
        now = self._clock()
        try:
            return await stats_picture(
                self._store, now - command.window.delta, now, command.window.label
            )
        except ChartsUnavailable as exc:
            return f"No chart here: {exc}.\n" + await self._stats(command)

    async def _feedback_stats(self, command: FeedbackStatsCommand) -> str:
        since = self._clock() - command.since.delta if command.since else None
        rows = await self._store.feedback_by_rule(since)
        return format_feedback(rows, f"in the last {command.since.label}" if command.since else "")

    async def _stats(self, command: StatsCommand) -> str:
        now = self._clock()
        stats = await self._store.stats(now - command.window.delta)
        totals = await self._store.counts()
        topics = stats["hits_by_topic"]
        channels = stats["hits_by_channel"]
        alerts = stats["alerts_by_status"]
        lines = [
            f"Stats for the last {command.window.label} (since {format_time(stats['since'])}):",
            f"Posts read: {stats['posts']}",
            f"Hits: {stats['hits']}" + (f" ({stats['quiet_hits']} kept quiet by relevance)" if stats["quiet_hits"] else ""),
            "  by topic: " + (", ".join(f"{t} {n}" for t, n in topics.items()) or "none"),
            "  by channel: "
            + (", ".join(f"{display_channel(c)} {n}" for c, n in channels.items()) or "none"),
            "Alerts: " + ", ".join(f"{status} {n}" for status, n in alerts.items() if n or status != "muted"),
            f"All time: {totals['posts']} posts, {totals['hits']} hits, "
            f"{totals['alerts']} alerts, {totals['channels']} channels",
        ]
        return "\n".join(lines)


def format_age(age: timedelta) -> str:
    """'just now', '5m ago', '3h 20m ago', '2d 4h ago'; future times say so."""
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future (clock skew?)"
    if seconds < 60:
        return "just now"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes}m ago"
    if days == 0:
        rest = minutes % 60
        return f"{hours}h {rest}m ago" if rest else f"{hours}h ago"
    rest = hours % 24
    return f"{days}d {rest}h ago" if rest else f"{days}d ago"


def relevance_label(hits: Sequence[StoredHit]) -> str:
    """' · relevance 87%' (the surest hit), or ' · quiet (relevance 31%)' when every hit of
    the post was kept from alerting."""
    scores = [h.relevance for h in hits if h.relevance is not None]
    best = f"relevance {max(scores):.0%}" if scores else ""
    if all(h.quiet for h in hits):
        return f" · quiet ({best})" if best else " · quiet"
    return f" · {best}" if best else ""


def _hit_lines(number: int, hits: list[StoredHit]) -> str:
    post = hits[0].post
    card = build_post_card(post, hits)
    spans = [span for hit in hits for span in hit.spans]
    lines = [
        f"{number}. {_post_head(post)} · {card.topic} · {card.rule_id} · {card.severity.value}"
        f"{relevance_label(hits)}",
        f"   {_short_excerpt(post.text, spans)}",
    ]
    if post.url:
        lines.append(f"   {post.url}")
    return "\n".join(lines)
