"""Load and validate a rules file, collecting EVERY problem with its line and column."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from bot.domain import Severity
from bot.rules import limits
from bot.rules.expr import ExprSyntaxError, has_positive, parse_expr, refs
from bot.rules.model import (
    LANGS,
    Concept,
    Defaults,
    Expr,
    Problem,
    Rule,
    RulesError,
    RuleSet,
    Term,
)
from bot.rules.relevance import parse_relevance
from bot.rules.terms import TermSyntaxError, parse_term
from bot.rules.yamlpos import Collector as _Collector
from bot.rules.yamlpos import check_keys as _check_keys
from bot.rules.yamlpos import item_pos as _item_pos
from bot.rules.yamlpos import key_pos as _key_pos
from bot.rules.yamlpos import value_pos as _value_pos
from bot.rules.yamlpos import whole as _whole

logger = logging.getLogger(__name__)

_TOP_KEYS = ("version", "defaults", "routes", "topics", "concepts", "rules", "relevance")
_RULE_KEYS = ("id", "topic", "severity", "route", "match", "unless", "description", "enabled", "prior")
_CONCEPT_KEYS = (*LANGS, "description", "fuzzy")
_DEFAULT_KEYS = ("severity", "route", "near", "fuzzy")
_NAME = re.compile(r"^[^\W\d][\w.-]*$")
_SEVERITIES = ", ".join(s.value for s in Severity)
# Terms after includes are copied into every concept that includes them; a file of a
# few thousand lines could otherwise include its way to millions. Compiling costs about
# 0.1 ms a term (the shipped rules hold about 2,500: 1 s); this bounds it near 5 s.
MAX_TERMS = 50_000


def make_yaml() -> YAML:
    """The round-trip YAML used for rules: keeps comments, order and quoting."""
    yaml = YAML()
    yaml.preserve_quotes = True
    return yaml


# Rule sets parsed from the same text are equal whatever the file name (only problems
# name the file), and frozen: an edit is validated, then loaded, then maybe rolled back,
# and each of those parses the same text again (~0.2 s for the shipped rules).
_PARSED: OrderedDict[str, RuleSet] = OrderedDict()
_PARSED_LIMIT = 16
_PARSED_LOCK = threading.Lock()  # /rule backtest parses in a worker thread


def parse_rules(source: str, filename: str = "<rules>") -> RuleSet:
    """Validate rules text and build a RuleSet; raises RulesError listing every problem."""
    with _PARSED_LOCK:
        parsed = _PARSED.get(source)
        if parsed is not None:
            _PARSED.move_to_end(source)
            return parsed
    parsed = _parse_text(source, filename)
    with _PARSED_LOCK:
        _PARSED[source] = parsed
        while len(_PARSED) > _PARSED_LIMIT:
            _PARSED.popitem(last=False)
    return parsed


def _parse_text(source: str, filename: str) -> RuleSet:
    c = _Collector(filename, source)
    data = _read_yaml(c, source)
    if not isinstance(data, dict):
        c.add((0, 0), "the rules file must be a mapping with 'topics', 'concepts' and 'rules'")
        raise RulesError(c.problems)

    _check_keys(c, data, _TOP_KEYS, "the rules file")
    for key in ("topics", "concepts", "rules"):
        if key not in data:
            c.add((0, 0), f"missing top-level section {key!r}")

    defaults = _parse_defaults(c, data.get("defaults"), data)
    routes = _parse_routes(c, data.get("routes"), data)
    topics = _parse_topics(c, data.get("topics"), data)
    concepts = _parse_concepts(c, data.get("concepts"), data, defaults)
    inline: dict[str, Concept] = {}
    rules = _parse_rules(c, data.get("rules"), data, defaults, topics, routes, concepts, inline)
    relevance = parse_relevance(c, data.get("relevance"), data, concepts, topics)

    if c.problems:
        raise RulesError(c.problems)
    version = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    return RuleSet(
        topics=topics,
        concepts=concepts,
        rules=tuple(rules),
        routes=routes,
        defaults=defaults,
        version=version,
        source=source,
        inline_concepts=inline,
        relevance=relevance,
    )


def _read_yaml(c: _Collector, source: str) -> Any:
    """The YAML data of the file, or RulesError with where reading it failed."""
    deep = limits.nesting(source)
    if deep is not None:
        c.add(deep[:2], deep[2])
        raise RulesError(c.problems)
    try:
        data = make_yaml().load(source)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line, mark.column) if mark is not None else (0, 0)
        c.add(pos, f"YAML syntax: {exc.problem or exc.context}")
        raise RulesError(c.problems) from None
    except ReaderError as exc:
        # A control character, NUL or lone surrogate: say which, and where.
        char = exc.character
        name = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        c.add(limits.offset_position(source, exc.position),
              f"character {name} is not allowed in a YAML file (control character, NUL or "
              "half of a surrogate pair): delete it")
        raise RulesError(c.problems) from None
    except YAMLError as exc:
        c.add((0, 0), f"YAML: {exc}")
        raise RulesError(c.problems) from None
    except ValueError as exc:
        # int() refuses numbers of more than 4,300 digits, while the reader builds values.
        where = limits.long_number(source)
        if where is None:
            c.add((0, 0), f"YAML: a value cannot be read: {exc}")
        else:
            c.add(where, "a number far too long to read (the numbers here are distances "
                  "1-100 and similarities 50-100)")
        raise RulesError(c.problems) from None
    except RecursionError:
        # The nesting check above is conservative; this is its backstop.
        c.add((0, 0), "the file is nested too deeply to read (the format needs five levels)")
        raise RulesError(c.problems) from None
    too_many = limits.expansion(data)
    if too_many is not None:
        c.add((0, 0), too_many)
        raise RulesError(c.problems)
    return data


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file; raises RulesError (or OSError if unreadable).

    Text that is not UTF-8 (a Windows-1251 save, a file cut inside a character while
    being written) is a RulesError located at the first bad byte, like any mistake.
    """
    p = Path(path)
    text, bad = limits.decode(p.read_bytes())
    if text is None:
        assert bad is not None
        raise RulesError([Problem(str(path), bad[0] + 1, bad[1] + 1, bad[2])])
    rs = parse_rules(text, str(path))
    return RuleSet(**{**rs.__dict__, "path": p})


