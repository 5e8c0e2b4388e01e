"""What a rules file may ask of the reader before YAML parsing and validation see it:
UTF-8 text, a bounded nesting depth, aliases that do not expand without end.

Each check returns a located problem instead of raising, so that the loader can report
it as FILE:LINE:COL like any other mistake, and a reload keeps the last good rules.
"""

from __future__ import annotations

import re
from typing import Any

# The rules format needs five levels (concepts → name → language → list → term); the
# YAML reader recurses once or twice per level, and its flow-collection scanner slows
# down with the square of the depth (3,000 nested "[" took 6 s, then overflowed).
MAX_NESTING = 32
# Values the validator may walk with aliases expanded: `match: *a` where `a` nests aliases
# ten to a level would otherwise turn a 300-byte file into a billion-element string.
MAX_VALUES = 200_000
MAX_CHARS = 10_000_000  # and characters in them, counted the same way

_BLOCK_SCALAR = re.compile(r"(?:^|[\s:-])[|>][+-]?[1-9]?[+-]?\s*(?:#.*)?$")
_LONG_NUMBER = re.compile(r"\d{1000,}")

Located = tuple[int, int, str]  # 0-based line and column, message


def decode(data: bytes) -> tuple[str, None] | tuple[None, Located]:
    """The file's text, or where and why it is not UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, (0, 0, "the file is UTF-16 text: save it as UTF-8")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        pos, cut = exc.start, exc.reason == "unexpected end of data"
    line = data.count(b"\n", 0, pos)
    line_start = data.rfind(b"\n", 0, pos) + 1
    col = len(data[line_start:pos].decode("utf-8", "replace"))
    byte = data[pos]
    if cut:
        # A character's first bytes and then nothing: the file was cut while being saved.
        message = (
            f"the file ends in the middle of a character (byte 0x{byte:02X}): it was probably "
            "read while still being written; save it again"
        )
    else:
        message = (
            f"the file is not UTF-8 text (byte 0x{byte:02X} here): save it as UTF-8 "
            "(it may be in Windows-1251 or another legacy encoding)"
        )
    return None, (line, col, message)


def nesting(source: str) -> Located | None:
    """Where the file nests deeper than MAX_NESTING, found in one pass over the text.

    A conservative reading of YAML's layout: block indentation levels, list dashes on one
    line, and flow brackets outside quoted scalars, comments and block scalars. It only
    has to see the nesting a person could not have meant; the reader's own recursion
    limit stays as the backstop for anything it misses.
    """
    indents: list[int] = []
    flow = 0
    quote = ""
    block_scalar = -1  # indentation of the key whose | or > text lines follow
    for number, line in enumerate(source.split("\n")):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_scalar >= 0:
            if not stripped.strip() or indent > block_scalar:
                continue
            block_scalar = -1
        i = 0
        if not quote and not flow:
            if not stripped or stripped.startswith("#"):
                continue
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            i = indent
            dashes = 0
            while line.startswith("- ", i) or line[i:].rstrip() == "-":
                dashes += 1
                i += 2
                while i < len(line) and line[i] == " ":
                    i += 1
            if len(indents) + dashes > MAX_NESTING:
                return number, indent, _too_deep()
            base = len(indents) + dashes
        else:
            base = len(indents)
        prev = ""  # the last character outside scalars ("" at the start of the line)
        gap = True  # white space since prev
        while i < len(line):
            ch = line[i]
            if quote:
                if quote == "'" and ch == "'":
                    if line.startswith("''", i):
                        i += 2
                        continue
                    quote, prev, gap = "", "'", False
                elif quote == '"' and ch == "\\":
                    i += 1
                elif quote == '"' and ch == '"':
                    quote, prev, gap = "", '"', False
                i += 1
                continue
            if ch == "#" and gap:
                break
            starts_value = prev in ("", "[", "{", ",") or (prev in ":-?" and gap)
            if ch in "\"'" and starts_value:
                quote = ch
            elif ch in "[{" and (flow or starts_value):
                flow += 1
                if base + flow > MAX_NESTING:
                    return number, i, _too_deep()
            elif ch in "]}" and flow:
                flow -= 1
            if ch in " \t":
                gap = True
            else:
                prev, gap = ch, False
            i += 1
        if not quote and not flow and _BLOCK_SCALAR.search(line):
            block_scalar = indent
    return None


def _too_deep() -> str:
    return (
        f"nested more than {MAX_NESTING} levels deep: the rules format needs five "
        "(concepts → name → language → list → term)"
    )


def expansion(data: Any) -> str | None:
    """Why the loaded values are too many to validate (aliases counted each time they
    are used), or None. Iterative: the data may be as deep as the reader allowed."""
    todo = [data]
    seen = chars = 0
    while todo:
        value = todo.pop()
        seen += 1
        if isinstance(value, str):
            chars += len(value)
        if seen > MAX_VALUES or chars > MAX_CHARS:
            return (
                f"the file's values, with anchors and aliases (&name, *name) expanded, come "
                f"to more than {MAX_VALUES:,} values or {MAX_CHARS:,} characters; write the "
                "lists out instead"
            )
        if isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            todo.extend(value)
    return None


def long_number(source: str) -> tuple[int, int] | None:
    """Where a number too long to read begins (int() refuses more than 4,300 digits)."""
    m = _LONG_NUMBER.search(source)
    if m is None:
        return None
    line = source.count("\n", 0, m.start())
    return line, m.start() - (source.rfind("\n", 0, m.start()) + 1)


def offset_position(source: str, offset: int) -> tuple[int, int]:
    """0-based line and column of a character offset."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset)
    return line, offset - (source.rfind("\n", 0, offset) + 1)
