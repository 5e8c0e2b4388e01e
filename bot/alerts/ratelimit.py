"""Telegram bot send limits as token buckets: pure bookkeeping, the clock is passed in.

Telegram asks bots to send at most 1 message per second to one chat, 20 messages
per minute to one group, and about 30 messages per second overall. A classic
token bucket that refills continuously (capacity N, N/period tokens per second)
lets through up to 2N-1 messages in one period: a full bucket plus what refills
while it is spent. Here every spent token instead comes back exactly one period
after it was spent, so no window of that length ever holds more than N messages,
while a burst of up to N may still go out at once.

Times are the clock's datetimes (microsecond-exact), so the guarantee holds
exactly, without float drift at window edges.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Drop state of idle chats once this many are tracked, so memory stays bounded.
_SWEEP_AT = 1024


@dataclass(frozen=True)
class Limit:
    """At most `count` messages in any window of `period` seconds."""

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"limit count must be >= 1, not {self.count}")
        if not self.period > 0:
            raise ValueError(f"limit period must be > 0, not {self.period}")

    @classmethod
    def per_second(cls, count: int) -> Limit:
        """count messages per second."""
        return cls(count, 1.0)

    @classmethod
    def per_minute(cls, count: int) -> Limit:
        """count messages per minute."""
        return cls(count, 60.0)


TELEGRAM_PER_CHAT = Limit.per_second(1)
TELEGRAM_PER_GROUP = Limit.per_minute(20)
TELEGRAM_OVERALL = Limit.per_second(30)


def is_group(chat: str) -> bool:
    """Whether the per-group limit applies: negative ids ("-100…") and "@usernames".

    User chats have positive ids; the Bot API accepts "@username" only for
    channels and supergroups, so those count as groups too.
    """
    return chat.startswith(("-", "@"))


class TokenBucket:
    """`capacity` tokens; a token spent at t is available again at t + period."""

    def __init__(self, limit: Limit) -> None:
        """One bucket for one limit."""
        self.limit = limit
        self._period = timedelta(seconds=limit.period)
        self._spent: deque[datetime] = deque()

    @property
    def capacity(self) -> int:
        """Most tokens the bucket ever holds."""
        return self.limit.count

    def _expire(self, now: datetime) -> None:
        while self._spent and self._spent[0] + self._period <= now:
            self._spent.popleft()

    def available(self, now: datetime) -> int:
        """Tokens that may be spent at now."""
        self._expire(now)
        return self.capacity - len(self._spent)

    def wait(self, now: datetime, n: int = 1) -> float:
        """Seconds until n tokens are available (0 if they are now)."""
        if n > self.capacity:
            raise ValueError(f"{n} tokens requested from a bucket of {self.capacity}")
        missing = n - self.available(now)
        if missing <= 0:
            return 0.0
        back_at = self._spent[missing - 1] + self._period
        # A clock stepped backwards must not block for longer than one period.
        return min((back_at - now).total_seconds(), self.limit.period)

    def take(self, now: datetime, n: int = 1) -> None:
        """Spend n tokens at now (the caller checked wait() first)."""
        for _ in range(n):
            self._spent.append(now)

    def idle(self, now: datetime) -> bool:
        """No token is out: the bucket is indistinguishable from a new one."""
        return self.available(now) == self.capacity


class RateLimiter:
    """Per-chat, per-group and overall send limits, plus FloodWait penalties.

    A limit set to None is not enforced. The state lives in memory only: after a
    restart the buckets start full, and a FloodWait from Telegram covers the gap.
    """

    def __init__(
        self,
        clock: Clock,
        per_chat: Limit | None = TELEGRAM_PER_CHAT,
        per_group: Limit | None = TELEGRAM_PER_GROUP,
        overall: Limit | None = TELEGRAM_OVERALL,
    ) -> None:
        """clock: returns the current timezone-aware datetime (a FakeClock in tests)."""
        self._clock = clock
        self._per_chat = per_chat
        self._per_group = per_group
        self._overall = TokenBucket(overall) if overall is not None else None
        self._chats: dict[str, TokenBucket] = {}
        self._groups: dict[str, TokenBucket] = {}
        self._penalties: dict[str, datetime] = {}
        self._global_penalty: datetime | None = None

    def _buckets(self, chat: str) -> list[TokenBucket]:
        buckets = []
        if self._per_chat is not None:
            bucket = self._chats.get(chat)
            if bucket is None:
                bucket = self._chats[chat] = TokenBucket(self._per_chat)
            buckets.append(bucket)
        if self._per_group is not None and is_group(chat):
            bucket = self._groups.get(chat)
            if bucket is None:
                bucket = self._groups[chat] = TokenBucket(self._per_group)
            buckets.append(bucket)
        if self._overall is not None:
            buckets.append(self._overall)
        return buckets

    def _penalty_wait(self, chat: str, now: datetime) -> float:
        wait = 0.0
        for until in (self._penalties.get(chat), self._global_penalty):
            if until is not None and until > now:
                wait = max(wait, (until - now).total_seconds())
        return wait

    def wait_time(self, chat: str, n: int = 1) -> float:
        """Seconds until n messages may go to chat; consumes nothing."""
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        now = self._clock()
        waits = [self._penalty_wait(chat, now)]
        waits += [bucket.wait(now, n) for bucket in self._buckets(chat)]
        return max(waits)

    def try_acquire(self, chat: str, n: int = 1) -> float:
        """0.0 and n messages' tokens spent if chat may get n messages now; else the wait.

        A non-zero answer spends nothing. Raises ValueError if n exceeds a limit's
        count (it could never be allowed).
        """
        wait = self.wait_time(chat, n)
        if wait > 0:
            return wait
        now = self._clock()
        for bucket in self._buckets(chat):
            bucket.take(now, n)
        self._sweep(now)
        return 0.0

    def penalise(self, chat: str | None, seconds: float) -> None:
        """Honour a FloodWait: nothing goes to chat (to anyone, for None) for seconds."""
        if seconds <= 0:
            return
        until = self._clock() + timedelta(seconds=seconds)
        if chat is None:
            if self._global_penalty is None or until > self._global_penalty:
                self._global_penalty = until
            logger.warning("flood wait: all sends paused for %.0fs", seconds)
            return
        if chat not in self._penalties or until > self._penalties[chat]:
            self._penalties[chat] = until
        logger.warning("flood wait: sends to chat %s paused for %.0fs", chat, seconds)

    def _sweep(self, now: datetime) -> None:
        """Forget idle chats and expired penalties once many have piled up."""
        if len(self._chats) + len(self._groups) + len(self._penalties) < _SWEEP_AT:
            return
        for table in (self._chats, self._groups):
            for chat in [c for c, bucket in table.items() if bucket.idle(now)]:
                del table[chat]
        for chat in [c for c, until in self._penalties.items() if until <= now]:
            del self._penalties[chat]
