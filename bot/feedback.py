"""Analyst feedback on alert cards: the two buttons, their callback data, the precision table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

USEFUL = "useful"
FALSE_POSITIVE = "false_positive"
VERDICTS = (USEFUL, FALSE_POSITIVE)

USEFUL_LABEL = "✅ useful"
FALSE_POSITIVE_LABEL = "❌ false positive"

# Callback data of the buttons: b"fb:<hit_id>:u" or b"fb:<hit_id>:f" (Telegram allows 64 bytes).
CALLBACK_PREFIX = b"fb:"
_CALLBACK = re.compile(rb"^fb:(\d{1,18}):([uf])$")
_CODE = {USEFUL: "u", FALSE_POSITIVE: "f"}
_VERDICT = {b"u": USEFUL, b"f": FALSE_POSITIVE}


class RuleFeedback(NamedTuple):
    """Marks on one rule's alerts: (rule_id, useful, false_positive, precision)."""

    rule_id: str
    useful: int
    false_positive: int
    precision: float  # useful / (useful + false_positive)


def callback_data(hit_id: int, verdict: str) -> bytes:
    """The button payload for a verdict on a hit."""
    if verdict not in _CODE:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    return b"fb:%d:%s" % (int(hit_id), _CODE[verdict].encode())


def parse_callback(data: bytes) -> tuple[int, str] | None:
    """(hit_id, verdict) from a button payload, or None if it is not a feedback button."""
    match = _CALLBACK.match(data or b"")
    if match is None:
        return None
    return int(match.group(1)), _VERDICT[match.group(2)]


def feedback_buttons(hit_id: int) -> list[list[object]]:
    """One row with the two inline buttons for an alert card (Telethon Button objects)."""
    from telethon import Button

    return [
        [
            Button.inline(USEFUL_LABEL, callback_data(hit_id, USEFUL)),
            Button.inline(FALSE_POSITIVE_LABEL, callback_data(hit_id, FALSE_POSITIVE)),
        ]
    ]


def verdict_label(verdict: str) -> str:
    """'useful' / 'false positive', as the callback answer says it."""
    return verdict.replace("_", " ")


def format_feedback(rows: Sequence[RuleFeedback], scope: str = "") -> str:
    """The precision table, one rule per line, in the order given (worst first from the store).

    scope: how the marks were chosen, e.g. "in the last 30d" ("" for all of them).
    """
    scope = f" {scope}" if scope else ""
    if not rows:
        return (
            f"No feedback marks{scope} yet: analysts mark alert cards with "
            f"'{USEFUL_LABEL}' or '{FALSE_POSITIVE_LABEL}'."
        )
    width = max(len("rule"), *(len(r.rule_id) for r in rows))
    useful = sum(r.useful for r in rows)
    wrong = sum(r.false_positive for r in rows)
    lines = [
        f"Feedback per rule{scope} ({useful + wrong} marks), worst precision first:",
        f"{'rule':<{width}}  {'useful':>6}  {'false positive':>14}  {'precision':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.rule_id:<{width}}  {r.useful:>6}  {r.false_positive:>14}  {r.precision:>9.2f}"
        )
    lines.append(
        f"{'all':<{width}}  {useful:>6}  {wrong:>14}  {useful / (useful + wrong):>9.2f}"
    )
    return "\n".join(lines)
