"""Scoring: hand-computed precision/recall/F1 on tiny labelled sets, and the printed report."""

from __future__ import annotations

import pytest

from bot.evaluation import EvalReport, evaluate, format_report

W, E = "withdrawal", "evacuation"
TOPICS = (W, E)


def fs(*topics: str) -> frozenset[str]:
    """A topic set."""
    return frozenset(topics)


# (id, expected, predicted)
ROWS = [
    ("p1", fs(W), fs(W)),  # W hit
    ("p2", fs(W), fs()),  # W missed, any missed
    ("p3", fs(), fs(W)),  # W false alarm, any false alarm
    ("p4", fs(E), fs(W)),  # E missed, W false alarm, but "any" is right
    ("p5", fs(E, W), fs(E)),  # E hit, W missed
    ("p6", fs(), fs()),  # quiet and right
    ("p7", fs(), fs("strike")),  # a topic not evaluated: counts nowhere, "any" included
]


@pytest.fixture
def report() -> EvalReport:
    """The report of ROWS."""
    return evaluate(ROWS, TOPICS)


def test_per_topic_counts_and_scores(report: EvalReport) -> None:
    w, e = report.topics
    assert (w.topic, w.tp, w.fp, w.fn) == (W, 1, 2, 2)
    assert w.precision == pytest.approx(1 / 3)
    assert w.recall == pytest.approx(1 / 3)
    assert w.f1 == pytest.approx(1 / 3)
    assert (e.topic, e.tp, e.fp, e.fn) == (E, 1, 0, 1)
    assert (e.precision, e.recall) == (1.0, 0.5)
    assert e.f1 == pytest.approx(2 / 3)
    assert report.posts == 7


def test_any_topic(report: EvalReport) -> None:
    any_ = report.any
    assert (any_.tp, any_.fp, any_.fn) == (3, 1, 1)
    assert (any_.precision, any_.recall, any_.f1) == (0.75, 0.75, 0.75)
    assert report.score("any") is any_


def test_macro_f1_is_the_mean_of_topics_without_any(report: EvalReport) -> None:
    assert report.macro_f1 == pytest.approx((1 / 3 + 2 / 3) / 2)


def test_error_ids_are_listed_in_input_order(report: EvalReport) -> None:
    assert report.score(W).missed == ("p2", "p5")
    assert report.score(W).false_alarms == ("p3", "p4")
    assert report.score(E).missed == ("p4",)
    assert report.score(E).false_alarms == ()
    assert (report.any.missed, report.any.false_alarms) == (("p2",), ("p3",))
    with pytest.raises(KeyError):
        report.score("strike")


def test_no_predictions_at_all() -> None:
    report = evaluate([("a", fs(W), fs()), ("b", fs(), fs())], TOPICS)
    w, e = report.topics
    # Nothing predicted while something was expected: precision 0, not a free 1.0.
    assert (w.precision, w.recall, w.f1) == (0.0, 0.0, 0.0)
    # Nothing expected and nothing predicted: perfect.
    assert (e.precision, e.recall, e.f1) == (1.0, 1.0, 1.0)
    assert report.macro_f1 == 0.5
    assert w.missed == ("a",)


def test_predictions_where_nothing_was_expected() -> None:
    report = evaluate([("a", fs(), fs(E)), ("b", fs(W), fs(W))], TOPICS)
    e = report.score(E)
    assert (e.tp, e.fp, e.fn) == (0, 1, 0)
    assert (e.precision, e.recall, e.f1) == (0.0, 0.0, 0.0)
    assert e.false_alarms == ("a",)


def test_perfect_predictions() -> None:
    rows = [(str(i), exp, exp) for i, exp in enumerate([fs(W), fs(E), fs(E, W), fs()])]
    report = evaluate(rows, TOPICS)
    for score in (*report.topics, report.any):
        assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
        assert score.missed == score.false_alarms == ()
    assert format_report(report).splitlines()[-1] == "F1(macro)=1.000"


def test_topic_order_follows_the_caller_and_repeats_are_dropped() -> None:
    report = evaluate(iter(ROWS), [E, W, E])  # any iterable of rows, e.g. a generator
    assert [s.topic for s in report.topics] == [E, W]


def test_no_topics_gives_zero_macro() -> None:
    assert evaluate(ROWS, []).macro_f1 == 0.0


def test_format_report(report: EvalReport) -> None:
    text = format_report(report)
    lines = text.splitlines()
    assert lines[-1] == "F1(macro)=0.500"
    assert not text.endswith("\n")
    header = next(line for line in lines if line.startswith("topic"))
    assert header.split() == ["topic", "P", "R", "F1", "TP", "FP", "FN"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[0] in (W, E, "any")}
    assert rows[W] == ["0.333", "0.333", "0.333", "1", "2", "2"]
    assert rows[E] == ["1.000", "0.500", "0.667", "1", "0", "1"]
    assert rows["any"] == ["0.750", "0.750", "0.750", "3", "1", "1"]
    assert "misses (withdrawal): p2 p5" in lines
    assert "false alarms (withdrawal): p3 p4" in lines
    assert "misses (evacuation): p4" in lines
    assert "false alarms (evacuation): -" in lines
    assert "misses (any): p2" in lines
    assert "false alarms (any): p3" in lines
