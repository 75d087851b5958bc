"""What the layers above need from durable storage, as Protocols: the seam a second store plugs into.

Every method is named for what it means to the caller (``checkpoint_step_start``,
``patch_move``), never for SQL; arguments and results are plain values and the
TypedDicts of ``records.py``.  The SQLite implementation (``sqlite.py``)
satisfies :class:`Store`, which mypy checks there.

Contract every implementation keeps:

* Methods are synchronous and called from one thread at a time (the daemon
  calls them through :class:`~executive.store.writer.StoreWriter`).
* Each write is one transaction that takes the write lock up front; a failure
  changes nothing.
* "Durable" writes (run creation and state, checkpoints, approvals, truncation,
  ``set_meta(durable=True)``) are on stable storage when the method returns,
  surviving power loss; the others survive a crash of the daemon process.
* ``fields`` mappings name columns of the one table the method writes; an
  unknown name is a ``ValueError`` and changes nothing.
* JSON columns (``schema.JSON_COLUMNS``) take and return Python values.

Rejected alternative: one ``execute(sql)`` escape hatch.  It would let SQL leak
back into the upper layers, which is what this module exists to stop.

A PostgreSQL implementation maps each method onto one statement or one short
transaction (``INSERT ... ON CONFLICT``, ``UPDATE ... WHERE state = $1`` for the
compare-and-set of :meth:`PatchStore.patch_move`, ``SELECT ... GROUP BY``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from executive.store.records import (
    AgentRunRow,
    ApprovalRow,
    FixAttemptRow,
    FixRunRow,
    FixStatisticsRows,
    LogSize,
    PatchFileRow,
    PatchRow,
    PatchTransitionRow,
    PatternRunRow,
    PipelineDurationRow,
    PipelineOpRow,
    PipelineRunRow,
    ProgramRow,
    TaskRow,
    WorktreeRow,
)

__all__ = [
    "AgentStore",
    "FixStore",
    "PatchStore",
    "PipelineStore",
    "ProgramStore",
    "Store",
    "TaskStore",
]


class TaskStore(Protocol):
    """Task history, log sizes and small settings (the service's own state)."""

    def next_task_id(self) -> int:
        """One more than the highest task id ever stored."""
        ...

    def save_task(self, row: TaskRow) -> None:
        """Insert or replace the task (``pid_start`` None keeps the stored one)."""
        ...

    def save_tasks(self, rows: list[TaskRow], logs: Sequence[LogSize] = ()) -> None:
        """:meth:`save_task` for many rows, and :meth:`save_log` for many logs, in one transaction
        (the service batches a loop turn's edges and ended logs)."""
        ...

    def load_tasks(self, limit: int, *, states: Sequence[str] = ()) -> list[TaskRow]:
        """The newest ``limit`` tasks and every task in one of ``states`` (the live ones at start-up), oldest first."""
        ...

    def load_task(self, task_id: int) -> TaskRow | None:
        """One task by id (None: there is none)."""
        ...

    def find_task(self, name: str) -> TaskRow | None:
        """The newest task called ``name`` (None: there is none)."""
        ...

    def task_page(
        self,
        *,
        after_id: int = 0,
        before_id: int | None = None,
        states: Sequence[str] = (),
        kinds: Sequence[str] = (),
        name_glob: str | None = None,
        since: float | None = None,
        limit: int,
        newest_first: bool = True,
    ) -> list[TaskRow]:
        """Up to ``limit`` tasks with ``after_id < id < before_id`` that match every filter given, ordered by id
        (descending when ``newest_first``), without ``spec``.  ``states``/``kinds``: any of these; ``name_glob``: a
        shell-style pattern (:func:`fnmatch.fnmatchcase`); ``since``: created at or after.  Its cost follows
        the rows returned, not the rows stored (indexed)."""
        ...

    def save_log(self, task_id: int, stream: str, path: str, size: int) -> None: ...

    def log_sizes(self, task_id: int) -> dict[str, int]: ...

    def get_meta(self, key: str, default: str | None = None) -> str | None: ...

    def set_meta(self, key: str, value: str, *, durable: bool = False) -> None: ...

    def close(self) -> None: ...


class AgentStore(Protocol):
    """Worktrees, agent runs and pattern runs, plus the progress report over the agents' tables."""

    def worktree_insert(self, repo: str, purpose: str, state: str, base_commit: str, created: float) -> int: ...

    def worktree_update(self, wt_id: int, fields: Mapping[str, Any]) -> None: ...

    def worktree_get(self, wt_id: int) -> WorktreeRow | None: ...

    def worktrees(self, *, include_removed: bool, removed_state: str) -> list[WorktreeRow]:
        """All worktrees (oldest first); without ``include_removed``, those not in ``removed_state``."""
        ...

    def agent_run_insert(self, row: AgentRunRow) -> None:
        """Insert the run of a task (replacing one of the same task id)."""
        ...

    def agent_run_update(self, task_id: int, fields: Mapping[str, Any]) -> None: ...

    def agent_run_get(self, task_id: int) -> AgentRunRow | None: ...

    def agent_runs(self, limit: int) -> list[AgentRunRow]:
        """The newest ``limit`` runs, oldest first."""
        ...

    def agent_runs_end_running(self, fields: Mapping[str, Any], running_state: str) -> int:
        """Set ``fields`` on every run still in ``running_state`` (a daemon restart); returns how many."""
        ...

    def pattern_run_insert(self, row: PatternRunRow) -> int: ...

    def status_report(self, sections: Sequence[str]) -> dict[str, Any]:
        """Counts for ``implementation_status``: sections of pipeline, patterns, patches, fix, agents."""
        ...


class PatchStore(Protocol):
    """The patch ledger: patches, their transitions and the per-path snapshots for rollback."""

    def patch_create(self, row: PatchRow, *, event: str, reason: str) -> int:
        """Insert the patch (in ``row['state']``) with its first transition; returns its id."""
        ...

    def patch_move(
        self,
        patch_id: int,
        *,
        from_state: str,
        to_state: str,
        event: str,
        reason: str,
        at: float,
        fields: Mapping[str, Any],
    ) -> bool:
        """Compare-and-set: if the patch is in ``from_state``, move it, set ``fields``, record the transition.

        Returns False (changing nothing) when the patch is missing or in another state.
        """
        ...

    def patch_update(self, patch_id: int, fields: Mapping[str, Any]) -> None: ...

    def patch_get(self, patch_id: int, *, with_text: bool) -> PatchRow | None: ...

    def patch_transitions(self, patch_id: int) -> list[PatchTransitionRow]:
        """Oldest first."""
        ...

    def patches(self, *, state: str | None, workspace: str | None, limit: int) -> list[PatchRow]:
        """The newest ``limit`` matching patches, oldest first, without their text."""
        ...

    def patch_counts(self) -> dict[str, int]:
        """Number of patches per state present in the ledger."""
        ...

    def patch_files_save_pre(self, patch_id: int, files: Sequence[PatchFileRow]) -> None:
        """Replace the patch's snapshots with these pre-apply states."""
        ...

    def patch_files_save_post(self, patch_id: int, files: Sequence[PatchFileRow]) -> None:
        """Record the post-apply state (``post_exists``, ``post_mode``, ``post_sha``) of snapshotted paths."""
        ...

    def patch_files(self, patch_id: int) -> list[PatchFileRow]:
        """Ordered by path."""
        ...


class FixStore(Protocol):
    """The fix loop's runs and attempts."""

    def fix_run_insert(self, row: FixRunRow) -> int: ...

    def fix_run_update(self, run_id: int, fields: Mapping[str, Any]) -> None: ...

    def fix_runs_end_running(self, fields: Mapping[str, Any], running_state: str) -> int:
        """Set ``fields`` on every run still in ``running_state`` (a daemon restart); returns how many."""
        ...

    def fix_run_get(self, run_id: int) -> FixRunRow | None: ...

    def fix_runs(self, limit: int) -> list[FixRunRow]:
        """The newest ``limit`` runs, oldest first."""
        ...

    def fix_attempt_insert(self, row: FixAttemptRow) -> int: ...

    def fix_attempts(self, run_id: int) -> list[FixAttemptRow]:
        """Oldest first."""
        ...

    def fix_statistics(self) -> FixStatisticsRows: ...


class PipelineStore(Protocol):
    """Pipeline runs and their checkpoints (every write here is durable except ``checkpoint_attach_task``)."""

    def pipeline_run_create(self, row: PipelineRunRow) -> int: ...

    def pipeline_run_set_state(self, run_id: int, state: str, detail: str | None, ended: bool) -> None: ...

    def pipeline_run_get(self, run_id: int, *, content: bool) -> PipelineRunRow | None: ...

    def pipeline_runs(self, limit: int, state: str | None) -> list[PipelineRunRow]:
        """The newest ``limit`` runs (without content and thresholds), oldest first."""
        ...

    def pipeline_run_by_session(self, session: str) -> int | None:
        """The id of the run named ``session`` (``pipeline run --session``), or None."""
        ...

    def pipeline_step_durations(self, name: str, before_run: int, runs: int) -> list[PipelineDurationRow]:
        """How long the finished steps, gates and entry gates took in the newest ``runs`` earlier runs of
        pipeline ``name`` (ids below ``before_run``); ordered by run and seq.  The ETA of a live run uses them."""
        ...

    def pipeline_runs_in_states(self, states: Sequence[str]) -> list[int]: ...

    def checkpoint_step_start(self, run_id: int, seq: int, op: Mapping[str, Any], run_state: str | None) -> int:
        """Record that operation ``seq`` started (status ``running``, or again); returns how often it has started.

        ``op`` holds ``kind``, ``name``, ``phase``, ``iteration`` and optionally ``step``; ``run_state``, when
        given, becomes the run's state in the same transaction.
        """
        ...

    def checkpoint_attach_task(self, run_id: int, seq: int, task_id: int) -> None:
        """Note a task the operation started (not durable: it is a display detail)."""
        ...

    def checkpoint_step_end(
        self, run_id: int, seq: int, status: str, output: Mapping[str, Any], run_state: str | None
    ) -> None: ...

    def checkpoint_ops(self, run_id: int) -> list[PipelineOpRow]:
        """Ordered by ``seq``."""
        ...

    def checkpoint_truncate(self, run_id: int, from_seq: int) -> int:
        """Forget operations from ``from_seq`` on and the approvals those (``approval``) ops consumed.

        Returns how many operations were removed.
        """
        ...

    def pipeline_approve(self, run_id: int, phase: str, note: str, at: float) -> ApprovalRow:
        """Record the approval unless there is one (the first one stays); returns the one kept."""
        ...

    def pipeline_approvals(self, run_id: int) -> dict[str, ApprovalRow]: ...


class ProgramStore(Protocol):
    """Programs kept running under a restart policy (their runs are tasks)."""

    def program_save(self, row: ProgramRow) -> None:
        """Insert or replace the program of that name."""
        ...

    def program_delete(self, name: str) -> None: ...

    def programs(self) -> list[ProgramRow]:
        """Every program, by name."""
        ...


class Store(TaskStore, AgentStore, PatchStore, FixStore, PipelineStore, ProgramStore, Protocol):
    """Everything the daemon keeps on disk."""
