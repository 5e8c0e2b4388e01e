"""Typo matching targets: the inflected forms of term words, searched with RapidFuzz.

A pool holds forms (each pointing at the term words it stands for); a large pool (every
term word's forms) is indexed by the first letters, a small one (the few term words a
scan pattern stands for) is compared whole. Two common slips that cost a short word too
much similarity (a vowel written as heard, two neighbouring letters swapped) are looked up
by key in one index shared by all pools (see TypoPool.slips).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

SMALL_POOL = 256  # typo pools this small are searched without an index


@dataclass
class TypoPool:
    """Target word forms for typo matching, each pointing at the term words it stands for."""

    forms: list[str] = field(default_factory=list)
    entries: list[list[tuple[int, int, float]]] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, form: str, term: int, pos: int, threshold: float) -> None:
        """Add a form standing for word pos of term, matched at threshold or above."""
        i = self._index.get(form)
        if i is None:
            i = self._index[form] = len(self.forms)
            self.forms.append(form)
            self.entries.append([])
        self.entries[i].append((term, pos, threshold))

    # Head key → its forms sorted by length, their indexes, their lengths.
    _buckets: dict[str, tuple[list[str], list[int], list[int]]] = field(default_factory=dict)

    def slips(self, probe: str, index: SlipIndex) -> list[tuple[float, str, int]]:
        """Forms of this pool one common slip away from probe, which costs a short word
        too much plain similarity: two neighbouring letters swapped ("ввыод",
        "evacuaiton"), or in Cyrillic only vowels people confuse ("вывад", see
        vowel_skeleton). Scored halfway between the plain similarity and 100:
        (score, form, index). `index` is slip_index() of every form of every pool."""
        if not self._index and self.forms:
            self._index = {form: i for i, form in enumerate(self.forms)}
        out: dict[int, tuple[float, str, int]] = {}
        for key in _slip_keys(probe):
            for form in index.get(key, ()):
                i = self._index.get(form)
                if i is None or form == probe or i in out:
                    continue
                if key[0] == "t" and OSA.distance(probe, form, score_cutoff=1) != 1:
                    continue  # the same letters, but more than one swap apart
                out[i] = ((fuzz.ratio(probe, form) + 100.0) / 2, form, i)
        return list(out.values())

    def lowest(self) -> float:
        """The lowest threshold of any target (101 when empty)."""
        return min((t for e in self.entries for _, _, t in e), default=101.0)

    def search(self, probe: str, cutoff: float, limit: int = 3) -> list[tuple[float, str, int]]:
        """The best forms reaching `cutoff` against probe: (score, form, index), best first.

        Compared are forms of close length that share one of the head_keys with probe
        (the first letter and two of the next three). fuzz.ratio ≥ r needs the shorter
        string to be at least r/(200-r) of the longer one, so other lengths cannot
        qualify. One typo among the first four letters (dropped, doubled, swapped,
        replaced) keeps a shared key; a typo in the very first letter, or two among the
        first four, are rare enough to trade for comparing against a few dozen forms
        instead of thousands.
        """
        if len(self.forms) <= SMALL_POOL:
            # A pool of a few term words' forms: comparing with all of them is cheaper
            # than indexing them (typos at the first letter then count too).
            return [
                (score, form, i)
                for form, score, i in process.extract(
                    probe, self.forms, scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit
                )
            ]
        if not self._buckets:
            grouped: dict[str, list[tuple[int, str, int]]] = {}
            for i, form in enumerate(self.forms):
                for k in head_keys(form):
                    grouped.setdefault(k, []).append((len(form), form, i))
            for k, items in grouped.items():
                items.sort()
                self._buckets[k] = ([f for _, f, _ in items], [i for _, _, i in items], [n for n, _, _ in items])
        ratio = cutoff / (200 - cutoff)
        lo, hi = int(len(probe) * ratio), int(len(probe) / ratio) + 1
        found: dict[int, tuple[float, str, int]] = {}
        for key in head_keys(probe):
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            forms, index, lengths = bucket
            a, z = bisect_left(lengths, lo), bisect_right(lengths, hi)
            if a < z:
                for form, score, pos in process.extract(
                    probe, forms[a:z], scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit
                ):
                    i = index[a + pos]
                    found[i] = (score, form, i)
        # Best first; between equal scores the earlier-added form, as one list would give.
        return sorted(found.values(), key=lambda x: (-x[0], x[2]))[:limit]


# Unstressed vowels are written as they sound: о/а ("вывад"), е/и/я/э/ы/і/є/ї ("атступили").
_VOWEL_CLASSES = str.maketrans({"о": "а", "е": "и", "я": "и", "э": "и", "ы": "и", "і": "и", "є": "и", "ї": "и"})


def vowel_skeleton(word: str) -> str:
    """A Cyrillic word with confusable vowels merged ("вывод" and "вывад" → "вывад")."""
    return word.translate(_VOWEL_CLASSES)


SlipIndex = dict[str, list[str]]


def slip_index(forms: Iterable[str]) -> SlipIndex:
    """Forms by slip key (see TypoPool.slips): one index shared by all pools."""
    index: SlipIndex = {}
    for form in dict.fromkeys(forms):
        for key in _slip_keys(form):
            index.setdefault(key, []).append(form)
    return index


def _slip_keys(word: str) -> tuple[str, ...]:
    """Index keys under which a word and its one-slip variants meet: its letters sorted
    ("t…": a swap keeps them), and for Cyrillic its vowel skeleton ("v…")."""
    letters = "t" + "".join(sorted(word))
    return (letters, "v" + vowel_skeleton(word)) if not word.isascii() else (letters,)


def head_keys(word: str) -> tuple[str, ...]:
    """The first letter with two of the next three, in order ("эвакуация" → "эва", "эак",
    "эвк"): one typo among the first four letters (not the first) keeps one of them."""
    return tuple(dict.fromkeys((word[:3], word[:1] + word[2:4], word[:2] + word[3:4])))


class TypoPools(NamedTuple):
    """Typo-matching targets: Cyrillic forms, Latin forms, Latin skeletons of Cyrillic
    forms, and words with an edit limit (forms, edits, term, position)."""

    cyr: TypoPool
    lat: TypoPool
    skel: TypoPool
    edits: list[tuple[frozenset[str], int, int, int]]
