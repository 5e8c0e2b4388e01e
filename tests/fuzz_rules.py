"""Mutations of the shipped rules file for the rules-file fuzz (tests/test_fuzz.py).

Each mutation is deterministic for its (seed, index): a failure names both, and
`mutation(seed, index)` rebuilds the exact bytes that caused it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")
_LINES = SHIPPED.split("\n")
_NEAR = re.compile(r"(?:NEAR|WITHIN)/(\d+)")
_MATCH_LINE = re.compile(r"^(\s+)(match|unless): (?![>|])(.*)$")
_TERM_ITEM = re.compile(r"^(\s+- )(\S.*)$")
_INLINE_LIST = re.compile(r"\[(.*?)\]")

Mutator = Callable[[random.Random], bytes]


def _digits(rng: random.Random) -> str:
    return "9" * rng.choice((4, 5, 400, 4301, 5000, 20_000)) if rng.random() < 0.7 else str(rng.randint(0, 10**9))


def _match_lines() -> list[int]:
    return [i for i, line in enumerate(_LINES) if _MATCH_LINE.match(line)]


def _replace_line(i: int, line: str) -> str:
    return "\n".join([*_LINES[:i], line, *_LINES[i + 1 :]])


def encodings(rng: random.Random) -> bytes:
    """The file saved in another encoding (or with a BOM)."""
    codec = rng.choice(("cp1251", "koi8-r", "utf-16", "utf-16-le", "latin-1", "mac-cyrillic", "cp866", "utf-8-sig"))
    return SHIPPED.encode(codec, "replace")


def truncations(rng: random.Random) -> bytes:
    """The file read while an in-place save was part way through."""
    data = SHIPPED.encode("utf-8")
    return data[: rng.randrange(len(data))]


def byte_flips(rng: random.Random) -> bytes:
    data = bytearray(SHIPPED.encode("utf-8"))
    for _ in range(rng.randint(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def line_edits(rng: random.Random) -> bytes:
    """Lines deleted, duplicated, swapped or re-indented, as a hurried edit leaves them."""
    lines = list(_LINES)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        op = rng.choice(("delete", "duplicate", "swap", "indent", "dedent", "tab", "join"))
        if op == "delete":
            del lines[i : i + rng.randint(1, 12)]
        elif op == "duplicate":
            lines[i:i] = lines[i : i + rng.randint(1, 12)]
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = " " * rng.randint(1, 9) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "join" and i + 1 < len(lines):
            lines[i : i + 2] = [lines[i] + " " + lines[i + 1]]
    return "\n".join(lines).encode("utf-8")


def deep_conditions(rng: random.Random) -> bytes:
    """A rule condition nested deep: parentheses, NOT chains, NEAR chains."""
    i = rng.choice(_match_lines())
    m = _MATCH_LINE.match(_LINES[i])
    assert m is not None
    indent, key, cond = m.groups()
    k = rng.choice((10, 39, 40, 41, 198, 500, 3000))
    shape = rng.choice(("parens", "not", "near", "mixed"))
    if shape == "parens":
        cond = "(" * k + cond + ")" * k
    elif shape == "not":
        cond = "NOT " * k + "(" + cond + ")"
    elif shape == "near":
        cond = " NEAR/3 ".join(["(" + cond + ")"] * k)
    else:
        cond = "(" * k + cond + " AND NOT " * 1 + "(" * k + "forces" + ")" * (2 * k)
    return _replace_line(i, f"{indent}{key}: {cond}").encode("utf-8")


def deep_yaml(rng: random.Random) -> bytes:
    """YAML nested deep, in flow or block style, somewhere in the file."""
    k = rng.choice((20, 33, 100, 600, 3000))
    if rng.random() < 0.5:
        insert = "  deep: " + "[" * k + "x" + "]" * rng.choice((k, k - 1, 0)) + "\n"
        at = "\nconcepts:\n"
        return SHIPPED.replace(at, at + insert, 1).encode("utf-8")
    block = "".join("  " * (j + 1) + f"k{j}:\n" for j in range(k)) + "  " * (k + 1) + "x\n"
    return SHIPPED.replace("\nconcepts:\n", "\nconcepts:\n  deep:\n" + block, 1).encode("utf-8")


def huge_numbers(rng: random.Random) -> bytes:
    """Thousands of digits where a distance, a typo count or a similarity goes."""
    where = rng.choice(("near", "tilde", "default", "fuzzy", "key", "float"))
    if where == "near":
        spots = list(_NEAR.finditer(SHIPPED))
        m = rng.choice(spots)
        text = SHIPPED[: m.start(1)] + _digits(rng) + SHIPPED[m.end(1) :]
    elif where == "tilde":
        items = [i for i, line in enumerate(_LINES) if _TERM_ITEM.match(line)]
        i = rng.choice(items)
        text = _replace_line(i, _LINES[i] + "~" + _digits(rng))
    elif where == "default":
        text = SHIPPED.replace("  near: 6", f"  near: {_digits(rng)}", 1)
    elif where == "fuzzy":
        text = SHIPPED.replace("  fuzzy: 86", f"  fuzzy: {rng.choice(['1e309', '-.inf', '.nan', _digits(rng)])}", 1)
    elif where == "key":
        text = SHIPPED.replace("\ntopics:\n", f"\ntopics:\n  {_digits(rng)}: number\n", 1)
    else:
        text = SHIPPED.replace("  near: 6", f"  near: {_digits(rng)}.{_digits(rng)}", 1)
    return text.encode("utf-8")


def includes(rng: random.Random) -> bytes:
    """Include structures: diamonds, long chains, cycles, unknown and self includes."""
    shape = rng.choice(("diamond", "chain", "cycle", "self", "unknown", "all_previous"))
    n = rng.choice((3, 19, 40, 200, 3000))
    lines: list[str] = []
    if shape == "diamond":
        n = min(n, 60)
        lines += ["  f0_a: [вывод]", "  f0_b: [войска]"]
        for j in range(1, n + 1):
            lines += [f'  f{j}_{s}: ["@f{j - 1}_a", "@f{j - 1}_b"]' for s in "ab"]
    elif shape == "chain":
        lines += ["  f0: [вывод]"] + [f'  f{j}: [слово{j}, "@f{j - 1}"]' for j in range(1, n)]
    elif shape == "cycle":
        lines += [f'  f{j}: ["@f{(j + 1) % n}"]' for j in range(n)]
    elif shape == "self":
        lines += ['  f0: [вывод, "@f0"]']
    elif shape == "unknown":
        lines += [f'  f{j}: ["@nosuch{j}"]' for j in range(min(n, 200))]
    else:
        n = min(n, 200)  # 200 concepts each including all before: 20,000 include items
        lines += ["  f0: [вывод]"] + [
            f"  f{j}: [" + ", ".join(f'"@f{k}"' for k in range(j)) + f", слово{j}]" for j in range(1, n)
        ]
    return SHIPPED.replace("\nconcepts:\n", "\nconcepts:\n" + "\n".join(lines) + "\n", 1).encode("utf-8")


def odd_characters(rng: random.Random) -> bytes:
    """A character YAML or UTF-8 refuses, or one that only looks harmless."""
    data = SHIPPED.encode("utf-8")
    at = rng.randrange(len(data))
    junk = rng.choice((
        b"\x00", b"\x1b[31m", b"\xed\xa0\xbd", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xe2\x80\x8b",
        b"\xc2\x85", b"\x7f", b"\r", b"\xf0\x9f", b"\xff\xfe", "\u202e".encode(), b"\\",
    ))
    return data[:at] + junk * rng.randint(1, 3) + data[at:]


def yaml_features(rng: random.Random) -> bytes:
    """Anchors and alias bombs, merge keys, tags, complex and duplicate keys, documents."""
    feature = rng.choice(("bomb", "merge", "tag", "complex", "duplicate", "documents", "alias_match"))
    text = SHIPPED
    if feature in ("bomb", "alias_match"):
        levels = rng.choice((3, 6, 9))
        bomb = "\nbomb:\n  - &b0 [xxxxxxxxxx, xxxxxxxxxx, xxxxxxxxxx]\n" + "".join(
            f"  - &b{j} [" + ", ".join([f"*b{j - 1}"] * 10) + "]\n" for j in range(1, levels)
        )
        text = SHIPPED.replace("\nconcepts:\n", bomb + "concepts:\n", 1)
        if feature == "alias_match":
            i = rng.choice(_match_lines())
            m = _MATCH_LINE.match(_LINES[i])
            assert m is not None
            text = text.replace(_LINES[i], f"{m.group(1)}{m.group(2)}: *b{levels - 1}", 1)
    elif feature == "merge":
        text = SHIPPED.replace("\ntopics:\n", "\nbase: &base {x: y}\ntopics:\n  <<: *base\n", 1)
    elif feature == "tag":
        tag = rng.choice(("!!python/object/apply:os.system ['echo x']", "!!binary aGVsbG8=", "!!timestamp 2001-12-14",
                          "!custom {a: b}", "!!set {a, b}", "!!omap [a: 1]"))
        text = SHIPPED.replace("  near: 6", f"  near: {tag}", 1)
    elif feature == "complex":
        text = SHIPPED.replace("\ntopics:\n", "\ntopics:\n  ? [a, b]\n  : complex\n", 1)
    elif feature == "duplicate":
        text = SHIPPED.replace("\ntopics:\n", "\ntopics:\n  withdrawal: again\n", 1)
    else:
        text = SHIPPED + rng.choice(("\n---\nmore: doc\n", "\n...\n", "\n--- !!str\n"))
    return text.encode("utf-8")


def token_splices(rng: random.Random) -> bytes:
    """Tokens of the file moved elsewhere: still YAML-shaped, wrong in meaning."""
    tokens = re.findall(r"\S+", SHIPPED)
    lines = list(_LINES)
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(lines))
        words = lines[i].split(" ")
        j = rng.randrange(len(words))
        words[j] = rng.choice(tokens)
        lines[i] = " ".join(words)
    return "\n".join(lines).encode("utf-8")


MUTATORS: tuple[Mutator, ...] = (
    encodings, truncations, byte_flips, line_edits, deep_conditions, deep_yaml, huge_numbers,
    includes, odd_characters, yaml_features, token_splices,
)


def mutation(seed: int, index: int) -> tuple[str, bytes]:
    """The index-th mutation of the seed: (kind, file bytes)."""
    rng = random.Random(f"{seed}:{index}")
    mutate = MUTATORS[index % len(MUTATORS)]
    return mutate.__name__, mutate(rng)


def mutations(seed: int, count: int) -> Iterator[tuple[int, str, bytes]]:
    """count mutations, every kind in turn."""
    for index in range(count):
        kind, data = mutation(seed, index)
        yield index, kind, data
