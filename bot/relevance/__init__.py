"""Relevance: after the rules say which words occur, decide whether a post is about the
topic — by the evidence around each hit — and how sure that is. Pure, no I/O."""

from bot.relevance.scorer import RelevanceStage, describe
from bot.relevance.sentences import SentenceIndex

__all__ = ["RelevanceStage", "SentenceIndex", "describe"]
