"""Evasion-proof text normalisation that keeps a map back to the original offsets.

Posts hide words from naive bots with Latin look-alike letters inside Cyrillic words,
zero-width characters, spaced-out letters and hyphenation across line breaks. The
matcher works on the normalised text; every normalised character remembers which
original characters it came from, so spans can be highlighted in the post as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

from bot.matching import textview

# Characters that render as nothing; dropped so "эвак\u200bуация" becomes one word.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f")
_INVISIBLE_RE = re.compile("[" + "".join(sorted(_INVISIBLE)) + "]")

# Latin letters that look like Cyrillic ones (after case folding), and back.
_LAT_TO_CYR = {
    "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "i": "і", "k": "к", "m": "м",
    "o": "о", "p": "р", "t": "т", "x": "х", "y": "у",
}
_CYR_TO_LAT = {
    "а": "a", "в": "b", "с": "c", "е": "e", "н": "h", "і": "i", "к": "k", "м": "m",
    "о": "o", "р": "p", "т": "t", "х": "x", "у": "y", "ј": "j", "ѕ": "s",
}

_CYR = re.compile(r"[\u0400-\u04ff]")
_LAT = re.compile(r"[a-z]")
# A Cyrillic letter touching a Latin one: every mixed-script word has such a seam.
# (A linear scan; a "word holding both scripts" pattern backtracks badly on long posts.)
_SCRIPT_SEAM = re.compile(r"[\u0400-\u04ff][a-z]|[a-z][\u0400-\u04ff]")
_LETTERS = re.compile(r"[^\W\d_]+")
# Four or more single letters separated by one space, dot, hyphen, underscore or star,
# the same separator throughout: "э в а к у а ц и я", "в-ы-в-о-д".
_SPACED = re.compile(
    r"(?<![^\W\d_])[^\W\d_](?P<sep>[ .\-_*])[^\W\d_](?:(?P=sep)[^\W\d_]){2,}(?![^\W\d_])"
)
# A word broken by a hyphen at the end of a line: "покину-\nли".
_LINE_HYPHEN = re.compile(r"(?<=[^\W\d_])[-\u2010\u2011][ \t]*\r?\n[ \t]*(?=[^\W\d_])")
# Stress marks and other combining diacritics (вы́вод) split words unless removed.
_COMBINING_OR_INVISIBLE = re.compile(
    "[\u0300-\u036f\u0483-\u0489" + "".join(sorted(_INVISIBLE)) + "]"
)
# Cheap pre-checks (a literal-led search or a C-level translate) so that ordinary posts
# never run the patterns above, whose per-position look-arounds cost ~25 µs a post.
_HYPHEN_NEWLINE = re.compile(r"[-\u2010\u2011][ \t]*\r?\n")
_ANY_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN_RUN = re.compile("[a-z]+")
_SPACED_BY_SPACES = re.compile(r" \S \S \S(?: |$)|^\S \S \S \S")
_SPACED_BY_MARKS = re.compile(r"[.\-_*]\w[.\-_*]\w[.\-_*]")


def _has_seam(folded: str) -> bool:
    """True when some Cyrillic letter touches a Latin one (a mixed-script word)."""
    if not _ANY_CYRILLIC.search(folded):
        return False
    n = len(folded)
    for m in _LATIN_RUN.finditer(folded):
        i, j = m.span()
        if (i and "\u0400" <= folded[i - 1] <= "\u04ff") or (j < n and "\u0400" <= folded[j] <= "\u04ff"):
            return True
    return False


def _maybe_spaced(text: str) -> bool:
    """True when the text may hold spaced-out letters ("э в а к у", "в-ы-в-о-д")."""
    return bool(_SPACED_BY_SPACES.search(text) or _SPACED_BY_MARKS.search(text))


# Characters whose NFKC form can differ in a way that matters for words: everything
# outside Latin, Cyrillic, general punctuation/symbols, emoji and variation selectors
# (there NFKC only rewrites "‼" or "…", which never touches a word).
_NFKC_RELEVANT = re.compile(
    "[^\u0000-\u024f\u0400-\u04ff\u2000-\u2bff\u3000-\u303f\ufe00-\ufe0f\U0001f000-\U0001faff]"
)


def _nfkc_is_moot(text: str) -> bool:
    """True when NFKC would change nothing that can be part of a word."""
    return not _NFKC_RELEVANT.search(text) or unicodedata.is_normalized("NFKC", text)


def _needs_slow(folded: str) -> bool:
    """Whether anything beyond case folding is needed."""
    return bool(
        _COMBINING_OR_INVISIBLE.search(folded)
        or _HYPHEN_NEWLINE.search(folded)
        or _maybe_spaced(folded)
    )


# Code points kept by the fast path: Latin, Cyrillic, general punctuation and symbols,
# emoji, variation selectors (NFKC changes nothing there that can be part of a word).
_SAFE_RANGES = (
    (0x0000, 0x00AC), (0x00AE, 0x024F), (0x0400, 0x0482), (0x048A, 0x04FF),
    (0x2000, 0x200A), (0x2010, 0x205F), (0x2065, 0x2BFF), (0x3000, 0x303F),
    (0xFE00, 0xFE0F), (0x1F000, 0x1FAFF),
)


def _class_of(ranges: tuple[tuple[int, int], ...], exclude: set[int]) -> str:
    """The body of a regex class for the ranges minus some code points."""
    parts: list[str] = []
    for lo, hi in ranges:
        start = lo
        for cp in [*sorted(c for c in exclude if lo <= c <= hi), hi + 1]:
            if start <= cp - 1:
                parts.append(re.escape(chr(start)) + "-" + re.escape(chr(cp - 1)))
            start = cp + 1
    return "".join(parts)


# The fast path lower-cases (str.lower, twice as fast as casefold); in the safe ranges
# these few characters fold to something else ("ß" → "ss", "ſ" → "s"), so they do not
# count as safe.
_FOLDS_UNLIKE_LOWER = {
    cp for lo, hi in _SAFE_RANGES for cp in range(lo, hi + 1) if chr(cp).lower() != chr(cp).casefold()
}
# Everything that can need more than lower-casing: characters NFKC may rewrite inside
# words, combining marks (incl. Cyrillic ones), invisible characters and the above.
# One C-level search; almost every post has none of them.
_SUSPICIOUS = re.compile("[^" + _class_of(_SAFE_RANGES, _FOLDS_UNLIKE_LOWER) + "]")
# Three single letters in a row (textview letters view: digits are no letters, so
# "a 6.3-inch" is no run): every run of four or more spaced-out letters holds one,
# ordinary text almost never.
_SINGLE_LETTERS = re.compile(rb" a a a ")
# A Cyrillic letter next to a Latin one (textview scripts view).
_SEAM_CL, _SEAM_LC = re.compile(rb"cl"), re.compile(rb"lc")
# A hyphen, spaces and a line break (textview sentence view; "\r" counts as a space).
_HYPHEN_BREAK = re.compile(rb"-[ ]*N")


def _views(codes: bytes) -> tuple[bytes, bytes]:
    """The word-start and sentence views of encoded text (see textview)."""
    return textview.starts_view(codes), textview.sentences_view(codes)


def _needs_checking(codes: bytes, sentence_marks: bytes, folded: str) -> bool:
    """Whether lower-cased text may hold spaced letters, line-break hyphens or
    mixed-script words: byte-level checks, each confirmed by its exact pattern only when
    it fires (those cost ~30 µs a post)."""
    letters = b" " + codes.translate(textview.LETTERS_TABLE) + b" "
    if _SINGLE_LETTERS.search(letters) and _SPACED.search(folded):
        return True
    if _HYPHEN_BREAK.search(sentence_marks) and _LINE_HYPHEN.search(folded):
        return True
    scripts = codes.translate(textview.SCRIPTS_TABLE)
    # (Literal patterns: sre searches those faster than bytes.__contains__ does.)
    return bool(
        b"l" in scripts and b"c" in scripts and (_SEAM_CL.search(scripts) or _SEAM_LC.search(scripts))
        and _has_seam(folded)
    )


class Normalized(NamedTuple):
    """Normalised text plus, per character, the original [start, end) it came from."""

    text: str
    original: str
    starts: tuple[int, ...] | None  # None: identity map (fast path)
    ends: tuple[int, ...] | None
    codes: bytes = b""  # textview.encode(text): one byte per character
    word_marks: bytes = b""  # textview.starts_view(codes)
    sentence_marks: bytes = b""  # textview.sentences_view(codes)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text to the original text."""
        if end <= start:
            return (0, 0) if not self.starts else self._point(start)
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]

    def _point(self, i: int) -> tuple[int, int]:
        assert self.starts is not None
        if i < len(self.starts):
            return self.starts[i], self.starts[i]
        n = len(self.original)
        return n, n


