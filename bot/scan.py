"""Retro-hunt: match a stream of posts and render what matched, on one or more cores."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from textwrap import indent

from bot.alerts.card import build_post_card, render_text
from bot.domain import Hit, Post, Relevance
from bot.matching import Matcher
from bot.relevance import describe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanOptions:
    """How to render each post."""

    format: str = "text"  # "text" or "jsonl"
    all: bool = False  # also posts without hits
    color: bool = False
    quiet: bool = False  # also hits the relevance stage keeps quiet (marked so)


@dataclass(frozen=True)
class ScanResult:
    """One post's outcome: how many hits, what to print, or the error that stopped it."""

    hits: int
    output: str
    error: str | None = None


def relevance_to_json(relevance: Relevance) -> dict[str, object]:
    """The JSON form of a relevance score: score, threshold, and each signal weighed."""
    return {
        "score": round(relevance.score, 4),
        "alert_at": relevance.threshold,
        "evidence": [
            {"signal": e.name, "weight": e.weight, "words": list(e.words), "note": e.note}
            for e in relevance.evidence
        ],
    }


def hit_to_json(hit: Hit) -> dict[str, object]:
    """The JSON form of a hit: rule, topic, severity, terms, spans and the evidence."""
    out: dict[str, object] = {
        "rule": hit.rule_id,
        "topic": hit.topic,
        "severity": hit.severity.value,
        "terms": hit.words,
        "spans": [list(s) for s in hit.spans],
        "matches": [
            {
                "concept": t.concept,
                "term": t.term,
                "text": t.surface,
                "lemma": t.lemma,
                "kind": t.kind,
                "score": t.score,
                "span": [t.start, t.end],
            }
            for t in hit.terms
        ],
        "alert": hit.alerts,
    }
    if hit.relevance is not None:
        out["relevance"] = relevance_to_json(hit.relevance)
    return out


def post_to_json(post: Post, hits: list[Hit]) -> dict[str, object]:
    """One `scan --format jsonl` output line: the post (text, link, channel title) and its hits."""
    return {
        "id": post.msg_id,
        "channel": post.channel,
        "channel_title": post.channel_title,
        "date": post.date.isoformat(),
        "link": post.url,
        "text": post.text,
        "topics": sorted({h.topic for h in hits if h.alerts}),
        "hits": [hit_to_json(h) for h in hits],
    }


def explain_terms(hit: Hit) -> str:
    """One line per matched word: concept, word as written, form, how it matched, where."""
    lines = []
    for t in hit.terms:
        how = t.kind if t.score >= 100 else f"{t.kind} {t.score:.0f}%"
        form = f" → {t.lemma}" if t.lemma and t.lemma != t.surface.lower() else ""
        lines.append(f"    {t.concept}: {t.surface!r}{form} ({how}; term {t.term!r}) at {t.start}-{t.end}")
    return "\n".join(lines)


def scan_one(matcher: Matcher, post: Post, options: ScanOptions) -> ScanResult:
    """Match and render one post; an exception becomes an error result, never a crash."""
    try:
        result = _match_and_render(matcher, post, options)
    except Exception as exc:
        # One error boundary per post, around matching AND rendering: a retro-hunt over
        # millions of posts must not die on one odd text or date; the post is reported
        # and the scan goes on.
        logger.exception("scanning failed for %s/%s", post.channel, post.msg_id)
        return ScanResult(0, "", f"post {post.channel}/{post.msg_id}: {type(exc).__name__}: {exc}")
    if not _writable(result.output):
        # Half of a surrogate pair (a "\ud83d" escape in JSON) cannot be written as
        # UTF-8: print U+FFFD instead, and say so.
        return ScanResult(
            result.hits, _SURROGATE.sub("\ufffd", result.output),
            f"post {post.channel}/{post.msg_id}: lone surrogates replaced with U+FFFD",
        )
    return result


_SURROGATE = re.compile("[\ud800-\udfff]")


def _writable(text: str) -> bool:
    """Whether text encodes as UTF-8 (it does unless it holds a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _match_and_render(matcher: Matcher, post: Post, options: ScanOptions) -> ScanResult:
    hits = [h for h in matcher.match(post.text) if h.alerts or options.quiet]
    if options.format == "jsonl":
        out = json.dumps(post_to_json(post, hits), ensure_ascii=False) + "\n" if hits or options.all else ""
    elif hits:
        # One card per post, however many rules matched it; then why each rule did, and
        # how sure the relevance stage is of it.
        why = "".join(
            f"  {hit.rule_id}{'' if hit.alerts else ' (quiet)'}:\n{explain_terms(hit)}\n"
            + (indent(describe(hit.relevance), "    ") + "\n" if hit.relevance is not None else "")
            for hit in hits
        )
        out = render_text(build_post_card(post, hits), color=options.color) + "\n" + why + "\n"
    elif options.all:
        out = f"@{post.channel}/{post.msg_id} {post.date.isoformat()}: no hits\n"
    else:
        out = ""
    return ScanResult(len(hits), out)


# Set in the parent before forking, so workers share the compiled matcher (copy-on-write)
# instead of each loading dictionaries and compiling rules again.
_WORKER: tuple[Matcher, ScanOptions] | None = None


def _work(post: Post) -> ScanResult:
    assert _WORKER is not None
    return scan_one(_WORKER[0], post, _WORKER[1])


def default_jobs() -> int:
    """Worker processes to use: one per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def scan_posts(
    posts: Iterable[Post], matcher: Matcher, options: ScanOptions, jobs: int = 1
) -> Iterator[tuple[Post, ScanResult]]:
    """Results in input order; with jobs > 1 the matching runs in forked workers."""
    global _WORKER
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for post in posts:
            yield post, scan_one(matcher, post, options)
        return
    _WORKER = (matcher, options)
    ctx = multiprocessing.get_context("fork")
    buffered: deque[Post] = deque()

    def feed() -> Iterator[Post]:
        for post in posts:
            buffered.append(post)
            yield post

    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a process with threads; the pool forks
            # before it starts any thread of its own, and the matcher holds no locks.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = ctx.Pool(jobs)
        with pool:
            for result in pool.imap(_work, feed(), chunksize=64):
                yield buffered.popleft(), result
    finally:
        _WORKER = None
