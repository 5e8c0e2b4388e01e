"""The matcher: normalised text → candidate words → term matches → concepts → rule hits.

Pure: no I/O. Built once per rule set; `match(text)` is safe to call for every post.
One Aho-Corasick scan of the post's word view (scanner, textview) finds the words that
can belong to a term; only those are looked up (lemma, typo, transliteration, place),
and that word-level work is cached per distinct word. Word and sentence positions come
from C-level counts over byte views, so no step runs once per word of the post.
Typo pools (typos), links (addresses) and what rules need (conditions) live beside it.
"""

from __future__ import annotations

import gc
import re
import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, cast

from rapidfuzz.distance import Levenshtein

from bot.domain import Hit, TermMatch
from bot.matching.addresses import address_spans, blank_addresses, inside
from bot.matching.conditions import close, refs, requirements, windowable_lazy
from bot.matching.morph import NO_PLACE, PLACE_BY_SHAPE, Morphology, looks_like_settlement
from bot.matching.normalize import Normalized, normalize
from bot.matching.scanner import LENGTH_BITS, LENGTH_MASK, build_scanner
from bot.matching.textview import words_view
from bot.matching.translit import cyrillic_skeleton, skeleton
from bot.matching.typos import TypoPool, TypoPools, slip_index
from bot.relevance import RelevanceStage
from bot.rules.model import And, Expr, Near, Not, Or, Ref, Rule, RuleSet, Term

# In textview's sentence view: a line break or bullet, or sentence punctuation followed
# by white space or a line break (". ! ? … ; :" then space).
_SENTENCE_END = re.compile(rb"N|\.(?=[ N])")
# Words in textview's word-start view (letters, digits, apostrophes).
_WORD_MARKS = re.compile(rb"a+")
_APOSTROPHES = "'’ʼ"
_MIN_FUZZY_LEN = 5
_MIN_SLIP_LEN = 5  # shorter words one slip away are too often other words
_EN_FUZZY_FLOOR = 94.0  # no English dictionary: be strict so "russian" ≠ "russia"
_EN_FUZZY_MIN_LEN = 7
_TRANSLIT_FLOOR = 95.0
_WORD_CACHE_LIMIT = 200_000
_MAX_OCCURRENCES = 64
_PAIRS_DIRECT = 64  # NEAR sides this small are paired directly, without sorting
# A Telegram post holds at most 4,096 characters; exports and JSONL files can hold whole
# articles. Matching time grows with the text, so past this only the beginning is read.
MATCH_MAX_CHARS = 100_000
# A long post leaves hundreds of thousands of small tuples alive until it is done; the
# cyclic collector would walk them again and again (1 MB: 2.2 s instead of 1.4 s, and
# the more text, the more per character). They hold no cycles, so it waits meanwhile.
_LONG_TEXT = 20_000


@dataclass(frozen=True)
class _WordHit:
    term: int  # index into Matcher.terms
    pos: int  # word position inside the term
    kind: str
    lemma: str
    score: float


class _Raw(NamedTuple):
    """A term match before it is turned into a TermMatch (only hits need that)."""

    term: int
    start: int  # offsets in the normalised text
    end: int
    chain: tuple[_WordHit, ...]


class Found(NamedTuple):
    """A concept's term in a text: original offsets and the lemma(s) it matched."""

    start: int
    end: int
    lemma: str


class Occurrence(NamedTuple):
    """A place where a concept (or a combination) matched: word range + term matches."""

    first: int  # word indexes in the post
    last: int
    raws: tuple[_Raw, ...]
    s_first: int = 0  # sentence indexes the occurrence spans
    s_last: int = 0


@dataclass
class Analysis:
    """Everything the matcher found in one text, for hits and explanations."""

    normalized: Normalized
    concepts: dict[str, list[Occurrence]]
    hits: list[Hit] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)  # rules vetoed by `unless`
    matcher: "Matcher | None" = None
    words_looked_up: int = 0  # candidate words the scan handed to the word matcher

    def term_matches(self, occ: Occurrence) -> list[TermMatch]:
        """The term matches of an occurrence, with offsets into the original text."""
        assert self.matcher is not None
        return [self.matcher._term_match(r, self.normalized) for r in occ.raws]


class _Plan(NamedTuple):
    """What one word contributes: its length (the run may go on with digits or an
    apostrophe), single-word terms per concept, and phrases it is the anchor word of."""

    length: int
    singles: tuple[tuple[str, tuple[tuple[int, "_WordHit"], ...]], ...]
    phrases: tuple[tuple[int, "_WordHit"], ...]
    concepts: frozenset[str]  # the concepts of its single-word terms
    lead: int = 0  # apostrophes before the word ("'withdrawal'")
    maybe: frozenset[str] = frozenset()  # those and the concepts of its phrases


_MISSING: Any = object()  # a cache miss (typed Any: it stands in for any cached value)
_NO_PHRASES: list[tuple[int, "_Raw"]] = []  # shared, never appended to
_NO_TARGETS = TypoPool()  # shared empty typo pool, never added to
# A candidate word: view start, plan, and the phrases it completes (its word index in
# the phrase, the match).
_Found = tuple[int, _Plan, list[tuple[int, "_Raw"]]]
_LazyHits = tuple[tuple[int, _WordHit], ...]  # tag-only term hits of one word
# A neighbouring word: view start, view end, the word.
_Neighbour = tuple[int, int, str]
_TOKEN = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*|\d+")


def _first_token(run: str) -> str:
    """The first word of a run of letters, digits and apostrophes ("ан124" → "ан")."""
    if run.isalpha():
        return run
    m = _TOKEN.search(run)
    return m.group() if m and m.start() == 0 else ""


def _last_token(run: str) -> str:
    """The last word of such a run ("ил76" → "76")."""
    if run.isalpha():
        return run
    found = _TOKEN.findall(run)
    return found[-1] if found and run.endswith(found[-1]) else ""


class _Post:
    """One post's views and lazily computed positions, while it is being analysed."""

    __slots__ = (
        "ntext", "view", "word_marks", "sentence_marks", "_ends", "lazy_done", "scanned", "norm",
        "walked",
    )

    def __init__(self, norm: Normalized, view: str, word_marks: bytes, sentence_marks: bytes) -> None:
        self.norm = norm
        self.ntext = norm.text
        self.view = view  # textview word view, framed: view index = text index + 1
        self.word_marks = word_marks
        self.sentence_marks = sentence_marks
        self._ends: list[int] | None = None
        self.lazy_done = False  # tag-only terms looked for in every word
        self.scanned: set[int] = set()  # word indexes already looked at for them
        # Word indexes lo..hi all looked at for them, and the view index after word hi.
        self.walked = (0, -1, 0)

    def capitalised(self, pos: int) -> bool:
        """Whether the word at view index pos is written with a capital letter."""
        start, _ = self.norm.to_original(pos - 1, pos)
        return self.norm.original[start : start + 1].isupper()

    def sentence(self, pos: int) -> int:
        """How many sentence ends come before view index pos."""
        if self._ends is None:
            self._ends = [m.start() for m in _SENTENCE_END.finditer(self.sentence_marks)]
        return bisect_right(self._ends, pos)