_FOLD_CACHE: dict[str, str] = {}


def _fold_one(ch: str) -> str:
    """NFKC + casefold + ё→е of one character, cached (a post repeats few characters)."""
    out = _FOLD_CACHE.get(ch)
    if out is None:
        out = unicodedata.normalize("NFKC", ch).casefold().replace("ё", "е")
        out = "".join(c for c in out if c not in _INVISIBLE and not unicodedata.combining(c))
        if len(_FOLD_CACHE) < 50_000:
            _FOLD_CACHE[ch] = out
    return out


def _fold_char_seq(text: str) -> tuple[list[str], list[int], list[int]]:
    """NFKC + casefold + ё→е per character cluster, dropping invisible characters."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        if i + 1 == n or not unicodedata.combining(text[i + 1]):
            # The common case: a character without combining marks after it.
            for ch in _fold_one(text[i]):
                chars.append(ch)
                starts.append(i)
                ends.append(i + 1)
            i += 1
            continue
        j = i + 1
        # Keep combining marks with their base so "и\u0306" composes to "й".
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        if cluster[0] in _INVISIBLE and j == i + 1:
            i = j
            continue
        out = unicodedata.normalize("NFKC", cluster).casefold().replace("ё", "е")
        for ch in out:
            if ch in _INVISIBLE or unicodedata.combining(ch):
                continue
            chars.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return chars, starts, ends


def _fold_homoglyphs(word: str) -> str:
    """Fold a mixed-script word to the script its look-alike letters allow."""
    cyr = len(_CYR.findall(word))
    lat = len(_LAT.findall(word))
    lat_ok = all(ch in _LAT_TO_CYR for ch in word if "a" <= ch <= "z")
    cyr_ok = all(ch in _CYR_TO_LAT for ch in word if "\u0400" <= ch <= "\u04ff")
    if lat_ok and (cyr >= lat or not cyr_ok):
        return "".join(_LAT_TO_CYR.get(ch, ch) for ch in word)
    if cyr_ok:
        return "".join(_CYR_TO_LAT.get(ch, ch) for ch in word)
    return word


def normalize(text: str) -> Normalized:
    """Normalise a post for matching; see the module docstring for what is undone."""
    folded = text.lower()
    if len(folded) == len(text) and (b"?" not in (codes := textview.encode(folded)) or not _SUSPICIOUS.search(text)):
        # No character needs more than lower-casing. Text whose every lower-cased
        # character is in textview's code page ("?" marks any other) needs no search:
        # there lower-casing and case folding agree (tests/test_normalize.py).
        words, sentences = _views(codes)
        if not _needs_checking(codes, sentences, folded):
            # Same length and no structural change: offsets are the identity.
            ntext = folded.replace("ё", "е") if "ё" in folded else folded
            return Normalized(ntext, text, None, None, codes, words, sentences)
    folded = text.casefold()
    if len(folded) == len(text) and _nfkc_is_moot(text) and not _needs_slow(folded) and not _has_seam(folded):
        return _finish(folded.replace("ё", "е"), text, None, None)

    if len(folded) == len(text) and _nfkc_is_moot(text):
        # Case folding kept every character in place: only drop invisible ones.
        # Only invisible characters and marks go: copy the runs between them whole.
        starts: list[int] = []
        ends: list[int] = []
        parts: list[str] = []
        pos = 0
        for m in _COMBINING_OR_INVISIBLE.finditer(folded):
            i = m.start()
            parts.append(folded[pos:i])
            starts.extend(range(pos, i))
            ends.extend(range(pos + 1, i + 1))
            if unicodedata.combining(folded[i]) and ends:
                ends[-1] = i + 1  # the mark belongs to the letter before it
            pos = i + 1
        parts.append(folded[pos:])
        starts.extend(range(pos, len(folded)))
        ends.extend(range(pos + 1, len(folded) + 1))
        s = "".join(parts).replace("ё", "е")
    else:
        chars, starts, ends = _fold_char_seq(text)
        s = "".join(chars)

    def apply(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> None:
        """Rewrite matches of pattern, keeping the per-character offset map aligned."""
        nonlocal s, starts, ends
        out: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        pos = 0
        for m in pattern.finditer(s):
            out.append(s[pos : m.start()])
            new_starts.extend(starts[pos : m.start()])
            new_ends.extend(ends[pos : m.start()])
            replacement = repl(m)
            if len(replacement) == m.end() - m.start():
                out.append(replacement)
                new_starts.extend(starts[m.start() : m.end()])
                new_ends.extend(ends[m.start() : m.end()])
            else:
                # Keep the letters only: map each kept letter to its own source char.
                kept = [k for k in range(m.start(), m.end()) if s[k].isalpha()]
                assert len(kept) == len(replacement)
                out.append(replacement)
                new_starts.extend(starts[k] for k in kept)
                new_ends.extend(ends[k] for k in kept)
            pos = m.end()
        out.append(s[pos:])
        new_starts.extend(starts[pos:])
        new_ends.extend(ends[pos:])
        s = "".join(out)
        starts, ends = new_starts, new_ends

    if _HYPHEN_NEWLINE.search(s):
        apply(_LINE_HYPHEN, lambda m: "")
    if _maybe_spaced(s):
        apply(_SPACED, lambda m: "".join(ch for ch in m.group(0) if ch.isalpha()))
    if _has_seam(s):
        apply(_LETTERS, lambda m: _fold_homoglyphs(m.group(0)) if _SCRIPT_SEAM.search(m.group(0)) else m.group(0))
    return _finish(s, text, tuple(starts), tuple(ends))


def _finish(s: str, text: str, starts: tuple[int, ...] | None, ends: tuple[int, ...] | None) -> Normalized:
    codes = textview.encode(s)
    return Normalized(s, text, starts, ends, codes, *_views(codes))
