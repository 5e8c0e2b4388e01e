"""Sentences of a post, by character offset: line breaks and sentence punctuation."""

from __future__ import annotations

import re
from bisect import bisect_right

# A sentence ends at a line break, or at . ! ? … followed by white space. (Colons and
# semicolons do not end one here: "МО: войска отведены" is one statement.)
_END = re.compile(r"\n+|[.!?…]+(?=\s)")
_LETTER = re.compile(r"[^\W\d_]")


class SentenceIndex:
    """Which sentence an offset of the original text is in; sentences without a letter
    (an emoji line, a row of dashes) are not counted, so "first" means the first one
    that says something."""

    def __init__(self, text: str) -> None:
        """Split text once; offsets are then looked up in O(log n)."""
        starts = [0]
        starts += [m.end() for m in _END.finditer(text)]
        self._starts: list[int] = []
        self._numbers: list[int] = []
        number = -1
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(text)
            if _LETTER.search(text, start, end) is not None:
                number += 1
            self._starts.append(start)
            # A letterless piece counts as part of the sentence before it (or the first).
            self._numbers.append(max(number, 0))
        self.count = number + 1

    def of(self, offset: int) -> int:
        """The number (0 = first) of the sentence holding a character offset."""
        return self._numbers[max(bisect_right(self._starts, offset) - 1, 0)]
