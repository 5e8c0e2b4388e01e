"""Matching: normalise → lemmatise → match concepts → evaluate rules. Pure, no I/O."""

from bot.matching.matcher import Analysis, Matcher, build_matcher, freeze_heap
from bot.matching.morph import Morphology
from bot.matching.normalize import Normalized, normalize

__all__ = ["Analysis", "Matcher", "Morphology", "Normalized", "build_matcher", "freeze_heap", "normalize"]
