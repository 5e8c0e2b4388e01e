"""Alert card: one model built from a post and a hit, rendered for console or Telegram HTML."""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain import Evidence, Hit, Post, Severity, StoredHit

logger = logging.getLogger(__name__)

TELEGRAM_MESSAGE_LIMIT = 4096
DEFAULT_EXCERPT_CHARS = 400

_ANSI_HIGHLIGHT = "\x1b[1;33m"
_ANSI_BOLD = "\x1b[1m"
_ANSI_RESET = "\x1b[0m"
# [[ ]] rather than «»: Russian and Ukrainian posts use «» as ordinary quotes.
_PLAIN_OPEN = "[["
_PLAIN_CLOSE = "]]"
_SAFE_LINK_SCHEMES = ("https://", "http://", "tg://")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Fragment:
    """A piece of the excerpt: plain text, a highlighted match, or an elision gap."""

    text: str
    highlight: bool = False
    gap: bool = False


@dataclass(frozen=True)
class AlertCard:
    """Everything an analyst needs to judge a hit, independent of the output format."""

    channel: str
    channel_title: str | None
    posted_at: datetime
    topic: str
    rule_id: str
    severity: Severity
    terms: tuple[str, ...]
    excerpt: tuple[Fragment, ...]
    url: str | None
    forwarded_from: str | None = None
    edited: bool = False
    relevance: str = ""  # "relevance 88% — + military context: всу, угледар; + headline"


def relevance_note(score: float | None, evidence: Sequence[Evidence], most: int = 3) -> str:
    """One line saying how sure the relevance stage is and its strongest reasons."""
    if score is None:
        return ""
    strongest = sorted((e for e in evidence if e.weight), key=lambda e: -abs(e.weight))[:most]
    reasons = [
        f"{'+' if e.weight > 0 else '−'} {e.name}" + (f": {', '.join(e.words[:4])}" if e.words else "")
        for e in strongest
    ]
    return f"relevance {score:.0%}" + (" — " + "; ".join(reasons) if reasons else "")


def _relevance_of(hits: Sequence[Hit | StoredHit]) -> str:
    """The relevance line of a card: the surest of its hits (empty without a relevance stage)."""
    scored: list[tuple[float, Sequence[Evidence]]] = []
    for hit in hits:
        if isinstance(hit, Hit):
            if hit.relevance is not None:
                scored.append((hit.relevance.score, hit.relevance.evidence))
        elif hit.relevance is not None:
            scored.append((hit.relevance, hit.evidence))
    if not scored:
        return ""
    score, evidence = max(scored, key=lambda pair: pair[0])
    return relevance_note(score, evidence)


def display_channel(channel: str) -> str:
    """'@name' for public channels, 'channel <id>' for numeric ids."""
    if channel.lstrip("-").isdigit():
        return f"channel {channel}"
    return f"@{channel.lstrip('@')}"


def format_time(moment: datetime) -> str:
    """Readable UTC timestamp, e.g. '2024-05-01 12:30 UTC'."""
    try:
        return _stamp(moment.astimezone(UTC)) + " UTC"
    except OverflowError:
        # 0001-01-01T00:00+05:00 is in year 0 in UTC, which datetime cannot hold: show
        # the moment as written, with its own offset.
        offset = moment.utcoffset()
        total = int(offset.total_seconds()) if offset else 0
        hours, minutes = divmod(abs(total) // 60, 60)
        return f"{_stamp(moment)} UTC{'-' if total < 0 else '+'}{hours:02d}:{minutes:02d}"


def _stamp(moment: datetime) -> str:
    # Not strftime: its %Y drops the zeros of years before 1000 on glibc ("1-01-01").
    m = moment
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}"


