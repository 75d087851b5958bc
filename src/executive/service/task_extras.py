"""What the dashboard asks of tasks beyond ``task.*``: tree CPU/RSS, restart, the log file, the limits.

``Executive.task_stats`` samples the process trees of live tasks (runtimes/tree_stats.py keeps one
psutil object per pid, because CPU % is measured between two calls on the same object);
``Executive.task_restart`` starts a new process task with another task's argv and cwd;
``Executive.task_log_path`` names a task's whole log for a download; ``Executive.daemon_limits``
lists the limits in force.  Transports call those methods, never the runtime behind them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from executive.kernel.errors import BadParamsError, NotAllowedError
from executive.runtimes.process import STREAMS
from executive.runtimes.tree_stats import TreeSampler
from executive.service.results import TaskRestarted, TaskStatsResult

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["TaskExtras"]

_LIVE = ("running", "paused", "stopping")


class TaskExtras:
    """Tree sampling, restart and log files of tasks; one per daemon (it keeps the sampler's baselines)."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        self._sampler = TreeSampler()

    async def stats(self, tasks: list[int | str] | None = None, *, processes: bool = False) -> TaskStatsResult:
        """CPU % and RSS of the process trees of ``tasks`` (None: every live task with a pid)."""
        rows = [self.ex.task_info(t) for t in tasks] if tasks is not None else self.ex.task_list(limit=100000)
        leaders = {r["id"]: r["pid"] for r in rows if r["pid"] and r["state"] in _LIVE}
        sampled = await asyncio.to_thread(self._sampler.sample_many, leaders, processes=processes)
        return cast(TaskStatsResult, {"tasks": {str(k): v for k, v in sampled.items()}})

    async def restart(self, ref: int | str, *, name: str | None = None, session_id: str | None = None) -> TaskRestarted:
        """A new process task with ``ref``'s argv and cwd (``ref`` may be ended or live).

        Raises:
            NotFoundError: no such task.  NotAllowedError: an agent or VM task.
        """
        row = self.ex.task_info(ref)
        if row["kind"] != "process" or not row["argv"]:
            raise NotAllowedError(
                f"task {row['id']} is a {row['kind']} task; only process tasks can be restarted "
                "(start agents with agent.run and HSX programs with vm.load)"
            )
        new: dict[str, Any] = dict(
            await self.ex.task_run(list(row["argv"]), name=name, cwd=row["cwd"], session_id=session_id)
        )
        new["restart_of"] = row["id"]
        return cast(TaskRestarted, new)

    def log_path(self, ref: int | str, stream: str) -> Path:
        """The file holding a task's whole ``stream`` log (it may not exist yet).

        Raises:
            NotFoundError: no such task.  BadParamsError: not stdout or stderr.
        """
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
        return self.ex.processes.log_path(self.ex.task_id(ref), stream)

    def limits(self) -> dict[str, int | float]:
        return dataclasses.asdict(self.ex.limits)
