"""TaskState machine: one test per edge, and every missing edge is refused; the table's live counts and window."""

from __future__ import annotations

import random

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
    a.apply(Transition.END)
    d = table.create(kind=TaskKind.PROCESS, name="build")
    assert d.name == "build"  # the old one has ended, so the name is free again


def test_lookup_by_id_and_name_prefers_live() -> None:
    table = TaskTable()
    old = table.create(kind=TaskKind.PROCESS, name="svc")
    old.apply(Transition.END)
    old.end_reason = EndReason.EXITED
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
        t.apply(Transition.END)
    assert [t.id for t in table] == [2, 3]
    assert table.complete_from == 2  # every task from id 2 on is in memory; 1 is in the store only


def _scan(table: TaskTable) -> dict[TaskState, int]:
    """The live counts the slow way, to compare with the ones the table keeps."""
    out = dict.fromkeys(TaskState, 0)
    for t in table:
        out[t.state] += 1
    return {s: n for s, n in out.items() if s is not TaskState.ENDED}


def test_live_counts_follow_every_edge_and_match_a_scan() -> None:
    rng = random.Random(20)
    table = TaskTable(max_ended=5)
    tasks = []
    for _ in range(400):
        if rng.random() < 0.3 or not tasks:
            tasks.append(table.create(kind=TaskKind.PROCESS, name=rng.choice(["a", "b", None])))
        t = rng.choice(tasks)
        moves = list(TRANSITIONS[t.state])
        if moves:
            t.apply(rng.choice(moves))
        assert table.counts() == _scan(table)
        assert table.live_count == sum(table.counts().values()) == len(table.live())
        assert all(x.is_live for x in table.live())
    names = [t.name for t in table.live()]
    assert len(names) == len(set(names))  # names stay unique among live tasks


def test_restored_tasks_are_counted_and_the_window_is_complete_from_its_oldest_id() -> None:
    table = TaskTable(max_ended=3)
    for i, state in enumerate([TaskState.RUNNING, TaskState.ENDED, TaskState.QUEUED, TaskState.ENDED], start=10):
        table.insert(Task(id=i, name=f"t{i}", kind=TaskKind.PROCESS, state=state))
    assert table.counts()[TaskState.RUNNING] == 1 and table.counts()[TaskState.QUEUED] == 1
    assert table.live_count == 2 and table.peek_next_id() == 14
    table.get(10).apply(Transition.END)
    assert table.live_count == 1 and table.counts() == _scan(table)
    table.create(kind=TaskKind.PROCESS, name=None).apply(Transition.END)  # 14 ends: 11, the oldest end, leaves
    assert not table.has(11) and table.complete_from == 12 and table.has(10)


def test_walk_finds_tasks_by_id_in_both_directions() -> None:
    table = TaskTable()
    for _ in range(6):
        table.create(kind=TaskKind.PROCESS, name=None)
    assert [t.id for t in table.walk(2, 5, newest_first=True)] == [4, 3, 2]
    assert [t.id for t in table.walk(2, 100, newest_first=False)] == [2, 3, 4, 5, 6]
    table.seed(10)  # a gap of ids never allocated
    table.create(kind=TaskKind.PROCESS, name=None)
    assert [t.id for t in table.walk(5, 11, newest_first=True)] == [10, 6, 5]


def test_lookup_by_name_of_an_ended_task_takes_the_newest() -> None:
    table = TaskTable()
    first = table.create(kind=TaskKind.PROCESS, name="job")
    first.apply(Transition.END)
    second = table.create(kind=TaskKind.PROCESS, name="job")
    second.apply(Transition.END)
    assert table.get("job") is second and table.live_named("job") is None