def check_rules(path: str | Path) -> list[Problem]:
    """Every problem in a rules file (empty when it is good); never raises."""
    try:
        load_rules(path)
    except RulesError as exc:
        return exc.problems
    except OSError as exc:
        return [Problem(str(path), 1, 1, f"cannot read the file: {exc.strerror or exc}")]
    except Exception as exc:
        # Deliberate catch-all: `milwatch check` exists to describe broken files, so a
        # file the loader does not yet describe well is still a problem, not a crash.
        logger.debug("checking %s failed", path, exc_info=True)
        return [Problem(str(path), 1, 1, f"cannot load the rules: {type(exc).__name__}: {exc}")]
    return []


def _parse_defaults(c: _Collector, node: Any, parent: Any) -> Defaults:
    if node is None:
        return Defaults()
    if not isinstance(node, dict):
        c.add(_value_pos(parent, "defaults"), "'defaults' must be a mapping")
        return Defaults()
    _check_keys(c, node, _DEFAULT_KEYS, "defaults")
    sev = _severity(c, node, "severity", Severity.MEDIUM)
    route = str(node.get("route", "default"))
    near = node.get("near", 8)
    if not isinstance(near, int) or isinstance(near, bool) or not 1 <= near <= 100:
        c.add(_value_pos(node, "near"), f"'near' must be a whole number of words 1-100, not {near!r}")
        near = 8
    fuzzy = _fuzzy(c, node, 86.0)
    return Defaults(severity=sev, route=route, near=near, fuzzy=fuzzy)


def _severity(c: _Collector, node: Any, key: str, default: Severity) -> Severity:
    if key not in node:
        return default
    value = node[key]
    try:
        return Severity(str(value).lower())
    except ValueError:
        c.add(_value_pos(node, key), f"unknown severity {value!r} (use one of: {_SEVERITIES})")
        return default


