"""The matcher: normalised words → term matches → concept occurrences → rule hits.

Pure: no I/O. Built once per rule set; `match(text)` is safe to call for every post.
Word-level work (lemmas, typo search) is cached per distinct word, so a stream of
posts costs little more than tokenising them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from itertools import accumulate, compress
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, cast

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.domain import Hit, TermMatch
from bot.matching.morph import Morphology
from bot.matching.normalize import Normalized, normalize
from bot.matching.prefilter import Prefilter, build_prefilter
from bot.matching.translit import cyrillic_skeleton, skeleton
from bot.rules.model import And, Expr, Near, Not, Or, Ref, Rule, RuleSet, Term

_TOKEN = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*|\d+")
_TOKEN_SPLIT = re.compile("(" + _TOKEN.pattern + ")")
# Links and @mentions are addresses, not words ("@severnyi_veter" is no "сверни").
_ADDRESS = re.compile(r"(?:https?://|t\.me/|www\.)\S+|@\w+")
# Sentence ends for NEAR: . ! ? … ; : followed by space, line breaks and list bullets.
_SENTENCE_END = re.compile(r"[.!?…;:]+(?=\s|$)|\n|[•▪◾●►➖]")
_MIN_FUZZY_LEN = 5
_EN_FUZZY_FLOOR = 94.0  # no English dictionary: be strict so "russian" ≠ "russia"
_EN_FUZZY_MIN_LEN = 7
_TRANSLIT_FLOOR = 95.0
_WORD_CACHE_LIMIT = 200_000
_MAX_OCCURRENCES = 64


class Token(NamedTuple):
    """A word of the normalised text with its offsets in the normalised text."""

    text: str
    start: int
    end: int


class _Tokens(Sequence[Token]):
    """Words and their start offsets, turned into Token objects only when looked at."""

    def __init__(self, words: list[str], starts: list[int]) -> None:
        self.words = words
        self.starts = starts

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, i):  # type: ignore[no-untyped-def,override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Token(self.words[i], self.starts[i], self.starts[i] + len(self.words[i]))

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, _Tokens)) else NotImplemented


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
    first: int
    last: int
    chain: tuple[_WordHit, ...]


class Occurrence(NamedTuple):
    """A place where a concept (or a combination) matched: token range + term matches."""

    first: int
    last: int
    raws: tuple[_Raw, ...]
    s_first: int = 0  # sentence indexes the occurrence spans
    s_last: int = 0


@dataclass
class Analysis:
    """Everything the matcher found in one text, for hits and explanations."""

    normalized: Normalized
    tokens: Sequence[Token]
    concepts: dict[str, list[Occurrence]]
    hits: list[Hit] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)  # rules vetoed by `unless`
    matcher: "Matcher | None" = None

    def term_matches(self, occ: Occurrence) -> list[TermMatch]:
        """The term matches of an occurrence, with offsets into the original text."""
        assert self.matcher is not None
        return [self.matcher._term_match(r, self.tokens, self.normalized) for r in occ.raws]


@dataclass
class _FuzzyPool:
    """Target word forms for typo matching, each pointing at the term words it stands for."""

    forms: list[str] = field(default_factory=list)
    entries: list[list[tuple[int, int, float]]] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, form: str, term: int, pos: int, threshold: float) -> None:
        i = self._index.get(form)
        if i is None:
            i = self._index[form] = len(self.forms)
            self.forms.append(form)
            self.entries.append([])
        self.entries[i].append((term, pos, threshold))

    _buckets: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    _candidates: dict[tuple[str, int], tuple[list[str], list[int]]] = field(default_factory=dict)

    def lowest(self) -> float:
        return min((t for e in self.entries for _, _, t in e), default=101.0)

    def candidates(self, probe: str, cutoff: float) -> tuple[list[str], list[int]]:
        """Forms that can reach `cutoff` against probe: same first letter, close length.

        fuzz.ratio ≥ r needs the shorter string to be at least r/(200-r) of the longer
        one, so other lengths cannot qualify; a typo in the very first letter is rare
        enough to trade for comparing against a few dozen forms instead of thousands.
        """
        key = (probe[0], len(probe))
        found = self._candidates.get(key)
        if found is not None:
            return found
        if not self._buckets:
            for i, form in enumerate(self.forms):
                self._buckets.setdefault((form[0], len(form)), []).append(i)
        k = cutoff / (200 - cutoff)
        lo, hi = int(len(probe) * k), int(len(probe) / k) + 1
        idx = [i for n in range(lo, hi + 1) for i in self._buckets.get((probe[0], n), ())]
        found = ([self.forms[i] for i in idx], idx)
        self._candidates[key] = found
        return found


class Matcher:
    """Compiled rule set; `match(text)` returns the hits with their evidence."""

    def __init__(self, ruleset: RuleSet, morph: Morphology, *, prefilter: bool = True) -> None:
        self.ruleset = ruleset
        self.version = ruleset.version
        self.morph = morph
        self.terms: list[Term] = []
        self._lemma_index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._exact_index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._prefix_index: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        self._edit_targets: list[tuple[frozenset[str], int, int, int]] = []
        self._cyr_pool = _FuzzyPool()
        self._lat_pool = _FuzzyPool()
        self._skel_pool = _FuzzyPool()
        self._word_cache: dict[str, tuple[_WordHit, ...]] = {}
        self._tag_terms: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for concept in (*ruleset.concepts.values(), *ruleset.inline_concepts.values()):
            for term in concept.terms:
                self._add_term(term)
        self._prefix_lengths = sorted(self._prefix_index)
        self._cyr_cutoff = self._cyr_pool.lowest()
        self._lat_cutoff = max(self._lat_pool.lowest(), _EN_FUZZY_FLOOR)
        # English words that look like romanised Russian ("sirens" ~ сирены) need a close call.
        self._skel_cutoff = max(self._skel_pool.lowest(), _TRANSLIT_FLOOR)
        self.rules = [r for r in ruleset.rules if r.enabled]
        self._term_len = [len(term.words) for term in self.terms]
        self._term_concept = [term.concept for term in self.terms]
        # Per rule, concepts one of which must occur: most rules are skipped by a set test.
        self._rule_anchors = [_anchor_names(r.match) for r in self.rules]
        self.prefilter: Prefilter | None = build_prefilter(ruleset, morph) if prefilter else None

    # -- compile ---------------------------------------------------------------------
    def _add_term(self, term: Term) -> None:
        t = len(self.terms)
        self.terms.append(term)
        for j, spec in enumerate(term.words):
            if spec.kind == "tag":
                self._tag_terms[spec.text].append((t, j))
            elif spec.kind == "exact":
                self._exact_index[spec.text].append((t, j))
            elif spec.kind == "prefix":
                self._prefix_index[len(spec.text)][spec.text].append((t, j))
            else:
                for lemma in self.morph.term_lemmas(spec.text, term.lang):
                    self._lemma_index[lemma].append((t, j))
                if spec.max_edits is not None:
                    forms = frozenset(self.morph.forms(spec.text, term.lang))
                    self._edit_targets.append((forms, spec.max_edits, t, j))
                elif spec.fuzzy is not None:
                    # Forms shorter than the fuzzy minimum still serve transliteration
                    # ("nashi" → "наши"); the post word itself must be long enough.
                    for form in self.morph.forms(spec.text, term.lang):
                        if len(form) < _MIN_FUZZY_LEN - 1:
                            continue
                        if form.isascii():
                            self._lat_pool.add(form, t, j, spec.fuzzy)
                        else:
                            self._cyr_pool.add(form, t, j, spec.fuzzy)
                            self._skel_pool.add(cyrillic_skeleton(form), t, j, spec.fuzzy)

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

    def _compute_word_hits(self, word: str) -> tuple[_WordHit, ...]:
        info = self.morph.info(word)
        out: list[_WordHit] = []
        seen: set[tuple[int, int]] = set()

        def add(t: int, j: int, kind: str, lemma: str, score: float = 100.0) -> None:
            if (t, j) not in seen:
                seen.add((t, j))
                out.append(_WordHit(t, j, kind, lemma, score))

        for (t, j) in self._exact_index.get(word, ()):
            add(t, j, "exact", word)
        # Sorted: which lemma is reported must not depend on set order (hash seed).
        for lemma in sorted(info.lemmas):
            for (t, j) in self._lemma_index.get(lemma, ()):
                add(t, j, "lemma", lemma)
        if info.place:
            for (t, j) in self._tag_terms.get("place", ()):
                add(t, j, "place", word)
        for n in self._prefix_lengths:
            if len(word) < n:
                break
            for (t, j) in self._prefix_index[n].get(word[:n], ()):
                add(t, j, "prefix", word)
        if out or info.known or len(word) < _MIN_FUZZY_LEN:
            return tuple(out)
        # Only words no dictionary knows get typo matching: fuzzy on real words is
        # harmful ("входит" is close to "выводит").
        if info.script == "cyr":
            self._fuzzy(word, word, self._cyr_pool, self._cyr_cutoff, "fuzzy", add)
        elif info.script == "lat":
            if len(word) >= _EN_FUZZY_MIN_LEN:
                self._fuzzy(word, word, self._lat_pool, self._lat_cutoff, "fuzzy", add)
            self._fuzzy(word, skeleton(word), self._skel_pool, self._skel_cutoff, "translit", add)
        for forms, k, t, j in self._edit_targets:
            best = min((Levenshtein.distance(word, f, score_cutoff=k) for f in forms), default=k + 1)
            if best <= k:
                add(t, j, "fuzzy", word, 100.0 * (1 - best / max(len(word), 1)))
        return tuple(out)

    @staticmethod
    def _fuzzy(
        word: str, probe: str, pool: _FuzzyPool, cutoff: float, kind: str, add: Callable[..., None]
    ) -> None:
        if not pool.forms or cutoff > 100 or not probe:
            return
        forms, index = pool.candidates(probe, cutoff)
        if not forms:
            return
        for form, score, k in process.extract(probe, forms, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3):
            for t, j, threshold in pool.entries[index[k]]:
                if score >= max(threshold, cutoff):
                    add(t, j, kind, form, round(float(score), 1))

    # -- texts -----------------------------------------------------------------------
    def analyse(self, text: str) -> Analysis:
        """Find every concept occurrence and every rule hit in a text."""
        norm = normalize(text)
        ntext = norm.text
        if self.prefilter is not None and not self.prefilter.may_match(ntext):
            return Analysis(norm, [], {})
        if "@" in ntext or "/" in ntext or "www." in ntext:
            # Same length, so offsets stay valid.
            ntext = _ADDRESS.sub(lambda m: " " * len(m.group()), ntext)
        # One C-level split gives the words (odd items) and, through the running sum of
        # the pieces' lengths, where each word starts: no Python step per word.
        parts = _TOKEN_SPLIT.split(ntext)
        words = parts[1::2]
        cached = list(map(self._word_cache.get, words))
        if None in cached:
            cached = [w if w is not None else self.word_hits(word) for w, word in zip(cached, words)]
        word_hits = cast("list[tuple[_WordHit, ...]]", cached)
        if not any(word_hits):
            return Analysis(norm, [], {})
        # Offsets and sentences only for posts that have candidate words at all.
        starts = list(accumulate(map(len, parts)))[0:-1:2]
        tokens = _Tokens(words, starts)
        ends = [m.start() for m in _SENTENCE_END.finditer(ntext)]
        hit_idx = list(compress(range(len(word_hits)), word_hits))
        # Sentence of every token with candidates (phrase words all have candidates).
        sent = {i: bisect_left(ends, starts[i]) for i in hit_idx}
        term_len, term_concept = self._term_len, self._term_concept
        concepts: dict[str, list[Occurrence]] = defaultdict(list)
        for i in hit_idx:
            si = sent[i]
            for first in word_hits[i]:
                if first.pos:
                    continue
                t = first.term
                n = term_len[t]
                if n == 1:
                    concepts[term_concept[t]].append(Occurrence(i, i, (_Raw(t, i, i, (first,)),), si, si))
                    continue
                chain = [first]
                for k in range(1, n):
                    # A phrase never spans a sentence end ("Вывод: войска …").
                    if sent.get(i + k) != si:
                        break
                    nxt = next((w for w in word_hits[i + k] if w.term == t and w.pos == k), None)
                    if nxt is None:
                        break
                    chain.append(nxt)
                if len(chain) == n:
                    last = i + n - 1
                    concepts[term_concept[t]].append(Occurrence(i, last, (_Raw(t, i, last, tuple(chain)),), si, si))
        analysis = Analysis(norm, tokens, dict(concepts), matcher=self)
        present = analysis.concepts.keys()
        for rule, anchors in zip(self.rules, self._rule_anchors):
            if anchors is not None and anchors.isdisjoint(present):
                continue
            ok, occs = self._eval(rule.match, analysis.concepts)
            if not ok or not occs:
                continue
            if rule.unless is not None and self._eval(rule.unless, analysis.concepts)[0]:
                analysis.suppressed.append(rule.id)
                continue
            analysis.hits.append(self._hit(rule, occs, tokens, norm))
        return analysis

    def match(self, text: str) -> list[Hit]:
        """The rule hits for a text (empty when nothing matches)."""
        return self.analyse(text).hits

    def _term_match(self, raw: _Raw, tokens: Sequence[Token], norm: Normalized) -> TermMatch:
        term, chain = self.terms[raw.term], raw.chain
        start, end = norm.to_original(tokens[raw.first].start, tokens[raw.last].end)
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

    def _eval(self, expr: Expr, concepts: dict[str, list[Occurrence]]) -> tuple[bool, list[Occurrence]]:
        if isinstance(expr, Ref):
            occs = concepts.get(expr.name, [])
            return bool(occs), occs
        if isinstance(expr, Not):
            return not self._eval(expr.operand, concepts)[0], []
        if isinstance(expr, And):
            all_occs: list[Occurrence] = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts)
                if not ok:
                    return False, []
                all_occs.extend(occs)
            return True, all_occs
        if isinstance(expr, Or):
            any_ok = False
            all_occs = []
            for op in expr.operands:
                ok, occs = self._eval(op, concepts)
                if ok:
                    any_ok = True
                    all_occs.extend(occs)
            return any_ok, all_occs
        assert isinstance(expr, Near)
        ok_l, left = self._eval(expr.left, concepts)
        if not ok_l:
            return False, []
        _, right = self._eval(expr.right, concepts)
        if expr.negated:
            kept = [a for a in left if not any(_close(a, b, expr) for b in right)]
            return bool(kept), kept
        merged: dict[tuple[int, int], Occurrence] = {}
        for a in left:
            for b in right:
                if _close(a, b, expr):
                    key = (min(a.first, b.first), max(a.last, b.last))
                    if key not in merged and len(merged) < _MAX_OCCURRENCES:
                        merged[key] = Occurrence(
                            key[0], key[1], a.raws + b.raws,
                            min(a.s_first, b.s_first), max(a.s_last, b.s_last),
                        )
        return bool(merged), list(merged.values())

    def _hit(self, rule: Rule, occs: list[Occurrence], tokens: Sequence[Token], norm: Normalized) -> Hit:
        seen: set[_Raw] = set()
        terms: list[TermMatch] = []
        for occ in occs:
            for raw in occ.raws:
                if raw not in seen:
                    seen.add(raw)
                    terms.append(self._term_match(raw, tokens, norm))
        terms.sort(key=lambda tm: (tm.start, tm.end))
        return Hit(rule.id, rule.topic, rule.severity, rule.route, tuple(terms), rule.description)


def _anchor_names(expr: Expr) -> frozenset[str] | None:
    """Concept names one of which must occur for expr to hold; None when unknown."""
    if isinstance(expr, Ref):
        return frozenset({expr.name})
    if isinstance(expr, Not):
        return None
    if isinstance(expr, Or):
        parts = [_anchor_names(op) for op in expr.operands]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*parts)  # type: ignore[arg-type]
    if isinstance(expr, And):
        options = [a for op in expr.operands if (a := _anchor_names(op)) is not None]
    else:
        sides = [expr.left] if expr.negated else [expr.left, expr.right]
        options = [a for side in sides if (a := _anchor_names(side)) is not None]
    return min(options, key=len) if options else None


def _close(a: Occurrence, b: Occurrence, near: Near) -> bool:
    """Within n words of each other, in any order; one word never pairs with itself."""
    if a.first == b.first and a.last == b.last:
        return False
    if near.same_sentence and (a.s_last < b.s_first or b.s_last < a.s_first):
        return False
    n = near.distance
    if a.last < b.first:
        return b.first - a.last <= n
    if b.last < a.first:
        return a.first - b.last <= n
    return True




def build_matcher(
    ruleset: RuleSet, morph: Morphology | None = None, *, prefilter: bool = True
) -> Matcher:
    """Compile a rule set (loading dictionaries unless a Morphology is handed in)."""
    return Matcher(ruleset, morph or Morphology(), prefilter=prefilter)