def clean_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Clamp spans to the text, drop empty ones, sort and merge overlaps."""
    merged: list[tuple[int, int]] = []
    clamped = sorted((max(0, min(s, length)), max(0, min(e, length))) for s, e in spans)
    for start, end in clamped:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _snap_start(text: str, start: int, limit: int) -> int:
    """Move a window start forward past a partial word, never beyond limit."""
    if start <= 0:
        return 0
    if text[start - 1].isspace():
        return start
    for i in range(start, limit):
        if text[i].isspace():
            return i + 1
    return start


def _snap_end(text: str, end: int, limit: int) -> int:
    """Move a window end back before a partial word, never before limit."""
    if end >= len(text):
        return len(text)
    if text[end].isspace():
        return end
    for i in range(end - 1, limit - 1, -1):
        if text[i].isspace():
            return i
    return end


def _windows(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Windows of text around as many spans as fit in max_chars, with even context."""
    length = len(text)
    if length <= max_chars:
        return [(0, length)]
    if not spans:
        return [(0, _snap_end(text, max_chars, max_chars // 2))]
    chosen: list[tuple[int, int]] = []
    used = 0
    for start, end in spans:
        size = end - start
        if chosen and used + size + 3 > max_chars:
            break
        if not chosen and size > max_chars:
            # One enormous match: show its beginning rather than nothing.
            return [(start, start + max_chars)]
        chosen.append((start, end))
        used += size + 3  # 3 = the " … " separator a window may need
    context = max(0, (max_chars - used) // (2 * len(chosen)))
    windows: list[tuple[int, int]] = []
    for start, end in chosen:
        w_start = _snap_start(text, max(0, start - context), start)
        w_end = _snap_end(text, min(length, end + context), end)
        if windows and w_start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], w_end))
        else:
            windows.append((w_start, w_end))
    return windows


def build_excerpt(
    text: str, spans: Iterable[tuple[int, int]], max_chars: int = DEFAULT_EXCERPT_CHARS
) -> tuple[Fragment, ...]:
    """Excerpt of the original text around the spans (whole text if short), split into fragments.

    Spans are character offsets into text; they are applied before any escaping.
    """
    good = clean_spans(spans, len(text))
    windows = _windows(text, good, max_chars)
    fragments: list[Fragment] = []
    for index, (w_start, w_end) in enumerate(windows):
        if index == 0 and w_start > 0:
            fragments.append(Fragment("… ", gap=True))
        elif index > 0:
            fragments.append(Fragment(" … ", gap=True))
        cursor = w_start
        for start, end in good:
            start, end = max(start, w_start), min(end, w_end)
            if end <= start:
                continue
            if start > cursor:
                fragments.append(Fragment(text[cursor:start]))
            fragments.append(Fragment(text[start:end], highlight=True))
            cursor = end
        if w_end > cursor:
            fragments.append(Fragment(text[cursor:w_end]))
    if windows and windows[-1][1] < len(text):
        fragments.append(Fragment(" …", gap=True))
    return tuple(fragments)


def build_card(
    post: Post, hit: Hit | StoredHit, max_chars: int = DEFAULT_EXCERPT_CHARS
) -> AlertCard:
    """Assemble the card for one hit on one post."""
    terms = tuple(hit.words) if isinstance(hit, Hit) else tuple(hit.terms)
    return AlertCard(
        channel=post.channel,
        channel_title=post.channel_title,
        posted_at=post.date,
        topic=hit.topic,
        rule_id=hit.rule_id,
        severity=Severity(hit.severity),
        terms=terms,
        excerpt=build_excerpt(post.text, hit.spans, max_chars),
        url=post.url,
        forwarded_from=post.forwarded_from,
        edited=post.edited,
        relevance=_relevance_of([hit]),
    )


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}  # low … critical