def _fuzzy(c: _Collector, node: Any, default: float) -> float:
    if "fuzzy" not in node:
        return default
    value = node["fuzzy"]
    if value is False:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        value == 0 or 50 <= value <= 100
    ):
        c.add(_value_pos(node, "fuzzy"), f"'fuzzy' must be 0 (off) or a similarity 50-100, not {value!r}")
        return default
    return float(value)


def _parse_routes(c: _Collector, node: Any, parent: Any) -> dict[str, str]:
    routes = {"default": "default"}
    if node is None:
        return routes
    if not isinstance(node, dict):
        c.add(_value_pos(parent, "routes"), "'routes' must map a route name to a chat")
        return routes
    for name, dest in node.items():
        if not _NAME.match(str(name)):
            c.add(_key_pos(node, name), f"route name {name!r} must start with a letter")
        if dest is None or str(dest).strip() == "":
            c.add(_value_pos(node, name), f"route {name!r} has no chat (write a chat id, @username or 'default')")
            continue
        routes[str(name)] = str(dest)
    return routes


def _parse_topics(c: _Collector, node: Any, parent: Any) -> dict[str, str]:
    if node is None:
        return {}
    if not isinstance(node, dict) or not node:
        c.add(_value_pos(parent, "topics"), "'topics' must map each topic name to a description")
        return {}
    topics: dict[str, str] = {}
    for name, desc in node.items():
        if not _NAME.match(str(name)):
            c.add(_key_pos(node, name), f"topic name {name!r} must start with a letter")
        topics[str(name)] = " ".join(str(desc or "").split())
    return topics


def _parse_concepts(c: _Collector, node: Any, parent: Any, defaults: Defaults) -> dict[str, Concept]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        c.add(_value_pos(parent, "concepts"), "'concepts' must map concept names to term lists")
        return {}
    raw: dict[str, tuple[list[Term], list[tuple[str, tuple[int, int]]], str]] = {}
    for name, body in node.items():
        name = str(name)
        pos = _key_pos(node, name)
        if not _NAME.match(name):
            c.add(pos, f"concept name {name!r} must start with a letter (letters, digits, _ . -)")
        if isinstance(body, list):
            lists = [("any", body, node, name)]
            description = ""
            fuzzy = defaults.fuzzy
        elif isinstance(body, dict):
            _check_keys(c, body, _CONCEPT_KEYS, f"concept {name!r}")
            description = str(body.get("description", "") or "")
            fuzzy = _fuzzy(c, body, defaults.fuzzy)
            lists = []
            for lang in LANGS:
                if lang in body:
                    lists.append((lang, body[lang], body, lang))
        elif body is None:
            c.add(pos, f"concept {name!r} has no terms")
            continue
        else:
            c.add(_value_pos(node, name), f"concept {name!r} must be a list of terms or a mapping of languages (ru, uk, en, any) to lists")
            continue
        terms: list[Term] = []
        includes: list[tuple[str, tuple[int, int]]] = []
        for lang, items, owner, key in lists:
            if not isinstance(items, list):
                c.add(_value_pos(owner, key), f"concept {name!r}: {lang!r} must be a list of terms")
                continue
            for i, item in enumerate(items):
                ipos = _item_pos(items, i)
                if item is None or isinstance(item, (dict, list)):
                    c.add(ipos, f"concept {name!r}: item {i + 1} must be a term (text), not {type(item).__name__}")
                    continue
                text = str(item)
                if text.startswith("@"):
                    includes.append((text[1:], ipos))
                    continue
                quoted = isinstance(item, (DoubleQuotedScalarString, SingleQuotedScalarString))
                try:
                    words = parse_term(text, fuzzy, quoted=quoted)
                except TermSyntaxError as exc:
                    c.add(ipos, f"concept {name!r}: {exc}")
                    continue
                terms.append(Term(text, words, lang, name, ipos[0] + 1, ipos[1] + 1))
        if not terms and not includes:
            c.add(pos, f"concept {name!r} has no terms")
        raw[name] = (terms, includes, description)

    return _resolve_includes(c, raw, {str(name): _key_pos(node, name) for name in node})


