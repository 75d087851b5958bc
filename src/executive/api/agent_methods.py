"""JSON-RPC methods of the agents layer: ``agent.*``, ``patch.*``, ``pattern.*``.

Thin handlers onto :class:`~executive.service.agents.AgentsService` (``Executive.agents``):
each validates its params with a pydantic model (``extra="forbid"``, sizes
bounded) and calls one method.  Normalized agent events are not methods: they
arrive through ``events.subscribe`` like every other event (types
``agent.session``, ``agent.message``, ``agent.tool_call``, ``agent.tool_result``,
``agent.warning``, ``agent.result``; ``pid`` = the agent task).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from executive.api.rpc import Method
from executive.service import results
from executive.service.agents import AgentRequest, AgentsService, FixParams

__all__ = ["agent_methods"]

TaskRef = int | str
_Str = Field(None, max_length=4096)


# A patch, worktree or fix run id: any integer SQLite can hold (a larger one is refused as bad params,
# not an internal error; one that fits but names nothing is "not found").
RowId = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _NoParams(_P):
    pass


def _svc(ctx: Any) -> AgentsService:
    agents: AgentsService = ctx.service.agents
    return agents


def _touch(ctx: Any) -> str | None:
    session_id: str | None = ctx.session_id
    if session_id:
        ctx.service.session_touch(session_id)
    return session_id


# --- agent.* --------------------------------------------------------------------------
class AgentRun(_P):
    agent: Literal["claude", "codex", "aider", "command"]
    prompt: str = Field(min_length=1)
    cwd: str = Field(min_length=1, max_length=4096)
    bin: str | None = _Str
    model: str | None = Field(None, max_length=256)
    resume: str | None = Field(None, max_length=128, description="session id to resume")
    permissions: str | None = Field(None, max_length=64, description="read-only | edit | full, mapped per CLI")
    permission_mode: str | None = Field(None, max_length=64)
    sandbox: str | None = Field(None, max_length=64)
    allowed_tools: list[str] = Field(default_factory=list, max_length=256)
    disallowed_tools: list[str] = Field(default_factory=list, max_length=256)
    max_turns: int | None = Field(None, ge=1, le=10000)
    max_budget_usd: float | None = Field(None, gt=0, le=100000, allow_inf_nan=False)
    files: list[str] = Field(default_factory=list, max_length=1024)
    args: list[str] = Field(default_factory=list, max_length=1024)
    env: dict[str, str] = Field(default_factory=dict)
    worktree: bool = False
    name: str | None = Field(None, min_length=1, max_length=128)
    timeout: float | None = Field(None, gt=0)
    idle_timeout: float | None = Field(
        None, ge=0, description="seconds without progress before it is stopped; 0: never"
    )
    placement: dict[str, Any] | None = Field(
        None, description='where the agent CLI runs: {"on": "ray", "resources": {...}, "node": ID} (daemon on --ray)'
    )


async def _agent_run(ctx: Any, p: AgentRun) -> results.AgentStarted:
    req = AgentRequest(
        agent=p.agent,
        prompt=p.prompt,
        cwd=p.cwd,
        bin=p.bin,
        model=p.model,
        resume=p.resume,
        permissions=p.permissions,
        permission_mode=p.permission_mode,
        sandbox=p.sandbox,
        allowed_tools=p.allowed_tools,
        disallowed_tools=p.disallowed_tools,
        max_turns=p.max_turns,
        max_budget_usd=p.max_budget_usd,
        files=p.files,
        args=p.args,
        env=p.env,
    )
    return await _svc(ctx).run(
        req,
        worktree=p.worktree,
        name=p.name,
        timeout=p.timeout,
        session_id=_touch(ctx),
        idle_timeout=p.idle_timeout,
        placement=p.placement,
    )


class AgentCheck(_P):
    agent: Literal["claude", "codex", "aider", "command"] | None = None
    bin: str | None = _Str


class AgentRef(_P):
    task: TaskRef


class AgentWait(_P):
    task: TaskRef
    timeout: float | None = Field(None, ge=0)


class AgentList(_P):
    limit: int = Field(100, ge=1, le=10000)


class AgentReplay(_P):
    task: TaskRef
    limit: int | None = Field(None, ge=1)


class WorktreeList(_P):
    include_removed: bool = False
    stale: bool = False


class WorktreeRemove(_P):
    worktree: RowId


class WorktreePrune(_P):
    older_than: float = Field(0.0, ge=0)


# --- patch.* --------------------------------------------------------------------------
class PatchApply(_P):
    diff: str = Field(min_length=1)
    cwd: str = Field(min_length=1, max_length=4096)
    verify: str | list[str] | None = Field(
        None, description="command run in a mirror with the patch applied, before the real tree"
    )
    allow_binary: bool = False
    apply: bool = Field(True, description="false: validate (and verify) only")
    commit: bool = False
    message: str | None = Field(None, max_length=64 * 1024)
    title: str | None = Field(None, max_length=512)


class PatchRef(_P):
    patch: RowId


class PatchShow(_P):
    patch: RowId
    text: bool = True


class PatchRollback(_P):
    patch: RowId
    force: bool = False
    reason: str = Field("rolled back on request", max_length=1024)


class PatchCommit(_P):
    patch: RowId
    force: bool = False
    message: str | None = Field(None, max_length=64 * 1024)


class PatchList(_P):
    state: str | None = Field(None, max_length=32)
    cwd: str | None = _Str
    limit: int = Field(100, ge=1, le=10000)


async def _patch_apply(ctx: Any, p: PatchApply) -> results.PatchRecord:
    return await _svc(ctx).patch_apply(
        p.diff,
        cwd=p.cwd,
        source="api" if ctx.session_id is None else "session",
        title=p.title,
        verify=p.verify,
        allow_binary=p.allow_binary,
        apply=p.apply,
        commit=p.commit,
        message=p.message,
        session_id=_touch(ctx),
    )


async def _patch_list(ctx: Any, p: PatchList) -> list[results.PatchRecord]:
    return await _svc(ctx).patch_list(state=p.state, cwd=p.cwd, limit=p.limit)


# --- pattern.* ------------------------------------------------------------------------
class PatternName(_P):
    name: str = Field(min_length=1, max_length=128)


class PatternInstance(_P):
    instance: dict[str, Any]


class PatternRun(_P):
    instance: dict[str, Any]
    root: str = Field(min_length=1, max_length=4096, description="directory the pattern writes under")
    dry_run: bool = False


# --- agent.fix* -----------------------------------------------------------------------
class FixStart(_P):
    cwd: str = Field(min_length=1, max_length=4096)
    test_cmd: str | list[str] = Field(
        description="the test command (a string is split like a shell would; no shell runs it)"
    )
    agent: Literal["claude", "codex", "aider", "command"]
    max_iterations: int = Field(5, ge=1)
    regression_test: bool = False
    bin: str | None = _Str
    model: str | None = Field(None, max_length=256)
    env: dict[str, str] = Field(default_factory=dict)
    args: list[str] = Field(default_factory=list, max_length=1024)
    agent_timeout: float | None = Field(None, gt=0)
    agent_idle_timeout: float | None = Field(None, ge=0, description="0: never stop a silent agent")
    permissions: str = Field("edit", max_length=64, description="read-only | edit | full, mapped per CLI")
    commit: bool = Field(False, description="commit each fix that makes the tests pass (only its paths)")
    placement: dict[str, Any] | None = Field(
        None,
        description="where each agent run goes, like agent.run's (the tests run here; the node shares the workspace)",
    )


class FixRef(_P):
    run: RowId


class FixWait(_P):
    run: RowId
    timeout: float | None = Field(None, ge=0)


class FixList(_P):
    limit: int = Field(20, ge=1, le=1000)


async def _fix_start(ctx: Any, p: FixStart) -> results.FixRun:
    params = FixParams(
        cwd=p.cwd,
        test_cmd=p.test_cmd,
        agent=p.agent,
        max_iterations=p.max_iterations,
        regression=p.regression_test,
        bin=p.bin,
        model=p.model,
        env=p.env,
        args=p.args,
        agent_timeout=p.agent_timeout,
        commit=p.commit,
        permissions=p.permissions,
        agent_idle_timeout=p.agent_idle_timeout,
        placement=p.placement,
    )
    return await _svc(ctx).fix_start(params, session_id=_touch(ctx))


def agent_methods() -> list[Method]:
    """Every method of the agents layer."""
    return [
        Method(
            "agent.run",
            AgentRun,
            results.AgentStarted,
            _agent_run,
            "Start a coding agent as an `agent` task; normalized events follow on the bus.",
        ),
        Method(
            "agent.check",
            AgentCheck,
            list[results.AgentCheckRow],
            lambda c, p: _svc(c).check(agent=p.agent, bin=p.bin),
            "Which adapters are usable, and why not.",
        ),
        Method(
            "agent.wait",
            AgentWait,
            results.AgentWaitResult,
            lambda c, p: _svc(c).wait(p.task, timeout=p.timeout),
            "Wait for an agent run's result.",
        ),
        Method(
            "agent.result",
            AgentRef,
            results.AgentWaitResult,
            lambda c, p: _svc(c).wait(p.task, timeout=0),
            "An agent run's result now (null until it ends).",
        ),
        Method(
            "agent.runs",
            AgentList,
            list[results.AgentRunRow],
            lambda c, p: _svc(c).list_runs(limit=p.limit),
            "Recent agent runs, oldest first.",
        ),
        Method(
            "agent.diff",
            AgentRef,
            results.AgentDiff,
            lambda c, p: _svc(c).diff(p.task),
            "The diff an agent run left in its work tree.",
        ),
        Method(
            "agent.replay",
            AgentReplay,
            results.AgentReplay,
            lambda c, p: _svc(c).replay(p.task, limit=p.limit),
            "Re-derive a run's normalized events from its log.",
        ),
        Method(
            "agent.worktrees",
            WorktreeList,
            list[results.WorktreeRow],
            lambda c, p: _svc(c).list_worktrees(include_removed=p.include_removed, stale=p.stale),
            "The daemon's git worktrees (or only the stale ones).",
        ),
        Method(
            "agent.worktree_remove",
            WorktreeRemove,
            results.WorktreeRow,
            lambda c, p: _svc(c).remove_worktree(p.worktree),
            "Remove one worktree (refused while in use).",
        ),
        Method(
            "agent.worktree_prune",
            WorktreePrune,
            list[results.WorktreeRow],
            lambda c, p: _svc(c).prune_worktrees(older_than=p.older_than),
            "Remove every stale worktree.",
        ),
        Method(
            "patch.apply",
            PatchApply,
            results.PatchRecord,
            _patch_apply,
            "Validate a unified diff in a mirror, optionally verify it, apply it, optionally commit it.",
        ),
        Method("patch.list", PatchList, list[results.PatchRecord], _patch_list, "Patches in the ledger, oldest first."),
        Method(
            "patch.show",
            PatchShow,
            results.PatchRecord,
            lambda c, p: _svc(c).patch_show(p.patch, text=p.text),
            "One patch with its transitions.",
        ),
        Method(
            "patch.rollback",
            PatchRollback,
            results.PatchRecord,
            lambda c, p: _svc(c).patch_rollback(p.patch, reason=p.reason, force=p.force),
            "Restore the exact pre-apply tree.",
        ),
        Method(
            "patch.commit",
            PatchCommit,
            results.PatchRecord,
            lambda c, p: _svc(c).patch_commit(p.patch, message=p.message, force=p.force),
            "Commit only the patch's paths.",
        ),
        Method(
            "agent.fix",
            FixStart,
            results.FixRun,
            _fix_start,
            "Start a fix loop: tests, agent, patch, re-test, keep or roll back; `fix` events narrate it.",
        ),
        Method(
            "agent.fix_wait",
            FixWait,
            results.FixWaitResult,
            lambda c, p: _svc(c).fix_wait(p.run, timeout=p.timeout),
            "Wait for a fix run to end.",
        ),
        Method(
            "agent.fix_show",
            FixRef,
            results.FixRun,
            lambda c, p: _svc(c).fix_show(p.run),
            "One fix run with every attempt.",
        ),
        Method(
            "agent.fix_cancel",
            FixRef,
            results.FixRun,
            lambda c, p: _svc(c).fix_cancel(p.run),
            "Stop a fix run (an unjudged patch is rolled back).",
        ),
        Method(
            "agent.fix_list",
            FixList,
            list[results.FixRun],
            lambda c, p: _svc(c).fix_list(limit=p.limit),
            "Recent fix runs with their attempts.",
        ),
        Method(
            "agent.fix_stats",
            _NoParams,
            results.FixStats,
            lambda c, p: _svc(c).fix_stats(),
            "Attempts, outcomes and success rates over all fix runs.",
        ),
        Method(
            "pattern.list",
            _NoParams,
            list[results.PatternRow],
            lambda c, p: _svc(c).pattern_list(),
            "Built-in and user patterns (broken user files with their error).",
        ),
        Method(
            "pattern.schema",
            PatternName,
            dict[str, Any],
            lambda c, p: _svc(c).pattern_schema(p.name),
            "The JSON Schema of a pattern's instances.",
        ),
        Method(
            "pattern.example",
            PatternName,
            dict[str, Any],
            lambda c, p: _svc(c).pattern_example(p.name),
            "The shipped example instance of a pattern.",
        ),
        Method(
            "pattern.validate",
            PatternInstance,
            results.PatternValidation,
            lambda c, p: _svc(c).pattern_validate(p.instance),
            "Check an instance; errors name JSON paths.",
        ),
        Method(
            "pattern.run",
            PatternRun,
            results.PatternRunResult,
            lambda c, p: _svc(c).pattern_run(p.instance, root=p.root, dry_run=p.dry_run),
            "Validate and execute an instance (dry run: list the files it would create or change).",
        ),
    ]
