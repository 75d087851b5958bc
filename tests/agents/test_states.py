"""The agents layer's machines: stored values never change, and every move goes through its table."""

from __future__ import annotations

import pytest

from executive.agents.states import (
    AGENT_RUN_TABLE,
    FIX_RUN_TABLE,
    WORKTREE_TABLE,
    AgentRunState,
    FixRunEvent,
    FixRunState,
    WorktreeEvent,
    WorktreeState,
)
from executive.agents.worktrees import Worktree
from executive.kernel.errors import ErrorCode, InvalidTransitionError


def test_the_stored_values_are_pinned() -> None:
    # These strings are in users' SQLite files and in what `executive agent worktrees` / `fix --stats` print.
    assert [s.value for s in WorktreeState] == ["creating", "ready", "removed"]
    assert [s.value for s in FixRunState] == ["running", "green", "improved", "unchanged", "failed", "cancelled"]
    assert [s.value for s in AgentRunState] == ["running", "done", "lost"]


def test_every_state_has_a_row_and_the_live_ones_are_the_only_ones_with_edges() -> None:
    for table, live in [
        (WORKTREE_TABLE, {WorktreeState.CREATING, WorktreeState.READY}),
        (FIX_RUN_TABLE, {FixRunState.RUNNING}),
        (AGENT_RUN_TABLE, {AgentRunState.RUNNING}),
    ]:
        states = set(table)
        assert states == set(type(next(iter(live))))
        assert {s for s in states if table[s]} == live


def test_fix_run_outcomes_map_to_their_states() -> None:
    row = FIX_RUN_TABLE[FixRunState.RUNNING]
    assert row[FixRunEvent.INTERRUPT] is FixRunState.CANCELLED and row[FixRunEvent.FAIL] is FixRunState.FAILED


def _worktree(state: WorktreeState) -> Worktree:
    return Worktree(3, "/repo", "/wt/3", None, "validate", state.value, None, "abc", None, 0.0)


@pytest.mark.parametrize(
    ("state", "event", "new"),
    [(s, e, n) for s, row in WORKTREE_TABLE.items() for e, n in row.items()],
    ids=lambda v: v.value,
)
def test_each_worktree_edge(state: WorktreeState, event: WorktreeEvent, new: WorktreeState) -> None:
    wt = _worktree(state)
    assert wt.move(event) == new.value and wt.state == new.value


def test_a_removed_worktree_cannot_be_created_again() -> None:
    wt = _worktree(WorktreeState.REMOVED)
    with pytest.raises(InvalidTransitionError) as info:
        wt.move(WorktreeEvent.CREATED)
    assert info.value.code is ErrorCode.INVALID_TRANSITION and wt.state == "removed"
    assert (info.value.machine, info.value.state, info.value.event) == ("worktree", "removed", "created")
    assert "worktree 3" in info.value.message
