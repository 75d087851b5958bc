"""How an agent step becomes a task: the small interface between pipelines and agents.

The pipeline engine knows nothing about any agent CLI.  It renders a prompt and
hands it to an :class:`AgentLauncher`, which starts one headless run as an
``agent`` task (so it shows in ``ps``, streams, pauses and cancels) and, once
the task has ended, says whether the run succeeded.  The exit gate then judges
the work itself.

One launcher, :class:`AgentsLayerLauncher`: the daemon's agents layer
(``Executive.agents``) builds the argv with its adapters, parses the CLI's
output into normalized events, and decides success from the result fields as
well as the exit code (agent CLIs exit 0 on API errors: spec/agent-clis.md §4).
A step's ``permissions`` (default ``edit``: change files inside the workspace)
is mapped per CLI by the adapter.

Rejected alternative: a second, "built-in" argv per CLI for hosts without the
agents layer — it drifted from the real CLIs (``codex exec --full-auto`` is
refused by codex 0.171) and judged success by the exit code alone, which these
CLIs do not make reliable.  Adapter classes are reached through the host at
run time, not imported here, so pipelines stay importable on their own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from executive.kernel.errors import ServerError
from executive.pipeline.model import AgentRef

__all__ = ["AgentFinish", "AgentLauncher", "AgentStart", "AgentsLayerLauncher", "default_launcher"]


@dataclasses.dataclass(frozen=True, slots=True)
class AgentStart:
    """One headless agent run to start."""

    agent: AgentRef
    prompt: str
    cwd: str
    env: dict[str, str]  # pipeline context (EXECUTIVE_RUN, ...) for the child
    name: str  # task name, "RUN.PHASE.STEP"
    timeout: float
    meta: dict[str, Any]  # goes to the task's meta["pipeline"]
    placement: dict[str, Any] | None = None  # the step's placement (runtimes/ray_placement.py); None: here


@dataclasses.dataclass(frozen=True, slots=True)
class AgentFinish:
    ok: bool  # the run did what it was asked, as far as the agent's output tells
    detail: str  # why not, when not ok
    text: str  # the agent's final message ("" when unknown), e.g. for rubric scores


class AgentLauncher(Protocol):
    async def start(self, req: AgentStart) -> dict[str, Any]:
        """Start the run; returns its task row.  Raises ExecutiveError when it cannot start."""
        ...

    async def finish(self, task_id: int) -> AgentFinish:
        """After the task ended: the run's verdict."""
        ...


_ADAPTER = {"claude": "claude", "codex": "codex", "aider": "aider", "custom": "command"}


class AgentsLayerLauncher:
    """Agent runs through ``Executive.agents``: adapters, normalized events, result-based success."""

    def __init__(self, host: Any) -> None:
        self.host = host

    async def start(self, req: AgentStart) -> dict[str, Any]:
        from executive.agents.adapters import AgentRequest

        a = req.agent
        extra = list(a.argv or [])
        bin_ = extra[0] if a.cli == "custom" else None
        args = extra[1:] if a.cli == "custom" else extra
        request = AgentRequest(
            agent=_ADAPTER[a.cli],
            prompt=req.prompt,
            cwd=req.cwd,
            bin=bin_,
            model=a.model,
            args=args,
            env=dict(req.env),
            permissions=a.permissions,
        )
        where = {"placement": req.placement} if req.placement else {}
        task = await self.host.agents.runs.run(request, name=req.name, timeout=req.timeout, **where)
        live = self.host.tasks.get(int(task["id"]))
        live.meta["pipeline"] = req.meta
        self.host.persist(live)
        return task  # type: ignore[no-any-return]

    async def finish(self, task_id: int) -> AgentFinish:
        out = await self.host.agents.runs.wait(task_id, timeout=self.host.limits.max_wait_s)
        result = out.get("result") or {}
        ok = bool(result.get("ok"))
        errors = ", ".join(str(e) for e in result.get("errors") or [])
        return AgentFinish(
            ok, "" if ok else f"agent run not ok: {errors or 'no result'}", str(result.get("text") or "")
        )


class _NoAgentsLauncher:
    """A host without the agents layer: command steps still run, an agent step fails to start, saying why."""

    async def start(self, req: AgentStart) -> dict[str, Any]:
        raise ServerError(
            f"agent step {req.name} needs the agents layer (Executive.agents), which this host does not have"
        )

    async def finish(self, task_id: int) -> AgentFinish:
        raise ServerError("no agents layer")


def default_launcher(host: Any) -> AgentLauncher:
    """The agents layer's launcher (or one that refuses agent steps when the host has no agents layer)."""
    agents = getattr(host, "agents", None)
    if agents is None or getattr(getattr(agents, "runs", None), "run", None) is None:
        return _NoAgentsLauncher()
    return AgentsLayerLauncher(host)
