"""What changed between two rule sets: one line for operators, and the changed file lines."""

from __future__ import annotations

import difflib
from dataclasses import replace

from bot.rules.model import RuleSet

MAX_LINE_CHARS = 120


def diff_summary(old: RuleSet | None, new: RuleSet) -> str:
    """One line for operators: rules added, removed and changed since the last version."""
    if old is None:
        return f"{len(new.rules)} rules loaded"
    before = {r.id: r for r in old.rules}
    after = {r.id: r for r in new.rules}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    # Positions do not count as changes: moving a rule down the file changes nothing.
    changed = sorted(
        k for k in after.keys() & before.keys() if replace(after[k], line=0) != replace(before[k], line=0)
    )

    def terms(rs: RuleSet, name: str) -> list[tuple[str, str]] | None:
        concept = rs.concepts.get(name)
        return [(t.raw, t.lang) for t in concept.terms] if concept else None

    concepts = sum(1 for k in new.concepts if terms(old, k) != terms(new, k))
    concepts += len(old.concepts.keys() - new.concepts.keys())
    parts = [f"+{len(added)} rules", f"-{len(removed)}", f"~{len(changed)}", f"{concepts} concepts changed"]
    names = ", ".join([*(f"+{a}" for a in added), *(f"-{r}" for r in removed), *(f"~{c}" for c in changed)][:6])
    return " ".join(parts) + (f" ({names})" if names else "")


def line_diff(old_text: str, new_text: str, limit: int = 8) -> list[str]:
    """The changed lines of the file as '-N: text' / '+N: text' (N is the line number)."""
    out: list[str] = []
    a, b = old_text.splitlines(), new_text.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        out.extend(f"-{i + 1}: {_clip(a[i])}" for i in range(i1, i2))
        out.extend(f"+{j + 1}: {_clip(b[j])}" for j in range(j1, j2))
    if len(out) > limit:
        out = out[: limit - 1] + [f"… {len(out) - limit + 1} more changed line(s)"]
    return out


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE_CHARS else "…" + line[-(MAX_LINE_CHARS - 1) :]
