"""Write-ahead tasks: no process runs without a durable row, and a restart kills what a crash left.

A real daemon (``executive serve``) SIGKILLs itself through the crash seam
(``EXECUTIVE_TASK_CRASH_AT=KIND:N``) right after the first task's row is committed
(``write_ahead``), or right after its process was spawned and before anything else about it
was saved (``spawned``).  The task double-forks an env-scrubbed ``setsid`` grandchild.  After
the restart the row is there, ended as ``lost``, and no process of the task survives — found
through its cgroup, which outlives the crashed daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from executive.runtimes.containment import CgroupContainment
from executive.service.tasks import TASK_CRASH_ENV


def _cgroup_possible() -> bool:
    try:
        CgroupContainment.probe("probe-write-ahead")
        return True
    except OSError:
        return False


def _alive(argv: list[str]) -> bool:
    return any(
        p.info["cmdline"] == argv and p.info["status"] != psutil.STATUS_ZOMBIE
        for p in psutil.process_iter(["cmdline", "status"])
    )


async def _until(pred: Callable[[], bool], timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.skipif(not _cgroup_possible(), reason="finding a crashed daemon's orphans needs a cgroup per task")
@pytest.mark.parametrize("point", ["write_ahead:1", "spawned:1"])
async def test_kill9_around_a_spawn_leaves_a_row_and_no_process(
    point: str, daemon_process: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"{random.randrange(10**6)}"
    stray, leader = ["sleep", f"3040.{tag}"], ["sleep", f"3041.{tag}"]
    d = daemon_process()
    monkeypatch.setenv(TASK_CRASH_ENV, point)
    d.start()
    monkeypatch.delenv(TASK_CRASH_ENV)
    c = await d.client()
    with contextlib.suppress(ConnectionError, OSError):  # the daemon dies before it replies
        await c.call("task.run", argv=["sh", "-c", f"(env -i setsid {' '.join(stray)} &); {' '.join(leader)}"])
    assert await asyncio.to_thread(d.proc.wait, 30) == -9
    with contextlib.suppress(Exception):
        await c.close()
    if point == "spawned:1":
        await _until(lambda: _alive(stray) and _alive(leader))  # the crash left them running, unsupervised

    d.start()
    c = await d.client()
    try:
        [row] = (await c.call("task.list"))["tasks"]
        assert row["argv"][0] == "sh" and row["state"] == "ended" and row["end_reason"] == "lost"
        await _until(lambda: not _alive(stray) and not _alive(leader))
        if point == "spawned:1":
            assert "killed" in row["end_detail"]
    finally:
        await c.close()
