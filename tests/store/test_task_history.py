"""Reading task history without loading it: task_page filters and order, load_task / find_task, the restore set."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from executive.kernel.tasks import Task, TaskKind, TaskState
from executive.store.sqlite import SqliteStore
from executive.task_records import task_to_row

NAMES = ["build-web", "build-api", "lint", "b[x]", "^caret", "test-1", "test-22", "x[y", "BUILD-up"]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "executive.db")
    rows = []
    for i in range(1, 41):
        state = TaskState.RUNNING if i in (3, 17) else TaskState.ENDED
        kind = TaskKind.AGENT if i % 5 == 0 else TaskKind.PROCESS
        task = Task(id=i, name=NAMES[i % len(NAMES)], kind=kind, argv=["echo", str(i)], state=state, created=1000.0 + i)
        rows.append(task_to_row(task))
    s.save_tasks(rows)
    return s


def _ids(rows: list[Any]) -> list[int]:
    return [r["id"] for r in rows]


def test_a_page_is_ordered_by_id_within_its_bounds(store: SqliteStore) -> None:
    assert _ids(store.task_page(limit=5)) == [40, 39, 38, 37, 36]
    assert _ids(store.task_page(before_id=36, limit=3)) == [35, 34, 33]
    assert _ids(store.task_page(after_id=0, limit=3, newest_first=False)) == [1, 2, 3]
    assert _ids(store.task_page(after_id=10, before_id=14, limit=10, newest_first=False)) == [11, 12, 13]
    assert store.task_page(before_id=1, limit=10) == []
    [row] = store.task_page(before_id=2, limit=10)
    assert row["argv"] == ["echo", "1"] and row["meta"] == {} and "spec" not in row


def test_filters_select_as_the_kernel_would(store: SqliteStore) -> None:
    assert _ids(store.task_page(states=["running"], limit=50)) == [17, 3]
    assert _ids(store.task_page(kinds=["agent"], limit=50)) == [40, 35, 30, 25, 20, 15, 10, 5]
    assert _ids(store.task_page(states=["running", "ended"], kinds=["agent", "process"], limit=50)) == list(
        range(40, 0, -1)
    )
    assert _ids(store.task_page(since=1035.0, limit=50)) == [40, 39, 38, 37, 36, 35]


@pytest.mark.parametrize(
    "pattern", ["build-*", "b[!x]*", "b[x]*", "[^c]*", "*-?", "*-??", "x[*", "BUILD-*", "b[[]x]", "*", "nomatch"]
)
def test_name_globs_match_what_fnmatch_matches(store: SqliteStore, pattern: str) -> None:
    expected = [i for i in range(40, 0, -1) if fnmatchcase(NAMES[i % len(NAMES)], pattern)]
    assert _ids(store.task_page(name_glob=pattern, limit=50)) == expected


def test_one_task_by_id_or_by_name_and_the_restore_set(store: SqliteStore) -> None:
    row = store.load_task(7)
    assert row is not None and row["id"] == 7 and row["spec"] == {}
    assert store.load_task(99) is None
    newest = store.find_task("lint")
    assert newest is not None and newest["id"] == max(i for i in range(1, 41) if NAMES[i % len(NAMES)] == "lint")
    assert store.find_task("nobody") is None
    # At start-up: the newest N and every task in the given states (the live ones), oldest first.
    assert _ids(store.load_tasks(3, states=["running", "queued"])) == [3, 17, 38, 39, 40]
    assert _ids(store.load_tasks(3)) == [38, 39, 40]
