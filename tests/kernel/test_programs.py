"""The program machine (kernel/programs.py): one test per edge, the policy decisions and the backoff arithmetic."""

from __future__ import annotations

import pytest

from executive.kernel.errors import InvalidTransitionError
from executive.kernel.programs import (
    TRANSITIONS,
    Program,
    ProgramEvent,
    ProgramState,
    RestartPolicy,
    RestartSettings,
    RunOutcome,
    after_run,
    backoff_delay,
)

S, E = ProgramState, ProgramEvent

EDGES = [
    (S.STOPPED, E.START, S.RUNNING),
    (S.RUNNING, E.DONE, S.EXITED),
    (S.RUNNING, E.BACK_OFF, S.BACKOFF),
    (S.RUNNING, E.GIVE_UP, S.FATAL),
    (S.RUNNING, E.STOP, S.STOPPED),
    (S.RUNNING, E.INTERRUPTED, S.BACKOFF),
    (S.BACKOFF, E.RETRY, S.RUNNING),
    (S.BACKOFF, E.RETRY_REFUSED, S.BACKOFF),
    (S.BACKOFF, E.GIVE_UP, S.FATAL),
    (S.BACKOFF, E.STOP, S.STOPPED),
    (S.EXITED, E.START, S.RUNNING),
    (S.FATAL, E.START, S.RUNNING),
]


def _program(state: ProgramState) -> Program:
    return Program(name="web", source="run", spec={"argv": ["true"]}, settings=RestartSettings(), state=state)


def test_the_table_is_exactly_these_edges() -> None:
    listed = {(a, e): b for a, e, b in EDGES}
    table = {(a, e): b for a, row in TRANSITIONS.items() for e, b in row.items()}
    assert table == listed
    assert set(TRANSITIONS) == set(ProgramState)


@pytest.mark.parametrize(("state", "event", "new"), EDGES, ids=lambda v: v.value)
def test_each_edge(state: ProgramState, event: ProgramEvent, new: ProgramState) -> None:
    p = _program(state)
    p.next_at = 123.0
    assert p.apply(event) is state
    assert p.state is new
    assert (p.next_at is None) == (new is not S.BACKOFF)  # a deadline only lives in BACKOFF


@pytest.mark.parametrize(
    ("state", "event"),
    [(a, e) for a in ProgramState for e in ProgramEvent if e not in TRANSITIONS[a]],
    ids=lambda v: v.value,
)
def test_every_missing_edge_is_refused_and_changes_nothing(state: ProgramState, event: ProgramEvent) -> None:
    p = _program(state)
    with pytest.raises(InvalidTransitionError) as info:
        p.apply(event)
    assert p.state is state
    assert (info.value.machine, info.value.state, info.value.event) == ("program", state.value, event.value)
    assert "program 'web'" in info.value.message


def _ended(code: int, *, uptime: float = 0.1, by_client: bool = False) -> RunOutcome:
    return RunOutcome(
        succeeded=code == 0 and not by_client,
        stopped_by_client=by_client,
        uptime=uptime,
        describe=f"exited with status {code}",
    )


def test_never_ends_the_program_whatever_the_status() -> None:
    s = RestartSettings(policy=RestartPolicy.NEVER)
    assert after_run(s, _ended(0), 0)[:2] == (E.DONE, 0)
    assert after_run(s, _ended(1), 0)[:2] == (E.DONE, 1)


def test_on_failure_restarts_failures_until_max_restarts_then_gives_up() -> None:
    s = RestartSettings(policy=RestartPolicy.ON_FAILURE, max_restarts=2)
    assert after_run(s, _ended(3), 0)[:2] == (E.BACK_OFF, 1)
    assert after_run(s, _ended(3), 1)[:2] == (E.BACK_OFF, 2)
    event, failures, reason = after_run(s, _ended(3), 2, name="web")
    assert (event, failures) == (E.GIVE_UP, 3)
    assert "failed 3 times in a row" in reason and "max_restarts=2" in reason and "executive restart web" in reason


def test_on_failure_ends_after_a_success_and_forgives_the_failures() -> None:
    s = RestartSettings(policy=RestartPolicy.ON_FAILURE, max_restarts=2)
    event, failures, reason = after_run(s, _ended(0), 2)
    assert (event, failures) == (E.DONE, 0) and "on-failure" in reason


def test_always_restarts_a_success_and_a_success_resets_the_count() -> None:
    s = RestartSettings(policy=RestartPolicy.ALWAYS, max_restarts=1)
    assert after_run(s, _ended(0), 1)[:2] == (E.BACK_OFF, 0)
    assert after_run(s, _ended(1), 0)[:2] == (E.BACK_OFF, 1)
    assert after_run(s, _ended(1), 1)[:2] == (E.GIVE_UP, 2)


def test_a_run_that_stayed_up_for_reset_after_forgives_earlier_failures() -> None:
    s = RestartSettings(policy=RestartPolicy.ON_FAILURE, max_restarts=1, reset_after=30.0)
    assert after_run(s, _ended(1, uptime=29.0), 1)[:2] == (E.GIVE_UP, 2)
    assert after_run(s, _ended(1, uptime=30.0), 1)[:2] == (E.BACK_OFF, 1)


def test_a_run_stopped_by_a_client_stops_the_program_without_counting() -> None:
    s = RestartSettings(policy=RestartPolicy.ALWAYS)
    event, failures, reason = after_run(s, _ended(143, by_client=True), 2)
    assert (event, failures) == (E.STOP, 2) and "client" in reason


def test_backoff_doubles_from_base_and_stops_at_max() -> None:
    s = RestartSettings(backoff_base=0.5, backoff_max=3.0)
    assert [backoff_delay(s, n) for n in range(0, 6)] == [0.5, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(s, 10_000) == 3.0  # no overflow for a very long failing streak


def test_settings_round_trip_through_their_stored_form() -> None:
    s = RestartSettings(policy=RestartPolicy.ALWAYS, max_restarts=7, backoff_base=0.2, backoff_max=9, reset_after=4)
    assert RestartSettings.from_dict(s.to_dict()) == s