def build_post_card(
    post: Post, hits: Sequence[Hit | StoredHit], max_chars: int = DEFAULT_EXCERPT_CHARS
) -> AlertCard:
    """One card for every rule that matched a post: rules and topics joined with " + ",
    the highest severity, every match highlighted (a post rings once, not once per rule)."""
    if len(hits) == 1:
        return build_card(post, hits[0], max_chars)
    words: Iterable[str]
    matched = [hit for hit in hits if isinstance(hit, Hit)]
    if len(matched) == len(hits):
        # In the order they stand in the post, as on a one-rule card.
        found = sorted((t.start, t.lemma or t.surface.lower()) for hit in matched for t in hit.terms)
        words = (word for _, word in found)
    else:
        words = (w for hit in hits for w in (hit.words if isinstance(hit, Hit) else hit.terms))
    return AlertCard(
        channel=post.channel,
        channel_title=post.channel_title,
        posted_at=post.date,
        topic=" + ".join(dict.fromkeys(hit.topic for hit in hits)),
        rule_id=" + ".join(dict.fromkeys(hit.rule_id for hit in hits)),
        severity=max((Severity(hit.severity) for hit in hits), key=_SEVERITY_RANK.__getitem__),
        terms=tuple(dict.fromkeys(words)),
        excerpt=build_excerpt(post.text, [span for hit in hits for span in hit.spans], max_chars),
        url=post.url,
        forwarded_from=post.forwarded_from,
        edited=post.edited,
        relevance=_relevance_of(hits),
    )


# -- console ----------------------------------------------------------------


def _terminal_safe(text: str) -> str:
    """Neutralise control characters so a post cannot drive the analyst's terminal."""
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else "\ufffd" for ch in text
    )


def render_excerpt(
    fragments: Sequence[Fragment], *, color: bool = False, one_line: bool = False
) -> str:
    """Excerpt as terminal/plain text, highlights in ANSI yellow or [[ ]] markers."""
    parts: list[str] = []
    for fragment in fragments:
        piece = _terminal_safe(fragment.text)
        if one_line:
            piece = _WHITESPACE.sub(" ", piece)
        if fragment.highlight:
            if color:
                piece = f"{_ANSI_HIGHLIGHT}{piece}{_ANSI_RESET}"
            else:
                piece = f"{_PLAIN_OPEN}{piece}{_PLAIN_CLOSE}"
        parts.append(piece)
    return "".join(parts)


def _heading(card: AlertCard) -> tuple[str, str]:
    where = display_channel(card.channel)
    if card.channel_title:
        where += f" ({card.channel_title})"
    when = format_time(card.posted_at) + (" (edited)" if card.edited else "")
    return where, when


def render_text(card: AlertCard, color: bool) -> str:
    """Console rendering of the card."""
    where, when = _heading(card)
    severity = card.severity.value.upper()
    # Made safe before the bold codes go round it, or they would be neutralised too.
    head = _terminal_safe(f"[{severity}] {card.topic} · rule {card.rule_id}")
    if color:
        head = f"{_ANSI_BOLD}{head}{_ANSI_RESET}"
    lines = [head, _terminal_safe(f"{where} · {when}")]
    if card.forwarded_from:
        lines.append(_terminal_safe(f"forwarded from: {card.forwarded_from}"))
    if card.terms:
        lines.append(_terminal_safe("matched: " + ", ".join(card.terms)))
    if card.relevance:
        lines.append(_terminal_safe(card.relevance))
    lines.append(render_excerpt(card.excerpt, color=color))
    if card.url:
        lines.append(_terminal_safe(card.url))
    return "\n".join(lines)


# -- Telegram HTML ------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """Raw text wrapped in markup we generate; text is escaped only when rendered."""

    text: str
    open_tag: str = ""
    close_tag: str = ""
    splittable: bool = True

    def render(self, text: str) -> str:
        return f"{self.open_tag}{html.escape(text)}{self.close_tag}"


