"""Candidate words: one Aho-Corasick pass finds the only words worth looking up.

A post has a few hundred words; a rule set cares about a handful of them. Instead of
lemmatising every word, the matcher scans the post's word view (textview) once for
word-start patterns, each " " + something:

* the first five letters of every form of a term word: one head for most words
  ("эваку"), a few for suppletive ones (уйти: "уйти", "ушли", "уйдут"), so that a typo
  further in ("эвакуцыя") or an ending the dictionary does not list still reaches the
  word matcher; for words with typo matching also typo variants of those letters and
  their romanisations ("evaku", "hmeym", "vyvod", "nashi");
* forms of up to three letters ("мы", "вс") and short "exact" words whole (" мы ");
* the text of "exact" and `prefix*` words.

Patterns start with the space before a word, so every match is the start of a word
(after an opening apostrophe, too), and no pattern begins with another, so the scan
reports each candidate word once. Every word of the post that starts with a pattern is
then matched as before (lemma, typo, place); words that start with none are never
looked at.

Only one word of a phrase needs a pattern (the others are checked next to it): the
most selective one. Terms that are only `<place>` have no letters to search for; the
concepts holding them are evaluated on demand (see Matcher).

Typos at the start of a word are covered by variants of the first letters (a letter
dropped, doubled, swapped or replaced by a look-alike sound: "эвкуация", "оттвод",
"эвокуация"); an arbitrary wrong letter in the first five ("эвакцация" is fine,
"эвфкуация" is not) is the known blind spot.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import ahocorasick

from bot.matching.morph import Morphology
from bot.matching.textview import encode_word
from bot.rules.model import Term, WordSpec

_MIN_STEM = 4
_HEAD = 5
_SHORT = 4  # words this short (too short for typo matching) are searched whole


def _whole(word: str) -> str:
    """A pattern for a whole word (a trailing space) when the word is short; numbers
    stay word starts, as letters may follow them ("An-124s", "Ил-76МД")."""
    return word + " " if len(word) <= _SHORT and not word[-1].isdigit() else word


def _common_prefix(words: Iterable[str]) -> str:
    items = list(words)
    return os.path.commonprefix(items) if items else ""


# Common romanisations of each Cyrillic letter (BGN, scientific, German/French habits).
_ROMAN: dict[str, tuple[str, ...]] = {
    "а": ("a",), "б": ("b",), "в": ("v", "w"), "г": ("g", "h"), "д": ("d",), "е": ("e", "ye", "je"),
    "ж": ("zh", "j", "z"), "з": ("z",), "и": ("i", "y"), "й": ("y", "i", "j"), "к": ("k",),
    "л": ("l",), "м": ("m",), "н": ("n",), "о": ("o",), "п": ("p",), "р": ("r",), "с": ("s",),
    "т": ("t",), "у": ("u", "ou"), "ф": ("f",), "х": ("kh", "h", "x"), "ц": ("ts", "c", "tz"),
    "ч": ("ch", "tch"), "ш": ("sh", "ch"), "щ": ("shch", "sch", "sh"), "ъ": ("",), "ы": ("y", "i"),
    "ь": ("",), "э": ("e",), "ю": ("yu", "iu", "ju", "u"), "я": ("ya", "ia", "ja", "a"),
    "і": ("i",), "ї": ("yi", "i", "ji"), "є": ("ye", "e", "je"), "ґ": ("g",), "'": ("",), "’": ("",),
}
# Letters people swap for one another by sound or habit.
_CONFUSED: dict[str, str] = {
    "а": "о", "о": "а", "е": "иэє", "и": "еыі", "ы": "и", "э": "е", "є": "е", "і": "и",
    "a": "eo", "e": "ai", "i": "ey", "o": "a", "y": "i",
}
_MAX_ROMAN = 48


def romanised_heads(stem: str, n: int = _HEAD, per_letter: int = 4) -> set[str]:
    """The first n letters of the common romanisations of a Cyrillic stem (at most
    per_letter spellings of each letter)."""
    heads = {""}
    done: set[str] = set()
    for ch in stem:
        options = _ROMAN.get(ch, (ch,))[:per_letter]
        heads = {h + o for h in heads for o in options}
        done |= {h[:n] for h in heads if len(h) >= n}
        heads = {h for h in heads if len(h) < n}
        if not heads or len(done) > _MAX_ROMAN:
            break
    return done | ({h for h in heads if len(h) >= _MIN_STEM} if len(stem) >= _MIN_STEM else set())


def typo_heads(stem: str, n: int = _HEAD) -> set[str]:
    """Word starts a typo in the first n letters of a stem turns it into: a letter
    dropped (not the first), doubled, swapped with the next one, or replaced by a
    look-alike sound."""
    head, src = stem[:n], stem[: n + 1]
    # Not the first letter: people rarely drop it, and "родина" without it is "один".
    out = {(src[:i] + src[i + 1 :])[:n] for i in range(1, min(n, len(src)))}
    out |= {(head[:i + 1] + head[i] + head[i + 1 :])[:n] for i in range(len(head))}
    out |= {head[:i] + head[i + 1] + head[i] + head[i + 2 :] for i in range(len(head) - 1)}
    out |= {head[:i] + alt + head[i + 1 :] for i, ch in enumerate(head) for alt in _CONFUSED.get(ch, "")}
    return {h for h in out if len(h) >= _MIN_STEM}


def word_patterns(spec: WordSpec, lang: str, morph: Morphology) -> set[str]:
    """Word starts (without the leading space) that any match of one term word begins with."""
    if spec.kind == "tag":
        return set()
    if spec.kind == "prefix":
        return {spec.text}
    if spec.kind == "exact":
        return {_whole(spec.text)}
    forms = morph.forms(spec.text, lang) | {spec.text} | morph.other_forms(spec.text, lang)
    # The first letters of every form: one head for most words ("эваку"), a few for
    # suppletive ones (уйти: "уйти", "ушли", "уйдут"…) and prefixed comparatives;
    # forms of up to three letters ("мы", "вс") only as whole words.
    starts = {f[: _HEAD + 1] for f in forms if len(f) > _SHORT}
    out = {h[:_HEAD] for h in starts} | {_whole(f) for f in forms if len(f) <= _SHORT}
    if spec.fuzzy is not None or spec.max_edits is not None:
        for f in forms:
            if len(f) <= _SHORT and not f.isascii():
                out |= romanised_heads(f, n=len(f) + 8, per_letter=2)  # "nashi", "ushli"
        for h in starts:
            out |= typo_heads(h)
            if not h.isascii():
                # Romanised posts ("evakuatsiya", "Hmeymim", "vyvod voysk") reach the
                # translit matcher.
                out |= romanised_heads(h)
    return {p for p in out if p}


def anchor_word(term: Term, morph: Morphology) -> int | None:
    """Which word of a term the scan looks for (None: only `<place>`-like tags)."""
    best: int | None = None
    best_key: tuple[bool, int, bool] = (False, 0, False)
    for j, spec in enumerate(term.words):
        if spec.kind == "tag":
            continue
        # The longest word is the most selective ("развертывания" rather than "районы",
        # "300" rather than "с" in "С-300"); between equals, letters beat digits ("ил"
        # in "ил-76", which "Ил76" keeps).
        key = (len(spec.text) > _SHORT, len(spec.text), spec.text.isalpha())
        if best is None or key > best_key:
            best, best_key = j, key
    return best


# A scan match's value: the pattern's length in the low bits, its id above them.
LENGTH_BITS = 8
LENGTH_MASK = (1 << LENGTH_BITS) - 1


class Scanner:
    """An automaton of word-start patterns over textview's word view.

    patterns: pattern → the term words ((term, word position) pairs) it stands for.
    A match's value holds the pattern's length and the id of the set of term words
    it stands for (`owners[id]`; a few hundred distinct sets for tens of thousands
    of patterns).
    """

    def __init__(self, patterns: dict[str, set[tuple[int, int]]]) -> None:
        self._automaton = ahocorasick.Automaton()
        shared: dict[frozenset[tuple[int, int]], frozenset[tuple[int, int]]] = {}

        def intern(owners: frozenset[tuple[int, int]]) -> frozenset[tuple[int, int]]:
            return shared.setdefault(owners, owners)

        keys: dict[str, frozenset[tuple[int, int]]] = {}
        for p, term_words in patterns.items():
            word = encode_word(p.rstrip(" ")).split(" ")[0]
            if word:
                key = word + (" " if p.endswith(" ") else "")
                # Also after an apostrophe used as a quote mark ("'withdrawal'").
                for k in (" " + key, " '" + key):
                    keys[k] = intern(keys.get(k, frozenset()) | term_words)
        # A word start that another pattern begins with adds nothing: dropping it leaves
        # at most one pattern per word start, so the overlapping scan reports each
        # candidate word once (and whole-word patterns do not swallow the next space).
        # The kept pattern stands for the term words of those it covers.
        kept: dict[str, frozenset[tuple[int, int]]] = {}
        for key in sorted(keys, key=len):
            for n in range(2, len(key)):
                prefix = key[:n]
                if prefix in kept:
                    kept[prefix] = intern(kept[prefix] | keys[key])
                    break
            else:
                kept[key] = keys[key]
        # Id 0 means "no pattern" (every word, when a test looks up all of them).
        self.owners: list[frozenset[tuple[int, int]]] = [frozenset()]
        ids: dict[frozenset[tuple[int, int]], int] = {}
        for key, owners in kept.items():
            assert len(key) <= LENGTH_MASK, key
            i = ids.get(owners)
            if i is None:
                i = ids[owners] = len(self.owners)
                self.owners.append(owners)
            self._automaton.add_word(key, len(key) | (i << LENGTH_BITS))
        self.empty = not kept
        if not self.empty:
            self._automaton.make_automaton()

    def scan(self, view: str) -> Iterator[tuple[int, int]]:
        """(end index, pattern length | pattern id << LENGTH_BITS) of each candidate
        word start, left to right."""
        return iter(()) if self.empty else self._automaton.iter(view)


def build_scanner(terms: Sequence[Term], morph: Morphology) -> tuple[Scanner, list[int | None]]:
    """The scanner for some terms, and each term's anchor word (None: tag-only term)."""
    patterns: dict[str, set[tuple[int, int]]] = {}
    anchors: list[int | None] = []
    for t, term in enumerate(terms):
        j = anchor_word(term, morph)
        anchors.append(j)
        if j is not None:
            for p in word_patterns(term.words[j], term.lang, morph):
                patterns.setdefault(p, set()).add((t, j))
    return Scanner(patterns), anchors
