"""The rows the store hands out and takes in: plain TypedDicts, one per table.

The store knows nothing of the kernel's ``Task`` or the agents' dataclasses; the
layers above map these records to their own types (``executive.task_records``
for tasks).  JSON columns arrive decoded (lists and dicts), boolean columns as
``bool``; every other value is what the column holds.  Keys are the on-disk
column names, so a record is also the documentation of its table.

Records that callers build to insert are ``total=False``: a column left out
takes its default (or NULL).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "AgentRunRow",
    "ApprovalRow",
    "FixAttemptRow",
    "FixRunRow",
    "FixStatisticsRows",
    "LogSize",
    "PatchFileRow",
    "PatchRow",
    "PatchTransitionRow",
    "PatternRunRow",
    "PipelineDurationRow",
    "PipelineOpRow",
    "PipelineRunRow",
    "ProgramRow",
    "TaskRow",
    "WorktreeRow",
]


LogSize = tuple[int, str, str, int]  # (task id, stream, log path, final size) of an ended task's log


class TaskRow(TypedDict):
    id: int
    name: str
    kind: str
    argv: list[str] | None
    image: str | None
    cwd: str | None
    state: str
    created: float
    started: float | None
    ended: float | None
    exit_code: int | None
    signal: int | None
    end_reason: str | None
    end_detail: str | None
    owner: str | None
    pid: int | None
    pid_start: float | None  # OS create_time of the leader; on save, None keeps the stored value
    meta: dict[str, Any]
    spec: NotRequired[dict[str, Any]]  # what it was started with beyond argv and cwd (env, timeouts, quota)


class ProgramRow(TypedDict):
    """A program (kernel/programs.py): a named command kept running under a restart policy."""

    name: str
    source: str  # run | file
    spec: dict[str, Any]
    settings: dict[str, Any]
    state: str
    failures: int
    runs: int
    task_id: int | None
    next_at: float | None
    reason: str | None
    created: float
    updated: float


class WorktreeRow(TypedDict):
    id: int
    repo: str
    path: str
    branch: str | None
    purpose: str
    state: str
    task_id: int | None
    base_commit: str | None
    baseline: str | None
    created: float
    removed: float | None
    detail: str | None


class AgentRunRow(TypedDict, total=False):
    task_id: int
    agent: str
    cwd: str
    prompt: str | None
    worktree_id: int | None
    resume_id: str | None
    session_id: str | None
    state: str
    ok: bool | None
    errors: list[Any] | None
    text: str | None
    cost_usd: float | None
    tokens: dict[str, Any] | None
    turns: int | None
    result: dict[str, Any] | None
    pre_tree: str | None
    post_tree: str | None
    diff: str | None
    diff_bytes: int | None
    files: list[str] | None
    commit_id: str | None
    started: float
    ended: float | None


class PatchRow(TypedDict, total=False):
    id: int
    created: float
    updated: float
    workspace: str
    source: str
    title: str | None
    state: str
    reason: str | None
    text: str  # absent when read without text
    files: list[dict[str, Any]]
    strip: int
    binary: bool
    verify_argv: list[str] | None
    verify_task: int | None
    verify_exit: int | None
    commit_id: str | None
    agent_task: int | None
    fix_run: int | None


class PatchTransitionRow(TypedDict):
    from_state: str | None
    to_state: str
    event: str
    at: float
    reason: str


class PatchFileRow(TypedDict, total=False):
    path: str
    pre_exists: bool
    pre_mode: int | None
    pre_content: bytes | None  # file bytes, or the link target of a symlink
    pre_sha: str | None
    post_exists: bool | None
    post_mode: int | None
    post_sha: str | None
    created_dirs: list[str]  # directories the apply created for this path


class FixRunRow(TypedDict, total=False):
    id: int
    cwd: str
    test_argv: list[str]
    agent: str
    max_iterations: int
    regression: bool
    state: str
    failures_before: int | None
    failures_after: int | None
    iterations: int
    cost_usd: float
    regression_patch: int | None
    detail: str | None
    started: float
    ended: float | None


class FixAttemptRow(TypedDict, total=False):
    id: int
    run_id: int
    iteration: int
    kind: str
    agent_task: int | None
    patch_id: int | None
    outcome: str
    failures_before: int | None
    failures_after: int | None
    test_task: int | None
    test_exit: int | None
    duration_s: float
    cost_usd: float | None
    detail: str | None
    at: float


class FixStatisticsRows(TypedDict):
    """Raw counts the fix loop turns into its statistics."""

    runs: list[tuple[str, str, int]]  # (state, agent, count)
    attempts: list[tuple[str, str, str, int]]  # (outcome, kind, agent of the run, count)
    attempt_count: int
    attempt_avg_s: float | None
    attempt_cost_usd: float
    fix_attempts: int
    fix_attempts_kept: int


class PatternRunRow(TypedDict, total=False):
    id: int
    pattern: str
    root: str | None
    dry_run: bool
    ok: bool
    files: list[dict[str, Any]] | None
    error: str | None
    at: float


class PipelineRunRow(TypedDict, total=False):
    id: int
    name: str
    session: str | None  # `pipeline run --session NAME` (kept in options; pipeline_runs reads it out)
    mode: str
    source: str | None
    content: str  # absent when read without content
    content_sha: str
    requirement: str
    workdir: str
    thresholds: dict[str, Any]
    options: dict[str, Any]
    state: str
    detail: str | None
    created: float
    updated: float
    ended: float | None


class PipelineDurationRow(TypedDict):
    run_id: int
    kind: str  # step | gate | entry
    phase: str
    step: str | None
    duration: float


class PipelineOpRow(TypedDict):
    run_id: int
    seq: int
    kind: str
    name: str
    phase: str
    iteration: int
    step: str | None
    status: str
    starts: int
    tasks: list[int]
    started: float
    ended: float | None
    output: dict[str, Any] | None


class ApprovalRow(TypedDict):
    approved: float
    note: str