def _tg_size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), never less than len()."""
    return len(text.encode("utf-16-le")) // 2


def _card_runs(card: AlertCard) -> list[_Run]:
    where, when = _heading(card)
    runs = [
        _Run(card.severity.value.upper(), "<b>", "</b>"),
        _Run(" · "),
        _Run(card.topic, "<b>", "</b>"),
        _Run(" · rule "),
        _Run(card.rule_id, "<code>", "</code>"),
        _Run(f"\n{where} · {when}\n"),
    ]
    if card.forwarded_from:
        runs.append(_Run(f"forwarded from: {card.forwarded_from}\n"))
    if card.terms:
        runs += [_Run("matched: "), _Run(", ".join(card.terms), "<i>", "</i>"), _Run("\n")]
    if card.relevance:
        runs.append(_Run(card.relevance + "\n"))
    runs.append(_Run("\n"))
    for fragment in card.excerpt:
        if fragment.highlight:
            runs.append(_Run(fragment.text, "<b>", "</b>"))
        else:
            runs.append(_Run(fragment.text))
    if card.url:
        runs.append(_Run("\n\n"))
        if card.url.startswith(_SAFE_LINK_SCHEMES):
            href = html.escape(card.url, quote=True)
            runs.append(_Run(card.url, f'<a href="{href}">', "</a>", splittable=False))
        else:
            # Never turn an unexpected scheme (javascript:, data:) into a link.
            runs.append(_Run(card.url))
    return runs


def _largest_fit(run: _Run, text: str, room: int) -> int:
    """Longest prefix of text whose rendering fits in room (0 if none does)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _tg_size(run.render(text[:mid])) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _nicer_cut(text: str, cut: int) -> int:
    """Back a cut up to a line break or space in the second half of the piece, if any."""
    for sep in ("\n", " "):
        pos = text.rfind(sep, 0, cut)
        if pos >= cut // 2 and pos > 0:
            return pos + 1
    return cut


def split_runs(runs: Sequence[_Run], limit: int) -> list[str]:
    """Pack rendered runs into chunks of at most limit, splitting only raw text.

    Splitting happens before escaping and every piece is wrapped in its own tags,
    so no chunk ends inside a tag or an entity and every chunk is well-formed.
    """
    chunks: list[str] = []
    current = ""
    for run in runs:
        text = run.text
        while text:
            piece = run.render(text)
            if _tg_size(current) + _tg_size(piece) <= limit:
                current += piece
                break
            if current and not run.splittable:
                # Unsplittable (a link): move it whole to a fresh chunk.
                chunks.append(current)
                current = ""
                continue
            room = limit - _tg_size(current)
            cut = _largest_fit(run, text, room)
            if cut == 0:
                if not current:
                    raise ValueError(f"limit {limit} too small for markup {run.open_tag!r}")
                chunks.append(current)
                current = ""
                continue
            cut = _nicer_cut(text, cut)
            current += run.render(text[:cut])
            chunks.append(current)
            current = ""
            text = text[cut:]
    if current:
        chunks.append(current)
    # Telegram rejects empty messages; a chunk of bare whitespace would be one.
    return [chunk for chunk in chunks if chunk.strip()]


