"""A daemon restart re-attaches to a running remote task; its log continues without gap or duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

from executive.service import Executive

from .conftest import Cluster
from .helpers import ON_B, log_bytes, open_ex, until

COUNT = "for i in $(seq 1 400); do echo $i; sleep 0.005; done"


async def test_a_restarted_daemon_reattaches_and_the_log_has_no_gap_or_duplicate(
    node_b: Cluster, tmp_path: Path
) -> None:
    ex = await open_ex(tmp_path, node_b.address)
    t = await ex.task_run(["sh", "-c", COUNT], placement=ON_B)
    tid = t["id"]
    await until(lambda: log_bytes(tmp_path, tid).count(b"\n") >= 10, what="some output")
    await ex.aclose()  # remote tasks are detached, not cancelled
    before = log_bytes(tmp_path, tid)
    await asyncio.sleep(0.5)  # the task runs on while no daemon watches
    ex2 = await open_ex(tmp_path, node_b.address)
    try:
        assert ex2.task_info(tid)["state"] == "running"
        end = await ex2.task_wait(tid, timeout=90)
        assert end["end_reason"] == "exited" and end["exit_code"] == 0
        got = log_bytes(tmp_path, tid)
        assert got.startswith(before) and len(got) > len(before)
        assert got == "".join(f"{i}\n" for i in range(1, 401)).encode()
    finally:
        await ex2.aclose()


async def test_a_task_whose_actor_is_gone_is_marked_lost_after_a_restart(node_b: Cluster, tmp_path: Path) -> None:
    import ray

    ex = await open_ex(tmp_path, node_b.address)
    t = await ex.task_run(["sleep", "30"], placement=ON_B)
    await until(lambda: ex.task_info(t["id"])["state"] == "running", what="running")
    await ex.aclose()
    ray.kill(ray.get_actor(f"executive:{ex.processes.instance}:{t['id']}", namespace="executive"))
    ex2 = await open_ex(tmp_path, node_b.address)
    try:
        info = ex2.task_info(t["id"])
        assert info["state"] == "ended" and info["end_reason"] == "lost"
        assert "actor" in info["end_detail"]
    finally:
        await ex2.aclose()


async def test_a_restart_without_ray_marks_remote_tasks_lost_and_says_why(node_b: Cluster, tmp_path: Path) -> None:
    import ray

    ex = await open_ex(tmp_path, node_b.address)
    t = await ex.task_run(["sleep", "30"], placement=ON_B)
    await until(lambda: ex.task_info(t["id"])["state"] == "running", what="running")
    await ex.aclose()
    ex2 = await Executive.open(tmp_path)
    try:
        info = ex2.task_info(t["id"])
        assert info["end_reason"] == "lost" and "--ray" in info["end_detail"]
    finally:
        await ex2.aclose()
        ray.kill(ray.get_actor(f"executive:{ex.processes.instance}:{t['id']}", namespace="executive"))
