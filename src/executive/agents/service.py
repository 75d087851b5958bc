"""The agents layer as one object the daemon owns: ``Executive.agents``.

It wires the parts together — one :class:`~executive.agents.git.Git`, the
worktree manager, agent runs, the patch engine and ledger, the pattern
registry and the fix loop — and gives the service a single ``open``/``aclose``
pair.  Transports (``api/agent_methods.py``) reach the parts through it.
"""

from __future__ import annotations

from executive.agents.fixloop import FixLoops
from executive.agents.git import Git
from executive.agents.host import AgentsHost
from executive.agents.patches import PatchEngine
from executive.agents.patterns import Patterns
from executive.agents.runs import AgentRuns
from executive.agents.worktrees import Worktrees
from executive.paths import make_private_dir

__all__ = ["AgentService"]


class AgentService:
    """Agent runs, worktrees, patches, patterns and the fix loop of one daemon."""

    def __init__(self, ex: AgentsHost) -> None:
        self.ex = ex
        tmp = ex.home / "tmp"
        make_private_dir(tmp)
        self.git = Git(timeout=ex.limits.git_timeout_s, tmp_dir=tmp)
        self.worktrees = Worktrees(ex, self.git)
        self.runs = AgentRuns(ex, self.git, self.worktrees)
        self.patches = PatchEngine(ex, self.git, self.worktrees)
        self.patterns = Patterns(ex, agents=self)
        self.fixes = FixLoops(ex, self)

    async def open(self) -> None:
        """Daemon start: drop throw-away worktrees and mark interrupted runs lost."""
        await self.worktrees.open()
        await self.runs.open()
        await self.fixes.open()

    async def aclose(self) -> None:
        """Daemon stop (after live tasks were cancelled): let result bookkeeping finish."""
        await self.fixes.aclose()
        await self.runs.aclose()