class Matcher:
    """Compiled rule set; `match(text)` returns the hits with their evidence."""

    def __init__(
        self, ruleset: RuleSet, morph: Morphology, *, exhaustive: bool = False,
        max_chars: int | None = None,
    ) -> None:
        self.ruleset = ruleset
        # Only this much of a post is matched (the whole text is still stored and shown).
        self.max_chars = MATCH_MAX_CHARS if max_chars is None else max_chars
        self.version = ruleset.version
        self.morph = morph
        self.terms: list[Term] = []
        self._lemma_index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._exact_index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._prefix_index: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        self._edit_targets: list[tuple[frozenset[str], int, int, int]] = []
        # Per term word: (pool, form, threshold) of its typo targets, for the pools of
        # the few term words a candidate word was found for.
        self._typo_targets: dict[tuple[int, int], list[tuple[str, object, float]]] = {}
        self._pools_by_owners: dict[tuple[frozenset[tuple[int, int]], str], TypoPools] = {}
        self._cyr_pool = TypoPool()
        self._lat_pool = TypoPool()
        self._skel_pool = TypoPool()
        self._word_cache: dict[str, tuple[_WordHit, ...]] = {}
        # Every form of every term word: a candidate word the dictionary knows that is
        # none of them can only match by a typo, and typos are for unknown words.
        self._forms: set[str] = set()
        self._form_lemmas: dict[str, frozenset[str]] = {}  # form of a term word → its lemmas
        self._tag_terms: dict[str, list[tuple[int, int]]] = defaultdict(list)
        # Concepts only the relevance stage uses are looked for in the few posts with a
        # hit, by a matcher of their own: scanning every post for them would cost all.
        evidence_only = _evidence_only(ruleset)
        for concept in (*ruleset.concepts.values(), *ruleset.inline_concepts.values()):
            if concept.name in evidence_only:
                continue
            for term in concept.terms:
                self._add_term(term)
        self._prefix_lengths = sorted(self._prefix_index)
        # The shortest prefix term's length, and every prefix term cut to it: one set
        # lookup rules out most words.
        self._prefix_min = self._prefix_lengths[0] if self._prefix_lengths else 0
        self._prefix_heads = {p[: self._prefix_min] for by_text in self._prefix_index.values() for p in by_text}
        self._all_pools = TypoPools(self._cyr_pool, self._lat_pool, self._skel_pool, self._edit_targets)
        # Every typo-matched form by its one-slip keys, shared by all pools (TypoPool.slips).
        self._slip_index = slip_index(self._cyr_pool.forms + self._lat_pool.forms)
        self._cyr_cutoff = self._cyr_pool.lowest()
        self._lat_cutoff = max(self._lat_pool.lowest(), _EN_FUZZY_FLOOR)
        # English words that look like romanised Russian ("sirens" ~ сирены) need a close call.
        self._skel_cutoff = max(self._skel_pool.lowest(), _TRANSLIT_FLOOR)
        self.rules = [r for r in ruleset.rules if r.enabled]
        self._term_len = [len(term.words) for term in self.terms]
        self._term_concept = [term.concept for term in self.terms]
        # exhaustive: look up every word of a post (tests compare it with the scan).
        self.exhaustive = exhaustive
        self.scanner, anchors = build_scanner(self.terms, morph)
        self._anchors = anchors
        self._plans: dict[str, _Plan | None] = {}
        self._lazy_plans: dict[str, object] = {}
        self._no_lazy: set[str] = set()  # view words that hold no tag-only term
        self._pair_cache: dict[tuple[str, int, int], _WordHit | None] = {}
        # Whether some phrase has a <place> word (its neighbours then need analysis).
        self._phrase_tags = any(
            len(term.words) > 1 and any(w.kind == "tag" for w in term.words) for term in self.terms
        )
        self._lazy_exprs: dict[int, bool] = {}
        # Concepts with terms the scan cannot find (only <place>-like tags) are worked
        # out when a rule needs them, from every word of the post.
        self._lazy_terms = frozenset(t for t, a in enumerate(anchors) if a is None)
        self._lazy = frozenset(self._term_concept[t] for t in self._lazy_terms)
        # What a place name contributes to tag-only terms: the same hits word_hits
        # gives it for them, without its typo search (places need none).
        self._lazy_place_terms = tuple((t, j) for t, j in self._tag_terms.get("place", ()) if t in self._lazy_terms)
        # <village>: a place name shaped like a village's, written with a capital letter.
        self._lazy_village_terms = tuple((t, j) for t, j in self._tag_terms.get("village", ()) if t in self._lazy_terms)
        # Per rule, groups of concepts of which one each must occur (the scan finds
        # them); a rule with none is always evaluated.
        self._requires = [requirements(r.match, self._lazy) for r in self.rules]
        self._rule_concepts = [
            frozenset(refs(r.match)) | (frozenset(refs(r.unless)) if r.unless is not None else frozenset())
            for r in self.rules
        ]
        # Which rules a set of concepts allows, with bit masks: every distinct
        # requirement group gets a bit; a concept sets the bits of the groups it is in;
        # a rule needs all the bits of its groups. Cached per set of groups met.
        group_bit: dict[frozenset[str], int] = {}
        for req in self._requires:
            for group in req:
                group_bit.setdefault(group, 1 << len(group_bit))
        self._needs = [sum(group_bit[g] for g in set(req)) for req in self._requires]
        # Each rule filed under one bit it needs (its lowest): a new set of groups met
        # looks only at the rules filed under its own bits, not at every rule.
        self._always = tuple(i for i, need in enumerate(self._needs) if not need)
        self._rules_by_bit: dict[int, list[tuple[int, int]]] = {}
        for i, need in enumerate(self._needs):
            if need:
                self._rules_by_bit.setdefault(need & -need, []).append((i, need))
        self._bit = {name: 1 << i for i, name in enumerate(dict.fromkeys(self._term_concept))}
        self._groups_of = {
            name: sum(b for g, b in group_bit.items() if name in g) for name in self._bit
        }
        self._mention_bits = [
            sum(self._bit.get(name, 0) for name in concepts) for concepts in self._rule_concepts
        ]
        self._todo_cache: dict[int, tuple[tuple[int, ...], int]] = {}
        self.relevance: RelevanceStage | None = None
        if ruleset.relevance is not None:
            evidence = Matcher(_evidence_ruleset(ruleset), morph, exhaustive=exhaustive, max_chars=max_chars)
            self.relevance = RelevanceStage(
                ruleset.relevance, {r.id: r.prior for r in ruleset.rules if r.prior}, evidence.find_concepts
            )

    # -- compile ---------------------------------------------------------------------
    def _add_term(self, term: Term) -> None:
        t = len(self.terms)
        self.terms.append(term)
        for j, spec in enumerate(term.words):
            if spec.kind == "tag":
                self._tag_terms[spec.text].append((t, j))
            elif spec.kind == "exact":
                self._exact_index[spec.text].append((t, j))
                self._forms.add(spec.text)
            elif spec.kind == "prefix":
                self._prefix_index[len(spec.text)][spec.text].append((t, j))
            else:
                term_lemmas = self.morph.term_lemmas(spec.text, term.lang)
                for lemma in term_lemmas:
                    self._lemma_index[lemma].append((t, j))
                term_forms = self.morph.forms(spec.text, term.lang) | {spec.text}
                for form in term_forms:
                    # A form no dictionary knows ("хмеймима") is read through the term
                    # word whose inflections it is.
                    self._form_lemmas[form] = self._form_lemmas.get(form, frozenset()) | term_lemmas
                self._forms |= term_forms
                self._forms |= self.morph.other_forms(spec.text, term.lang)
                targets = self._typo_targets.setdefault((t, j), [])
                if spec.max_edits is not None:
                    forms = frozenset(self.morph.forms(spec.text, term.lang))
                    self._edit_targets.append((forms, spec.max_edits, t, j))
                    targets.append(("edits", forms, spec.max_edits))
                elif spec.fuzzy is not None:
                    # Forms shorter than the fuzzy minimum still serve transliteration
                    # ("nashi" → "наши"); the post word itself must be long enough.
                    for form in self.morph.forms(spec.text, term.lang):
                        if len(form) < _MIN_FUZZY_LEN - 1:
                            continue
                        if form.isascii():
                            self._lat_pool.add(form, t, j, spec.fuzzy)
                            targets.append(("lat", form, spec.fuzzy))
                        else:
                            self._cyr_pool.add(form, t, j, spec.fuzzy)
                            self._skel_pool.add(cyrillic_skeleton(form), t, j, spec.fuzzy)
                            targets += (("cyr", form, spec.fuzzy), ("skel", cyrillic_skeleton(form), spec.fuzzy))

    # -- words -----------------------------------------------------------------------
    def word_hits(self, word: str) -> tuple[_WordHit, ...]:
        """Which term words a normalised word matches, and how (cached per word)."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        if len(self._word_cache) >= _WORD_CACHE_LIMIT:
            self._word_cache.clear()
        hits = self._compute_word_hits(word)
        self._word_cache[word] = hits
        return hits

    def _candidate_hits(self, word: str, pattern: int) -> tuple[_WordHit, ...]:
        """word_hits for a word the scan found by a pattern: typo matching compares it
        with the term words that pattern stands for only (a handful instead of every
        form of every term), as those are the words its first letters can be."""
        if not pattern:
            return self.word_hits(word)
        info = self.morph.info(word)
        if info.known or len(word) < _MIN_FUZZY_LEN:
            return self.word_hits(word)  # no typo matching involved
        return self._compute_word_hits(word, self._pools_of(self.scanner.owners[pattern], info.script))

    def _pools_of(self, owners: frozenset[tuple[int, int]], script: str) -> TypoPools:
        """The typo pools of some term words that a word of this script is compared with
        (cached: patterns share a few hundred sets)."""
        key = (owners, script)
        pools = self._pools_by_owners.get(key)
        if pools is None:
            pools = self._pools_by_owners[key] = self._pools_for(owners, script)
        return pools

    def _pools_for(self, owners: frozenset[tuple[int, int]], script: str) -> TypoPools:
        """Typo-matching pools holding the given term words' targets only, and only the
        pools a word of this script is compared with (Cyrillic words: Cyrillic forms;
        Latin words: Latin forms and skeletons; every word: edit-limited words)."""
        kinds = {"cyr": ("cyr",), "lat": ("lat", "skel")}.get(script, ())
        by_pool: dict[str, dict[str, list[tuple[int, int, float]]]] = {"cyr": {}, "lat": {}, "skel": {}}
        edits: list[tuple[frozenset[str], int, int, int]] = []
        for t, j in sorted(owners):
            for kind, target, threshold in self._typo_targets.get((t, j), ()):
                if kind == "edits":
                    edits.append((cast("frozenset[str]", target), int(threshold), t, j))
                elif kind in kinds:
                    by_pool[kind].setdefault(cast(str, target), []).append((t, j, threshold))

        def pool(name: str) -> TypoPool:
            found = by_pool[name]
            return TypoPool(list(found), list(found.values())) if found else _NO_TARGETS

        return TypoPools(pool("cyr"), pool("lat"), pool("skel"), edits)

    def _compute_word_hits(self, word: str, pools: TypoPools | None = None) -> tuple[_WordHit, ...]:
        pools = pools or self._all_pools
        info = self.morph.info(word)
        out: list[_WordHit] = []
        seen: set[tuple[int, int]] = set()

        def add(t: int, j: int, kind: str, lemma: str, score: float = 100.0) -> None:
            if (t, j) not in seen:
                seen.add((t, j))
                out.append(_WordHit(t, j, kind, lemma, score))

        for (t, j) in self._exact_index.get(word, ()):
            add(t, j, "exact", word)
        lemmas = info.lemmas
        if not info.known and info.script == "cyr" and word in self._form_lemmas:
            # A form of a term word no dictionary knows ("хмеймима" of Хмеймим): its
            # lemmas are that term word's (no guessing from the ending, ~100 µs a word).
            lemmas = lemmas | self._form_lemmas[word]
        # Sorted: which lemma is reported must not depend on set order (hash seed).
        for lemma in sorted(lemmas):
            for (t, j) in self._lemma_index.get(lemma, ()):
                add(t, j, "lemma", lemma)
        if info.place and not info.place_shape:
            # (Places known only by their shape count where written with a capital:
            # tag-only terms check that per occurrence, see _lazy_word.)
            for (t, j) in self._tag_terms.get("place", ()):
                add(t, j, "place", word)
        for n in self._prefix_lengths:
            if len(word) < n:
                break
            for (t, j) in self._prefix_index[n].get(word[:n], ()):
                add(t, j, "prefix", word)
        if info.known or len(word) < _MIN_FUZZY_LEN or any(h.kind != "place" for h in out):
            return tuple(out)
        # Only words no dictionary knows get typo matching: fuzzy on real words is
        # harmful ("входит" is close to "выводит"). A village-like unknown word may be a
        # typo too ("перегруппровке"), so a place reading alone does not stop it.
        if info.script == "cyr":
            self._fuzzy(word, word, pools.cyr, self._cyr_cutoff, "fuzzy", add)
        elif info.script == "lat":
            if len(word) >= _EN_FUZZY_MIN_LEN:
                self._fuzzy(word, word, pools.lat, self._lat_cutoff, "fuzzy", add)
            self._fuzzy(word, skeleton(word), pools.skel, self._skel_cutoff, "translit", add)
        for forms, k, t, j in pools.edits:
            best = min((Levenshtein.distance(word, f, score_cutoff=k) for f in forms), default=k + 1)
            if best <= k:
                add(t, j, "fuzzy", word, 100.0 * (1 - best / max(len(word), 1)))
        return tuple(out)

    def _fuzzy(
        self, word: str, probe: str, pool: TypoPool, cutoff: float, kind: str, add: Callable[..., None]
    ) -> None:
        if not pool.forms or cutoff > 100 or not probe:
            return
        found = pool.search(probe, cutoff)
        if kind == "fuzzy" and len(probe) >= _MIN_SLIP_LEN:
            seen = {i for _, _, i in found}
            found += [f for f in pool.slips(probe, self._slip_index) if f[2] not in seen]
        for score, form, i in found:
            for t, j, threshold in pool.entries[i]:
                if score >= max(threshold, cutoff):
                    add(t, j, kind, form, round(float(score), 1))

    # -- texts -----------------------------------------------------------------------
    def analyse(self, text: str, *, all_concepts: bool = False, normalized: Normalized | None = None) -> Analysis:
        """Find every concept occurrence and every rule hit in a text.

        all_concepts: also work out concepts no rule needed (for explanations).
        normalized: normalize(text), when the caller has it already.
        """
        if len(text) > self.max_chars:
            text = matched_part(text, self.max_chars)
            normalized = None  # it was the whole text's
        if len(text) > _LONG_TEXT:
            with _collector_paused:
                return self._analyse(text, all_concepts, normalized)
        return self._analyse(text, all_concepts, normalized)

    def _analyse(self, text: str, all_concepts: bool, normalized: Normalized | None) -> Analysis:
        norm = normalized if normalized is not None else normalize(text)
        view, word_marks, sentence_marks = words_view(norm.codes), norm.word_marks, norm.sentence_marks
        codes = norm.codes
        # One byte search rules out most posts ("/" is in "://" and "t.me/").
        links = (b"/" in codes and (b"://" in codes or b"t.me/" in codes)) or b"www." in codes
        if links:
            # A link can begin inside a run of letters ("эвакуацияhttps://…"): blank the
            # addresses before the scan, so that the word before it is read whole.
            view, word_marks, sentence_marks = self._without_addresses(codes, view, word_marks, sentence_marks)
        post = _Post(norm, view, word_marks, sentence_marks)
        matches = list(self._matches(post))
        words, maybe, looked = self._words(post, matches)
        analysis = Analysis(norm, {}, matcher=self, words_looked_up=looked)
        if not all_concepts and not self._todo(maybe)[0]:
            # Even if every phrase these words anchor were complete, no rule could hold
            # (most posts stop here, before mentions are looked for or phrases checked).
            return analysis
        if not links and b"@" in codes:
            # @mentions are not words ("@severnyi_veter" is no "сверни"); "@" never
            # joins a run of letters, so dropping the candidates inside them suffices.
            spans = address_spans(codes, sentence_marks)
            if spans:
                view, word_marks, sentence_marks = blank_addresses(spans, codes)
                post = _Post(norm, view, word_marks, sentence_marks)
                # A candidate's run starts at text index (view start - lead) - 1; runs
                # never straddle a mention's edge, so the plans found stay valid.
                words = [(s, plan) for s, plan in words if not inside(s - plan.lead - 1, spans)]
                # (A match's word starts at text index end - length + 1.)
                analysis.words_looked_up = sum(
                    1 for e, v in matches if not inside(e - (v & LENGTH_MASK) + 1, spans)
                )
        found, present = self._verify(post, words)
        concepts: dict[str, list[Occurrence]] = defaultdict(list)
        analysis.concepts = concepts
        # Only rules whose required concepts are all present are evaluated, and only
        # the concepts they use are worked out.
        todo, mentioned = self._todo(present)
        needed = present | self._lazy if all_concepts else self._mentioned(present, mentioned)
        if needed:
            self._occurrences(post, found, needed, concepts)
        if all_concepts:
            self._add_lazy(post, concepts)
        if todo:
            self._rules(post, analysis, todo)
        analysis.concepts = dict(concepts)
        if self.relevance is not None and analysis.hits:
            analysis.hits = self.relevance.assess(text, analysis.hits, norm)
        return analysis

    def find_concepts(self, text: str, normalized: Normalized | None = None) -> dict[str, list[Found]]:
        """Where each concept's terms occur in a text: (start, end) in the original text and
        the lemma(s) matched, one per word (or phrase) — for the relevance stage, which
        needs no word indexes, occurrences or rules: only the scan and its verification."""
        norm = normalized if normalized is not None else normalize(text)
        if self._lazy:  # tag-only terms (<place>) are worked out with occurrences
            analysis = self.analyse(text, all_concepts=True, normalized=norm)
            return {
                name: [Found(t.start, t.end, t.lemma or t.surface.lower())
                       for occ in occs for t in analysis.term_matches(occ)]
                for name, occs in analysis.concepts.items()
            }
        codes = norm.codes
        view, word_marks, sentence_marks = self._without_addresses(
            codes, words_view(codes), norm.word_marks, norm.sentence_marks
        )  # links and @mentions are no words
        post = _Post(norm, view, word_marks, sentence_marks)
        words, _, _ = self._words(post, list(self._matches(post)))
        found, _ = self._verify(post, words)
        to_original, concept_of = norm.to_original, self._term_concept
        out: dict[str, list[Found]] = defaultdict(list)
        for s, plan, phrases in found:
            if plan.singles:
                start, end = to_original(s - 1, s - 1 + plan.length)
                for concept, group in plan.singles:
                    out[concept].append(Found(start, end, group[0][1].lemma))
            for _, raw in phrases:
                start, end = to_original(raw.start, raw.end)
                out[concept_of[raw.term]].append(Found(start, end, " ".join(w.lemma for w in raw.chain)))
        return out

    @staticmethod
    def _without_addresses(
        codes: bytes, view: str, word_marks: bytes, sentence_marks: bytes
    ) -> tuple[str, bytes, bytes]:
        """The views with links and @mentions blanked (unchanged when there are none)."""
        spans = address_spans(codes, sentence_marks)
        return blank_addresses(spans, codes) if spans else (view, word_marks, sentence_marks)

    def match(self, text: str) -> list[Hit]:
        """The rule hits for a text (empty when nothing matches)."""
        return self.analyse(text).hits

    def _matches(self, post: _Post) -> Iterable[tuple[int, int]]:
        """Candidate word starts: the scan, or every word when exhaustive."""
        return _all_words(post.word_marks) if self.exhaustive else self.scanner.scan(post.view)

    def _plan(self, run: str, pattern: int = 0) -> _Plan | None:
        """What a word run of the word-start view contributes (cached per distinct run)."""
        plan: _Plan | None = self._plans.get(run, _MISSING)
        if plan is not _MISSING:
            return plan
        if len(self._plans) >= _WORD_CACHE_LIMIT:
            self._plans.clear()
        lead = len(run) - len(run.lstrip(_APOSTROPHES))
        word = run if run.isalpha() else _first_token(run[lead:])
        if not word or self._settled(word):
            # Most candidates are ordinary words sharing a few first letters with a term
            # ("после" and "посольство"): a dictionary lookup settles them, no analysis.
            self._plans[run] = None
            return None
        hits = self._candidate_hits(word, pattern)
        singles: dict[str, list[tuple[int, _WordHit]]] = {}
        phrases: list[tuple[int, _WordHit]] = []
        for h in hits:
            t = h.term
            if t in self._lazy_terms:
                continue  # tag-only terms come from _add_lazy, when a rule needs them
            if self._term_len[t] == 1:
                singles.setdefault(self._term_concept[t], []).append((t, h))
            elif h.pos == self._anchors[t]:
                phrases.append((t, h))
        result = (
            _Plan(len(word), tuple((c, tuple(v)) for c, v in singles.items()), tuple(phrases),
                  frozenset(singles), lead,
                  frozenset(singles) | {self._term_concept[t] for t, _ in phrases})
            if singles or phrases
            else None
        )
        self._plans[run] = result
        return result

    def _settled(self, word: str) -> bool:
        """True when a word can match no term word but as a place name: the dictionary
        knows it and it is none of the term words' forms, nor begins a `prefix*` term."""
        return word not in self._forms and not self._has_prefix_term(word) and self.morph.known(word)

    def _has_prefix_term(self, word: str) -> bool:
        """Whether some `prefix*` term word begins word."""
        if word[: self._prefix_min] not in self._prefix_heads:
            return False
        return any(word[:n] in self._prefix_index[n] for n in self._prefix_lengths if len(word) >= n)

    def _todo(self, present: set[str]) -> tuple[tuple[int, ...], int]:
        """The rules that can hold when these concepts occur (indexes into self.rules,
        ascending) and the bits of the concepts those rules mention (see _mentioned);
        cached."""
        satisfied = 0  # one bit per requirement group that a present concept meets
        groups_of = self._groups_of
        for name in present:
            satisfied |= groups_of[name]
        cached = self._todo_cache.get(satisfied)
        if cached is None:
            todo = self._allowed(satisfied)
            mentioned = 0
            for i in todo:
                mentioned |= self._mention_bits[i]
            cached = (todo, mentioned)
            if len(self._todo_cache) >= _WORD_CACHE_LIMIT:
                self._todo_cache.clear()
            self._todo_cache[satisfied] = cached
        return cached

    def _allowed(self, satisfied: int) -> tuple[int, ...]:
        """The rules (ascending indexes) all of whose requirement groups are met."""
        found = list(self._always)
        by_bit = self._rules_by_bit
        bits = satisfied
        while bits:
            low = bits & -bits
            bits ^= low
            for i, need in by_bit.get(low, ()):
                if satisfied & need == need:
                    found.append(i)
        found.sort()
        return tuple(found)

    def _mentioned(self, present: set[str], mentioned: int) -> set[str]:
        """The present concepts that some rule to evaluate mentions (bits from _todo)."""
        bit = self._bit
        return {name for name in present if bit[name] & mentioned}

    def _words(self, post: _Post, matches: list[tuple[int, int]]) -> tuple[list[tuple[int, _Plan]], set[str], int]:
        """Candidate words (scan matches: end index, length with the space) that match
        some term: (view start, plan); the concepts they and their phrases may stand
        for; how many words were looked up."""
        plans = self._plans.get
        find, ntext = post.word_marks.find, post.ntext
        words: list[tuple[int, _Plan]] = []
        maybe: set[str] = set()
        for end, value in matches:
            s = end - (value & LENGTH_MASK) + 2
            run = ntext[s - 1 : find(b" ", s) - 1]
            # A run always starts with the same pattern, so its plan can be cached.
            plan = plans(run, _MISSING)
            if plan is _MISSING:
                plan = self._plan(run, value >> LENGTH_BITS)
            if plan is None:
                continue
            words.append((s + plan.lead, plan))  # after an opening apostrophe
            maybe |= plan.maybe
        return words, maybe, len(matches)

    def _verify(self, post: _Post, words: list[tuple[int, _Plan]]) -> tuple[list[_Found], set[str]]:
        """The candidate words with the phrases they complete; the concepts found."""
        found: list[_Found] = []
        present: set[str] = set()
        phrase = self._phrase
        term_concept = self._term_concept
        for s, plan in words:
            if plan.phrases:
                phrases: list[tuple[int, _Raw]] = []
                around: dict[int, _Neighbour | None] = {}
                for t, h in plan.phrases:
                    raw = phrase(post, t, h, s, s + plan.length, around)
                    if raw is not None:
                        phrases.append((h.pos, raw))
                        present.add(term_concept[t])
                found.append((s, plan, phrases))
            else:
                found.append((s, plan, _NO_PHRASES))
            present |= plan.concepts
        return found, present

    def _occurrences(
        self, post: _Post, found: list[_Found], needed: set[str], concepts: dict[str, list[Occurrence]]
    ) -> None:
        """Occurrences of the needed concepts, with word and sentence indexes."""
        marks = post.word_marks
        term_concept, term_len = self._term_concept, self._term_len
        tok = 0  # word index of the current candidate
        p = 0  # view index from which word starts are still to be counted
        for s, plan, phrases in found:
            if plan.concepts.isdisjoint(needed) and not phrases:
                continue
            # Words starting before s: one b" a" each in the word-start view.
            tok += marks.count(b" a", p, s)
            p = s - 1
            si = post.sentence(s)
            e = s + plan.length
            for concept, group in plan.singles:
                if concept in needed:
                    raws = tuple([_Raw(t, s - 1, e - 1, (h,)) for t, h in group])
                    concepts[concept].append(Occurrence(tok, tok, raws, si, si))
            for pos, raw in phrases:
                concept = term_concept[raw.term]
                if concept in needed:
                    first = tok - pos
                    concepts[concept].append(Occurrence(first, first + term_len[raw.term] - 1, (raw,), si, si))

    def _phrase(
        self, post: _Post, t: int, h: _WordHit, s: int, e: int, around: dict[int, _Neighbour | None]
    ) -> _Raw | None:
        """The phrase term t around word [s, e) (its word h.pos), if the neighbours fit.

        around caches the candidate's neighbours (offset → word) across its phrases.
        """
        n = self._term_len[t]
        chain: list[_WordHit] = []
        start, stop = s, e
        for k in range(-h.pos, n - h.pos):
            if k == 0:
                chain.append(h)
                continue
            nb = self._neighbour(post, s, e, k, around)
            if nb is None:
                return None
            wh = self._pair(nb[2], t, h.pos + k)
            if wh is None:
                return None
            chain.append(wh)
            if k == -h.pos:
                start = nb[0]
            elif k == n - 1 - h.pos:
                stop = nb[1]
        return _Raw(t, start - 1, stop - 1, tuple(chain))

    def _neighbour(
        self, post: _Post, s: int, e: int, k: int, around: dict[int, _Neighbour | None]
    ) -> _Neighbour | None:
        """The word k places after (k < 0: before) the word [s, e), in the same sentence:
        (view start, view end, word); cached in around."""
        if k == 0:
            return (s, e, "")
        if k in around:
            return around[k]
        marks, sentence_marks, ntext = post.word_marks, post.sentence_marks, post.ntext
        inner = self._neighbour(post, s, e, k - 1 if k > 0 else k + 1, around)
        found: _Neighbour | None = None
        if inner is not None and k > 0:
            stop = inner[1]
            m = _WORD_MARKS.search(marks, stop)
            if m is not None and not _SENTENCE_END.search(sentence_marks, stop, m.start()):
                word = _first_token(ntext[m.start() - 1 : m.end() - 1])
                found = (m.start(), m.start() + len(word), word)
        elif inner is not None:
            start = inner[0]
            we = marks.rfind(b"a", 0, start - 1) + 1
            if we > 1 and not _SENTENCE_END.search(sentence_marks, we, start):
                ws = marks.rfind(b" ", 0, we) + 1
                word = _last_token(ntext[ws - 1 : we - 1])
                found = (we - len(word), we, word)
        around[k] = found
        return found

    def _pair(self, word: str, t: int, j: int) -> _WordHit | None:
        """How a phrase's neighbouring word matches word j of term t, if it does
        (cached); typo matching compares it with that term word only."""
        key = (word, t, j)
        found = self._pair_cache.get(key, _MISSING)
        if found is not _MISSING:
            return cast("_WordHit | None", found)
        if len(self._pair_cache) >= _WORD_CACHE_LIMIT:
            self._pair_cache.clear()
        hit: _WordHit | None = None
        if word and (self._phrase_tags or not self._settled(word)):
            info = self.morph.info(word)
            if info.known or len(word) < _MIN_FUZZY_LEN:
                hits = self.word_hits(word)
            else:
                hits = self._compute_word_hits(word, self._pools_of(frozenset({(t, j)}), info.script))
            hit = next((h for h in hits if h.term == t and h.pos == j), None)
        self._pair_cache[key] = hit
        return hit

    # -- tag-only terms (<place>): no letters to scan for, so worked out on demand ------
    def _lazy_plan(self, run: str) -> tuple[int, int, _LazyHits, _LazyHits] | None:
        """(lead, word length, tag-only term hits, those that count only where the word
        is written with a capital letter) of a word run, or None (cached per run)."""
        plan = self._lazy_plans.get(run, _MISSING)
        if plan is not _MISSING:
            return plan  # type: ignore[return-value]
        if len(self._lazy_plans) >= _WORD_CACHE_LIMIT:
            self._lazy_plans.clear()
        lead = len(run) - len(run.lstrip(_APOSTROPHES))
        word = _first_token(run[lead:])
        # Tag-only terms are place names: a word the dictionary does not read as one
        # needs no analysis (and no typo matching) here.
        reading = self.morph.place_reading(word) if word else NO_PLACE
        always: tuple[tuple[int, int], ...] = ()
        capitalised: tuple[tuple[int, int], ...] = ()
        if reading == PLACE_BY_SHAPE:
            # Only the shape says "village" ("кринжово" has it too): the capital decides.
            capitalised = self._lazy_place_terms + self._lazy_village_terms
        elif reading != NO_PLACE:
            always = self._lazy_place_terms
            if self._lazy_village_terms and looks_like_settlement(word):
                capitalised = self._lazy_village_terms  # "Новоалександровка", a dictionary place
        result = (
            (lead, len(word), self._place_hits(always, word), self._place_hits(capitalised, word))
            if always or capitalised else None
        )
        self._lazy_plans[run] = result  # type: ignore[assignment]
        return result

    @staticmethod
    def _place_hits(terms: Sequence[tuple[int, int]], word: str) -> _LazyHits:
        return tuple((t, _WordHit(t, j, "place", word, 100.0)) for t, j in terms)

    def _lazy_word(self, post: _Post, concepts: dict[str, list[Occurrence]], tok: int, ws: int, we: int) -> None:
        """Add the tag-only term hits of the word run [ws, we) (view), word index tok."""
        if tok in post.scanned:
            return
        post.scanned.add(tok)
        plan = self._lazy_plan(post.ntext[ws - 1 : we - 1])
        if plan is None:
            return
        lead, length, always, capitalised = plan
        s = ws + lead
        hits = always
        if capitalised and post.capitalised(s):
            # "кринжово" is shaped like a village; "Работино" is written like one.
            hits = always + capitalised
        if not hits:
            return
        si = post.sentence(s)
        for t, h in hits:
            raw = _Raw(t, s - 1, s - 1 + length, (h,))
            concepts[self._term_concept[t]].append(Occurrence(tok, tok, (raw,), si, si))

    def _add_lazy(self, post: _Post, concepts: dict[str, list[Occurrence]]) -> None:
        """Tag-only term occurrences in every word of the post (once per post).

        Only distinct words not yet known to hold none are looked at (a set difference
        in C), and only where such a word occurs are word indexes counted.
        """
        if post.lazy_done or not self._lazy_terms:
            return
        post.lazy_done = True
        # split(" "): the view's code page puts letters at "\x85" and "\xa0", which
        # a plain split() would take for white space.
        fresh = set(post.view.split(" "))
        fresh -= self._no_lazy
        fresh.discard("")
        if not fresh:
            return
        if len(self._no_lazy) >= _WORD_CACHE_LIMIT:
            self._no_lazy.clear()
        view, marks, ntext = post.view, post.word_marks, post.ntext
        added: list[tuple[int, int, int]] = []
        for word in fresh:
            key = " " + word + " "
            i = view.find(key)
            plan = self._lazy_plan(ntext[i : i + len(word)])
            if plan is None and "'" not in word:
                # Apostrophes are one character in the view but several in the text:
                # only plain words are remembered by their view spelling.
                self._no_lazy.add(word)
                continue
            while i != -1:
                ws = i + 1
                added.append((marks.count(b" a", 0, ws), ws, ws + len(word)))
                i = view.find(key, ws + len(word))
        # In text order, as a walk over the words would add them.
        for tok, ws, we in sorted(added):
            self._lazy_word(post, concepts, tok, ws, we)

    def _lazy_around(
        self, post: _Post, concepts: dict[str, list[Occurrence]], occs: list[Occurrence], n: int
    ) -> None:
        """Tag-only term occurrences within n words of some occurrences (for NEAR), so
        that a place next to "вывод" does not need every word of a long post."""
        if post.lazy_done or not self._lazy_terms:
            return
        marks = post.word_marks
        for occ in occs:
            lo, hi = occ.first - n, occ.last + n
            done_lo, done_hi, done_end = post.walked
            if done_lo <= lo and hi <= done_hi:
                continue
            # On a long post the windows overlap: words inside post.walked were looked
            # at already, so only the rest is walked (the same words found, in the same
            # order, without O(n) work per occurrence).
            start = min(r.start for r in occ.raws) + 1  # view index of word occ.first
            if not (done_lo <= lo and occ.first - 1 <= done_hi):
                pos = start
                for k in range(1, n + 1):  # words before, nearest first
                    we = marks.rfind(b"a", 0, pos - 1) + 1
                    if we <= 1:
                        break
                    ws = marks.rfind(b" ", 0, we) + 1
                    self._lazy_word(post, concepts, occ.first - k, ws, we)
                    pos = ws
            tok, pos = occ.first, start
            if done_lo <= occ.first <= done_hi:
                tok, pos = done_hi + 1, done_end  # resume after the walked words
            while tok <= hi:  # the words of occ, then after
                m = _WORD_MARKS.search(marks, pos)
                if m is None:
                    break
                self._lazy_word(post, concepts, tok, m.start(), m.end())
                pos = m.end()
                tok += 1
            if lo > done_hi + 1 or done_lo > tok:
                post.walked = (lo, tok - 1, pos)  # apart from the walked range: start anew
            elif tok - 1 >= done_hi:
                post.walked = (min(lo, done_lo), tok - 1, pos)
            else:
                post.walked = (min(lo, done_lo), done_hi, done_end)

    def _rules(self, post: _Post, analysis: Analysis, todo: tuple[int, ...]) -> None:
        concepts = analysis.concepts
        for i in todo:
            rule = self.rules[i]
            ok, occs = self._eval(rule.match, concepts, post, top=True)
            if not ok or not occs:
                continue
            if rule.unless is not None and self._eval(rule.unless, concepts, post, top=True)[0]:
                analysis.suppressed.append(rule.id)
                continue
            analysis.hits.append(self._hit(rule, occs, analysis.normalized))

    def _term_match(self, raw: _Raw, norm: Normalized) -> TermMatch:
        term, chain = self.terms[raw.term], raw.chain
        start, end = norm.to_original(raw.start, raw.end)
        weakest = min(chain, key=lambda w: w.score)
        kind = weakest.kind if weakest.score < 100 else ("lemma" if any(w.kind == "lemma" for w in chain) else chain[0].kind)
        return TermMatch(
            concept=term.concept,
            term=term.raw,
            surface=norm.original[start:end],
            start=start,
            end=end,
            kind=kind,
            lemma=" ".join(w.lemma for w in chain),
            score=weakest.score,
        )

    def _eval(
        self, expr: Expr, concepts: dict[str, list[Occurrence]], post: _Post,
        windowed: bool = False, top: bool = False,
    ) -> tuple[bool, list[Occurrence]]:
        """(holds, occurrences) of an expression. windowed: only occurrences close to
        the other side of a NEAR matter, and tag-only terms were looked for there.
        top: outside any NEAR, where only whether a concept occurs matters (its
        occurrences are evidence), so tag-only terms need no search once it does."""
        if isinstance(expr, Ref):
            occs = concepts.get(expr.name, [])
            if not windowed and expr.name in self._lazy and not post.lazy_done and not (top and occs):
                self._add_lazy(post, concepts)
                occs = concepts.get(expr.name, [])
            return bool(occs), occs
        if isinstance(expr, Not):
            return not self._eval(expr.operand, concepts, post, top=True)[0], []
        if isinstance(expr, And):
            all_occs: list[Occurrence] = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts, post, top=top)
                if not ok:
                    return False, []
                all_occs.extend(occs)
            return True, all_occs
        if isinstance(expr, Or):
            any_ok = False
            all_occs = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts, post, windowed, top)
                if ok:
                    any_ok = True
                    all_occs.extend(occs)
            return any_ok, all_occs
        assert isinstance(expr, Near)
        first, second = expr.left, expr.right
        if not expr.negated and self._has_lazy(first) and not self._has_lazy(second):
            first, second = second, first  # the same pairs, with the cheap side first
        ok_l, left = self._eval(first, concepts, post)
        if not ok_l:
            return False, []
        if self._has_lazy(second) and not post.lazy_done:
            self._lazy_around(post, concepts, left, expr.distance)
            _, right = self._eval(second, concepts, post, windowed=True)
        else:
            _, right = self._eval(second, concepts, post)
        if expr.negated:
            if len(left) * len(right) <= _PAIRS_DIRECT:
                kept = [a for a in left if not any(close(a, b, expr) for b in right)]
            else:
                near = _NearIndex(right, expr.distance)
                kept = [a for a in left if not any(close(a, b, expr) for b in near.around(a))]
            return bool(kept), kept
        merged: dict[tuple[int, int], Occurrence] = {}
        n, same = expr.distance, expr.same_sentence
        # A long post has thousands of occurrences on each side: only the right side's
        # occurrences near each left one are looked at (the same pairs, in the same
        # order, as trying them all), and the look stops once the cap is reached.
        candidates = (
            (lambda a: right) if len(left) * len(right) <= _PAIRS_DIRECT
            else _NearIndex(right, n).around
        )
        for a in left:
            af, al = a.first, a.last
            for b in candidates(a):
                # close(a, b, expr), inlined: this loop runs for every pair.
                bf, bl = b.first, b.last
                if bf > al:
                    if bf - al > n:
                        continue
                elif af > bl:
                    if af - bl > n:
                        continue
                elif af == bf and al == bl:
                    continue
                if same and (a.s_last < b.s_first or b.s_last < a.s_first):
                    continue
                key = (af if af < bf else bf, al if al > bl else bl)
                if key not in merged and len(merged) < _MAX_OCCURRENCES:
                    merged[key] = Occurrence(
                        key[0], key[1], a.raws + b.raws,
                        min(a.s_first, b.s_first), max(a.s_last, b.s_last),
                    )
            if len(merged) >= _MAX_OCCURRENCES:
                break  # no later pair could add one
        return bool(merged), list(merged.values())

    def _has_lazy(self, expr: Expr) -> bool:
        """Whether a NEAR operand uses tag-only concepts only through ORs (so windows do)."""
        found = self._lazy_exprs.get(id(expr))
        if found is None:
            found = self._lazy_exprs[id(expr)] = windowable_lazy(expr, self._lazy)
        return found

    def _hit(self, rule: Rule, occs: list[Occurrence], norm: Normalized) -> Hit:
        # One term per stretch of text: a word matched by several terms of a concept
        # ("войск" by войско and войска) is shown once, as its first term.
        seen: set[tuple[int, int]] = set()
        terms: list[TermMatch] = []
        for occ in occs:
            for raw in occ.raws:
                if (raw.start, raw.end) not in seen:
                    seen.add((raw.start, raw.end))
                    terms.append(self._term_match(raw, norm))
        terms.sort(key=lambda tm: (tm.start, tm.end))
        return Hit(rule.id, rule.topic, rule.severity, rule.route, tuple(terms), rule.description)


