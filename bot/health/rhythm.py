"""A channel's rhythm: the gaps between its posts, learned per hour of the day.

A channel that posts every half hour in the day and sleeps from midnight to seven is
not "silent" at 03:00, but it is at 15:00 after four quiet hours. So each gap between
two posts is filed under the hour (UTC) of the post that opened it, and a silence is
judged against the gaps that opened at about the same hour.

Pure: dates in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

LEARN_WINDOW = timedelta(days=28)  # the posts a rhythm is learned from
MIN_GAPS = 5  # fewer gaps than this in the window: the rhythm is still being learned
MIN_POOL = 4  # gaps needed around an hour before that hour's figure is trusted
QUANTILE = 0.9  # the "usual longest" gap: 9 of 10 gaps are shorter
# Widening circles of hours around the silence's hour; 12 takes the whole day.
_RADII = (1, 3, 12)


@dataclass(frozen=True)
class Rhythm:
    """Gaps between a channel's posts (seconds), by the UTC hour of the post opening each."""

    by_hour: tuple[tuple[float, ...], ...]  # 24 tuples
    posts: int  # posts it was learned from

    @classmethod
    def learn(cls, dates: Sequence[datetime]) -> Rhythm:
        """Learn from post dates (any order; equal dates are one burst, not a gap)."""
        return cls.learn_seconds([int(d.timestamp()) for d in dates])

    @classmethod
    def learn_seconds(cls, times: Sequence[int]) -> Rhythm:
        """Learn from post times in Unix seconds (any order)."""
        ordered = sorted(times)
        hours: list[list[float]] = [[] for _ in range(24)]
        for before, after in pairwise(ordered):
            if after > before:
                hours[(before // 3600) % 24].append(float(after - before))  # the UTC hour
        return cls(tuple(tuple(sorted(h)) for h in hours), len(ordered))

    @property
    def gaps(self) -> int:
        """How many gaps it was learned from."""
        return sum(len(h) for h in self.by_hour)

    @property
    def learned(self) -> bool:
        """Whether there are enough gaps to judge a silence by."""
        return self.gaps >= MIN_GAPS

    def usual_longest_gap(self, hour: int) -> timedelta | None:
        """The gap 9 in 10 gaps opening around this hour stay under; None while learning."""
        if not self.learned:
            return None
        for radius in _RADII:
            hours = {(hour + offset) % 24 for offset in range(-radius, radius + 1)}
            pool = sorted(gap for h in hours for gap in self.by_hour[h])
            if len(pool) >= MIN_POOL:
                return timedelta(seconds=_quantile(pool, QUANTILE))
        return None  # pragma: no cover - the whole day holds MIN_GAPS >= MIN_POOL gaps

    def describe(self) -> str:
        """A short summary for status lines: '42 posts, 41 gaps'."""
        return f"{self.posts} posts, {self.gaps} gaps"


def _quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (the value itself, never interpolated)."""
    rank = max(1, math.ceil(q * len(values)))
    return values[rank - 1]
