"""What the dashboard needs beyond ``task.*``: tree statistics, restart, the limits, a log file.

``task_stats`` samples the process trees of live tasks (runtimes/tree_stats.py) off the
event loop; ``task_restart`` starts a new process task with another one's argv and cwd;
``limits`` lists the limits in force (kernel/limits.py); ``log_file`` is the path of a
task's whole log, for a download.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, cast

from executive.kernel.errors import BadParamsError, NotAllowedError
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
        """Start a new process task with ``ref``'s argv and cwd.

        Raises:
            NotAllowedError: ``ref`` is an agent or VM task (they start through agent.run and vm.load).
        """
        row = self.ex.task_info(ref)
        if row["kind"] != "process" or row["argv"] is None:
            raise NotAllowedError(
                f"task {row['id']} is a {row['kind']} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        new = await self.ex.task_run(list(row["argv"]), name=name, cwd=row["cwd"], session_id=session_id)
        return cast(TaskRestarted, {**new, "restart_of": row["id"]})

    def limits(self) -> DaemonLimits:
        """The limits in force."""
        return dataclasses.asdict(self.ex.limits)

    def log_file(self, ref: int | str, stream: str) -> Path:
        """The file holding ``stream`` of a task's output (it may not exist yet).

        Raises:
            NotFoundError: no such task.  BadParamsError: ``stream`` is not stdout or stderr.
        """
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, not {stream[:20]!r}")
        return self.ex.processes.log_path(self.ex.task_id(ref), stream)