class _NearIndex:
    """One side of a NEAR sorted by first word, to find what lies near an occurrence in
    O(log n) plus what is there, instead of trying every occurrence of the side."""

    __slots__ = ("occs", "order", "firsts", "reach")

    def __init__(self, occs: list[Occurrence], distance: int) -> None:
        self.occs = occs
        self.order = sorted(range(len(occs)), key=lambda j: occs[j].first)
        self.firsts = [occs[j].first for j in self.order]
        # b is within `distance` of a only if b.first <= a.last + distance and
        # b.last >= a.first - distance, so b.first >= a.first - distance - (widest b).
        widest = max((b.last - b.first for b in occs), default=0)
        self.reach = distance + max(widest, 0), distance

    def around(self, a: Occurrence) -> list[Occurrence]:
        """The occurrences that may be within distance of a, in their original order."""
        before, after = self.reach
        lo = bisect_left(self.firsts, a.first - before)
        hi = bisect_right(self.firsts, a.last + after, lo)
        if hi - lo == 1:
            return [self.occs[self.order[lo]]]
        return [self.occs[j] for j in sorted(self.order[lo:hi])]


def _all_words(word_marks: bytes) -> Iterator[tuple[int, int]]:
    """Every word of a post, shaped like scan matches (end index, length with the space)."""
    for m in _WORD_MARKS.finditer(word_marks):
        # Only the start matters (end - length + 2); the length field has 8 bits.
        n = min(m.end() - m.start() + 1, LENGTH_MASK)
        yield m.start() + n - 2, n


