"""The `relevance:` section of a rules file: validated into a RelevanceConfig.

    relevance:
      alert_at: 0.5            # hits scoring below are stored quietly, not alerted
      bias: 0.0                # log-odds every hit starts from (plus its rule's `prior`)
      signals:
        - name: military context
          words: [armed_forces, combat, war_zones]   # distinct words of these concepts …
          in: post                                   # … anywhere in the post
          weights: [-3, -1, 0, 0.5, 1]               # for 0, 1, 2, 3, 4+ words
        - name: headline
          position: first_sentence
          weight: 0.5
"""

from __future__ import annotations

import math
from typing import Any

from bot.rules.model import SIGNAL_POSITIONS, SIGNAL_SCOPES, Concept, RelevanceConfig, Signal
from bot.rules.yamlpos import Collector, check_keys, item_pos, key_pos, value_pos

_KEYS = ("alert_at", "bias", "signals")
_SIGNAL_KEYS = ("name", "words", "in", "position", "weights", "weight", "topics", "unless", "after",
                "min_sentences")
_MAX_WEIGHT = 50.0  # log-odds beyond this are certainty; larger numbers are typos
_MAX_WEIGHTS = 50


def _number(c: Collector, node: Any, key: str, default: float, low: float, high: float, what: str) -> float:
    """A number within [low, high], or the default after reporting the problem."""
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        c.add(value_pos(node, key), f"{what} must be a number {low:g} to {high:g}, not {value!r}")
        return default
    return float(value)


def _whole(c: Collector, node: Any, key: str, default: int, what: str) -> int:
    """A whole number 0-1000, or the default after reporting the problem."""
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        c.add(value_pos(node, key), f"{what} must be a whole number 0-1000, not {value!r}")
        return default
    return value


def _names(c: Collector, node: Any, key: str, known: dict[str, Any], what: str, kind: str) -> tuple[str, ...]:
    """A list of names (concepts or topics) that must all be known."""
    if key not in node:
        return ()
    value = node[key]
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for i, item in enumerate(items):
        pos = item_pos(value, i) if isinstance(value, list) else value_pos(node, key)
        if not isinstance(item, str) or not item:
            c.add(pos, f"{what}: {key!r} must list {kind} names")
        elif known and item not in known:
            c.add(pos, f"{what}: unknown {kind} {item!r}")
        else:
            out.append(item)
    return tuple(out)


def _weights(c: Collector, node: Any, what: str, counted: bool) -> tuple[float, ...]:
    """`weights: [...]` (by count) or `weight: x` (one weight)."""
    if "weights" in node and "weight" in node:
        c.add(key_pos(node, "weight"), f"{what}: give 'weights' or 'weight', not both")
    if "weights" in node:
        value = node["weights"]
        if not isinstance(value, list) or not 1 <= len(value) <= _MAX_WEIGHTS:
            c.add(value_pos(node, "weights"), f"{what}: 'weights' must be a list of 1-{_MAX_WEIGHTS} numbers")
            return (0.0,)
        out = []
        for i, w in enumerate(value):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) \
                    or abs(w) > _MAX_WEIGHT:
                c.add(item_pos(value, i), f"{what}: weight {i + 1} must be a number -{_MAX_WEIGHT:g} to "
                      f"{_MAX_WEIGHT:g}, not {w!r}")
                w = 0.0
            out.append(float(w))
        return tuple(out)
    if "weight" in node:
        w = _number(c, node, "weight", 0.0, -_MAX_WEIGHT, _MAX_WEIGHT, f"{what}: 'weight'")
        # A counted signal with one weight: nothing found counts 0, anything found counts w.
        return (0.0, w) if counted else (w,)
    c.add(key_pos(node, "name") if "name" in node else (0, 0), f"{what}: no 'weights' or 'weight'")
    return (0.0,)


def _signal(c: Collector, node: Any, pos: tuple[int, int], index: int, concepts: dict[str, Concept],
            topics: dict[str, str]) -> Signal | None:
    """One item of `signals:`."""
    if not isinstance(node, dict):
        c.add(pos, f"relevance signal {index} must be a mapping with a name and words or a position")
        return None
    check_keys(c, node, _SIGNAL_KEYS, f"relevance signal {index}")
    name = " ".join(str(node.get("name", "") or "").split())
    what = f"relevance signal {name!r}" if name else f"relevance signal {index}"
    if not name:
        c.add(pos, f"{what} has no 'name'")
    words = _names(c, node, "words", concepts, what, "concept")
    position = str(node.get("position", "") or "")
    if ("words" in node) == bool(position):
        c.add(pos, f"{what}: give either 'words' (concepts) or 'position' "
              f"({', '.join(SIGNAL_POSITIONS)})")
    if position and position not in SIGNAL_POSITIONS:
        c.add(value_pos(node, "position"), f"{what}: unknown position {position!r} "
              f"(use one of: {', '.join(SIGNAL_POSITIONS)})")
    scope = str(node.get("in", "post") or "post")
    if scope not in SIGNAL_SCOPES:
        c.add(value_pos(node, "in"), f"{what}: 'in' must be one of {', '.join(SIGNAL_SCOPES)}, not {scope!r}")
    if "in" in node and position:
        c.add(key_pos(node, "in"), f"{what}: 'in' applies to words signals only")
    counted = "words" in node or position == "repeated"
    return Signal(
        name=name or f"signal {index}",
        concepts=words,
        scope=scope,
        position=position,
        weights=_weights(c, node, what, counted),
        topics=_names(c, node, "topics", topics, what, "topic"),
        unless=_names(c, node, "unless", concepts, what, "concept"),
        after=_whole(c, node, "after", 3, f"{what}: 'after'"),
        min_sentences=_whole(c, node, "min_sentences", 8, f"{what}: 'min_sentences'"),
        line=pos[0] + 1,
    )


def parse_relevance(
    c: Collector, node: Any, parent: Any, concepts: dict[str, Concept], topics: dict[str, str]
) -> RelevanceConfig | None:
    """The validated `relevance:` section (None when the file has none)."""
    if node is None:
        return None
    if not isinstance(node, dict):
        c.add(value_pos(parent, "relevance"), "'relevance' must be a mapping with alert_at, bias and signals")
        return None
    check_keys(c, node, _KEYS, "relevance")
    alert_at = _number(c, node, "alert_at", 0.5, 0.0, 1.0, "relevance 'alert_at'")
    bias = _number(c, node, "bias", 0.0, -_MAX_WEIGHT, _MAX_WEIGHT, "relevance 'bias'")
    raw = node.get("signals") or []
    if not isinstance(raw, list):
        c.add(value_pos(node, "signals"), "relevance 'signals' must be a list")
        raw = []
    signals = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        signal = _signal(c, item, item_pos(raw, i), i + 1, concepts, topics)
        if signal is None:
            continue
        if signal.name in seen:
            c.add(item_pos(raw, i), f"duplicate relevance signal name {signal.name!r}")
        seen.add(signal.name)
        signals.append(signal)
    return RelevanceConfig(alert_at=alert_at, bias=bias, signals=tuple(signals))
