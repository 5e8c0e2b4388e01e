"""Operator commands: look at, test and edit the rules from the chat, mute, roll back.

Edits go through bot.rules.editor (minimal, validated text edits of the rules file), are
written atomically, recorded in ruleset_versions as source "chat" with their author, and
applied at once (holder.load()), so every reply can name the version that is active.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from textwrap import indent
from typing import Protocol

from bot.alerts.card import display_channel, format_time
from bot.commands.handler import Clock, format_age, parse_duration
from bot.matching import Matcher
from bot.relevance import describe
from bot.rules.diff import diff_summary, line_diff
from bot.rules.editor import EditError, add_terms, apply_edit, remove_terms, set_enabled
from bot.rules.expr import refs
from bot.rules.loader import parse_rules
from bot.rules.model import LANGS, Concept, Rule, RulesError, RuleSet
from bot.scan import explain_terms
from bot.storage import Store
from bot.storage.store import Mute

logger = logging.getLogger(__name__)
# Set by an edit this command applied (per task: a file reload meanwhile is no edit).
_EDITED: ContextVar[bool] = ContextVar("milwatch_operator_edited", default=False)

Backtest = Callable[[str], Awaitable[str]]
"""/rule backtest: called with the text after the command, returns the reply."""

TERMS_SHOWN = 12  # per language in /rule show
MAX_PROBLEMS = 10
HISTORY_DEFAULT = 10
HISTORY_MAX = 50
MIN_VERSION_PREFIX = 4  # what Store.find_ruleset needs to name one version
MAX_TEST_CHARS = 4096  # a Telegram post's length; the console could paste any amount
_CHANNEL = re.compile(r"^@[A-Za-z0-9_]{1,64}$|^@-?\d{1,20}$")
# A chat term: "quoted", «quoted», “quoted” or one run of non-space characters.
_WORD = re.compile(r'"[^"]*"|«[^»]*»|“[^”]*”|\S+')

USAGE = {
    "rule": "Usage: /rule list | show ID | test TEXT | enable ID | disable ID | backtest [ARGS]",
    "term": "Usage: /term add CONCEPT [ru|uk|en|any] WORD... | /term remove CONCEPT WORD...",
    "mute": "Usage: /mute @channel|RULE_ID [for 2h] (no period: until /unmute); /mute alone lists mutes",
    "unmute": "Usage: /unmute @channel|RULE_ID",
    "rules": "Usage: /rules history [N] | /rules rollback VERSION",
}


class RulesSource(Protocol):
    """What the commands need from bot.app.RulesHolder."""

    @property
    def ruleset(self) -> RuleSet:
        """The active rule set."""
        ...

    def matcher(self) -> Matcher:
        """The active matcher."""
        ...

    def load(self) -> RuleSet:
        """Load the rules file and make it active."""
        ...


class OperatorCommands:
    """Answers /rule, /term, /mute, /unmute and /rules history|rollback with plain text."""

    def __init__(
        self,
        rules_path: str | Path,
        holder: RulesSource,
        store: Store,
        clock: Clock,
        backtest: Backtest | None = None,
        announce: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """rules_path is the file edits are written to (the one holder loads).

        announce: tells the operator chat about a rule change made in a private chat
        with the bot (changes made in a group are answered there, for all to see).
        """
        self._path = Path(rules_path)
        self._holder = holder
        self._store = store
        self._clock = clock
        self._backtest = backtest
        self._announce = announce
        # One edit at a time: each reads the file, edits and writes it whole.
        self._lock = asyncio.Lock()

    async def handle(self, text: str, author: str | None = None, private: bool = False) -> str:
        """Run one operator command (the caller checked the role); a rule change made in
        a private chat is also announced in the operator chat."""
        token = _EDITED.set(False)
        try:
            reply = await self._run(text, author)
            edited = _EDITED.get()
        finally:
            _EDITED.reset(token)
        if private and self._announce is not None and edited:
            who = f"user {author}" if author else "an operator"
            try:
                await self._announce(f"Rules changed from a private chat by {who}:\n{reply}")
            except Exception:
                logger.exception("could not announce a chat edit in the operator chat")
        return reply

    async def _run(self, text: str, author: str | None) -> str:
        head, rest = _first(text)
        name = head[1:].split("@", 1)[0].lower()
        sub, args = _first(rest)
        sub = sub.lower()
        if name == "rule":
            return await self._rule(sub, args, author)
        if name == "term":
            return await self._term(sub, args, author)
        if name == "mute":
            return await self._mute(rest, author)
        if name == "unmute":
            return await self._unmute(rest)
        if name == "rules" and sub == "history":
            return await self._history(args)
        if name == "rules" and sub == "rollback":
            return await self._rollback(args, author)
        return USAGE.get(name, "Unknown operator command.")

    # -- /rule ---------------------------------------------------------------------

    async def _rule(self, sub: str, args: str, author: str | None) -> str:
        if sub == "list" and not args:
            return await self._list()
        if sub == "show" and args:
            return self._show(args)
        if sub == "test" and args:
            return await self._test(args)
        if sub in ("enable", "disable") and args and len(args.split()) == 1:
            enabled = sub == "enable"
            return await self._edit(
                author,
                lambda text: set_enabled(text, args, enabled, filename=str(self._path)),
                lambda old, new: f"Rule {args} {'enabled' if enabled else 'disabled'}.",
            )
        if sub == "backtest":
            if self._backtest is None:
                return "/rule backtest is not available here (no backtest is set up)."
            return await self._backtest(args)
        return USAGE["rule"]

    async def _list(self) -> str:
        ruleset = self._holder.ruleset
        mutes = await self._store.active_mutes(self._clock())
        off = sum(1 for r in ruleset.rules if not r.enabled)
        lines = [f"{len(ruleset.rules)} rules, version {ruleset.version} ({off} disabled):"]
        for rule in ruleset.rules:
            line = f"{'on ' if rule.enabled else 'OFF'} {rule.id} · {rule.topic} · {rule.severity.value}"
            if rule.route != ruleset.defaults.route:
                line += f" · route {rule.route}"
            muted = _mute_for(mutes, "rule", rule.id)
            if muted is not None:
                line += f" · muted {_until(muted)}"
            lines.append(line)
        channels = [m for m in mutes if m.kind == "channel"]
        if channels:
            lines.append(
                "Muted channels: "
                + ", ".join(f"{display_channel(m.target)} {_until(m)}" for m in channels)
            )
        return "\n".join(lines)

    def _show(self, rule_id: str) -> str:
        ruleset = self._holder.ruleset
        rule = _find_rule(ruleset, rule_id)
        if rule is None:
            return f"No rule {rule_id!r}. /rule list shows them all."
        lines = [
            f"Rule {rule.id} ({'enabled' if rule.enabled else 'DISABLED'}; line {rule.line} of the file)",
            f"topic: {rule.topic} · severity: {rule.severity.value} · route: {rule.route}",
        ]
        if rule.description:
            lines.append(f"description: {rule.description}")
        lines.append(f"match: {rule.match_text}")
        if rule.unless_text:
            lines.append(f"unless: {rule.unless_text}")
        names = list(dict.fromkeys(refs(rule.match) + (refs(rule.unless) if rule.unless else [])))
        inline = [n for n in names if n not in ruleset.concepts]
        concepts = [ruleset.concepts[n] for n in names if n in ruleset.concepts]
        if concepts:
            lines.append("concepts:")
            lines.extend(_concept_lines(c) for c in concepts)
        if inline:
            lines.append("inline terms: " + ", ".join(inline))
        return "\n".join(lines)

    async def _test(self, text: str) -> str:
        if len(text) > MAX_TEST_CHARS:
            return (
                f"Text too long to test: {len(text):,} characters; a post holds at most "
                f"{MAX_TEST_CHARS:,}. Test a part of it, or use `milwatch explain` offline."
            )
        analysis = self._holder.matcher().analyse(text, all_concepts=True)
        mutes = await self._store.active_mutes(self._clock())
        lines: list[str] = []
        alerting = quiet = 0
        for hit in analysis.hits:
            head = f"HIT {hit.rule_id} → {hit.topic} ({hit.severity.value}, route {hit.route})"
            muted = _mute_for(mutes, "rule", hit.rule_id)
            if muted is not None:
                head += f" — rule muted {_until(muted)}: recorded, no alert"
            elif not hit.alerts:
                head += " — quiet: recorded, no alert (relevance below the threshold)"
                quiet += 1
            else:
                alerting += 1
            lines.append(head)
            if hit.description:
                lines.append(f"    {hit.description}")
            lines.append(explain_terms(hit))
            if hit.relevance is not None:
                lines.append(indent(describe(hit.relevance), "    "))
        for rule_id in analysis.suppressed:
            lines.append(f"vetoed by 'unless': {rule_id}")
        if alerting:
            verdict = f"Would alert: yes, {alerting} rule(s)."
        elif quiet:
            verdict = "Would alert: no (matched, but not sure enough: the hits are kept quiet)."
        elif analysis.hits:
            verdict = "Would alert: no (matched, but every matching rule is muted)."
        else:
            verdict = "Would alert: no, no rule matches."
            found = [
                f"{name} ({', '.join(sorted({t.surface for o in occs for t in analysis.term_matches(o)}))})"
                for name, occs in sorted(analysis.concepts.items())
            ]
            lines.append("concepts found: " + ("; ".join(found) if found else "none"))
        lines.insert(0, verdict)
        lines.append(
            f"(rules version {self._holder.ruleset.version}; spans are character offsets "
            "into the text; channel mutes are not applied to a test)"
        )
        return "\n".join(lines)

    # -- /term -----------------------------------------------------------------------

    async def _term(self, sub: str, args: str, author: str | None) -> str:
        concept, rest = _first(args)
        if sub not in ("add", "remove") or not concept or not rest:
            return USAGE["term"]
        lang: str | None = None
        first, after = _first(rest)
        if sub == "add" and first.lower() in LANGS and after:
            lang, rest = first.lower(), after
        words = _split_words(rest)
        filename = str(self._path)
        if sub == "add":
            return await self._edit(
                author,
                lambda text: add_terms(text, concept, words, lang, filename=filename),
                lambda old, new: _term_change("Added to", concept, new, old, words),
            )
        return await self._edit(
            author,
            lambda text: remove_terms(text, concept, words, filename=filename),
            lambda old, new: _term_change("Removed from", concept, old, new, words),
        )

    # -- /mute, /unmute ------------------------------------------------------------------

    async def _mute(self, args: str, author: str | None) -> str:
        if not args:
            return await self._mutes()
        target, period = _first(args)
        first, rest = _first(period)
        if first.lower() == "for":
            period = rest
        kind, problem = self._target(target)
        if problem:
            return problem
        until: datetime | None = None
        when = "until /unmute"
        if period:
            duration = parse_duration(period)
            if duration is None:
                return f"Bad period {period!r}: use a number and m/h/d/w, e.g. 2h. {USAGE['mute']}"
            until = self._clock() + duration.delta
            when = f"until {format_time(until)} ({duration.label})"
        await self._store.add_mute(kind, target, until, author)
        what = display_channel(target.lstrip("@")) if kind == "channel" else f"rule {target}"
        reply = (
            f"Muted {what} {when}: its hits are still recorded, no alerts are sent. "
            f"/unmute {target} lifts it."
        )
        if kind == "channel" and not await self._channel_read(target.lstrip("@")):
            # Accepted all the same: the channel may be added to CHANNELS later.
            reply += (
                f"\nNote: no post from {what} has been read; check the name "
                "(/channels lists the channels read)."
            )
        return reply

    async def _channel_read(self, name: str) -> bool:
        """Whether the store knows the channel (by username, any case, or by id)."""
        wanted = name.lower()
        return any(
            c.username.lower() == wanted or str(c.tg_id or "") == wanted
            for c in await self._store.list_channels()
        )

    async def _unmute(self, args: str) -> str:
        if not args or len(args.split()) != 1:
            return USAGE["unmute"]
        kind, problem = self._target(args, must_exist=False)
        if problem:
            return problem
        what = display_channel(args.lstrip("@")) if kind == "channel" else f"rule {args}"
        if await self._store.remove_mute(kind, args):
            return f"Unmuted {what}: its alerts are sent again."
        return f"{what} was not muted. /mute lists the mutes."

    async def _mutes(self) -> str:
        mutes = await self._store.active_mutes(self._clock())
        if not mutes:
            return "Nothing is muted. " + USAGE["mute"]
        lines = [f"{len(mutes)} mute(s):"]
        for m in mutes:
            what = display_channel(m.target) if m.kind == "channel" else f"rule {m.target}"
            lines.append(f"{what} {_until(m)}" + (f" (by {m.author})" if m.author else ""))
        return "\n".join(lines)

    def _target(self, target: str, must_exist: bool = True) -> tuple[str, str]:
        """('channel'|'rule', problem or '')."""
        if target.startswith("@"):
            if not _CHANNEL.match(target):
                return "channel", f"{target!r} is not a channel name. {USAGE['mute']}"
            return "channel", ""
        if must_exist and _find_rule(self._holder.ruleset, target) is None:
            return "rule", (
                f"No rule {target!r} (channels start with @). /rule list shows the rule ids."
            )
        return "rule", ""

    # -- /rules history, /rules rollback --------------------------------------------------

    async def _history(self, args: str) -> str:
        limit = HISTORY_DEFAULT
        if args:
            if not args.isdigit() or not 1 <= int(args) <= HISTORY_MAX:
                return f"N must be between 1 and {HISTORY_MAX}. {USAGE['rules']}"
            limit = int(args)
        records = await self._store.ruleset_history(limit)
        if not records:
            return "No rule set versions recorded yet."
        active = self._holder.ruleset.version
        now = self._clock()
        lines = ["Rule set versions, newest first (/rules rollback VERSION puts one back):"]
        for record in records:
            line = (
                f"{record.version} · {format_time(record.created_at)} ({format_age(now - record.created_at)})"
                f" · {record.source} · by {record.author or '—'}"
            )
            if record.version == active:
                line += " · ACTIVE"
                active = ""  # mark only the newest record of the active version
            lines.append(line)
        return "\n".join(lines)

    async def _rollback(self, args: str, author: str | None) -> str:
        if not args or len(args.split()) != 1:
            return USAGE["rules"]
        if len(args) < MIN_VERSION_PREFIX:
            return (
                f"Give at least {MIN_VERSION_PREFIX} characters of the version ({args!r} has "
                f"{len(args)}). /rules history lists them."
            )
        records = await self._store.find_ruleset(args)
        versions = list(dict.fromkeys(r.version for r in records))
        if not versions:
            return f"No recorded version starts with {args!r}. /rules history lists them."
        if len(versions) > 1:
            return f"{args!r} matches several versions: {', '.join(versions)}; give more characters."
        record = records[0]
        if record.version == self._holder.ruleset.version:
            return f"Version {record.version} is already active."

        def restore(text: str) -> str:
            parse_rules(record.text, str(self._path))  # the same validation as any edit
            return record.text

        return await self._edit(
            author,
            restore,
            lambda old, new: (
                f"Rolled back to version {record.version} "
                f"(recorded {format_time(record.created_at)}, {record.source}, by {record.author or '—'})."
            ),
        )

    # -- the one edit path ------------------------------------------------------------------

    async def _edit(
        self,
        author: str | None,
        change: Callable[[str], str],
        describe: Callable[[RuleSet, RuleSet], str],
    ) -> str:
        """Read the file, change it, validate, write atomically, record, apply; reply."""
        async with self._lock:
            try:
                old_text = self._path.read_text(encoding="utf-8")
            except OSError as exc:
                return f"Cannot read the rules file {self._path}: {exc.strerror or exc}"
            try:
                new_text = change(old_text)
            except EditError as exc:
                return f"Not changed: {exc}."
            except RulesError as exc:
                return _problems_reply(exc)
            old = self._holder.ruleset
            try:
                new = await apply_edit(
                    self._path, new_text, author, self._store, "chat", activate=self._holder.load
                )
            except RulesError as exc:  # pragma: no cover - change() validated already
                return _problems_reply(exc)
            active = self._holder.ruleset
            _EDITED.set(True)
            lines = [
                describe(old, new),
                f"Rules version {active.version} is active: {diff_summary(old, active)}.",
                *line_diff(old_text, new_text),
            ]
            logger.info("rules edited from the chat by %s: version %s", author, active.version)
            return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------


def _first(text: str) -> tuple[str, str]:
    """The first word of text and the rest, split at any whitespace (newlines too)."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _split_words(text: str) -> list[str]:
    """Chat terms: comma-separated (phrases), else space-separated ("quoted" kept whole)."""
    if "," in text:
        return [w.strip() for w in text.split(",") if w.strip()]
    return _WORD.findall(text)


