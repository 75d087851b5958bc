"""A node dying mid-stream ends its task as node_lost with the partial log kept.

(What the killed raylet left of the task on this machine is killed by ``daemon``'s cleanup.)
"""

from __future__ import annotations

from pathlib import Path

from .conftest import Cluster
from .helpers import ON_B, daemon, log_bytes, until


async def test_killing_node_b_ends_its_task_node_lost_with_its_partial_log(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        t = await ex.task_run(
            ["sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done"], placement=ON_B
        )
        tid = t["id"]
        await until(lambda: log_bytes(tmp_path, tid).count(b"\n") >= 20, what="some output")
        local = await ex.task_run(["sleep", "0.2"])
        for p in node_b.node_b_processes():
            try:
                p.kill()
            except Exception:
                pass
        end = await ex.task_wait(tid, timeout=90)
        assert end["end_reason"] == "node_lost", end
        assert end["meta"]["node"] in end["end_detail"]
        kept = log_bytes(tmp_path, tid)
        lines = kept.splitlines()
        assert len(lines) >= 20
        assert lines[: len(lines) - 1] == [f"line {i}".encode() for i in range(1, len(lines))]  # no gap, in order
        assert ex.task_info(tid)["output_bytes"]["stdout"] == len(kept)
        assert (await ex.task_wait(local["id"], timeout=30))["exit_code"] == 0  # local work goes on
        nxt = await ex.task_run(["echo", "after"])
        assert (await ex.task_wait(nxt["id"], timeout=30))["exit_code"] == 0
