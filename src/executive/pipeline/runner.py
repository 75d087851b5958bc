"""Steps and check commands as daemon tasks: launch, wait, retry with backoff.

Everything a run executes goes through :meth:`Executive.task_run`, so it is an
ordinary task: it shows in ``executive ps`` (named ``RUN.PHASE.STEP``, with
``meta.pipeline`` saying where it belongs), streams output, pauses, and a
client may cancel it — a cancelled step fails without retries.

A step gets its context in the environment (``EXECUTIVE_RUN``, ``_PHASE``,
``_ITERATION``, ``_STEP``, ``_ATTEMPT``, ``_WORKDIR``, ``_REQUIREMENT`` and, on
rework, ``EXECUTIVE_FAILED_CHECKS`` as JSON).  An agent step's prompt is
rendered here; on rework it carries the failed checks and the diff so far.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from executive.kernel.errors import ClientError, ExecutiveError
from executive.kernel.limits import Limits
from executive.kernel.tasks import TaskKind
from executive.pipeline.agent_steps import AgentLauncher, AgentStart
from executive.pipeline.gates import CommandResult
from executive.pipeline.model import AgentRef, Phase, Pipeline, Step
from executive.pipeline.prompts import DEFAULT_REWORK_SUFFIX, render
from executive.pipeline.workspace import diff_so_far, inside

__all__ = ["RunContext", "TaskHost", "TaskRunner", "failed_checks_text"]


class TaskHost(Protocol):
    """What the runner needs from :class:`~executive.service.Executive` (its replies: read-only records)."""

    limits: Limits

    async def task_run(
        self,
        argv: list[str],
        *,
        name: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        kind: TaskKind = TaskKind.PROCESS,
        meta: dict[str, Any] | None = None,
        placement: dict[str, Any] | None = None,
    ) -> Mapping[str, Any]: ...

    async def task_wait(self, ref: int | str, *, timeout: float | None = None) -> Mapping[str, Any]: ...

    def task_info(self, ref: int | str) -> Mapping[str, Any]: ...

    async def task_output(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> Mapping[str, Any]: ...

    def task_cancel(self, ref: int | str, *, session_id: str | None = None) -> Mapping[str, Any]: ...


@dataclasses.dataclass(slots=True)
class RunContext:
    """The fixed facts of one run that every task of it needs."""

    run_id: int
    pipeline: Pipeline
    workdir: str
    requirement: str
    created: float  # run creation time: "files changed since the run started"


def failed_checks_text(failed: Sequence[Mapping[str, Any]], threshold: float | None) -> str:
    """One line per failed check, for prompts: name, kind, score against its bar, detail."""
    lines = []
    for c in failed:
        bar = c.get("pass_score") if c.get("pass_score") is not None else threshold
        bar_s = f" < {bar:g}" if isinstance(bar, (int, float)) else ""
        lines.append(f"- {c['name']} ({c['kind']}): score {c['score']:g}{bar_s} - {c.get('detail', '')}")
    return "\n".join(lines) or "(none)"


def _not_started(what: str, exc: ExecutiveError) -> CommandResult:
    # A ClientError (executable not found, not allowed) fails the same way on every retry.
    return CommandResult(
        None,
        "failed",
        "",
        "",
        None,
        error=f"could not start {what!r}: {exc.message}",
        retryable=not isinstance(exc, ClientError),
    )


class TaskRunner:
    """Runs one phase-iteration's commands for a run; also the gates' :class:`CommandRunner`."""

    def __init__(
        self,
        host: TaskHost,
        ctx: RunContext,
        launcher: AgentLauncher,
        *,
        phase: Phase,
        iteration: int,
        on_task: Callable[[int], None],
    ) -> None:
        self.host = host
        self.ctx = ctx
        self.launcher = launcher
        self.phase = phase
        self.iteration = iteration
        self.on_task = on_task  # called with every task id started (to record it in the op row)
        self.extra_env: dict[str, str] = {}

    # -------------------------------------------------------------- environment
    def _env(self, step: Step | None, label: str) -> dict[str, str]:
        env = dict(self.ctx.pipeline.env)
        if step is not None:
            env.update(step.env)
        env.update(
            {
                "EXECUTIVE_RUN": str(self.ctx.run_id),
                "EXECUTIVE_PIPELINE": self.ctx.pipeline.name,
                "EXECUTIVE_PHASE": self.phase.name,
                "EXECUTIVE_ITERATION": str(self.iteration),
                "EXECUTIVE_STEP": step.name if step is not None else label,
                "EXECUTIVE_WORKDIR": self.ctx.workdir,
                "EXECUTIVE_REQUIREMENT": self.ctx.requirement,
            }
        )
        env.update(self.extra_env)
        return env

    def values(self, step: str = "") -> dict[str, object]:
        """Prompt placeholder values common to steps and rubric checks."""
        return {
            "requirement": self.ctx.requirement,
            "pipeline": self.ctx.pipeline.name,
            "phase": self.phase.name,
            "iteration": self.iteration,
            "step": step,
            "workdir": self.ctx.workdir,
            "run": self.ctx.run_id,
        }

    def _name(self, label: str) -> str:
        return f"{self.ctx.run_id}.{self.phase.name}.{label}"[: self.host.limits.max_name]

    # ------------------------------------------------------------------ tasks
    def _meta(self, label: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"run": self.ctx.run_id, "phase": self.phase.name, "iteration": self.iteration, "label": label, **extra}

    async def _launch(
        self,
        argv: list[str],
        *,
        label: str,
        timeout: float,
        env: dict[str, str],
        cwd: str,
        meta: dict[str, Any],
        placement: dict[str, Any] | None = None,
    ) -> CommandResult:
        try:
            task = await self._start(
                self.host.task_run(
                    argv,
                    name=self._name(label),
                    cwd=cwd,
                    env=env,
                    timeout=timeout,
                    kind=TaskKind.PROCESS,
                    meta={"pipeline": self._meta(label, meta)},
                    **({"placement": placement} if placement else {}),  # hosts without a cluster need not know it
                )
            )
        except ExecutiveError as exc:
            return _not_started(argv[0], exc)
        info = await self._wait(task)
        return CommandResult(
            info.get("exit_code"),
            info.get("end_reason") or "exited",
            await self._tail(info["id"], "stdout"),
            await self._tail(info["id"], "stderr"),
            int(info["id"]),
        )

    async def _launch_agent(
        self,
        agent: AgentRef,
        prompt: str,
        *,
        label: str,
        timeout: float,
        env: dict[str, str],
        cwd: str,
        meta: dict[str, Any],
        placement: dict[str, Any] | None = None,
    ) -> CommandResult:
        req = AgentStart(agent, prompt, cwd, env, self._name(label), timeout, self._meta(label, meta), placement)
        try:
            task = await self._start(self.launcher.start(req))
        except ExecutiveError as exc:
            return _not_started(agent.cli, exc)
        info = await self._wait(task)
        tid = int(info["id"])
        fin = await self.launcher.finish(tid)
        return CommandResult(
            info.get("exit_code"),
            info.get("end_reason") or "exited",
            await self._tail(tid, "stdout"),
            await self._tail(tid, "stderr"),
            tid,
            verdict=fin.ok,
            note="" if fin.ok else fin.detail,
            text=fin.text,
        )

    async def _start(self, start: Awaitable[Mapping[str, Any]]) -> Mapping[str, Any]:
        """Await a task's creation; a cancel landing meanwhile (while it spawns) still reaches the task.

        The task exists as soon as the host has queued it, but its id only comes back once the
        spawn settled; so the start runs shielded, and on cancel we wait for the id, then cancel it.
        """
        fut = asyncio.ensure_future(start)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            while not fut.done():
                try:
                    await asyncio.wait({fut})
                except asyncio.CancelledError:
                    pass  # cancelled again: still make sure the task does not outlive us
            if not fut.cancelled() and fut.exception() is None:
                tid = int(fut.result()["id"])
                self.on_task(tid)
                try:
                    self.host.task_cancel(tid)
                except ExecutiveError:
                    pass  # it ended on its own meanwhile
            raise

    async def _wait(self, task: Mapping[str, Any]) -> Mapping[str, Any]:
        """Wait for the task's end; cancelling the wait cancels the task (run cancel, daemon stop)."""
        tid = int(task["id"])
        self.on_task(tid)
        info = task
        try:
            while info["state"] != "ended":
                info = await self.host.task_wait(tid, timeout=self.host.limits.max_wait_s)
        except asyncio.CancelledError:
            try:
                self.host.task_cancel(tid)
            except ExecutiveError:
                pass  # it ended on its own meanwhile
            raise
        return info

    async def _tail(self, tid: int, stream: str) -> str:
        cap = self.host.limits.pipeline_check_output_bytes
        size = int(self.host.task_info(tid).get("output_bytes", {}).get(stream, 0))
        if size == 0:
            return ""
        out = await self.host.task_output(
            tid, stream=stream, offset=max(0, size - cap), limit=min(cap, self.host.limits.output_read_bytes)
        )
        if "data" in out:
            return str(out["data"])
        # Not valid UTF-8 (a stray byte anywhere, or the tail cut inside a character): keep the text.
        return base64.b64decode(out.get("data_b64") or "").decode("utf-8", errors="replace")

    async def command(self, argv: list[str], *, label: str, timeout: float) -> CommandResult:
        return await self._launch(
            argv, label=label, timeout=timeout, env=self._env(None, label), cwd=self.ctx.workdir, meta={"check": label}
        )

    async def agent(self, agent: AgentRef, prompt: str, *, label: str, timeout: float) -> CommandResult:
        return await self._launch_agent(
            agent,
            prompt,
            label=label,
            timeout=timeout,
            env=self._env(None, label),
            cwd=self.ctx.workdir,
            meta={"check": label},
        )

    # ------------------------------------------------------------------- steps
    async def run_step(
        self, step: Step, rework: Sequence[Mapping[str, Any]], threshold: float | None
    ) -> dict[str, Any]:
        """Run one step with its retries; returns the checkpoint output ``{status, attempts, tasks, ...}``."""
        cwd = self.ctx.workdir
        if step.cwd is not None:
            resolved = inside(self.ctx.workdir, step.cwd)
            if resolved is None or not resolved.is_dir():
                return {
                    "status": "failed",
                    "attempts": 0,
                    "tasks": [],
                    "detail": f"step cwd {step.cwd} is not a directory inside the working directory",
                }
            cwd = str(resolved)
        started = time.time()
        env = self._env(step, step.name)
        if rework:
            env["EXECUTIVE_FAILED_CHECKS"] = json.dumps(
                [{k: c.get(k) for k in ("name", "kind", "score", "detail")} for c in rework]
            )
        prompt = await self._prompt(step, rework, threshold) if step.agent is not None else ""
        tasks: list[int] = []
        res: CommandResult | None = None
        attempt = 0
        for attempt in range(1, step.retries + 2):
            env["EXECUTIVE_ATTEMPT"] = str(attempt)
            meta = {"step": step.name, "attempt": attempt}
            if step.agent is not None:
                res = await self._launch_agent(
                    step.agent,
                    prompt,
                    label=step.name,
                    timeout=step.timeout_s,
                    env=env,
                    cwd=cwd,
                    meta=meta,
                    placement=step.placement,
                )
            else:
                assert step.command is not None
                res = await self._launch(
                    list(step.command),
                    label=step.name,
                    timeout=step.timeout_s,
                    env=env,
                    cwd=cwd,
                    meta=meta,
                    placement=step.placement,
                )
            if res.task_id is not None:
                tasks.append(res.task_id)
            if res.ok or res.end_reason in ("cancelled", "killed") or not res.retryable:
                break
            if attempt <= step.retries:
                await asyncio.sleep(step.backoff_s * step.backoff_factor ** (attempt - 1))
        assert res is not None
        status = "ok" if res.ok else ("cancelled" if res.end_reason in ("cancelled", "killed") else "failed")
        return {
            "status": status,
            "attempts": attempt,
            "tasks": tasks,
            "exit_code": res.exit_code,
            "end_reason": res.end_reason,
            "detail": "" if res.ok else res.describe(),
            "duration": round(time.time() - started, 3),
            "kind": step.kind,
        }

    async def _prompt(self, step: Step, rework: Sequence[Mapping[str, Any]], threshold: float | None) -> str:
        assert step.agent is not None
        values = self.values(step.name)
        template = step.agent.prompt
        if rework:
            lim = self.host.limits
            values["failed_checks"] = failed_checks_text(rework, threshold)
            values["diff"] = await diff_so_far(self.ctx.workdir, self.ctx.created, lim.pipeline_diff_bytes)
            template = step.agent.rework_prompt or (step.agent.prompt + DEFAULT_REWORK_SUFFIX)
        return render(template, values, max_bytes=self.host.limits.pipeline_prompt_bytes)
