"""Edits of the rules FILE that change only the edited lines.

Every edit is planned on the parsed document (ruamel round trip, which records where each
node sits), applied as a small TEXT patch at those positions, and then checked twice:

1. the patched text must load to exactly the document the edit intends (so a patch that
   landed in the wrong place is never written), and
2. the result must pass parse_rules (a broken edit raises RulesError with FILE:LINE:COL).

Comments, blank lines, quoting and the line breaks inside multi-line `[a, b,\n c]` lists
stay byte-for-byte: a whole-document dump would re-flow those lists, so a dump (with a
large width, indentation guessed from the file) is only the fallback for layouts the
text patches do not handle, such as flow-style rules; it keeps comments and meaning.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from bot.rules.loader import make_yaml, parse_rules
from bot.rules.model import LANGS, RuleSet

if TYPE_CHECKING:
    from bot.storage import Store

WIDTH = 4096  # never re-wrap a line when the fallback dumps the document
MAX_LINE = 100  # an appended flow-list line longer than this continues on a new line

_UK_LETTERS = re.compile(r"[іїєґІЇЄҐ]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ENABLED_LINE = re.compile(r"[ \t]*enabled:[ \t]*\S+[ \t]*(?:\r?\n|$)")


class EditError(ValueError):
    """The edit cannot be made as asked (unknown name, nothing to change); says why."""


class _Unsupported(Exception):
    """This layout is not handled by the text patches; the dump fallback is used."""


@dataclass(frozen=True)
class Item:
    """A term to write into a list: its text, and whether it is written in double quotes."""

    text: str
    quoted: bool = False

    def render(self) -> str:
        """The YAML source of the item."""
        return json.dumps(self.text, ensure_ascii=False) if self.quoted else self.text

    def plain(self) -> Any:
        """The item as _plain() sees it once loaded."""
        return ("q", self.text) if self.quoted else self.text


@dataclass(frozen=True)
class _Op:
    """One change to the document.

    append: items to the list at path (created, flow style, when its key is missing);
    delete: item `key` (an index) of the list at path;
    set / unset: key of the mapping at path.
    """

    kind: str
    path: tuple[Any, ...]
    key: Any = None
    items: tuple[Item, ...] = ()
    value: Any = None


# -- public API ---------------------------------------------------------------------


def parse_words(words: Sequence[str]) -> list[Item]:
    """Terms as an operator types them: "quoted" (or «quoted») is an exact form."""
    items: list[Item] = []
    for raw in words:
        word = raw.strip()
        if not word:
            continue
        if len(word) >= 2 and (word[0], word[-1]) in {('"', '"'), ("'", "'"), ("«", "»"), ("“", "”")}:
            inner = word[1:-1].strip()
            if not inner:
                raise EditError(f"{word!r} holds no words")
            items.append(Item(inner, quoted=True))
            continue
        if word.startswith("@"):
            items.append(Item(word, quoted=True))  # an include must be quoted in YAML
            continue
        if not _is_plain_string(word):
            raise EditError(
                f"{word!r} cannot be written as a plain term (YAML would read it differently); "
                "quote it for an exact form, or edit the file by hand"
            )
        items.append(Item(word))
    if not items:
        raise EditError("no terms given")
    return items


def guess_lang(word: str) -> str:
    """ru, uk or en from the script of a word (і ї є ґ mean Ukrainian)."""
    if _UK_LETTERS.search(word):
        return "uk"
    if _CYRILLIC.search(word):
        return "ru"
    return "en"


def add_terms(
    text: str, concept: str, words: Sequence[str], lang: str | None = None, *, filename: str = "<rules>"
) -> str:
    """The rules text with words added to a concept's list for lang.

    Without lang, a concept written as one list gets them there; a concept with per-language
    lists gets each word in the list of its script (guess_lang), created when missing.
    Words already in the target list are skipped; raises EditError when none is left,
    RulesError (FILE:LINE:COL) when the result would not validate.
    """
    data = _checked_load(text, filename)
    body = _concept(data, concept)
    if lang is not None and lang not in LANGS:
        raise EditError(f"unknown language {lang!r} (use one of: {', '.join(LANGS)})")
    groups: dict[tuple[Any, ...], list[Item]] = {}
    for item in parse_words(words):
        if isinstance(body, list):
            if lang not in (None, "any"):
                raise EditError(
                    f"concept {concept!r} is one list for every language; leave out {lang!r}"
                )
            path: tuple[Any, ...] = ("concepts", concept)
            target = body
        else:
            key = lang or guess_lang(item.text)
            path = ("concepts", concept, key)
            target = body.get(key)
            if target is not None and not isinstance(target, list):
                raise EditError(f"concept {concept!r}: {key!r} is not a list")
        existing = {str(t).casefold() for t in (target or [])}
        existing |= {i.text.casefold() for i in groups.get(path, [])}
        if item.text.casefold() in existing:
            continue
        groups.setdefault(path, []).append(item)
    if not groups:
        raise EditError(f"nothing to add: already in concept {concept!r}")
    ops = [_Op("append", path, items=tuple(items)) for path, items in groups.items()]
    return _edit(text, ops, filename, data)


def remove_terms(text: str, concept: str, words: Sequence[str], *, filename: str = "<rules>") -> str:
    """The rules text without the given terms, from every language list of the concept.

    A word matches a listed term with or without its quotes, ignoring case. Raises
    EditError naming words that are not listed, RulesError when the concept would be empty.
    """
    data = _checked_load(text, filename)
    body = _concept(data, concept)
    lists: list[tuple[tuple[Any, ...], list[Any]]] = []
    if isinstance(body, list):
        lists.append((("concepts", concept), body))
    else:
        lists.extend(
            (("concepts", concept, key), value) for key, value in body.items()
            if key in LANGS and isinstance(value, list)
        )
    wanted = [item.text.casefold() for item in parse_words(words)]
    found: dict[tuple[Any, ...], set[int]] = {}
    missing = []
    for word in wanted:
        hits = [(path, i) for path, seq in lists for i, t in enumerate(seq) if str(t).casefold() == word]
        if not hits:
            missing.append(word)
        for path, i in hits:
            found.setdefault(path, set()).add(i)
    if missing:
        raise EditError(f"not in concept {concept!r}: {', '.join(missing)}")
    # Last index first, so earlier indices stay valid while items go.
    ops = [_Op("delete", path, key=i) for path, idx in found.items() for i in sorted(idx, reverse=True)]
    return _edit(text, ops, filename, data)


def set_enabled(text: str, rule_id: str, enabled: bool, *, filename: str = "<rules>") -> str:
    """The rules text with a rule switched on or off.

    Disabling adds `enabled: false` under the rule's id (or changes an existing value);
    enabling removes a bare `enabled: false` line, so disable + enable gives back the
    original text. Raises EditError for an unknown rule or when nothing would change.
    """
    data = _checked_load(text, filename)
    rules = data.get("rules") or []
    index = next((i for i, r in enumerate(rules) if isinstance(r, dict) and str(r.get("id")) == rule_id), None)
    if index is None:
        ids = [str(r.get("id")) for r in rules if isinstance(r, dict)]
        raise EditError(f"no rule {rule_id!r}{_did_you_mean(rule_id, ids)}")
    body = rules[index]
    if bool(body.get("enabled", True)) == enabled:
        raise EditError(f"rule {rule_id!r} is already {'enabled' if enabled else 'disabled'}")
    path = ("rules", index)
    if enabled and _bare_enabled_line(text, body):
        ops = [_Op("unset", path, key="enabled")]
    else:
        ops = [_Op("set", path, key="enabled", value=enabled)]
    return _edit(text, ops, filename, data)


def set_weights(
    text: str,
    bias: float,
    signals: Mapping[str, Sequence[float]],
    priors: Mapping[str, float],
    *,
    filename: str = "<rules>",
) -> str:
    """The rules text with the relevance section's bias and signal weights, and the rules'
    priors, set to new numbers — each number changed where it stands, nothing else moved.

    A signal written `weight: w` keeps that form when its first weight stays 0 (it means
    [0, w] for a words signal) or it has one weight; otherwise `weights:` replaces it. A
    prior of 0 is written only where the rule already has a `prior:` line.
    """
    data = _checked_load(text, filename)
    section = data.get("relevance")
    if not isinstance(section, dict):
        raise EditError("the rules file has no relevance section")
    ops: list[_Op] = [_Op("set", ("relevance",), key="bias", value=float(bias))]
    for i, node in enumerate(section.get("signals") or []):
        name = " ".join(str(node.get("name", "")).split())
        if name not in signals:
            continue
        weights = [float(w) for w in signals[name]]
        path = ("relevance", "signals", i)
        if "weight" in node and len(weights) == 2 and weights[0] == 0:
            ops.append(_Op("set", path, key="weight", value=weights[1]))
        elif "weight" in node and len(weights) == 1:
            ops.append(_Op("set", path, key="weight", value=weights[0]))
        elif "weight" in node:
            ops += [_Op("unset", path, key="weight"), _Op("set", path, key="weights", value=weights)]
        else:
            ops.append(_Op("set", path, key="weights", value=weights))
    for i, rule in enumerate(data.get("rules") or []):
        rule_id = str(rule.get("id")) if isinstance(rule, dict) else ""
        if rule_id in priors and (priors[rule_id] or "prior" in rule):
            ops.append(_Op("set", ("rules", i), key="prior", value=float(priors[rule_id])))
    return _edit(text, ops, filename, data)


async def apply_edit(
    path: str | Path,
    new_text: str,
    author: str | None,
    store: Store,
    source: str = "chat",
    *,
    activate: Callable[[], object] | None = None,
) -> RuleSet:
    """Validate, write atomically (temp file + os.replace) and record the new version.

    Raises RulesError, writing nothing, when new_text does not validate. `activate` runs
    right after the file is replaced and before anything is awaited, so a hot-reload loop
    in the same event loop never sees the new file before the caller applied it.
    """
    target = Path(path).resolve()  # through a symlink, replace the real file
    ruleset = parse_rules(new_text, str(path))
    write_atomically(target, new_text)
    if activate is not None:
        activate()
    await store.record_ruleset(ruleset.version, new_text, source, author)
    return ruleset


def write_atomically(target: Path, text: str) -> None:
    """Replace target with text: a reader sees the old file or the new one, never half."""
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # mkstemp makes 0600; keep the file's own permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- planning helpers ---------------------------------------------------------------


def _yaml() -> YAML:
    yaml = make_yaml()
    yaml.width = WIDTH
    return yaml


def _load(text: str) -> Any:
    return _yaml().load(text)


def _checked_load(text: str, filename: str) -> Any:
    """The document of a VALID rules text (RulesError for a file that is broken already)."""
    parse_rules(text, filename)
    data = _load(text)
    if not isinstance(data, dict):  # pragma: no cover - parse_rules refuses these
        raise EditError("the rules file is not a mapping")
    return data


def _concept(data: Any, name: str) -> Any:
    concepts = data.get("concepts") or {}
    if name not in concepts:
        raise EditError(f"no concept {name!r}{_did_you_mean(name, [str(k) for k in concepts])}")
    body = concepts[name]
    if not isinstance(body, (list, dict)):
        raise EditError(f"concept {name!r} is neither a list nor a mapping of languages")
    return body


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _is_plain_string(word: str) -> bool:
    """Whether a word loads back as the same plain string inside a flow list."""
    if any(ch in word for ch in "\n\r\t"):
        return False
    try:
        loaded = make_yaml().load(f"[{word}]")
    except YAMLError:
        return False
    return (
        isinstance(loaded, list)
        and len(loaded) == 1
        and type(loaded[0]) is str
        and loaded[0] == word
    )


def _bare_enabled_line(text: str, body: Any) -> bool:
    """Whether the rule's `enabled:` sits alone on its line (no comment), safe to delete."""
    if not isinstance(body, CommentedMap) or "enabled" not in body or body.fa.flow_style():
        return False
    line, _ = body.lc.key("enabled")
    starts = _line_starts(text)
    if line >= len(starts):
        return False
    return _ENABLED_LINE.fullmatch(text, starts[line], _line_end(text, starts[line])) is not None


