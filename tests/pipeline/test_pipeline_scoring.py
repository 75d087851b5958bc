"""The threshold table, the verdict rules and the output parsers, from case tables."""

from __future__ import annotations

import pytest

from executive.pipeline import scoring
from executive.pipeline.model import Defaults
from executive.pipeline.states import RUN_TRANSITIONS, RunEvent, RunState, Verdict


def test_default_threshold_table_rises_and_the_last_entry_holds() -> None:
    table = Defaults().thresholds
    assert [scoring.threshold_for(table, i) for i in range(1, 7)] == [60, 75, 85, 90, 90, 90]
    with pytest.raises(ValueError):
        scoring.threshold_for(table, 0)


# (score, threshold, iteration, previous, max_iterations, total_used, max_total, validate) -> verdict
DECIDE = [
    ((60, 60, 1, None, 4, 1, 12, False), Verdict.PASSED),  # exactly the threshold passes
    ((59.9, 60, 1, None, 4, 1, 12, False), Verdict.REWORK),  # first iteration: no improvement rule yet
    ((80, 75, 2, 50, 4, 2, 12, False), Verdict.PASSED),
    ((70, 75, 2, 50, 4, 2, 12, False), Verdict.REWORK),  # +20 points, below 75: rework
    ((54, 75, 2, 50, 4, 2, 12, False), Verdict.NOT_IMPROVING),  # +4 < +5
    ((55, 75, 2, 50, 4, 2, 12, False), Verdict.REWORK),  # +5 is enough
    ((40, 75, 2, 50, 4, 2, 12, False), Verdict.NOT_IMPROVING),  # got worse
    ((80, 90, 4, 70, 4, 4, 12, False), Verdict.EXHAUSTED),  # improving, but the phase's last iteration
    ((80, 85, 3, 70, 4, 12, 12, False), Verdict.EXHAUSTED),  # the run's budget is spent
    ((10, 60, 1, None, 4, 1, 12, True), Verdict.BELOW),  # validate never reworks
    ((90, 60, 1, None, 4, 1, 12, True), Verdict.PASSED),
]


@pytest.mark.parametrize("args,verdict", DECIDE)
def test_decide(args: tuple, verdict: Verdict) -> None:
    score, threshold, iteration, previous, max_it, used, max_total, validate = args
    assert (
        scoring.decide(
            score=score,
            threshold=threshold,
            iteration=iteration,
            max_iterations=max_it,
            previous=previous,
            min_improvement=5,
            total_used=used,
            max_total=max_total,
            validate=validate,
        )
        is verdict
    )


def test_weighted_score_and_failed_checks() -> None:
    checks = [
        {"name": "a", "score": 100, "weight": 3, "pass_score": None},
        {"name": "b", "score": 50, "weight": 1, "pass_score": None},
        {"name": "c", "score": 70, "weight": 1, "pass_score": 60},
    ]
    assert scoring.weighted_score(checks) == 84.0
    assert [c["name"] for c in scoring.failed_checks(checks, 75)] == ["b"]  # c has its own bar of 60
    assert scoring.weighted_score([]) == 0.0


TEST_OUTPUTS = [
    ("============ 3 passed, 1 failed, 2 skipped in 0.52s ============", (3, 1)),
    ("== 1 failed, 4 passed, 1 error in 1.00s ==", (4, 2)),
    ("collected 0 items\n== no tests ran in 0.01s ==", None),
    ("Ran 5 tests in 0.010s\n\nFAILED (failures=1, errors=1, skipped=1)", (2, 2)),
    ("Ran 4 tests in 0.010s\n\nOK", (4, 0)),
    ('{"passed": 7, "failed": 1}', (7, 1)),
    ('{"passed": 7, "total": 10}', (7, 3)),
    ("nothing to see", None),
]


@pytest.mark.parametrize("text,expected", TEST_OUTPUTS)
def test_parse_test_summary(text: str, expected: tuple[int, int] | None) -> None:
    assert scoring.parse_test_summary(text) == expected


def test_coverage_json_lookup_and_rubric_parsers() -> None:
    assert (
        scoring.parse_coverage_text("Name    Stmts   Miss  Cover\nsrc/a.py   10   1   90%\nTOTAL   20   3   85%\n")
        == 85.0
    )
    assert scoring.coverage_from_report({"totals": {"percent_covered": 71.5}}) == 71.5
    assert scoring.json_from_output('log line\n{"summary": {"score": 3}}\n') == {"summary": {"score": 3}}
    assert scoring.lookup({"a": {"b": [1, {"c": 2}]}}, "a.b.1.c") == 2
    with pytest.raises(KeyError, match=r"a\.x"):
        scoring.lookup({"a": {"b": 1}}, "a.x.y")
    assert scoring.parse_rubric_score('thinking...\n{"score": 82, "reason": "ok"}') == 82
    stream = '{"type":"system"}\n{"type":"result","subtype":"success","result":"Done. {\\"score\\": 64}"}'
    assert scoring.parse_rubric_score(stream) == 64
    assert scoring.parse_rubric_score("no score here") is None
    assert scoring.parse_rubric_score('{"score": 140}') == 100


def test_run_transition_table_is_closed() -> None:
    """Every state has a row, terminal states only leave by rework, and nothing leads to PENDING."""
    assert set(RUN_TRANSITIONS) == set(RunState)
    for state in (RunState.PASSED, RunState.FAILED):
        assert set(RUN_TRANSITIONS[state]) == {RunEvent.REWORK}
    assert all(new is not RunState.PENDING for row in RUN_TRANSITIONS.values() for new in row.values())


def test_a_failing_gate_always_has_a_failed_check_to_rework() -> None:
    # Every check cleared its own low pass_score, yet the gate (40 < 60) failed: no check "failed",
    # so rework re-ran nothing and the next iteration stopped as not_improving.
    checks = [
        {"name": "grows", "score": 40, "weight": 1, "pass_score": 30},
        {"name": "fine", "score": 100, "weight": 0.1, "pass_score": None},
    ]
    assert scoring.weighted_score(checks) < 60
    assert [c["name"] for c in scoring.failed_checks(checks, 60)] == ["grows"]
    assert [c["name"] for c in scoring.failed_checks(checks, 40)] == []  # the gate passes: nothing failed


def test_output_nested_too_deep_for_the_json_parser_is_not_json() -> None:
    from executive.pipeline import scoring

    bomb = "[" * 200_000 + "]" * 200_000
    assert scoring.json_from_output(bomb) is None
    assert scoring.parse_rubric_score(bomb) is None
