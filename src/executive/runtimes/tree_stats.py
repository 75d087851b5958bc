"""CPU and memory of a task's process tree, for the dashboard's task table.

``psutil.Process.cpu_percent()`` measures between two calls on the *same* object, so the
sampler keeps one object per pid (and forgets pids that are gone).  Only the leader and its
descendants by ppid are counted (``ProcessOS.tree``, the task's containment, is for signals).
"""

from __future__ import annotations

from typing import Any

import psutil

__all__ = ["TreeSampler"]


class TreeSampler:
    """Samples CPU % and RSS of process trees; one per daemon."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}  # pid -> the object whose cpu_percent baseline we keep

    def _proc(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
            proc.cpu_percent(None)  # the first call only sets the baseline
        return proc

    def sample(self, leader: int, *, processes: bool = False) -> dict[str, Any]:
        """``{cpu_percent, rss, procs}`` of ``leader`` and its descendants (zeros when it is gone).

        With ``processes``, also ``processes``: one ``{pid, ppid, name, cpu_percent, rss}`` per member.
        """
        cpu = 0.0
        rss = 0
        count = 0
        try:
            root = self._proc(leader)
            members = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            self._procs.pop(leader, None)
            return {"cpu_percent": 0.0, "rss": 0, "procs": 0} | ({"processes": []} if processes else {})
        listed: list[dict[str, Any]] = []
        for member in members:
            try:
                proc = self._proc(member.pid)
                one_cpu = proc.cpu_percent(None)
                one_rss = proc.memory_info().rss
                if processes:
                    listed.append(
                        {
                            "pid": proc.pid,
                            "ppid": proc.ppid(),
                            "name": proc.name(),
                            "cpu_percent": round(one_cpu, 1),
                            "rss": one_rss,
                        }
                    )
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                self._procs.pop(member.pid, None)
                continue
            cpu += one_cpu
            rss += one_rss
            count += 1
        out: dict[str, Any] = {"cpu_percent": round(cpu, 1), "rss": rss, "procs": count}
        if processes:
            out["processes"] = listed
        return out

    def sample_many(self, leaders: dict[int, int], *, processes: bool = False) -> dict[int, dict[str, Any]]:
        """``{task id: sample}`` for ``{task id: leader pid}``; forgets processes no tree holds any more."""
        out = {task_id: self.sample(pid, processes=processes) for task_id, pid in leaders.items()}
        seen: set[int] = set()
        for pid in leaders.values():
            proc = self._procs.get(pid)
            if proc is None:
                continue
            seen.add(pid)
            try:
                seen.update(c.pid for c in proc.children(recursive=True))
            except psutil.Error:
                continue
        for pid in [p for p in self._procs if p not in seen]:
            del self._procs[pid]
        return out
