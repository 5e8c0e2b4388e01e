"""Transliteration skeletons, so "evakuatsiya" and "Hmeimim" meet "эвакуация" and "Хмеймим"."""

from __future__ import annotations

import re
from functools import lru_cache

_CYR_TO_LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "'": "", "’": "", "ʼ": "",
}

# Spelling variants that different romanisations use for the same sound, folded to one.
_SKELETON_STEPS: tuple[tuple[str, str], ...] = (
    ("shch", "sh"), ("sch", "sh"), ("kh", "h"), ("x", "ks"), ("tz", "c"), ("ts", "c"),
    ("ck", "k"), ("q", "k"), ("ph", "f"), ("w", "v"), ("j", "y"), ("y", "i"),
)
_DOUBLES = re.compile(r"(.)\1+")


_TO_LATIN = str.maketrans(_CYR_TO_LAT)


def to_latin(word: str) -> str:
    """Romanise a Cyrillic word letter by letter (Latin letters pass through)."""
    return word.translate(_TO_LATIN)


def skeleton(latin: str) -> str:
    """Fold a romanised word to a coarse skeleton shared by common romanisations."""
    s = latin.lower()
    for a, b in _SKELETON_STEPS:
        s = s.replace(a, b)
    return _DOUBLES.sub(r"\1", s)


@lru_cache(maxsize=65536)  # term forms recur across terms and rule reloads
def cyrillic_skeleton(word: str) -> str:
    """The skeleton of a Cyrillic word, comparable with skeleton(latin_word)."""
    return skeleton(to_latin(word))
