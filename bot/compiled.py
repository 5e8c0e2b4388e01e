"""Compiled matchers, shared within a process by rules text and matcher options.

Compiling the shipped rules takes about a second and 40 MB. The same text comes back
often: an operator disables and re-enables a rule, rolls back to the previous version,
applies a proposal /rule backtest just compiled; the test suite compiles the shipped
file hundreds of times. A Matcher keeps no per-post state (what it remembers between
posts are caches keyed by word), so one compiled matcher can serve every caller.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from bot.matching import Matcher, Morphology, build_matcher
from bot.rules import RuleSet

_Key = tuple[str, bool, bool, int | None]  # sha256 of the rules text, Ukrainian, exhaustive, cap

_LOCK = threading.Lock()  # /rule backtest compiles in a worker thread
_COMPILED: OrderedDict[_Key, Matcher] = OrderedDict()
# The active rule set and the one before it: a rollback is then instant, and a
# live service keeps at most one spare compiled rule set in memory.
_limit = 2


def compiled_matcher(
    ruleset: RuleSet, morph: Morphology, *, exhaustive: bool = False, max_chars: int | None = None
) -> Matcher:
    """The matcher for ruleset: compiled once per rules text and options, then shared."""
    if not ruleset.source:
        # A rule set built in code, not parsed from text: nothing identifies it.
        return build_matcher(ruleset, morph, exhaustive=exhaustive, max_chars=max_chars)
    key = (hashlib.sha256(ruleset.source.encode("utf-8")).hexdigest(), morph.has_ukrainian, exhaustive, max_chars)
    with _LOCK:
        matcher = _COMPILED.get(key)
        if matcher is not None:
            _COMPILED.move_to_end(key)
            return matcher
    matcher = build_matcher(ruleset, morph, exhaustive=exhaustive, max_chars=max_chars)
    with _LOCK:
        _COMPILED[key] = matcher
        while len(_COMPILED) > _limit:
            _COMPILED.popitem(last=False)
    return matcher


def keep_compiled(limit: int) -> None:
    """Keep up to limit compiled rule sets (default 2); a larger limit costs ~40 MB each."""
    global _limit
    with _LOCK:
        _limit = max(0, limit)
        while len(_COMPILED) > _limit:
            _COMPILED.popitem(last=False)