def render_html(card: AlertCard, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Telegram HTML rendering, split into messages of at most limit characters."""
    return split_runs(_card_runs(card), limit)


# -- digests ------------------------------------------------------------------

DIGEST_EXCERPT_CHARS = 120


def digest_excerpt(card: AlertCard, max_chars: int = DIGEST_EXCERPT_CHARS) -> tuple[Fragment, ...]:
    """A shorter, single-line excerpt cut from the card's excerpt, highlights kept."""
    fragments = list(card.excerpt)
    lead = bool(fragments) and fragments[0].gap
    tail = len(fragments) > 1 and fragments[-1].gap
    inner = fragments[int(lead) : len(fragments) - int(tail)] if fragments else []
    text = ""
    spans: list[tuple[int, int]] = []
    for fragment in inner:
        piece = _WHITESPACE.sub(" ", fragment.text)
        if text.endswith(" ") and piece.startswith(" "):
            piece = piece[1:]
        if fragment.highlight and piece:
            spans.append((len(text), len(text) + len(piece)))
        text += piece
    # Trim without moving the spans: leading spaces shift them, so count them first.
    stripped = len(text) - len(text.lstrip())
    text = text.strip()
    spans = [(s - stripped, e - stripped) for s, e in spans]
    short = list(build_excerpt(text, spans, max_chars))
    if lead and not (short and short[0].gap):
        short.insert(0, Fragment("… ", gap=True))
    if tail and not (short and short[-1].gap):
        short.append(Fragment(" …", gap=True))
    return tuple(short)


def _digest_header(count: int) -> str:
    return f"{count} alert" if count == 1 else f"{count} alerts"


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _digest_where(card: AlertCard) -> str:
    """' · @channel · time · ': what follows the topic on a digest line."""
    when = format_time(card.posted_at) + (" (edited)" if card.edited else "")
    return f" · {display_channel(_one_line(card.channel))} · {when} · "


def render_digest_text(cards: Sequence[AlertCard], color: bool = False) -> str:
    """Console rendering of a digest: 'N alerts', then one line per alert."""
    header = _digest_header(len(cards))
    lines = [f"{_ANSI_BOLD}{header}{_ANSI_RESET}" if color else header]
    for card in cards:
        line = _terminal_safe(
            f"[{card.severity.value.upper()}] {_one_line(card.topic)}{_digest_where(card)}"
        )
        line += render_excerpt(digest_excerpt(card), color=color, one_line=True)
        if card.url:
            line += " · " + _terminal_safe(card.url)
        lines.append(line)
    return "\n".join(lines)


def _digest_line_runs(card: AlertCard) -> list[_Run]:
    runs = [
        _Run(card.severity.value.upper(), "<b>", "</b>"),
        _Run(" · "),
        _Run(_one_line(card.topic), "<b>", "</b>"),
        _Run(_digest_where(card)),
    ]
    for fragment in digest_excerpt(card):
        if fragment.highlight:
            runs.append(_Run(fragment.text, "<b>", "</b>"))
        else:
            runs.append(_Run(fragment.text))
    if card.url:
        runs.append(_Run(" · "))
        if card.url.startswith(_SAFE_LINK_SCHEMES):
            href = html.escape(card.url, quote=True)
            runs.append(_Run("link", f'<a href="{href}">', "</a>", splittable=False))
        else:
            runs.append(_Run(card.url))
    return runs


def _runs_size(runs: Sequence[_Run]) -> int:
    return sum(_tg_size(run.render(run.text)) for run in runs)


def render_digest_html(
    cards: Sequence[AlertCard], limit: int = TELEGRAM_MESSAGE_LIMIT
) -> list[str]:
    """Telegram HTML digest: bold 'N alerts', one line per alert, split between lines.

    Every chunk is at most limit characters; a line longer than a whole message
    (never with ordinary cards) is split inside like a card would be.
    """
    groups: list[list[_Run]] = [[_Run(_digest_header(len(cards)), "<b>", "</b>")]]
    size = _runs_size(groups[0])
    for card in cards:
        line = _digest_line_runs(card)
        line_size = _runs_size(line)
        if size + 1 + line_size <= limit:
            groups[-1] += [_Run("\n"), *line]
            size += 1 + line_size
        else:
            groups.append(line)
            size = line_size
    chunks: list[str] = []
    for group in groups:
        chunks += split_runs(group, limit)
    return chunks


def digest_fit(cards: Sequence[AlertCard], limit: int = TELEGRAM_MESSAGE_LIMIT) -> int:
    """How many leading cards fit in a digest of ONE message (at least 1 if any)."""
    size = 0
    for count, card in enumerate(cards, start=1):
        header = _runs_size([_Run(_digest_header(count), "<b>", "</b>")])
        size += 1 + _runs_size(_digest_line_runs(card))
        if header + size > limit:
            return max(1, count - 1)
    return len(cards)
