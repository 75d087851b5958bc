"""Result shapes of what the dashboard asks beyond ``task.*``: tree samples, restarts, the limits in force."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from executive.service.results.core import TaskRow

__all__ = ["DaemonLimits", "ProcessSample", "TaskRestarted", "TaskStatsResult", "TreeSample"]

# kernel/limits.py ``Limits`` as a plain mapping: every field is a number, and the overview lists them all.
DaemonLimits = dict[str, int | float]


class ProcessSample(TypedDict):
    """One process of a task's tree."""

    pid: int
    ppid: int
    name: str
    cpu_percent: float
    rss: int


class TreeSample(TypedDict):
    """CPU % and RSS of a task's leader and its descendants (runtimes/tree_stats.py); zeros once it is gone."""

    cpu_percent: float
    rss: int
    procs: int
    processes: NotRequired[list[ProcessSample]]  # only when asked for


class TaskStatsResult(TypedDict):
    """``task.stats``: one sample per live local task with a pid, keyed by task id (a JSON key, so a string)."""

    tasks: dict[str, TreeSample]


class TaskRestarted(TaskRow):
    """``task.restart``: the new task's row and the task whose argv and cwd it took."""

    restart_of: int
