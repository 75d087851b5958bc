"""How an agent step becomes a task: the small interface between pipelines and agents.

The pipeline engine knows nothing about any agent CLI.  It renders a prompt and
hands it to an :class:`AgentLauncher`, which starts one headless run as an
``agent`` task (so it shows in ``ps``, streams, pauses and cancels) and, once
the task has ended, says whether the run succeeded.  The exit gate then judges
the work itself.

Two launchers:

* :class:`AgentsLayerLauncher` — the daemon's agents layer (``Executive.agents``,
  issue 5): its adapters build the argv, parse the CLI's output into
  normalized events, and decide success from the result fields as well as the
  exit code (agent CLIs exit 0 on API errors: spec/agent-clis.md §4).
* :class:`BuiltinLauncher` — no agents layer (an embedded service, a trimmed
  build): the documented headless invocations (spec/agent-clis.md §1-3) as a
  plain ``agent`` task; success is the exit code.

:func:`default_launcher` picks the first when the host has it.  Rejected
alternative: importing adapter classes at module import — the agents layer is
optional for pipelines, so it is reached only through the host at run time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from executive.kernel.tasks import TaskKind
from executive.pipeline.model import AgentRef

__all__ = ["AgentFinish", "AgentLauncher", "AgentStart", "AgentsLayerLauncher", "BuiltinLauncher", "default_launcher"]


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


def _positional(prompt: str) -> str:
    # A prompt that starts with "-" would be read as a flag by the CLI's parser.
    return " " + prompt if prompt.startswith("-") else prompt


def builtin_argv(agent: AgentRef, prompt: str) -> list[str]:
    """The headless argv of a known CLI (spec/agent-clis.md); custom substitutes ``{prompt}`` in its argv."""
    extra = list(agent.argv or [])
    if agent.cli == "claude":
        argv = [
            "claude",
            "-p",
            _positional(prompt),
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
        ]
        return argv + (["--model", agent.model] if agent.model else []) + extra
    if agent.cli == "codex":
        argv = ["codex", "exec", "--full-auto", "--skip-git-repo-check", "--json"] + (
            ["-m", agent.model] if agent.model else []
        )
        return argv + extra + [_positional(prompt)]
    if agent.cli == "aider":
        argv = ["aider", "--yes-always", "--no-auto-commits", "--no-pretty", "--no-check-update", "--analytics-disable"]
        return argv + (["--model", agent.model] if agent.model else []) + extra + ["--message", prompt]
    return [a.replace("{prompt}", prompt) for a in extra]


class BuiltinLauncher:
    """An agent run as a plain ``agent`` task; success is exit 0."""

    def __init__(self, host: Any) -> None:
        self.host = host

    async def start(self, req: AgentStart) -> dict[str, Any]:
        env = dict(req.env)
        if len(req.prompt) <= 32 * 1024:
            env["EXECUTIVE_AGENT_PROMPT"] = req.prompt
        return await self.host.task_run(  # type: ignore[no-any-return]
            builtin_argv(req.agent, req.prompt),
            name=req.name,
            cwd=req.cwd,
            env=env,
            timeout=req.timeout,
            kind=TaskKind.AGENT,
            meta={"pipeline": req.meta, "agent": req.agent.cli},
        )

    async def finish(self, task_id: int) -> AgentFinish:
        info = self.host.task_info(task_id)
        ok = info.get("end_reason") == "exited" and info.get("exit_code") == 0
        return AgentFinish(ok, "" if ok else f"{info.get('end_reason')} (exit {info.get('exit_code')})", "")


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
            permission_mode="acceptEdits" if a.cli == "claude" else None,
        )
        task = await self.host.agents.runs.run(request, name=req.name, timeout=req.timeout)
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


def default_launcher(host: Any) -> AgentLauncher:
    """The agents layer's launcher when the host has one, else :class:`BuiltinLauncher`."""
    agents = getattr(host, "agents", None)
    if agents is not None and getattr(getattr(agents, "runs", None), "run", None) is not None:
        return AgentsLayerLauncher(host)
    return BuiltinLauncher(host)