def _components(graph: dict[str, list[str]]) -> dict[str, int]:
    """Strongly connected components (Tarjan), iterative so that a chain of thousands of
    includes cannot exhaust the Python stack: an include lies on a cycle exactly when
    both its ends are in the same component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    component: dict[str, int] = {}
    stack: list[str] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = len(index)
                stack.append(name)
            edges = graph[name]
            while i < len(edges):
                ref = edges[i]
                i += 1
                if ref not in index:
                    work.append((name, i))  # come back for the next include
                    work.append((ref, 0))
                    break
                if ref not in component:  # still on the stack: part of this component
                    low[name] = min(low[name], index[ref])
            else:
                if low[name] == index[name]:
                    while True:
                        member = stack.pop()
                        component[member] = index[name]
                        if member == name:
                            break
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[name])
    return component


def _resolve_includes(
    c: _Collector,
    raw: dict[str, tuple[list[Term], list[tuple[str, tuple[int, int]]], str]],
    positions: dict[str, tuple[int, int]],
) -> dict[str, Concept]:
    """Resolve "@other" includes, reporting unknown names and cycles.

    Each concept is resolved once, after the concepts it includes, and a term reached by
    two paths (A includes B and C, both include D) is taken once: time and size grow
    with the terms a concept ends up with, never with the number of paths to them.
    """
    graph = {name: [ref for ref, _ in raw[name][1] if ref in raw] for name in raw}
    component = _components(graph)

    def cyclic(name: str, ref: str) -> bool:
        return component[name] == component[ref]

    for name, (_, includes, _) in raw.items():
        for ref, ipos in includes:
            if ref not in raw:
                c.add(ipos, f"concept {name!r} includes unknown concept '@{ref}'")
            elif cyclic(name, ref):
                c.add(ipos, f"concept {name!r} includes '@{ref}', which includes it back (a cycle)")
    # Own terms first, then each include's terms in order, as written. A depth-first
    # walk with an explicit stack: a concept is finished once all it includes are.
    gathered: dict[str, list[Term]] = {}
    total = 0
    pending = list(raw)
    while pending:
        name = pending[-1]
        if name in gathered:
            pending.pop()
            continue
        waiting = [r for r in graph[name] if r not in gathered and not cyclic(name, r)]
        if waiting:
            pending.extend(waiting)
            continue
        pending.pop()
        terms, includes, _ = raw[name]
        out = list(terms)
        seen = {id(t) for t in out}
        for ref, _ in includes:
            if ref in gathered and not cyclic(name, ref):
                for t in gathered[ref]:
                    if id(t) not in seen:
                        seen.add(id(t))
                        out.append(t)
        total += len(out)
        if total > MAX_TERMS:
            c.add(positions.get(name, (0, 0)), f"concept {name!r}: with what it includes, the "
                  f"rules hold more than {MAX_TERMS:,} terms; include fewer concepts")
            break  # refused anyway: stop before the lists grow any further
        gathered[name] = out
    resolved: dict[str, Concept] = {}
    for name in raw:
        # Included terms count as this concept's own occurrences.
        own = gathered.get(name, raw[name][0])
        renamed = tuple(t if t.concept == name else replace(t, concept=name) for t in own)
        resolved[name] = Concept(name, renamed, raw[name][2])
    return resolved


def _parse_rules(
    c: _Collector,
    node: Any,
    parent: Any,
    defaults: Defaults,
    topics: dict[str, str],
    routes: dict[str, str],
    concepts: dict[str, Concept],
    inline: dict[str, Concept],
) -> list[Rule]:
    if node is None:
        return []
    if not isinstance(node, list):
        c.add(_value_pos(parent, "rules"), "'rules' must be a list of rules (each starting with '- id:')")
        return []
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, body in enumerate(node):
        ipos = _item_pos(node, i)
        if not isinstance(body, dict):
            c.add(ipos, f"rule {i + 1} must be a mapping with id, topic and match")
            continue
        _check_keys(c, body, _RULE_KEYS, f"rule {i + 1}")
        rid = str(body.get("id", "") or "")
        if not rid:
            c.add(ipos, f"rule {i + 1} has no 'id'")
            rid = f"rule-{i + 1}"
        elif rid in seen:
            c.add(_value_pos(body, "id"), f"duplicate rule id {rid!r}")
        seen.add(rid)
        topic = str(body.get("topic", "") or "")
        if not topic:
            c.add(ipos, f"rule {rid!r} has no 'topic'")
        elif topics and topic not in topics:
            c.add(_value_pos(body, "topic"), f"rule {rid!r}: unknown topic {topic!r} (topics: {', '.join(topics)})")
        severity = _severity(c, body, "severity", defaults.severity)
        route = str(body.get("route", defaults.route))
        if route not in routes:
            c.add(_value_pos(body, "route") if "route" in body else ipos,
                  f"rule {rid!r}: unknown route {route!r} (routes: {', '.join(routes)})")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            c.add(_value_pos(body, "enabled"), f"rule {rid!r}: 'enabled' must be true or false")
            enabled = True
        prior = body.get("prior", 0.0)
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not -50 <= prior <= 50:
            c.add(_value_pos(body, "prior"), f"rule {rid!r}: 'prior' must be a number -50 to 50 (log-odds), not {prior!r}")
            prior = 0.0
        match = _condition(c, body, "match", rid, defaults, concepts, inline, required=True)
        unless = _condition(c, body, "unless", rid, defaults, concepts, inline, required=False)
        if match is None:
            continue
        rules.append(
            Rule(
                id=rid,
                topic=topic,
                severity=severity,
                route=route,
                match=match,
                match_text=" ".join(str(body.get("match")).split()),
                unless=unless,
                unless_text=" ".join(str(body.get("unless") or "").split()),
                description=" ".join(str(body.get("description", "") or "").split()),
                enabled=enabled,
                line=ipos[0] + 1,
                prior=float(prior),
            )
        )
    return rules


def _condition(
    c: _Collector,
    body: dict[str, Any],
    key: str,
    rid: str,
    defaults: Defaults,
    concepts: dict[str, Concept],
    inline: dict[str, Concept],
    required: bool,
) -> Expr | None:
    if key not in body or body[key] is None:
        if required:
            c.add(_key_pos(body, "id"), f"rule {rid!r} has no {key!r} condition")
        return None
    text = str(body[key])
    start = _value_pos(body, key)
    try:
        expr = parse_expr(text, defaults.near)
    except ExprSyntaxError as exc:
        rest = text[exc.offset :].split()
        if rest:
            # The same word may stand earlier in the condition: count those to skip them.
            before = len(_whole(rest[0]).findall(text[: exc.offset]))
            pos = c.locate(rest[0], start, skip=before)
        else:
            # The condition ended too early: point at its last character.
            last = text.split()[-1] if text.split() else ""
            line, col = c.locate(last, start) if last else start
            pos = (line, col + max(len(last) - 1, 0))
        c.add(pos, f"rule {rid!r}, {key}: {exc}")
        return None
    ok = True
    for name in refs(expr):
        if name[0] in "\"'«":
            if name not in inline:
                try:
                    inner = name[1:-1]
                    # A double-quoted inline term is exact, a single-quoted one any form.
                    term_text = f'"{inner}"' if name[0] == '"' else inner
                    words = parse_term(term_text, defaults.fuzzy)
                    pos = c.locate(name, start)
                    inline[name] = Concept(name, (Term(name, words, "any", name, pos[0] + 1, pos[1] + 1),))
                except TermSyntaxError as exc:
                    c.add(c.locate(name, start), f"rule {rid!r}, {key}: {exc}")
                    ok = False
        elif name not in concepts:
            close = [n for n in concepts if n.lower() == name.lower() or n.startswith(name[:4])]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            c.add(c.locate(name, start), f"rule {rid!r}, {key}: unknown concept {name!r}{hint}")
            ok = False
    if key == "match" and not has_positive(expr):
        c.add(start, f"rule {rid!r}: 'match' must require some words; a rule of only NOT would flag every post")
        ok = False
    return expr if ok else None
