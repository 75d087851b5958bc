"""Process tasks by placement: the local runtime, or the Ray runtime for ``placement.on == "ray"``.

The service talks to one process runtime; this object is it.  A task's
placement (``task.meta["placement"]``, set by ``task.run``) chooses where it
starts; every later call (pause, stop, input, output) goes to the runtime that
holds the task.  The rest (``os``, ``marker``, ``log_path``, ``task_dir``, ``writer``) is the
local runtime's: remote tasks keep their logs in the same place.
Without a cluster (no ``--ray``, or no ``[cluster]`` extra) it is exactly the
local runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from executive.kernel.errors import BadParamsError
from executive.kernel.tasks import EndReason, Task
from executive.runtimes.logwriter import LogWriter
from executive.runtimes.output import TaskOutput
from executive.runtimes.process import ProcessRuntime, ProcessSpec, TaskHost
from executive.runtimes.process_os import ProcessOS
from executive.runtimes.ray_placement import INSTALL_HINT, PLACING

__all__ = ["PlacedRuntime", "is_remote"]


def is_remote(task: Task) -> bool:
    placement = task.meta.get("placement")
    return isinstance(placement, dict) and placement.get("on") == "ray"


class PlacedRuntime:
    """Dispatches process tasks to the local runtime or to the Ray runtime."""

    def __init__(self, host: TaskHost, local: ProcessRuntime) -> None:
        self.host = host
        self.local = local
        self.ray: Any = None  # RayRuntime once connect_ray() succeeded (imported only then)

    def __getattr__(self, name: str) -> Any:
        """Anything not dispatched below is the local runtime's (its internals too: tests look at them)."""
        return getattr(self.local, name)

    # What is the local runtime's for every task: the OS seam, log files, the log writer, the actor names.
    @property
    def instance(self) -> str:
        return self.local.instance

    @property
    def os(self) -> ProcessOS:
        return self.local.os

    @property
    def writer(self) -> LogWriter:
        return self.local.writer

    def marker(self, task_id: int) -> str:
        return self.local.marker(task_id)

    def task_dir(self, task_id: int) -> Path:
        return self.local.task_dir(task_id)

    def log_path(self, task_id: int, stream: str) -> Path:
        return self.local.log_path(task_id, stream)

    async def connect_ray(self, address: str) -> None:
        """Join a Ray cluster (``executive serve --ray``); raises a clear error if Ray is missing or unreachable."""
        from executive.runtimes.ray_runtime import RayCluster, RayRuntime

        cluster = RayCluster(address)
        await cluster.connect()
        self.ray = RayRuntime(self.host, self.local, cluster)

    def require_ray(self) -> Any:
        if self.ray is None:
            try:
                import ray  # noqa: F401
            except ImportError:
                raise BadParamsError(
                    f"this task asks for a Ray node, but Ray is not installed; {INSTALL_HINT}"
                ) from None
            raise BadParamsError(
                "this task asks for a Ray node, but the daemon is not on a cluster; start it with "
                "`executive serve --ray ADDRESS` (or --ray auto)"
            )
        return self.ray

    async def check_placement(self, placement: dict[str, Any]) -> None:
        await self.require_ray().check_placement(placement)

    def _remote(self, task: Task) -> bool:
        return self.ray is not None and task.id in self.ray.live

    async def start(self, task: Task, spec: ProcessSpec) -> None:
        if is_remote(task):
            await self.require_ray().start(task, spec)
        else:
            await self.local.start(task, spec)

    def is_live(self, task_id: int) -> bool:
        return self.local.is_live(task_id) or (self.ray is not None and task_id in self.ray.live)

    def pause(self, task: Task) -> None:
        (self.ray if self._remote(task) else self.local).pause(task)

    def resume(self, task: Task) -> None:
        (self.ray if self._remote(task) else self.local).resume(task)

    def stop(self, task: Task, reason: EndReason) -> None:
        (self.ray if self._remote(task) else self.local).stop(task, reason)

    def write_input(self, task: Task, data: bytes, eof: bool) -> None:
        # By placement, not by liveness: input to a remote task that is still being placed waits for it.
        (self.require_ray() if is_remote(task) else self.local).write_input(task, data, eof)

    async def wait_done(self, task_id: int) -> None:
        if self.ray is not None and task_id in self.ray.live:
            await self.ray.wait_done(task_id)
        else:
            await self.local.wait_done(task_id)

    def live_output(self, task_id: int) -> TaskOutput | None:
        out = self.local.live_output(task_id)
        if out is None and self.ray is not None:
            out = self.ray.live_output(task_id)
        return out

    async def reattach(self, task: Task, spec: ProcessSpec) -> str | None:
        """A remote task that was live when the previous daemon stopped: re-attach, or say why it is lost."""
        if self.ray is None:
            return (
                "the daemon restarted without --ray, so its remote actor could not be re-attached "
                "(restart with --ray to reach it: it is found by name executive:<instance>:<task>)"
            )
        result: str | None = await self.ray.reattach(task, spec)
        return result

    @property
    def cluster_address(self) -> str | None:
        """The Ray address this daemon joined (None: not on a cluster)."""
        return self.ray.cluster.address if self.ray is not None else None

    async def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes with the executive tasks on each."""
        ray = self.require_ray()
        nodes: list[dict[str, Any]] = await ray.cluster.nodes()
        on = ray.node_tasks()
        for n in nodes:
            n["tasks"] = sorted(on.get(n["node_id"], []))
        return nodes

    def placing(self) -> list[int]:
        """Remote tasks not on a node yet (waiting for one with their resources free)."""
        return sorted(self.ray.node_tasks().get(PLACING, [])) if self.ray is not None else []

    async def shutdown(self) -> None:
        """Daemon stop: local tasks are cancelled; remote ones are detached and run on (the next daemon re-attaches)."""
        if self.ray is not None:
            await self.ray.detach()
        await self.local.shutdown()
