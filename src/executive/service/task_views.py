"""What the dashboard needs beyond ``task.*``: tree statistics, restart, the limits, a log file.

``task_stats`` samples the process trees of live tasks (runtimes/tree_stats.py) off the
event loop; ``task_restart`` starts a task again (argv, env, cwd, timeouts) linked to the old one;
``limits`` lists the limits in force (kernel/limits.py); ``log_file`` is the path of a
task's whole log, for a download.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, cast

from executive.kernel.errors import BadParamsError, NotAllowedError
from executive.kernel.tasks import TaskKind
from executive.runtimes.process import STREAMS
from executive.runtimes.tree_stats import TreeSampler
from executive.service.results import DaemonLimits, TaskRestarted, TaskStats, TreeSample

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["TaskViews"]

_LIVE = ("running", "paused", "stopping")


class TaskViews:
    """Read-mostly views of tasks for the dashboard; one per daemon (the sampler keeps CPU baselines)."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        self._sampler = TreeSampler()

    async def stats(self, refs: list[int | str] | None, *, processes: bool = False) -> TaskStats:
        """CPU % and RSS of the process trees of the given live tasks (default: every live task with a pid)."""
        rows = [self.ex.task_info(r) for r in refs] if refs is not None else self.ex.task_list(limit=100_000)
        leaders = {r["id"]: r["pid"] for r in rows if r["pid"] and r["state"] in _LIVE}
        sampled = await asyncio.to_thread(self._sampler.sample_many, leaders, processes=processes)
        return {"tasks": {str(k): cast(TreeSample, v) for k, v in sampled.items()}}

    async def restart(self, ref: int | str, *, name: str | None = None, session_id: str | None = None) -> TaskRestarted:
        """Start ``ref`` again: a new process task with its argv, env, cwd, timeouts and quota.

        A live task is cancelled first (and awaited).  A run of a program, or the name of a
        program, restarts the program (service/programs.py): its failure count starts again.
        The new task's ``meta.restart_of`` names the old one, whose ``meta.restarted_as``
        names the new one (both stored with the tasks).

        Raises:
            NotFoundError: no such task or program.
            NotAllowedError: ``ref`` is an agent or VM task (they start through agent.run and vm.load).
        """
        program = self._program_of(ref)
        if program is not None:
            task, previous = await self.ex.programs.restart(program)
            row = {**task.to_dict(), "restart_of": previous}
            self.ex.programs.annotate(task, row)
            return cast(TaskRestarted, row)
        old = self.ex.tasks.get(ref)
        if old.kind is not TaskKind.PROCESS or old.argv is None:
            raise NotAllowedError(
                f"task {old.id} is a {old.kind.value} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        if old.is_live:
            self.ex.task_cancel(old.id, session_id=session_id)
            await self.ex.task_wait(old.id, timeout=self.ex.limits.kill_grace_s + 10.0)
        spec = old.spec
        new = await self.ex.task_run(
            list(old.argv),
            name=name or old.name,
            cwd=old.cwd,
            env=spec.get("env") or None,
            stdin=bool(spec.get("stdin", False)),
            timeout=spec.get("timeout"),
            idle_timeout=spec.get("idle_timeout"),
            quota=spec.get("quota"),
            session_id=session_id,
            meta={"restart_of": old.id},
        )
        self.ex.programs.link_restart(old.id, new["id"])
        return cast(TaskRestarted, {**new, "restart_of": old.id})

    def _program_of(self, ref: int | str) -> str | None:
        """The program ``ref`` restarts: a program's name, or a task that is a run of a program."""
        if isinstance(ref, str) and not ref.isdigit() and self.ex.programs.has(ref):
            return ref
        task = self.ex.tasks.get(ref)
        name = task.meta.get("program")
        return name if isinstance(name, str) and self.ex.programs.has(name) else None

    def limits(self) -> DaemonLimits:
        """The limits in force."""
        return cast(DaemonLimits, dataclasses.asdict(self.ex.limits))

    def log_file(self, ref: int | str, stream: str) -> Path:
        """The file holding ``stream`` of a task's output (it may not exist yet).

        Raises:
            NotFoundError: no such task.  BadParamsError: ``stream`` is not stdout or stderr.
        """
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, not {stream[:20]!r}")
        return self.ex.processes.log_path(self.ex.task_id(ref), stream)
