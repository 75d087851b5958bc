"""A daemon restart re-attaches to a running remote task; its log continues without gap or duplicate.

The first daemon of each test is closed on purpose (remote tasks are detached, not cancelled), so
each test ends by killing what it started through ``reap_actors``, pass or fail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from executive.service import Executive

from .conftest import Cluster
from .helpers import ON_B, daemon, log_bytes, open_ex, reap_actors, until

COUNT = "for i in $(seq 1 400); do echo $i; sleep 0.005; done"


async def test_a_restarted_daemon_reattaches_and_the_log_has_no_gap_or_duplicate(
    node_b: Cluster, tmp_path: Path
) -> None:
    ex = await open_ex(tmp_path, node_b.address)
    tid = -1
    try:
        t = await ex.task_run(["sh", "-c", COUNT], placement=ON_B)
        tid = t["id"]
        await until(lambda: log_bytes(tmp_path, tid).count(b"\n") >= 10, what="some output")
        await ex.aclose()  # remote tasks are detached, not cancelled
        before = log_bytes(tmp_path, tid)
        await asyncio.sleep(0.5)  # the task runs on while no daemon watches
        async with daemon(tmp_path, node_b.address) as ex2:
            assert ex2.task_info(tid)["state"] == "running"
            end = await ex2.task_wait(tid, timeout=90)
            assert end["end_reason"] == "exited" and end["exit_code"] == 0
            got = log_bytes(tmp_path, tid)
            assert got.startswith(before) and len(got) > len(before)
            assert got == "".join(f"{i}\n" for i in range(1, 401)).encode()
    finally:
        await ex.aclose()
        reap_actors(ex.processes.instance, [tid])


async def test_a_task_whose_actor_is_gone_is_marked_lost_after_a_restart(node_b: Cluster, tmp_path: Path) -> None:
    import ray

    ex = await open_ex(tmp_path, node_b.address)
    tid = -1
    try:
        t = await ex.task_run(["sleep", "30"], placement=ON_B)
        tid = t["id"]
        await until(lambda: ex.task_info(tid)["state"] == "running", what="running")
        await ex.aclose()
        actor = ray.get_actor(f"executive:{ex.processes.instance}:{tid}", namespace="executive")
        ray.get(actor.kill.remote(), timeout=30)  # its tree, then the actor: as if its node had ended it
        ray.kill(actor)
        async with daemon(tmp_path, node_b.address) as ex2:
            info = ex2.task_info(tid)
            assert info["state"] == "ended" and info["end_reason"] == "lost"
            assert "actor" in info["end_detail"]
    finally:
        await ex.aclose()
        reap_actors(ex.processes.instance, [tid])


async def test_a_restart_without_ray_marks_remote_tasks_lost_and_says_why(node_b: Cluster, tmp_path: Path) -> None:
    ex = await open_ex(tmp_path, node_b.address)
    tid = -1
    try:
        t = await ex.task_run(["sleep", "30"], placement=ON_B)
        tid = t["id"]
        await until(lambda: ex.task_info(tid)["state"] == "running", what="running")
        await ex.aclose()
        ex2 = await Executive.open(tmp_path)
        try:
            info = ex2.task_info(tid)
            assert info["end_reason"] == "lost" and "--ray" in info["end_detail"]
        finally:
            await ex2.aclose()
    finally:
        await ex.aclose()
        reap_actors(ex.processes.instance, [tid])
