from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from executive.service import Executive


async def open_ex(home: Path, address: str, **kw: Any) -> Executive:
    return await Executive.open(home, ray_address=address, **kw)


@contextlib.asynccontextmanager
async def daemon(home: Path, address: str, **kw: Any) -> AsyncIterator[Executive]:
    """A daemon on the cluster whose remote tasks are killed when the block ends, whatever happened in it.

    ``aclose`` alone *detaches* remote tasks (their actors outlive the daemon, by design), so a
    test that failed half-way would leave a detached actor holding node_b's CPU for every later test.
    """
    ex = await open_ex(home, address, **kw)
    try:
        yield ex
    finally:
        ids = [t["id"] for t in (await ex.task_list(after_id=0))["tasks"]]
        try:
            await kill_remote_tasks(ex)
        finally:
            await ex.aclose()
            reap_actors(ex.processes.instance, ids)


async def kill_remote_tasks(ex: Executive) -> None:
    """Kill every live task of ``ex`` and wait (bounded) for each to end."""
    live = [t["id"] for t in (await ex.task_list(after_id=0))["tasks"] if t["state"] != "ended"]
    for tid in live:
        with contextlib.suppress(Exception):  # it may have ended in between, or still be placing
            ex.task_kill(tid)
    for tid in live:
        with contextlib.suppress(Exception):
            await ex.task_wait(tid, timeout=30)


def reap_actors(instance: str, task_ids: Sequence[int] = ()) -> list[str]:
    """Kill the detached actors a daemon on ``instance`` left behind, and what carries the markers of ``task_ids``.

    The test's last line of defence: the nodes are this machine, so the processes a killed node
    left behind (on a real dead node there are none) are found by marker like local ones.
    """
    import ray

    from executive.runtimes.ray_actor import process_tree

    killed: list[str] = []
    prefix = f"executive:{instance}:"
    named = ray.util.list_named_actors(all_namespaces=True) if ray.is_initialized() else []
    for entry in named:
        name = entry["name"] if isinstance(entry, dict) else entry
        if not name.startswith(prefix):
            continue
        with contextlib.suppress(Exception):
            actor = ray.get_actor(name, namespace="executive")
            with contextlib.suppress(Exception):
                ray.get(actor.kill.remote(), timeout=10)  # its process tree first: ray.kill ends only the actor
            ray.kill(actor)
            killed.append(name)
    for tid in task_ids:  # a host scan by marker: the daemon's containment holds only its local tasks
        for pid in process_tree(None, f"{instance}:{tid}"):  # ProcessRuntime.marker
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return killed


async def until(pred: Any, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``pred()`` until true; fail after ``timeout`` seconds (a safety net, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def log_bytes(home: Path, task_id: int, stream: str = "stdout") -> bytes:
    p = home / "tasks" / str(task_id) / f"{stream}.log"
    return p.read_bytes() if p.exists() else b""


ON_B = {"on": "ray", "resources": {"node_b": 1}}