def _find_rule(ruleset: RuleSet, rule_id: str) -> Rule | None:
    return next((r for r in ruleset.rules if r.id == rule_id), None)


def _mute_for(mutes: list[Mute], kind: str, target: str) -> Mute | None:
    return next(
        (m for m in mutes if m.kind == kind and m.target.casefold() == target.casefold()), None
    )


def _until(mute: Mute) -> str:
    return f"until {format_time(mute.until)}" if mute.until else "until /unmute"


def _concept_lines(concept: Concept) -> str:
    by_lang: dict[str, list[str]] = {}
    for term in concept.terms:
        shown = f'"{term.raw}"' if term.words and all(w.kind == "exact" for w in term.words) else term.raw
        by_lang.setdefault(term.lang, []).append(shown)
    parts = []
    for lang, terms in by_lang.items():
        more = f", … +{len(terms) - TERMS_SHOWN} more" if len(terms) > TERMS_SHOWN else ""
        parts.append(f"{lang}: {', '.join(terms[:TERMS_SHOWN])}{more}")
    head = f"  {concept.name}"
    if concept.description:
        head += f" — {_clip(concept.description, 80)}"
    return head + "\n    " + "\n    ".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _term_change(verb: str, concept: str, bigger: RuleSet, smaller: RuleSet, words: list[str]) -> str:
    """Which terms differ between the two versions of a concept, as '(lang)' labelled list."""
    def own(rs: RuleSet) -> list[tuple[str, str]]:
        c = rs.concepts.get(concept)
        return [(t.raw, t.lang) for t in c.terms] if c else []

    before = set(own(smaller))
    changed = [f"{raw} ({lang})" for raw, lang in own(bigger) if (raw, lang) not in before]
    reply = f"{verb} concept {concept}: {', '.join(changed) or 'nothing'}."
    if verb == "Added to" and len(changed) < len(words):
        reply += " Terms already listed were skipped."
    return reply


def _problems_reply(exc: RulesError) -> str:
    problems = [str(p) for p in exc.problems]
    more = len(problems) - MAX_PROBLEMS
    shown = problems[:MAX_PROBLEMS] + ([f"… {more} more"] if more > 0 else [])
    return "Not changed: the rules file would not load:\n" + "\n".join(shown)
