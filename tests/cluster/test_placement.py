"""Placement: by resource, by node id, and every kind of bad placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from executive.kernel.errors import BadParamsError
from executive.service import Executive

from .conftest import Cluster, node_of
from .helpers import ON_B, daemon, log_bytes, open_ex


async def test_a_task_placed_by_resource_lands_on_node_b_and_events_carry_the_node(
    node_b: Cluster, tmp_path: Path
) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        nodes = await ex.cluster_nodes()
        b = node_of(nodes, "node_b")
        sub = ex.subscribe(types=["task_state"])
        t = await ex.task_run(["sh", "-c", "echo out; echo err >&2; exit 3"], placement=ON_B)
        end = await ex.task_wait(t["id"], timeout=60)
        assert end["end_reason"] == "exited" and end["exit_code"] == 3
        assert end["meta"]["node"] == b
        assert log_bytes(tmp_path, t["id"]) == b"out\n"
        assert log_bytes(tmp_path, t["id"], "stderr") == b"err\n"
        events = [e for e in sub.drain(1000, 10**7) if e.pid == t["id"]]
        running = next(e for e in events if e.data["to"] == "running")
        ended = next(e for e in events if e.data["to"] == "ended")
        assert running.data["node"] == b and ended.data["node"] == b
        assert [
            row["meta"].get("node") for row in (await ex.task_list(after_id=0))["tasks"] if row["id"] == t["id"]
        ] == [b]


async def test_a_task_pinned_to_a_node_id_runs_there(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        nodes = await ex.cluster_nodes()
        head = next(n["node_id"] for n in nodes if n["alive"] and "node_b" not in n["resources"])
        t = await ex.task_run(["true"], placement={"on": "ray", "node": head})
        end = await ex.task_wait(t["id"], timeout=60)
        assert end["meta"]["node"] == head and end["exit_code"] == 0


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"on": "ray", "resources": {"CPU": -1}}, "must be a number >= 0"),
        ({"on": "ray", "resources": ["CPU"]}, "must be an object"),
        ({"on": "moon"}, 'must be "local" or "ray"'),
        ({"on": "ray", "node": "abc"}, "56 hex digits"),
        ({"on": "ray", "node": "0" * 56}, "no Ray node"),
        ({"on": "ray", "resources": {"gpu_box": 1}}, "no alive Ray node can ever satisfy"),
        ({"on": "ray", "resources": {"CPU": 64}}, "no alive Ray node can ever satisfy"),
    ],
)
async def test_bad_placements_are_refused_and_create_no_task(
    ray_cluster: Cluster, tmp_path: Path, placement: dict, message: str
) -> None:
    async with daemon(tmp_path, ray_cluster.address) as ex:
        before = len((await ex.task_list())["tasks"])
        with pytest.raises(BadParamsError, match=message):
            await ex.task_run(["true"], placement=placement)
        assert len((await ex.task_list())["tasks"]) == before
        local = await ex.task_run(["echo", "local"])  # the daemon keeps serving local work
        assert (await ex.task_wait(local["id"], timeout=30))["exit_code"] == 0


async def test_a_daemon_without_ray_says_how_to_join_a_cluster(tmp_path: Path) -> None:
    ex = await Executive.open(tmp_path)
    try:
        with pytest.raises(BadParamsError, match="--ray"):
            await ex.task_run(["true"], placement=ON_B)
        assert (await ex.task_list())["tasks"] == []
    finally:
        await ex.aclose()


async def test_an_unreachable_address_is_a_clear_error(ray_cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(BadParamsError, match="HOST:PORT"):
        await open_ex(tmp_path, "nowhere")
