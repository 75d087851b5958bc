"""Pause, resume and cancel reach every process of a remote task, setsid grandchildren included."""

from __future__ import annotations

from pathlib import Path

import psutil

from executive.runtimes.ray_actor import process_tree

from .conftest import Cluster
from .helpers import ON_B, daemon, log_bytes, until

# The grandchild leaves the task's session (setsid) and ignores SIGTERM: only the tree walk by marker finds it.
TREE = "setsid sh -c 'trap \"\" TERM; while :; do echo tick; sleep 0.05; done' & wait"


def _marked(marker: str) -> list[psutil.Process]:
    # A host scan by marker (the nodes run on this machine): the daemon's containment holds only local tasks.
    return [psutil.Process(p) for p in process_tree(None, marker) if psutil.pid_exists(p)]


def _states(marker: str) -> set[str]:
    out = set()
    for p in _marked(marker):
        try:
            out.add(p.status())
        except psutil.NoSuchProcess:
            continue
    return out


async def test_pause_resume_cancel_reach_a_remote_setsid_grandchild(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        t = await ex.task_run(["sh", "-c", TREE], placement=ON_B)
        tid = t["id"]
        marker = ex.processes.marker(tid)
        await until(lambda: b"tick" in log_bytes(tmp_path, tid), what="first output")
        sids = {p.pid: __import__("os").getsid(p.pid) for p in _marked(marker)}
        assert len(set(sids.values())) == 2  # the grandchild really is in another session
        ex.task_pause(tid)
        await until(lambda: _states(marker) == {psutil.STATUS_STOPPED}, what="every process stopped")
        assert ex.task_info(tid)["state"] == "paused"
        ex.task_resume(tid)
        await until(lambda: psutil.STATUS_STOPPED not in _states(marker), what="every process continued")
        ex.task_cancel(tid)
        end = await ex.task_wait(tid, timeout=60)
        assert end["end_reason"] == "cancelled"
        await until(lambda: not _marked(marker), what="the whole tree gone")
        size = ex.task_info(tid)["output_bytes"]["stdout"]
        assert size == len(log_bytes(tmp_path, tid)) > 0


async def test_kill_and_timeout_end_the_remote_tree(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        a = await ex.task_run(["sh", "-c", TREE], placement=ON_B)
        b = await ex.task_run(["sh", "-c", TREE], placement={"on": "ray"}, timeout=1.5)
        await until(lambda: b"tick" in log_bytes(tmp_path, a["id"]), what="first output")
        ex.task_kill(a["id"])
        assert (await ex.task_wait(a["id"], timeout=60))["end_reason"] == "killed"
        assert (await ex.task_wait(b["id"], timeout=60))["end_reason"] == "timed_out"
        for tid in (a["id"], b["id"]):
            await until(lambda tid=tid: not _marked(ex.processes.marker(tid)), what="tree gone")
