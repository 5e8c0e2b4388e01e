"""Parse one term as operators write it: word, phrase, "exact", prefix*, typo~."""

from __future__ import annotations

import re

from bot.matching.normalize import normalize
from bot.rules.model import WordSpec

_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*|\d+")
_FUZZY_SUFFIX = re.compile(r"~(\d+)?$")
MIN_PREFIX = 3
# Word classes: "<place>" is any geographic name (Сирия, Тартус, Херсон); "<village>" a
# village or small town no list needs to name, known by its shape ("Работино",
# "Красногоровку", "Олександрівка"), written with a capital letter.
TAG_TERMS = ("<place>", "<village>")


class TermSyntaxError(ValueError):
    """A term that cannot be understood; the message says why and how to fix it."""


def split_words(text: str) -> list[str]:
    """Words of a normalised term, tokenised exactly like post text."""
    return _WORD.findall(text)


def parse_term(raw: str, default_fuzzy: float, quoted: bool = False) -> tuple[WordSpec, ...]:
    """Turn a term string into word specs, or raise TermSyntaxError.

    `quoted` says the operator wrote the term in quotes in the YAML file, which makes it
    an exact form or phrase, as in every search engine they know.
    """
    text = raw.strip()
    if not text:
        raise TermSyntaxError("empty term")
    if quoted and text[0] not in "\"'«“":
        text = f'"{text}"'
    if text[0] in "\"'«“":
        closing = {"\"": "\"", "'": "'", "«": "»", "“": "”"}[text[0]]
        if len(text) < 2 or text[-1] != closing:
            raise TermSyntaxError(f"unbalanced quote in {raw!r}: close it with {closing}")
        inner = normalize(text[1:-1]).text
        words = split_words(inner)
        if not words:
            raise TermSyntaxError(f"no words inside quotes in {raw!r}")
        if any(ch in inner for ch in "*~"):
            raise TermSyntaxError(f"{raw!r}: quoted terms are exact; drop the quotes to use * or ~")
        return tuple(WordSpec("exact", w) for w in words)
    if text.startswith("<") and text.endswith(">"):
        if text.lower() in TAG_TERMS:
            return (WordSpec("tag", text.lower()[1:-1]),)
        raise TermSyntaxError(f"{raw!r}: unknown word class (known: {', '.join(TAG_TERMS)})")
    if any(ch in text for ch in "\"«»“”"):
        raise TermSyntaxError(f"quote inside {raw!r}: quote the whole term for an exact phrase")
    specs: list[WordSpec] = []
    for chunk in text.split():
        fuzzy: float | None = default_fuzzy if default_fuzzy > 0 else None
        max_edits: int | None = None
        m = _FUZZY_SUFFIX.search(chunk)
        if m:
            chunk = chunk[: m.start()]
            n = m.group(1)
            if n is not None and len(n) > 3:
                # Refused before int() reads it: a 5,000-digit string makes int() raise.
                raise TermSyntaxError(
                    f"{raw[:40]!r}: ~{n[:6]}… is neither an edit count (1-3) "
                    "nor a similarity (50-100)"
                )
            if n is None:
                fuzzy = default_fuzzy if default_fuzzy > 0 else 86.0
            elif int(n) <= 3:
                max_edits = int(n)
            elif 50 <= int(n) <= 100:
                fuzzy = float(n)
            else:
                raise TermSyntaxError(
                    f"{raw!r}: ~{n} is neither an edit count (1-3) nor a similarity (50-100)"
                )
        prefix = chunk.endswith("*")
        if prefix:
            chunk = chunk[:-1]
        if "*" in chunk:
            raise TermSyntaxError(f"{raw!r}: '*' is only allowed at the end of a word")
        words = split_words(normalize(chunk).text)
        if not words:
            raise TermSyntaxError(f"{raw!r}: {chunk!r} holds no letters or digits")
        # "Ил-76" is two words, as in post text; modifiers apply to the last one.
        specs.extend(WordSpec("lemma", w) for w in words[:-1])
        word = words[-1]
        if prefix:
            if len(word) < MIN_PREFIX:
                raise TermSyntaxError(
                    f"{raw!r}: prefix {word!r}* is shorter than {MIN_PREFIX} letters and "
                    "would match far too many words"
                )
            specs.append(WordSpec("prefix", word))
        else:
            specs.append(WordSpec("lemma", word, fuzzy=fuzzy, max_edits=max_edits))
    return tuple(specs)
