"""Word forms: cached lemmatisation for Russian and Ukrainian (pymorphy3) and English."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_UK_LETTERS = re.compile(r"[іїєґ]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")

# English irregular forms that matter for the topics; regular ones are stripped by rule.
_EN_IRREGULAR = {
    "withdrew": "withdraw", "withdrawn": "withdraw", "drew": "draw", "drawn": "draw",
    "left": "leave", "fled": "flee", "took": "take", "taken": "take", "went": "go",
    "gone": "go", "flew": "fly", "flown": "fly", "began": "begin", "begun": "begin",
    "abandoned": "abandon", "quit": "quit", "moved": "move", "driven": "drive",
    "drove": "drive", "ran": "run", "sent": "send", "brought": "bring", "got": "get",
    "pulled": "pull", "shipped": "ship", "women": "woman", "men": "man", "children": "child",
    # Not the -ed form of a noun ("the United States" withdrew, no unit did).
    "united": "unite", "limited": "limit",
}
_CACHE_LIMIT = 200_000

# Front-line villages are mostly missing from the dictionaries ("Красногоровка",
# "Работино", "Малодубрівку"), yet their names follow a few word-formation patterns.
# A word NO dictionary knows with such an ending counts as a place name: "-овка/-евка/
# -івка" in any case form, and "-ино/-ово/-ево" (Ukrainian "-ине/-ове/-еве"). Known words
# never do ("подготовка" is no village), nor short ones.
_SETTLEMENT = re.compile(
    r"(?:[оеёії]вк(?:а|и|е|у|ой|ою|і)|[иы]но|[оеё]во|[иі]не|[оеє]ве)$"
)
_SETTLEMENT_MIN_LEN = 7
# The Ukrainian dictionary marks no word as a place name. It does list thousands of
# villages, though: nouns without plural forms whose dictionary forms end like this
# ("олександрівка", "курахове", "покровськ"). Common nouns shaped the same way have
# plurals ("готівка", cash: готівки), so they do not count.
_UK_SETTLEMENT_LEMMA = re.compile(r"(?:[ії]вка|[оеє]ве|[иі]не|[сц]ьк)$")
# Place readings (Morphology.place_reading): none, a dictionary's likeliest reading, or
# only the word's shape (slang such as "кринжово" is shaped like a village too, so the
# matcher counts those only where the post writes them with a capital letter).
NO_PLACE, PLACE_BY_DICTIONARY, PLACE_BY_SHAPE = 0, 1, 2


@dataclass(frozen=True)
class WordInfo:
    """What morphology knows about one normalised word."""

    lemmas: frozenset[str]
    known: bool  # in a dictionary (fuzzy matching is only for unknown words)
    script: str  # "cyr", "lat" or "other"
    place: bool = False  # a geographic name (dictionary reading, or a village-like word)
    place_shape: bool = False  # ... only by its shape: counts where written with a capital


def en_lemmas(word: str) -> frozenset[str]:
    """Candidate English base forms of a word (over-generates on purpose; sets intersect)."""
    out = {word}
    if word in _EN_IRREGULAR:
        return frozenset({word, _EN_IRREGULAR[word]})
    n = len(word)
    if n > 4 and word.endswith("ies"):
        out.add(word[:-3] + "y")
    if n > 3 and word.endswith("es"):
        out.add(word[:-2])
    if n > 3 and word.endswith("s") and not word.endswith("ss"):
        out.add(word[:-1])
    for suffix in ("ing", "ed"):
        if n > len(suffix) + 2 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            out.update({stem, stem + "e"})
            if len(stem) > 2 and stem[-1] == stem[-2]:
                out.add(stem[:-1])
            if suffix == "ed" and stem.endswith("i"):
                out.add(stem[:-1] + "y")
    return frozenset(out)


def en_forms(lemma: str) -> set[str]:
    """Common inflected forms of an English base form, for fuzzy comparison."""
    forms = {lemma, lemma + "s", lemma + "ed", lemma + "ing"}
    if lemma.endswith("e"):
        forms |= {lemma + "d", lemma[:-1] + "ing"}
    if lemma.endswith("y"):
        forms |= {lemma[:-1] + "ies", lemma[:-1] + "ied"}
    forms |= {k for k, v in _EN_IRREGULAR.items() if v == lemma}
    return forms


def looks_like_settlement(word: str) -> bool:
    """Whether a word is shaped like a village name (see _SETTLEMENT)."""
    return len(word) >= _SETTLEMENT_MIN_LEN and _SETTLEMENT.search(word) is not None


def _place_tag_ids(analyzer: Any) -> frozenset[int]:
    """The ids of a dictionary's tags that mark a geographic name (grammeme Geox)."""
    return frozenset(i for i, tag in enumerate(analyzer.dictionary.gramtab) if "Geox" in str(tag))


