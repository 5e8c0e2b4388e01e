"""Links and @mentions: addresses, not words ("@severnyi_veter" is no "сверни").

Found in the encoded text (textview), where ASCII is itself: byte searches are the
fastest; blanked there before the views are made again.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from bot.matching.textview import sentences_view, starts_view, words_view

_LINK_STARTS = (b"http://", b"https://", b"t.me/", b"www.")
# Telegram usernames are Latin letters, digits and underscores.
_MENTION = re.compile(rb"@[0-9a-z_]+")
# An address ends at white space or a line break (textview's sentence view).
_ADDRESS_END = re.compile(rb"[ N]")


def address_spans(codes: bytes, sentence_marks: bytes) -> list[tuple[int, int]]:
    """Where links and @mentions are in encoded text (its sentence view, framed, tells
    where white space is), merged."""
    spans: list[tuple[int, int]] = []
    n = len(codes)
    for marker in _LINK_STARTS:
        i = codes.find(marker)
        while i != -1:
            m = _ADDRESS_END.search(sentence_marks, i + 1)
            j = m.start() - 1 if m is not None and m.start() <= n else n
            spans.append((i, j))
            i = codes.find(marker, j)
    if b"@" in codes:
        spans += [m.span() for m in _MENTION.finditer(codes)]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def inside(i: int, spans: list[tuple[int, int]]) -> bool:
    """Whether text index i lies in one of some sorted, disjoint spans."""
    k = bisect_right(spans, (i, 1 << 62)) - 1
    return k >= 0 and spans[k][0] <= i < spans[k][1]


def blank_addresses(spans: list[tuple[int, int]], codes: bytes) -> tuple[str, bytes, bytes]:
    """The word, word-start and sentence views of encoded text with links and @mentions
    (text spans) turned into white space."""
    blanked = bytearray(codes)
    for a, b in spans:
        blanked[a:b] = b" " * (b - a)
    out = bytes(blanked)
    return words_view(out), starts_view(out), sentences_view(out)