def _evidence_only(ruleset: RuleSet) -> frozenset[str]:
    """Concepts the relevance stage uses that no rule mentions."""
    if ruleset.relevance is None:
        return frozenset()
    used = {
        name
        for rule in ruleset.rules
        for expr in (rule.match, rule.unless)
        if expr is not None
        for name in refs(expr)
    }
    return ruleset.relevance.concepts() - used


def _evidence_ruleset(ruleset: RuleSet) -> RuleSet:
    """A rule set of the relevance stage's concepts only, for its own matcher."""
    wanted = ruleset.relevance.concepts() if ruleset.relevance is not None else frozenset()
    return replace(
        ruleset,
        concepts={name: c for name, c in ruleset.concepts.items() if name in wanted},
        rules=(),
        inline_concepts={},
        relevance=None,
        version=f"{ruleset.version}-evidence",
    )


class _CollectorPause:
    """Pauses the cyclic garbage collector (reference counting still frees everything)
    while long texts are matched; nestable across threads (a backtest matches in a
    worker thread while the service matches live posts), restoring the state it found."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_collector_paused = _CollectorPause()


def matched_part(text: str, max_chars: int) -> str:
    """The beginning of a long text that is matched: at most max_chars characters, cut
    at a white space when one is near, so that no word is matched by half."""
    if len(text) <= max_chars:
        return text
    near = max(max_chars - 200, 0)
    cut = max(text.rfind(" ", near, max_chars + 1), text.rfind("\n", near, max_chars + 1))
    return text[: cut if cut > 0 else max_chars]


def build_matcher(
    ruleset: RuleSet, morph: Morphology | None = None, *, exhaustive: bool = False,
    max_chars: int | None = None,
) -> Matcher:
    """Compile a rule set (loading dictionaries unless a Morphology is handed in).

    exhaustive: look up every word instead of the scan's candidates (slow; for tests).
    max_chars: match only this many characters of a post (default MATCH_MAX_CHARS).
    """
    return Matcher(ruleset, morph or Morphology(), exhaustive=exhaustive, max_chars=max_chars)


def freeze_heap() -> None:
    """Take every object alive now (dictionaries, compiled rules) out of the garbage
    collector's sight, so that a long run does not walk them again and again (~4 % of
    matching time) and forked workers do not copy them. Call once a matcher is built.
    Frozen objects are still freed when nothing refers to them any more."""
    gc.freeze()
