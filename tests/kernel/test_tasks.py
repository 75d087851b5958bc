"""TaskState machine: one test per edge, and every missing edge is refused."""

from __future__ import annotations

import pytest

from executive.kernel.errors import ErrorCode, InvalidTransitionError, NotFoundError
from executive.kernel.tasks import TRANSITIONS, EndReason, Task, TaskKind, TaskState, TaskTable, Transition

EDGES = [(s, t, n) for s, row in TRANSITIONS.items() for t, n in row.items()]
MISSING = [(s, t) for s in TaskState for t in Transition if t not in TRANSITIONS[s]]


@pytest.mark.parametrize(("state", "transition", "new"), EDGES, ids=[f"{s.value}-{t.value}" for s, t, _ in EDGES])
def test_each_edge_moves_to_its_target(state: TaskState, transition: Transition, new: TaskState) -> None:
    task = Task(id=1, name="t", kind=TaskKind.PROCESS, state=state)
    prev = task.apply(transition)
    assert prev is state and task.state is new
    if new is TaskState.ENDED:
        assert task.ended is not None


@pytest.mark.parametrize(("state", "transition"), MISSING, ids=[f"{s.value}-{t.value}" for s, t in MISSING])
def test_missing_edges_raise_and_change_nothing(state: TaskState, transition: Transition) -> None:
    task = Task(id=7, name="job", kind=TaskKind.PROCESS, state=state)
    with pytest.raises(InvalidTransitionError) as info:
        task.apply(transition)
    assert task.state is state
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert "task 7 (job)" in info.value.message and state.value in info.value.message
    assert info.value.data == {"task": 7, "state": state.value, "transition": transition.value}


def test_ended_is_terminal() -> None:
    assert TRANSITIONS[TaskState.ENDED] == {}


def test_started_time_set_once_and_pause_reason_cleared() -> None:
    task = Task(id=1, name="t", kind=TaskKind.PROCESS, state=TaskState.STARTING)
    task.apply(Transition.STARTED)
    first = task.started
    task.apply(Transition.PAUSE)
    task.pause_reason = "user"
    task.apply(Transition.RESUME)
    assert task.started == first and task.pause_reason is None


def test_table_allocates_increasing_ids_and_unique_live_names() -> None:
    table = TaskTable(first_id=5)
    a = table.create(kind=TaskKind.PROCESS, name="build")
    b = table.create(kind=TaskKind.PROCESS, name="build")
    c = table.create(kind=TaskKind.PROCESS, name=None)
    assert (a.id, b.id, c.id) == (5, 6, 7)
    assert (a.name, b.name, c.name) == ("build", "build-2", "process-7")
    a.state = TaskState.ENDED
    d = table.create(kind=TaskKind.PROCESS, name="build")
    assert d.name == "build"  # the old one has ended, so the name is free again


def test_lookup_by_id_and_name_prefers_live() -> None:
    table = TaskTable()
    old = table.create(kind=TaskKind.PROCESS, name="svc")
    old.state, old.end_reason = TaskState.ENDED, EndReason.EXITED
    live = table.create(kind=TaskKind.PROCESS, name="svc")
    assert table.get("svc") is live
    assert table.get(old.id) is old and table.get(str(old.id)) is old
    with pytest.raises(NotFoundError) as info:
        table.get("nope")
    assert info.value.code is ErrorCode.TASK_NOT_FOUND and "executive ps" in info.value.message


def test_seed_never_reuses_ids() -> None:
    table = TaskTable()
    table.seed(100)
    assert table.create(kind=TaskKind.PROCESS, name=None).id == 100
    table.seed(50)
    assert table.create(kind=TaskKind.PROCESS, name=None).id == 101


def test_ended_tasks_leave_memory_beyond_the_limit() -> None:
    table = TaskTable(max_ended=2)
    tasks = [table.create(kind=TaskKind.PROCESS, name=None) for _ in range(3)]
    for t in tasks:
        t.state = TaskState.ENDED
        table.note_ended(t)
    assert [t.id for t in table] == [2, 3]
