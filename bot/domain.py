"""Domain objects shared by every layer: posts in, hits out, alerts to deliver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Severity(str, Enum):
    """How urgent a hit is; `low` alerts are delivered silently."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Post:
    """One channel post as any source delivers it (Telegram, replay file, export)."""

    channel: str  # channel username without "@", or the numeric id as text
    msg_id: str  # message id within the channel (Telegram ints are kept as text)
    date: datetime  # timezone-aware
    text: str
    channel_title: str | None = None
    link: str | None = None  # explicit link; otherwise derived from channel/msg_id
    forwarded_from: str | None = None
    edited: bool = False

    @property
    def url(self) -> str | None:
        """The t.me link of the post, when it can be built."""
        if self.link:
            return self.link
        if not self.channel:
            return None
        if self.channel.lstrip("-").isdigit():
            bare = self.channel.lstrip("-")
            if bare.startswith("100") and len(bare) > 10:
                bare = bare[3:]
            return f"https://t.me/c/{bare}/{self.msg_id}"
        return f"https://t.me/{self.channel}/{self.msg_id}"


@dataclass(frozen=True)
class TermMatch:
    """One rule term that fired, where, and how strongly."""

    concept: str  # concept name, or "" for an inline term
    term: str  # the term as the operator wrote it
    surface: str  # the words of the ORIGINAL text that matched
    start: int  # offsets into the original text
    end: int
    kind: str  # "lemma", "exact", "prefix", "fuzzy" or "translit"
    lemma: str = ""  # the word form's lemma, when lemmatised
    score: float = 100.0  # rapidfuzz score for fuzzy/translit, 100 otherwise


@dataclass(frozen=True)
class Evidence:
    """One signal the relevance stage weighed: its name, its log-odds weight, and the
    words (with spans into the original text) or the position behind it."""

    name: str
    weight: float
    words: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    note: str = ""  # how it was found ("3 words in the post", "first sentence", "cancelled by …")


@dataclass(frozen=True)
class Relevance:
    """How sure the relevance stage is that a hit is about its topic, and why."""

    score: float  # 0-1
    threshold: float  # the rules file's alert_at
    evidence: tuple[Evidence, ...] = ()

    @property
    def alert(self) -> bool:
        """Whether the hit is sure enough to alert (otherwise it is stored quietly)."""
        return self.score >= self.threshold


@dataclass(frozen=True)
class Hit:
    """A rule that matched a text, with every term that made it match."""

    rule_id: str
    topic: str
    severity: Severity
    route: str
    terms: tuple[TermMatch, ...]
    description: str = ""
    relevance: Relevance | None = None  # None: the rules file has no relevance stage

    @property
    def alerts(self) -> bool:
        """Whether this hit should alert: no relevance stage, or sure enough."""
        return self.relevance is None or self.relevance.alert

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Merged, sorted (start, end) offsets into the original text."""
        merged: list[tuple[int, int]] = []
        for s, e in sorted((t.start, t.end) for t in self.terms):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    @property
    def words(self) -> list[str]:
        """Lemmas (or surfaces) of the terms that fired, without repeats, in text order."""
        seen: list[str] = []
        for t in sorted(self.terms, key=lambda t: t.start):
            w = t.lemma or t.surface.lower()
            if w not in seen:
                seen.append(w)
        return seen


@dataclass(frozen=True)
class StoredHit:
    """A hit as read back from the store, joined with its post."""

    hit_id: int
    post: Post
    rule_id: str
    topic: str
    severity: Severity
    route: str
    spans: tuple[tuple[int, int], ...]
    terms: tuple[str, ...]
    created_at: datetime
    relevance: float | None = None  # the relevance stage's score, when it ran
    quiet: bool = False  # below the alert threshold: stored and shown, never alerted
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Alert:
    """An outbox entry: one hit to deliver to one route."""

    alert_id: int
    hit: StoredHit
    status: str  # "pending", "sent", "failed" or "muted" (dropped by an operator's mute)
    attempts: int = 0
    last_error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Set when a send began and its outcome was never recorded (a crash, a timeout):
    # the card may or may not have reached the chat.
    in_doubt_since: datetime | None = None