class Morphology:
    """Lemmas and dictionary knowledge per word, with a bounded cache."""

    def __init__(self, use_ukrainian: bool = True) -> None:
        import pymorphy3

        self._ru: Any = pymorphy3.MorphAnalyzer(lang="ru")
        self._uk: Any = None
        if use_ukrainian:
            try:
                self._uk = pymorphy3.MorphAnalyzer(lang="uk")
            except (ImportError, ValueError, OSError) as exc:
                # The Ukrainian dictionary is an optional extra (its licence is GPLv3).
                logger.info("Ukrainian dictionary not installed (%s); using Russian only", exc)
        # Tag ids that mark a place name, per dictionary (see _may_be_place).
        self._geox = {id(a): _place_tag_ids(a) for a in (self._ru, self._uk) if a is not None}
        self._uk_plural_tags: frozenset[int] = frozenset(
            i for i, tag in enumerate(self._uk.dictionary.gramtab) if "plur" in str(tag)
        ) if self._uk is not None else frozenset()
        self._plural_paradigms: dict[int, bool] = {}
        self._cache: dict[str, WordInfo] = {}
        self._places: dict[str, int] = {}
        self._in_dictionaries: dict[str, tuple[bool, bool]] = {}
        self._forms: dict[tuple[str, str], frozenset[str]] = {}  # term words: few, kept
        self._other: dict[tuple[str, str], frozenset[str]] = {}  # the same, other dictionary

    @property
    def has_ukrainian(self) -> bool:
        """True when the optional Ukrainian dictionary is loaded."""
        return self._uk is not None

    def info(self, word: str) -> WordInfo:
        """Lemmas, dictionary status and script of a normalised (lower-case) word."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        result = self._analyse(word)
        self._cache[word] = result
        return result

    def known(self, word: str) -> bool:
        """Whether a dictionary knows the word (a cheap lookup; English has none)."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached.known
        if word.isascii() or not _CYRILLIC.search(word):
            return False
        ru_known, uk_known = self._dictionaries(word)
        return ru_known or uk_known

    def _dictionaries(self, word: str) -> tuple[bool, bool]:
        """(Russian knows it, Ukrainian knows it) for a Cyrillic word, cached: the scan,
        place readings and full analysis all ask."""
        found = self._in_dictionaries.get(word)
        if found is None:
            if len(self._in_dictionaries) >= _CACHE_LIMIT:
                self._in_dictionaries.clear()
            found = self._in_dictionaries[word] = (
                bool(self._ru.word_is_known(word)),
                self._uk is not None and bool(self._uk.word_is_known(word)),
            )
        return found

    def is_place(self, word: str) -> bool:
        """Whether a word reads as a place name: what `info(word).place` says."""
        return self.place_reading(word) != NO_PLACE

    def place_reading(self, word: str) -> int:
        """NO_PLACE, PLACE_BY_DICTIONARY or PLACE_BY_SHAPE (see there), from dictionary
        entries and tags only (a fraction of a full analysis); cached."""
        cached = self._cache.get(word)
        if cached is not None:
            return PLACE_BY_SHAPE if cached.place_shape else PLACE_BY_DICTIONARY if cached.place else NO_PLACE
        if len(word) < 4 or word.isascii() or not _CYRILLIC.search(word):
            return NO_PLACE
        found = self._places.get(word)
        if found is None:
            if len(self._places) >= _CACHE_LIMIT:
                self._places.clear()
            found = self._places[word] = self._place_reading(word)
        return found

    def _place_reading(self, word: str) -> int:
        ru_known, uk_known = self._dictionaries(word)
        if not (ru_known or uk_known):
            return PLACE_BY_SHAPE if looks_like_settlement(word) else NO_PLACE
        # A Ukrainian-looking word known to the Ukrainian dictionary is read as Ukrainian.
        uk_word = bool(_UK_LETTERS.search(word))
        if ru_known and not (uk_word and uk_known) and self._likeliest_is_place(self._ru, word):
            return PLACE_BY_DICTIONARY
        if self._uk is not None and uk_known:
            if self._likeliest_is_place(self._uk, word):
                return PLACE_BY_DICTIONARY
            if not ru_known and self._uk_settlement(word):
                return PLACE_BY_SHAPE
        return NO_PLACE

    def _likeliest_is_place(self, analyzer: Any, word: str) -> bool:
        """Whether the likeliest dictionary reading of a known word is a place name.
        Most words have no place reading at all, which the dictionary entries tell
        without pymorphy's full tagging (~15 µs); only the others are tagged."""
        return self._may_be_place(analyzer, word) and "Geox" in str(analyzer.tag(word)[0])

    def _may_be_place(self, analyzer: Any, word: str) -> bool:
        """Whether any dictionary reading of a word is a place name (the same entries
        pymorphy's dictionary unit reads, ё-substitutes included)."""
        geox = self._geox[id(analyzer)]
        if not geox:
            return False  # a dictionary without place tags (the Ukrainian one)
        d = analyzer.dictionary
        paradigms = d.paradigms
        for parses in d.words.similar_item_values(word, analyzer.char_substitutes):
            for para_id, idx in parses:
                paradigm = paradigms[para_id]
                if paradigm[len(paradigm) // 3 + idx] in geox:
                    return True
        return False

    def _uk_settlement(self, word: str) -> bool:
        """Whether a Ukrainian dictionary word reads as a village or town: EVERY reading
        is a noun without plural forms whose dictionary form has a settlement ending
        ("вчергове", once again, is also an adverb; "чудове" an adjective)."""
        d = self._uk.dictionary
        found = False
        for fixed, parses in d.words.similar_items(word, self._uk.char_substitutes):
            for para_id, idx in parses:
                lemma = d.build_normal_form(para_id, idx, fixed)
                if not (
                    len(lemma) >= _SETTLEMENT_MIN_LEN - 1
                    and _UK_SETTLEMENT_LEMMA.search(lemma)
                    and str(d.build_tag_info(para_id, idx)).startswith("NOUN")
                    and not self._has_plural(para_id)
                ):
                    return False
                found = True
        return found

    def _has_plural(self, para_id: int) -> bool:
        """Whether a Ukrainian paradigm has plural forms (cached per paradigm)."""
        found = self._plural_paradigms.get(para_id)
        if found is None:
            paradigm = self._uk.dictionary.paradigms[para_id]
            n = len(paradigm) // 3
            found = self._plural_paradigms[para_id] = any(
                tag_id in self._uk_plural_tags for tag_id in paradigm[n : 2 * n]
            )
        return found

    @staticmethod
    def _dictionary_lemmas(analyzer: Any, word: str) -> set[str]:
        """The normal forms of a known word's dictionary readings: what pymorphy's
        parse() gives for a dictionary word, without building and ranking parses."""
        d = analyzer.dictionary
        return {
            d.build_normal_form(para_id, idx, fixed).replace("ё", "е")
            for fixed, parses in d.words.similar_items(word, analyzer.char_substitutes)
            for para_id, idx in parses
        }

    def _analyse(self, word: str) -> WordInfo:
        if word.isascii():
            return WordInfo(en_lemmas(word), False, "lat")
        if not _CYRILLIC.search(word):
            return WordInfo(frozenset({word}), False, "other")
        lemmas: set[str] = set()
        ru_known, uk_known = self._dictionaries(word)
        if not (ru_known or uk_known):
            # A word no dictionary knows (a typo, a name, slang): no lemmas guessed from
            # its ending here, as guessing costs ~100 µs a word, most of a cold scan;
            # forms of term words get their term word's lemmas from the matcher.
            shape = looks_like_settlement(word)
            return WordInfo(frozenset({word}), False, "cyr", shape, shape)
        uk_word = bool(_UK_LETTERS.search(word))
        # A Ukrainian-looking word known to the Ukrainian dictionary is read as Ukrainian
        # only; otherwise every dictionary that knows it contributes its lemmas.
        if ru_known and not (uk_word and uk_known):
            lemmas |= self._dictionary_lemmas(self._ru, word)
        if uk_known:
            lemmas |= self._dictionary_lemmas(self._uk, word)
        lemmas.add(word)
        # Only when the likeliest reading is a place ("мали" yes, "стали" no); very short
        # place readings ("усе" as the river Уса) are mostly noise.
        place = self.place_reading(word)  # shared with is_place: often asked first
        return WordInfo(
            frozenset(lemmas), ru_known or uk_known, "cyr", place != NO_PLACE, place == PLACE_BY_SHAPE
        )

    def term_lemmas(self, word: str, lang: str) -> frozenset[str]:
        """Lemmas of a rule term word in the language the operator listed it under."""
        if word.isascii() or lang == "en":
            # The operator wrote the form to match from; post words are reduced to it
            # ("withdrew" → withdraw), but a term "airlifting" must not become "airlift".
            return frozenset({word, _EN_IRREGULAR.get(word, word)})
        analyzer = self._uk if (lang == "uk" and self._uk is not None) else self._ru
        if lang == "any":
            return self.info(word).lemmas
        normal = {p.normal_form.replace("ё", "е") for p in analyzer.parse(word)}
        # Operators write dictionary forms: when the word is a lemma itself, keep only it
        # ("піти" must not also mean "піт", sweat).
        if word in normal:
            return frozenset({word})
        return frozenset(normal | {word})

    def forms(self, word: str, lang: str) -> set[str]:
        """Every inflected form of a term word, used as targets for typo matching."""
        key = (word, lang)
        found = self._forms.get(key)
        if found is None:
            found = self._forms[key] = frozenset(self._make_forms(word, lang))
        return set(found)

    def other_forms(self, word: str, lang: str) -> set[str]:
        """The word's inflections in the other dictionary, when that one knows the word as
        written too (Russian "удар" → Ukrainian "ударів"): a post in the other language
        shares the term's lemma. Empty for English and for terms listed under "any"."""
        if word.isascii() or self._uk is None or lang not in ("ru", "uk"):
            return set()
        key = (word, lang)
        found = self._other.get(key)
        if found is None:
            found = self._other[key] = frozenset(self._other_forms(word, lang))
        return set(found)

    def _other_forms(self, word: str, lang: str) -> set[str]:
        other = self._uk if lang == "ru" else self._ru
        if not other.word_is_known(word):
            return set()
        out: set[str] = set()
        for p in other.parse(word)[:2]:
            out.update(f.word.replace("ё", "е") for f in p.lexeme)
        return out

    def _make_forms(self, word: str, lang: str) -> set[str]:
        if word.isascii() or lang == "en":
            out: set[str] = set()
            for lemma in en_lemmas(word):
                out |= en_forms(lemma)
            return out
        analyzers = [self._ru]
        if self._uk is not None and lang in ("uk", "any"):
            analyzers = [self._uk] if lang == "uk" else [self._ru, self._uk]
        out = {word}
        for analyzer in analyzers:
            parses = analyzer.parse(word)
            # Only the lexemes of the term's own lemma, not of every homonym's guess: the
            # readings whose dictionary form is the term word itself when there are any
            # ("піти" is also a form of "піт", sweat, and "піта", pitta — ranked first).
            own = [p for p in parses if p.normal_form.replace("ё", "е") == word]
            for p in own or parses[:2]:
                out.update(f.word.replace("ё", "е") for f in p.lexeme)
        return out
