"""Result shapes of ``Executive.agents``: agent runs, worktrees, patches, the fix loop, patterns.

Plain-dict TypedDicts, like every result (core.py says why).  Rows read back from
the store have every column present; columns a run fills in later are nullable.
Objects whose keys the adapters or the patterns define (an agent's ``result``, a
pattern's schema and instance) are ``dict[str, Any]``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from executive.service.results.core import TaskInfo, TaskRow

__all__ = [
    "AgentCheckRow",
    "AgentDiff",
    "AgentReplay",
    "AgentRunRow",
    "AgentStarted",
    "AgentWaitResult",
    "FixAttempt",
    "FixRun",
    "FixStats",
    "FixWaitResult",
    "PatchRecord",
    "PatternRow",
    "PatternRunResult",
    "PatternValidation",
    "WorktreeRow",
]


class AgentCapabilities(TypedDict):
    streaming: bool
    resume: bool
    cost: bool
    tokens: bool
    turn_limit: bool
    budget_limit: bool
    permission_modes: list[str]
    sandbox_modes: list[str]
    result_from_git: bool


class AgentCheckRow(TypedDict):
    """Whether one adapter is usable here, and what to do about each problem."""

    agent: str
    capabilities: AgentCapabilities
    binary: str | None
    version: str | None
    version_status: Literal["tested", "older", "newer", "unknown"]  # against the versions `make agents` pins
    tested_range: str | None  # e.g. "2.1.197", or "lo-hi"; null for adapters without tested versions
    auth: str
    problems: list[str]
    usable: bool


class WorktreeRow(TypedDict):
    """A git worktree the daemon made (agents/worktrees.py)."""

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
    in_use: NotRequired[str | None]
    exists: NotRequired[bool]
    stale_reason: NotRequired[str]


class AgentStarted(TaskRow):
    """``agent.run``: the agent task's row, the adapter, and the worktree it runs in (if any)."""

    agent: str
    worktree: WorktreeRow | None


class Tokens(TypedDict):
    input: int
    output: int
    cache_read: int
    cache_write: int


class AgentRunRow(TypedDict):
    """An agent run as the store keeps it (without the bulky diff and result columns)."""

    task_id: int
    agent: str
    cwd: str
    prompt: str
    worktree_id: int | None
    resume_id: str | None
    session_id: str | None
    state: str
    ok: bool | None
    errors: list[str] | None
    text: str | None
    cost_usd: float | None
    tokens: Tokens | None
    turns: int | None
    pre_tree: str | None
    post_tree: str | None
    diff_bytes: int | None
    files: list[str] | None
    commit_id: str | None
    started: float
    ended: float | None


class AgentWaitResult(TypedDict):
    """``agent.wait``/``agent.result``: ``result`` is the adapter's normalized result (null until the run ends)."""

    task: TaskInfo | None
    run: AgentRunRow
    result: dict[str, Any] | None
    timed_out: bool


class AgentDiff(TypedDict):
    task: int
    diff: str | None
    diff_bytes: int | None
    files: list[str]


class AgentEventRecord(TypedDict):
    type: str
    data: dict[str, Any]


class AgentReplay(TypedDict):
    task: int
    events: list[AgentEventRecord]
    truncated: bool


class PatchFile(TypedDict):
    old_path: str | None
    new_path: str | None
    status: str
    old_mode: str | None
    new_mode: str | None
    binary: bool
    hunks: int
    added: int
    removed: int


class PatchTransition(TypedDict("_PatchTransitionFrom", {"from": str | None})):
    to: str
    event: str
    at: float
    reason: str | None


class PatchRecord(TypedDict):
    """A patch in the ledger; ``text`` and ``transitions`` unless listed without them."""

    id: int
    created: float
    updated: float
    workspace: str
    source: str
    title: str | None
    state: str
    reason: str | None
    files: list[PatchFile]
    strip: int
    binary: bool
    verify_argv: list[str] | None
    verify_task: int | None
    verify_exit: int | None
    commit_id: str | None
    agent_task: int | None
    fix_run: int | None
    text: NotRequired[str]
    transitions: NotRequired[list[PatchTransition]]


class FixAttempt(TypedDict):
    id: int
    run_id: int
    iteration: int
    kind: str
    agent_task: int | None
    patch_id: int | None
    outcome: str | None
    failures_before: int | None
    failures_after: int | None
    test_task: int | None
    test_exit: int | None
    duration_s: float | None
    cost_usd: float | None
    detail: str | None
    at: float


class FixRun(TypedDict):
    """A fix-loop run with every attempt."""

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
    cost_usd: float | None
    regression_patch: int | None
    detail: str | None
    started: float
    ended: float | None
    attempts: list[FixAttempt]


class FixWaitResult(FixRun):
    timed_out: bool


class FixRecent(TypedDict):
    id: int
    agent: str
    state: str
    failures_before: int | None
    failures_after: int | None
    iterations: int
    cost_usd: float | None
    started: float
    ended: float | None


class FixAgentStats(TypedDict):
    runs: int
    green: int
    attempts: int
    kept: int


class FixStats(TypedDict):
    runs: int
    runs_by_state: dict[str, int]
    success_rate: float | None
    attempts: int
    attempts_by_outcome: dict[str, int]
    fix_attempts: int
    fix_attempts_kept: int
    attempt_success_rate: float | None
    avg_attempt_s: float | None
    cost_usd: float | None
    by_agent: dict[str, FixAgentStats]
    recent: list[FixRecent]


class PatternRow(TypedDict):
    """A pattern, or (name null, ``error`` set) a user pattern file that failed to load."""

    name: str | None
    description: str | None
    source: str
    example: NotRequired[str | None]
    error: NotRequired[str]


class PatternError(TypedDict):
    path: str
    message: str


class PatternValidation(TypedDict):
    ok: bool
    pattern: str | None
    errors: list[PatternError]


class PatternFileAction(TypedDict):
    path: str
    action: str
    bytes: int


class PatternRunResult(TypedDict):
    pattern: str
    dry_run: bool
    root: str
    files: list[PatternFileAction]
    report: Any
