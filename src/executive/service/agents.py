"""The agents layer as the service offers it: ``Executive.agents``.

One method per operation a client can ask for (``agent.*``, ``patch.*``,
``pattern.*`` on the wire, the CLI, the new clients), each with a typed result.
The layer itself (agents/service.py: runs, worktrees, patches, patterns, fix loop)
is attached when the daemon opens.  Its parts stay reachable as ``runs``,
``worktrees``, ``patches``, ``patterns``, ``fixes`` and ``git`` for the layers below
the service that compose with them (a pipeline's agent steps, the patterns) and
for in-process tests; transports use only the methods (tests/test_layering.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from executive.agents.adapters import AgentRequest
from executive.agents.fixloop import FixParams
from executive.kernel.errors import ErrorCode, ServerError
from executive.service.results import (
    AgentCheckRow,
    AgentDiff,
    AgentReplay,
    AgentRunRow,
    AgentStarted,
    AgentWaitResult,
    FixRun,
    FixStats,
    FixWaitResult,
    PatchRecord,
    PatternRow,
    PatternRunResult,
    PatternValidation,
    WorktreeRow,
)

if TYPE_CHECKING:  # pragma: no cover
    from executive.agents.fixloop import FixLoops
    from executive.agents.git import Git
    from executive.agents.patches import PatchEngine
    from executive.agents.patterns import Patterns
    from executive.agents.runs import AgentRuns
    from executive.agents.service import AgentService
    from executive.agents.worktrees import Worktrees

__all__ = ["AgentRequest", "AgentsService", "FixParams"]


class AgentsService:
    """Agent runs, worktrees, patches, patterns and the fix loop of one daemon."""

    def __init__(self) -> None:
        self._layer: AgentService | None = None

    async def open(self, layer: AgentService) -> None:
        """Attach the agents layer and run its start-up (drop throw-away worktrees, mark lost runs)."""
        self._layer = layer
        await layer.open()

    async def aclose(self) -> None:
        if self._layer is not None:
            await self._layer.aclose()

    @property
    def layer(self) -> AgentService:
        if self._layer is None:
            raise ServerError(
                "the agents layer is not running in this daemon (Executive.open has not run)",
                code=ErrorCode.UNAVAILABLE,
            )
        return self._layer

    # --- the layer's parts, for the layers below the service and in-process tests
    @property
    def runs(self) -> AgentRuns:
        return self.layer.runs

    @property
    def worktrees(self) -> Worktrees:
        return self.layer.worktrees

    @property
    def patches(self) -> PatchEngine:
        return self.layer.patches

    @property
    def patterns(self) -> Patterns:
        return self.layer.patterns

    @property
    def fixes(self) -> FixLoops:
        return self.layer.fixes

    @property
    def git(self) -> Git:
        return self.layer.git

    # --- agent runs
    async def run(
        self,
        req: AgentRequest,
        *,
        worktree: bool = False,
        name: str | None = None,
        timeout: float | None = None,
        session_id: str | None = None,
        idle_timeout: float | None = None,
        placement: dict[str, Any] | None = None,
    ) -> AgentStarted:
        """Start a coding agent as an ``agent`` task; its normalized events follow on the bus.

        ``idle_timeout``: seconds without progress before the run is stopped (None: the daemon's
        ``agent_idle_timeout_s``; 0: never).  ``placement``: task.run's (a Ray node runs the CLI).
        """
        out = await self.layer.runs.run(
            req,
            worktree=worktree,
            name=name,
            timeout=timeout,
            session_id=session_id,
            idle_timeout=idle_timeout,
            placement=placement,
        )
        return cast(AgentStarted, out)

    async def check(self, *, agent: str | None = None, bin: str | None = None) -> list[AgentCheckRow]:
        """Which adapters are usable here, and for each problem what to do about it."""
        return cast(list[AgentCheckRow], await self.layer.runs.check(agent=agent, bin=bin))

    async def wait(self, ref: int | str, *, timeout: float | None = None) -> AgentWaitResult:
        """Wait for a run's result (``timeout=0``: the result now, null until the run ends)."""
        return cast(AgentWaitResult, await self.layer.runs.wait(ref, timeout=timeout))

    async def list_runs(self, *, limit: int = 100) -> list[AgentRunRow]:
        return cast(list[AgentRunRow], await self.layer.runs.list(limit=limit))

    async def diff(self, ref: int | str) -> AgentDiff:
        return cast(AgentDiff, await self.layer.runs.diff(ref))

    async def replay(self, ref: int | str, *, limit: int | None = None) -> AgentReplay:
        return cast(AgentReplay, await self.layer.runs.replay(ref, limit=limit))

    # --- worktrees
    async def list_worktrees(self, *, include_removed: bool = False, stale: bool = False) -> list[WorktreeRow]:
        """The daemon's worktrees, or (``stale``) only those nothing uses any more."""
        wt = self.layer.worktrees
        rows = await wt.stale() if stale else await wt.list(include_removed=include_removed)
        return cast(list[WorktreeRow], rows)

    async def remove_worktree(self, wt_id: int) -> WorktreeRow:
        return cast(WorktreeRow, await self.layer.worktrees.remove(wt_id))

    async def prune_worktrees(self, *, older_than: float = 0.0) -> list[WorktreeRow]:
        return cast(list[WorktreeRow], await self.layer.worktrees.prune(older_than=older_than))

    # --- patches
    async def patch_apply(
        self,
        diff: str,
        *,
        cwd: str,
        source: str = "api",
        title: str | None = None,
        verify: str | list[str] | None = None,
        allow_binary: bool = False,
        apply: bool = True,
        commit: bool = False,
        message: str | None = None,
        session_id: str | None = None,
    ) -> PatchRecord:
        """Validate a unified diff in a mirror, optionally verify, apply and commit it; the ledger entry."""
        out = await self.layer.patches.submit(
            diff, cwd=cwd, source=source, title=title, verify=verify, allow_binary=allow_binary,
            apply=apply, commit=commit, message=message, session_id=session_id,
        )  # fmt: skip
        return cast(PatchRecord, out)

    async def patch_list(
        self, *, state: str | None = None, cwd: str | None = None, limit: int = 100
    ) -> list[PatchRecord]:
        """Patches in the ledger, oldest first; ``cwd`` narrows to the repository it is in."""
        layer = self.layer
        workspace = str(await layer.git.toplevel(cwd)) if cwd else None
        return cast(list[PatchRecord], await layer.patches.list(state=state, workspace=workspace, limit=limit))

    async def patch_show(self, patch_id: int, *, text: bool = True) -> PatchRecord:
        return cast(PatchRecord, await self.layer.patches.get(patch_id, with_text=text))

    async def patch_rollback(
        self, patch_id: int, *, reason: str = "rolled back on request", force: bool = False
    ) -> PatchRecord:
        return cast(PatchRecord, await self.layer.patches.rollback(patch_id, reason=reason, force=force))

    async def patch_commit(self, patch_id: int, *, message: str | None = None, force: bool = False) -> PatchRecord:
        return cast(PatchRecord, await self.layer.patches.commit(patch_id, message=message, force=force))

    # --- the fix loop
    async def fix_start(self, params: FixParams, *, session_id: str | None = None) -> FixRun:
        return cast(FixRun, await self.layer.fixes.start(params, session_id=session_id))

    async def fix_wait(self, run_id: int, *, timeout: float | None = None) -> FixWaitResult:
        return cast(FixWaitResult, await self.layer.fixes.wait(run_id, timeout=timeout))

    async def fix_show(self, run_id: int) -> FixRun:
        return cast(FixRun, await self.layer.fixes.get(run_id))

    async def fix_cancel(self, run_id: int) -> FixRun:
        return cast(FixRun, await self.layer.fixes.cancel(run_id))

    async def fix_list(self, *, limit: int = 20) -> list[FixRun]:
        return cast(list[FixRun], await self.layer.fixes.list(limit=limit))

    async def fix_stats(self) -> FixStats:
        return cast(FixStats, await self.layer.fixes.stats())

    # --- patterns
    def pattern_list(self) -> list[PatternRow]:
        return cast(list[PatternRow], self.layer.patterns.list())

    def pattern_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema of a pattern's instances."""
        return self.layer.patterns.schema(name)

    def pattern_example(self, name: str) -> dict[str, Any]:
        """The shipped example instance of a pattern."""
        return self.layer.patterns.example(name)

    def pattern_validate(self, instance: dict[str, Any]) -> PatternValidation:
        return cast(PatternValidation, self.layer.patterns.validate(instance))

    async def pattern_run(self, instance: dict[str, Any], *, root: str, dry_run: bool = False) -> PatternRunResult:
        return cast(PatternRunResult, await self.layer.patterns.run(instance, root=root, dry_run=dry_run))
