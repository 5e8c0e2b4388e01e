"""Where things are in a rules file: problems collected with their line and column."""

from __future__ import annotations

import re
from typing import Any

from bot.rules.model import Problem


class Collector:
    """Collects problems, locating them in the source text."""

    def __init__(self, filename: str, source: str) -> None:
        self.filename = filename
        self.lines = source.splitlines()
        self.problems: list[Problem] = []

    def add(self, pos: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.filename, pos[0] + 1, pos[1] + 1, message))

    def locate(self, snippet: str, start: tuple[int, int], skip: int = 0) -> tuple[int, int]:
        """Find where a snippet of a (possibly multi-line) value sits in the file, after
        skip earlier occurrences of it."""
        line, col = start
        pattern = whole(snippet)
        for i in range(line, min(line + 40, len(self.lines))):
            for found in pattern.finditer(self.lines[i], col if i == line else 0):
                if skip == 0:
                    return i, found.start()
                skip -= 1
        return start


def whole(snippet: str) -> re.Pattern[str]:
    """The snippet as a pattern; names whole only ("forces" is not in "forces_all")."""
    edge = r"[\w.-]" if re.match(r"[\w.-]+$", snippet) else r"(?!)"
    return re.compile(rf"(?<!{edge}){re.escape(snippet)}(?!{edge})")


def key_pos(node: Any, key: Any) -> tuple[int, int]:
    """(line, column), 0-based, of a mapping key; (0, 0) when unknown."""
    try:
        return tuple(node.lc.key(key))  # type: ignore[return-value]
    except (AttributeError, KeyError, TypeError):
        return (0, 0)


def value_pos(node: Any, key: Any) -> tuple[int, int]:
    """(line, column) of a mapping value (of its key when unknown)."""
    try:
        return tuple(node.lc.value(key))  # type: ignore[return-value]
    except (AttributeError, KeyError, TypeError):
        return key_pos(node, key)


def item_pos(node: Any, index: int) -> tuple[int, int]:
    """(line, column) of a list item; (0, 0) when unknown."""
    try:
        return tuple(node.lc.item(index))  # type: ignore[return-value]
    except (AttributeError, KeyError, TypeError, IndexError):
        return (0, 0)


def check_keys(c: Collector, node: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Report every key of node that is not allowed."""
    for key in node:
        if key not in allowed:
            c.add(key_pos(node, key), f"unknown key {key!r} in {where} (expected: {', '.join(allowed)})")