# -- the edit: text patches, checked; the dump as fallback --------------------------


def _edit(text: str, ops: Sequence[_Op], filename: str, data: Any) -> str:
    """Apply ops to text (whose loaded document is data); checked as described above."""
    expected = _plain(data)  # a fresh plain copy
    for op in ops:
        _apply_plain(expected, op)
    try:
        new = text
        for i, op in enumerate(ops):
            # One op at a time, positions read afresh from the text as it is now.
            new = _patch(new, op, data if i == 0 else _load(new))
        if _plain(_load(new)) != expected:
            raise _Unsupported("the patched text does not load as intended")
    except (_Unsupported, YAMLError):
        new = _dump_edit(text, ops)
        if _plain(_load(new)) != expected:  # pragma: no cover - ruamel itself failed
            raise EditError("internal error: the edit could not be written faithfully") from None
    parse_rules(new, filename)  # raises RulesError with FILE:LINE:COL
    return new


def _plain(node: Any) -> Any:
    """The document as plain values; quoted strings are marked (quotes make terms exact)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, (DoubleQuotedScalarString, SingleQuotedScalarString)):
        return ("q", str(node))
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    return node


def _walk(node: Any, path: Sequence[Any]) -> Any:
    for key in path:
        node = node[key]
    return node


def _apply_plain(doc: Any, op: _Op) -> None:
    if op.kind == "append":
        parent = _walk(doc, op.path[:-1])
        parent.setdefault(op.path[-1], [])
        parent[op.path[-1]].extend(i.plain() for i in op.items)
    elif op.kind == "delete":
        del _walk(doc, op.path)[op.key]
    elif op.kind == "set":
        _walk(doc, op.path)[op.key] = op.value
    elif op.kind == "unset":
        del _walk(doc, op.path)[op.key]
    else:  # pragma: no cover
        raise ValueError(op.kind)


def _dump_edit(text: str, ops: Sequence[_Op]) -> str:
    """Apply ops to the ruamel tree and dump the whole document (keeps comments)."""
    yaml = _yaml()
    _, indent, block_seq = load_yaml_guess_indent(text)
    mapping = indent - block_seq if indent - block_seq >= 1 else indent
    yaml.indent(mapping=mapping, sequence=indent, offset=block_seq)
    data = yaml.load(text)
    for op in ops:
        if op.kind == "append":
            parent = _walk(data, op.path[:-1])
            if op.path[-1] not in parent:
                seq = CommentedSeq()
                seq.fa.set_flow_style()
                parent[op.path[-1]] = seq
            parent[op.path[-1]].extend(
                DoubleQuotedScalarString(i.text) if i.quoted else i.text for i in op.items
            )
        elif op.kind == "delete":
            del _walk(data, op.path)[op.key]
        elif op.kind == "set":
            value = op.value
            if isinstance(value, list):  # numbers (weights): kept on one line
                value = CommentedSeq(value)
                value.fa.set_flow_style()
            _walk(data, op.path)[op.key] = value
        elif op.kind == "unset":
            del _walk(data, op.path)[op.key]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


# -- text patches at the positions ruamel recorded ------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end == -1 else end


def _offset(starts: list[int], pos: tuple[int, int]) -> int:
    line, col = pos
    if line >= len(starts):
        raise _Unsupported("position past the end of the text")
    return starts[line] + col


def _scalar_end(text: str, start: int) -> int:
    """End offset of a scalar inside a flow list starting at start."""
    ch = text[start] if start < len(text) else ""
    if ch == '"':
        i = start + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        raise _Unsupported("unterminated double quote")
    if ch == "'":
        i = start + 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise _Unsupported("unterminated single quote")
    i = start
    while i < len(text):
        c = text[i]
        if c in ",]\n" or (c == "#" and text[i - 1] in " \t"):
            break
        if c in "[{}":
            raise _Unsupported("nested flow collection")
        i += 1
    end = i
    while end > start and text[end - 1] in " \t\r":
        end -= 1
    return end


def _flow_items(text: str, seq: CommentedSeq, starts: list[int]) -> tuple[int, list[tuple[int, int]]]:
    """Offset of the opening `[` and (start, end) of every item of a flow list."""
    open_at = _offset(starts, (seq.lc.line, seq.lc.col))
    if text[open_at : open_at + 1] != "[":
        raise _Unsupported("flow list without '['")
    spans = []
    for i in range(len(seq)):
        s = _offset(starts, seq.lc.item(i))
        spans.append((s, _scalar_end(text, s)))
    return open_at, spans


def _line_of(starts: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_right(starts, offset) - 1


def _patch(text: str, op: _Op, data: Any) -> str:
    starts = _line_starts(text)
    if op.kind == "append":
        parent = _walk(data, op.path[:-1])
        if not isinstance(parent, CommentedMap):
            raise _Unsupported("parent is not a mapping")
        key = op.path[-1]
        if key not in parent:
            return _insert_key(text, parent, key, "[" + ", ".join(i.render() for i in op.items) + "]", starts)
        seq = parent[key]
        if not isinstance(seq, CommentedSeq):
            raise _Unsupported("not a list")
        rendered = [i.render() for i in op.items]
        if seq.fa.flow_style():
            return _append_flow(text, seq, rendered, starts)
        return _append_block(text, seq, rendered, starts)
    if op.kind == "delete":
        seq = _walk(data, op.path)
        if not isinstance(seq, CommentedSeq):
            raise _Unsupported("not a list")
        if seq.fa.flow_style():
            return _delete_flow(text, seq, op.key, starts)
        return _delete_block(text, seq, op.key, starts)
    mapping = _walk(data, op.path)
    if not isinstance(mapping, CommentedMap) or mapping.fa.flow_style():
        raise _Unsupported("not a block mapping")
    if op.kind == "unset":
        line = mapping.lc.key(op.key)[0]
        alone = re.compile(rf"[ \t]*{re.escape(str(op.key))}:[ \t]*[^\n#]*?[ \t]*(?:#[^\n]*)?(?:\r?\n|$)")
        if alone.fullmatch(text, starts[line], _line_end(text, starts[line])) is None:
            raise _Unsupported("key shares its line")
        end = starts[line + 1] if line + 1 < len(starts) else len(text)
        return text[: starts[line]] + text[end:]
    value = _render_value(op.value)
    if op.key in mapping:
        at = _offset(starts, mapping.lc.value(op.key))
        old = mapping[op.key]
        if isinstance(old, CommentedSeq) and old.fa.flow_style():
            close = text.find("]", at)  # a flow list of numbers: replace it whole
            if close == -1 or "\n" in text[at:close]:
                raise _Unsupported("flow list over several lines")
            return text[:at] + value + text[close + 1 :]
        token = re.compile(r"[^\s#]+").match(text, at)
        if token is None:
            raise _Unsupported("no value token")
        return text[:at] + value + text[token.end() :]
    return _insert_key(text, mapping, op.key, value, starts, after_first=True)


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    raise _Unsupported(f"cannot render {value!r}")


def _number(value: float) -> str:
    """A weight as people write it: -2.0, 0.45, 3.0."""
    text = f"{float(value):.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _append_flow(text: str, seq: CommentedSeq, rendered: list[str], starts: list[int]) -> str:
    open_at, spans = _flow_items(text, seq, starts)
    if not spans:
        return text[: open_at + 1] + ", ".join(rendered) + text[open_at + 1 :]
    at = spans[-1][1]
    addition = ", " + ", ".join(rendered)
    line_start = starts[_line_of(starts, at)]
    if (at - line_start) + len(addition) + (_line_end(text, at) - at) > MAX_LINE:
        # Continue on a new line, aligned with the list's first item.
        first = spans[0][0]
        indent = first - starts[_line_of(starts, first)]
        addition = ",\n" + " " * indent + ", ".join(rendered)
    return text[:at] + addition + text[at:]


def _append_block(text: str, seq: CommentedSeq, rendered: list[str], starts: list[int]) -> str:
    if not len(seq):
        raise _Unsupported("empty block list")
    line, col = seq.lc.item(len(seq) - 1)
    dash = text.rfind("-", starts[line], starts[line] + col)
    if dash == -1 or text[starts[line] : dash].strip():
        raise _Unsupported("block item not on its own line")
    if isinstance(seq[-1], (list, dict)):
        raise _Unsupported("nested block item")
    indent = dash - starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    block = "".join(" " * indent + "- " + r + "\n" for r in rendered)
    if end == len(text) and not text.endswith("\n"):
        block = "\n" + block.rstrip("\n")
    return text[:end] + block + text[end:]


def _delete_flow(text: str, seq: CommentedSeq, index: int, starts: list[int]) -> str:
    _, spans = _flow_items(text, seq, starts)
    start, end = spans[index]
    if len(spans) == 1:
        return text[:start] + text[end:]
    if index == len(spans) - 1:
        return text[: spans[index - 1][1]] + text[end:]  # drop ", item"
    nxt = spans[index + 1][0]
    line, next_line = _line_of(starts, start), _line_of(starts, nxt)
    if line == next_line:
        return text[:start] + text[nxt:]  # drop "item, "
    if not text[starts[line] : start].strip():
        return text[: starts[line]] + text[starts[next_line] :]  # the item's whole line
    return text[: spans[index - 1][1]] + text[end:]  # last on its line: drop ", item"


def _delete_block(text: str, seq: CommentedSeq, index: int, starts: list[int]) -> str:
    if len(seq) == 1:
        raise _Unsupported("the only item of a block list")
    if isinstance(seq[index], (list, dict)):
        raise _Unsupported("nested block item")
    line, col = seq.lc.item(index)
    dash = text.rfind("-", starts[line], starts[line] + col)
    if dash == -1 or text[starts[line] : dash].strip():
        raise _Unsupported("block item not on its own line")
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[: starts[line]] + text[end:]


def _value_end(text: str, node: Any, key: Any, starts: list[int]) -> int:
    """Offset of the end of the LINE where a mapping value ends."""
    value = node[key]
    if isinstance(value, CommentedSeq) and len(value):
        if value.fa.flow_style():
            _, spans = _flow_items(text, value, starts)
            close = text.find("]", spans[-1][1])
            if close == -1:
                raise _Unsupported("unclosed flow list")
            return _line_end(text, close)
        if isinstance(value[-1], (list, dict)):
            raise _Unsupported("nested block item")
        return _line_end(text, _offset(starts, value.lc.item(len(value) - 1)))
    if isinstance(value, CommentedMap) and len(value) and not value.fa.flow_style():
        return _value_end(text, value, list(value)[-1], starts)
    if isinstance(value, (CommentedSeq, CommentedMap)):
        start = _offset(starts, (value.lc.line, value.lc.col))
        return _line_end(text, start)
    # A scalar: assumed to end on its own line (the load check catches the rest).
    return _line_end(text, _offset(starts, node.lc.value(key)))


def _insert_key(
    text: str, mapping: CommentedMap, key: str, value: str, starts: list[int], *, after_first: bool = False
) -> str:
    """A new `key: value` line in a block mapping: after its first key, or at its end."""
    if mapping.fa.flow_style() or not len(mapping):
        raise _Unsupported("not a block mapping")
    keys = list(mapping)
    indent: int = mapping.lc.key(keys[0])[1]
    anchor = keys[0] if after_first else keys[-1]
    at = _value_end(text, mapping, anchor, starts)
    return text[:at] + "\n" + " " * indent + f"{key}: {value}" + text[at:]
