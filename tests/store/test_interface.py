"""Every method of the Store interface once, against a real SQLite file.

These pin the contract a second implementation (PostgreSQL) must meet: what
each method takes, what it returns (plain records, JSON columns decoded,
booleans as bools), and that a bad column name changes nothing.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executive.store import interface
from executive.store.interface import Store
from executive.store.records import TaskRow
from executive.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "executive.db")
    yield s
    s.close()


def _task_row(tid: int, **kw: Any) -> TaskRow:
    row: TaskRow = {
        "id": tid,
        "name": f"t{tid}",
        "kind": "process",
        "argv": ["echo", str(tid)],
        "image": None,
        "cwd": "/",
        "state": "running",
        "created": 1.0,
        "started": 2.0,
        "ended": None,
        "exit_code": None,
        "signal": None,
        "end_reason": None,
        "end_detail": None,
        "owner": None,
        "pid": 4000 + tid,
        "pid_start": None,
        "meta": {"k": [1, "x"]},
    }
    row.update(kw)  # type: ignore[typeddict-item]
    return row


# The whole interface, per concern: a change here is a change every implementation must follow.
SURFACE = {
    interface.TaskStore: {
        "close", "find_task", "get_meta", "load_task", "load_tasks", "log_sizes", "next_task_id", "save_log",
        "save_task", "save_tasks", "set_meta", "task_page",
    },
    interface.AgentStore: {
        "agent_run_get", "agent_run_insert", "agent_run_update", "agent_runs", "agent_runs_end_running",
        "pattern_run_insert", "status_report", "worktree_get", "worktree_insert", "worktree_update", "worktrees",
    },
    interface.PatchStore: {
        "patch_counts", "patch_create", "patch_files", "patch_files_save_post", "patch_files_save_pre", "patch_get",
        "patch_move", "patch_transitions", "patch_update", "patches",
    },
    interface.FixStore: {
        "fix_attempt_insert", "fix_attempts", "fix_run_get", "fix_run_insert", "fix_run_update", "fix_runs",
        "fix_runs_end_running", "fix_statistics",
    },
    interface.PipelineStore: {
        "checkpoint_attach_task", "checkpoint_ops", "checkpoint_step_end", "checkpoint_step_start",
        "checkpoint_truncate", "pipeline_approvals", "pipeline_approve", "pipeline_run_create", "pipeline_run_get",
        "pipeline_run_by_session", "pipeline_run_set_state", "pipeline_runs", "pipeline_runs_in_states",
        "pipeline_step_durations",
    },
}  # fmt: skip


@pytest.mark.parametrize("proto", list(SURFACE), ids=lambda p: p.__name__)
def test_the_sqlite_store_implements_the_pinned_interface(proto: type) -> None:
    names = {n for n, v in vars(proto).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert names == SURFACE[proto]
    for name in sorted(names):
        proto_params = list(inspect.signature(getattr(proto, name)).parameters)
        impl_params = list(inspect.signature(getattr(SqliteStore, name)).parameters)
        assert proto_params == impl_params, name
    assert proto in Store.__mro__


def test_tasks_logs_and_meta(store: SqliteStore) -> None:
    store.save_task(_task_row(1, pid_start=10.5))
    store.save_task(_task_row(1, state="ended", exit_code=3, end_reason="exited"))  # pid_start None keeps 10.5
    store.save_task(_task_row(2, argv=[], meta={}))
    rows = store.load_tasks(10)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["state"] == "ended" and rows[0]["exit_code"] == 3 and rows[0]["pid_start"] == 10.5
    assert rows[0]["argv"] == ["echo", "1"] and rows[0]["meta"] == {"k": [1, "x"]}
    assert rows[1]["argv"] == [] and rows[1]["meta"] == {}
    assert [r["id"] for r in store.load_tasks(1)] == [2]  # the newest, oldest first
    assert store.next_task_id() == 3
    # Many rows in one call (the service batches a loop turn's edges): new and updated rows alike.
    store.save_tasks([_task_row(2, state="ended", exit_code=0, end_reason="exited"), _task_row(3, pid_start=1.5)])
    rows = store.load_tasks(10)
    assert [r["id"] for r in rows] == [1, 2, 3] and rows[1]["state"] == "ended" and rows[2]["pid_start"] == 1.5
    assert store.next_task_id() == 4

    store.save_log(1, "stdout", "/x/stdout.log", 10)
    store.save_log(1, "stdout", "/x/stdout.log", 25)
    store.save_log(1, "stderr", "/x/stderr.log", 0)
    assert store.log_sizes(1) == {"stdout": 25, "stderr": 0} and store.log_sizes(2) == {}
    # An ended task's row and its log sizes in one call (the service's batch): one transaction, all or nothing.
    store.save_tasks(
        [_task_row(3, state="ended", exit_code=0)], [(3, "stdout", "/x/3.log", 7), (3, "stderr", "/x/3e", 1)]
    )
    assert store.load_task(3)["state"] == "ended" and store.log_sizes(3) == {"stdout": 7, "stderr": 1}  # type: ignore[index]
    with pytest.raises(sqlite3.IntegrityError):
        store.save_tasks([_task_row(4)], [(4, "stdout", "/x/4.log", 1), (4, "stdout", None, 2)])  # type: ignore[list-item]
    assert store.load_task(4) is None and store.log_sizes(4) == {}

    assert store.get_meta("lease") is None and store.get_meta("lease", "0") == "0"
    store.set_meta("lease", "4096", durable=True)
    store.set_meta("lease", "8192")
    assert store.get_meta("lease") == "8192"


def test_worktrees(store: SqliteStore) -> None:
    a = store.worktree_insert("/repo", "agent", "creating", "abc", 5.0)
    b = store.worktree_insert("/repo", "validate", "creating", "abc", 6.0)
    store.worktree_update(a, {"path": "/wt/1", "branch": "executive/agent-1", "state": "ready", "baseline": "def"})
    store.worktree_update(b, {"state": "removed", "removed": 7.0, "detail": "done"})
    got = store.worktree_get(a)
    assert got is not None and (got["path"], got["state"], got["baseline"], got["task_id"]) == (
        "/wt/1",
        "ready",
        "def",
        None,
    )
    assert store.worktree_get(999) is None
    assert [w["id"] for w in store.worktrees(include_removed=False, removed_state="removed")] == [a]
    assert [w["id"] for w in store.worktrees(include_removed=True, removed_state="removed")] == [a, b]


def test_agent_runs_and_pattern_runs(store: SqliteStore) -> None:
    store.agent_run_insert({"task_id": 7, "agent": "claude", "cwd": "/r", "state": "running", "started": 1.0})
    store.agent_run_insert({"task_id": 8, "agent": "codex", "cwd": "/r", "state": "running", "started": 2.0})
    store.agent_run_update(7, {"state": "done", "ok": True, "errors": [], "tokens": {"in": 3}, "files": ["a.py"]})
    run = store.agent_run_get(7)
    assert run is not None and run["ok"] is True and run["errors"] == [] and run["tokens"] == {"in": 3}
    assert run["files"] == ["a.py"] and run["result"] is None
    assert store.agent_run_get(9) is None
    assert store.agent_runs_end_running({"state": "lost", "ok": False, "errors": ["lost"]}, "running") == 1
    assert [(r["task_id"], r["state"], r["ok"], r["errors"]) for r in store.agent_runs(10)] == [
        (7, "done", True, []),
        (8, "lost", False, ["lost"]),
    ]
    assert [r["task_id"] for r in store.agent_runs(1)] == [8]

    pid = store.pattern_run_insert(
        {"pattern": "readme", "root": "/r", "dry_run": True, "ok": True, "files": [], "at": 1.0}
    )
    assert pid == 1
    report = store.status_report(["patterns", "agents", "pipeline", "patches", "fix"])
    assert report["patterns"] == [{"pattern": "readme", "runs": 1, "ok": 1, "dry_runs": 1}]
    assert [a["agent"] for a in report["agents"]] == ["claude", "codex"]
    assert report["pipeline"]["available"] is True and report["patches"] == {"total": 0}
    assert report["fix"]["runs"] == 0


def test_patches(store: SqliteStore) -> None:
    pid = store.patch_create(
        {"workspace": "/w", "source": "cli", "text": "diff", "files": [{"new_path": "x"}], "state": "created"},
        event="created",
        reason="submitted",
    )
    rec = store.patch_get(pid, with_text=True)
    assert rec is not None and rec["files"] == [{"new_path": "x"}] and rec["binary"] is False and rec["text"] == "diff"
    assert "text" not in (store.patch_get(pid, with_text=False) or {})
    assert store.patch_get(99, with_text=True) is None

    move = {"to_state": "validated", "event": "validated", "reason": "ok", "at": 2.0}
    assert store.patch_move(pid, from_state="created", fields={"verify_argv": ["make"]}, **move) is True
    assert store.patch_move(pid, from_state="created", fields={}, **move) is False  # compare-and-set: it moved on
    assert store.patch_move(99, from_state="created", fields={}, **move) is False
    store.patch_update(pid, {"verify_exit": 0})
    rec = store.patch_get(pid, with_text=False)
    assert (
        rec is not None and rec["state"] == "validated" and rec["verify_argv"] == ["make"] and rec["verify_exit"] == 0
    )
    assert [(t["from_state"], t["to_state"], t["event"]) for t in store.patch_transitions(pid)] == [
        (None, "created", "created"),
        ("created", "validated", "validated"),
    ]
    assert [p["id"] for p in store.patches(state="validated", workspace="/w", limit=5)] == [pid]
    assert store.patches(state="applied", workspace=None, limit=5) == []
    assert store.patch_counts() == {"validated": 1}

    pre = [
        {
            "path": "a",
            "pre_exists": True,
            "pre_mode": 0o100644,
            "pre_content": b"old\n",
            "pre_sha": "s1",
            "created_dirs": [],
        },
        {"path": "d/b", "pre_exists": False, "created_dirs": ["d"]},
    ]
    store.patch_files_save_pre(pid, pre)  # type: ignore[arg-type]
    store.patch_files_save_post(pid, [{"path": "a", "post_exists": True, "post_mode": 0o100644, "post_sha": "s2"}])
    files = store.patch_files(pid)
    assert [(f["path"], f["pre_exists"], f["pre_content"], f["created_dirs"], f["post_sha"]) for f in files] == [
        ("a", True, b"old\n", [], "s2"),
        ("d/b", False, None, ["d"], None),
    ]


def test_fix_runs_and_attempts(store: SqliteStore) -> None:
    row = {"cwd": "/r", "test_argv": ["pytest", "-q"], "agent": "claude", "max_iterations": 3, "regression": False}
    a = store.fix_run_insert({**row, "state": "running", "started": 1.0})  # type: ignore[typeddict-item]
    b = store.fix_run_insert({**row, "state": "running", "started": 2.0})  # type: ignore[typeddict-item]
    store.fix_run_update(a, {"state": "green", "iterations": 1, "failures_before": 1, "failures_after": 0})
    store.fix_attempt_insert(
        {"run_id": a, "iteration": 1, "kind": "fix", "outcome": "kept", "duration_s": 2.0, "cost_usd": 0.5, "at": 3.0}
    )
    store.fix_attempt_insert(
        {"run_id": a, "iteration": 2, "kind": "regression", "outcome": "no_patch", "duration_s": 1.0, "at": 4.0}
    )
    assert store.fix_runs_end_running({"state": "cancelled", "detail": "stopped", "ended": 9.0}, "running") == 1
    got = store.fix_run_get(a)
    assert (
        got is not None
        and got["test_argv"] == ["pytest", "-q"]
        and got["regression"] is False
        and got["state"] == "green"
    )
    assert store.fix_run_get(99) is None
    assert [(r["id"], r["state"]) for r in store.fix_runs(10)] == [(a, "green"), (b, "cancelled")]
    assert [x["outcome"] for x in store.fix_attempts(a)] == ["kept", "no_patch"] and store.fix_attempts(b) == []
    stats = store.fix_statistics()
    assert sorted(stats["runs"]) == [("cancelled", "claude", 1), ("green", "claude", 1)]
    assert sorted(stats["attempts"]) == [("kept", "fix", "claude", 1), ("no_patch", "regression", "claude", 1)]
    assert (stats["attempt_count"], stats["attempt_avg_s"], stats["attempt_cost_usd"]) == (2, 1.5, 0.5)
    assert (stats["fix_attempts"], stats["fix_attempts_kept"]) == (1, 1)


def test_pipeline_runs_checkpoints_and_approvals(store: SqliteStore) -> None:
    run = store.pipeline_run_create(
        {
            "name": "demo",
            "mode": "run",
            "source": "p.yaml",
            "content": "name: demo\n",
            "content_sha": "c0",
            "requirement": "r",
            "workdir": "/w",
            "thresholds": {"build": [0.5, 0.7]},
            "state": "pending",
        }
    )
    got = store.pipeline_run_get(run, content=True)
    assert got is not None and got["thresholds"] == {"build": [0.5, 0.7]} and got["options"] == {}
    assert "content" not in (store.pipeline_run_get(run, content=False) or {})
    assert store.pipeline_run_get(99, content=True) is None

    op = {"kind": "step", "name": "build/compile", "phase": "build", "iteration": 1, "step": "compile"}
    assert store.checkpoint_step_start(run, 0, op, "running") == 1
    store.checkpoint_attach_task(run, 0, 11)
    store.checkpoint_attach_task(run, 5, 12)  # no such op: nothing to attach to
    assert store.checkpoint_step_start(run, 0, op, None) == 2  # in flight again (a daemon died)
    store.checkpoint_step_end(run, 0, "ok", {"status": "ok", "score": 1.0}, None)
    approval_op = {"kind": "approval", "name": "approve/test", "phase": "test", "iteration": 0}
    store.checkpoint_step_start(run, 1, approval_op, "waiting_approval")
    assert store.pipeline_runs_in_states(["waiting_approval", "running"]) == [run]

    ops = store.checkpoint_ops(run)
    assert [(o["seq"], o["status"], o["starts"], o["tasks"], o["output"]) for o in ops] == [
        (0, "ok", 2, [11], {"status": "ok", "score": 1.0}),
        (1, "running", 1, [], None),
    ]
    first = store.pipeline_approve(run, "test", "looks good", 5.0)
    again = store.pipeline_approve(run, "test", "second", 6.0)
    assert first == again == {"approved": 5.0, "note": "looks good"}
    assert store.pipeline_approvals(run) == {"test": {"approved": 5.0, "note": "looks good"}}

    assert store.checkpoint_truncate(run, 1) == 1  # the approval op goes, and the approval it consumed
    assert store.pipeline_approvals(run) == {} and [o["seq"] for o in store.checkpoint_ops(run)] == [0]

    store.pipeline_run_set_state(run, "passed", None, True)
    [listed] = store.pipeline_runs(10, None)
    assert listed["state"] == "passed" and listed["ended"] is not None and "content" not in listed
    assert store.pipeline_runs(10, "failed") == []


def test_pipeline_sessions_and_earlier_durations(store: SqliteStore) -> None:
    def make(name: str, session: str | None) -> int:
        options = {"session": session} if session else {}
        return store.pipeline_run_create(
            {"name": name, "mode": "run", "source": None, "content": "x", "content_sha": "c", "requirement": "r",
             "workdir": "/w", "thresholds": {}, "options": options, "state": "pending"}
        )  # fmt: skip

    first, other, second = make("demo", "nightly"), make("other", None), make("demo", None)
    assert store.pipeline_run_by_session("nightly") == first and store.pipeline_run_by_session("nope") is None
    assert [r["session"] for r in store.pipeline_runs(10, None)] == ["nightly", None, None]
    for run in (first, other):
        op = {"kind": "step", "name": "step:build:1:make", "phase": "build", "iteration": 1, "step": "make"}
        store.checkpoint_step_start(run, 1, op, None)
        store.checkpoint_step_end(run, 1, "ok", {"status": "ok"}, None)
    store.checkpoint_step_start(first, 2, {"kind": "gate", "name": "g", "phase": "build", "iteration": 1}, None)
    rows = store.pipeline_step_durations("demo", second, 20)
    assert [(r["run_id"], r["kind"], r["step"]) for r in rows] == [(first, "step", "make")]  # not other's, not running
    assert rows[0]["duration"] >= 0
    assert store.pipeline_step_durations("demo", first, 20) == []  # only runs before the given one


def test_an_unknown_column_is_refused_and_changes_nothing(store: SqliteStore) -> None:
    wt = store.worktree_insert("/repo", "agent", "creating", "abc", 5.0)
    with pytest.raises(ValueError, match="worktrees has no column 'state; DROP TABLE tasks'"):
        store.worktree_update(wt, {"state": "ready", "state; DROP TABLE tasks": 1})
    got = store.worktree_get(wt)
    assert got is not None and got["state"] == "creating"


def test_durable_writes_commit_with_synchronous_full_and_leave_normal_behind(store: SqliteStore) -> None:
    """The connection runs NORMAL; a durable transaction switches to FULL for its commit only."""
    seen: list[int] = []
    with store.transaction(durable=True) as c:
        seen.append(c.execute("PRAGMA synchronous").fetchone()[0])
    with store.transaction() as c:
        seen.append(c.execute("PRAGMA synchronous").fetchone()[0])
    assert seen == [2, 1]  # FULL, NORMAL
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA busy_timeout")[0][0] == 5000
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # WAL is a property of the file
