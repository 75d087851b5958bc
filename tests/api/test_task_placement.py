"""task.run's placement over the wire on a daemon that is not on a Ray cluster: a clear error, nothing created.

(tests/cluster runs placed tasks on a real two-node cluster.)
"""

from __future__ import annotations

from typing import Any

import pytest

from executive.api.client import RpcError


async def test_a_ray_placement_without_a_cluster_says_how_to_join_one_and_creates_no_task(client: Any) -> None:
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["echo", "hi"], placement={"on": "ray", "resources": {"CPU": 1}})
    assert err.value.code == -32602
    assert "--ray" in str(err.value) or "Ray is not installed" in str(err.value)
    assert (await client.call("task.list"))["tasks"] == []


@pytest.mark.parametrize(
    ("placement", "says"),
    [
        ({"on": "mars"}, 'placement.on must be "local" or "ray"'),
        ({"on": "ray", "resources": {"CPU": -1}}, "placement.resources.CPU must be a number >= 0"),
        ({"on": "ray", "node": "n1"}, "placement.node must be a Ray node id"),
        ({"on": "ray", "gpu": 1}, "placement: unknown keys ['gpu']"),
        ({"resources": {"CPU": 1}}, 'placement: resources and node need "on": "ray"'),
    ],
)
async def test_a_malformed_placement_is_refused_with_what_was_wrong(client: Any, placement: Any, says: str) -> None:
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["echo", "hi"], placement=placement)
    assert err.value.code == -32602 and says in str(err.value)
    assert (await client.call("task.list"))["tasks"] == []


async def test_a_local_placement_runs_here(client: Any) -> None:
    row = await client.call("task.run", argv=["echo", "hi"], placement={"on": "local"})
    end = await client.call("task.wait", task=row["id"], timeout=30)
    assert end["exit_code"] == 0 and "placement" not in end["meta"]


async def test_cluster_nodes_off_a_cluster_lists_none_and_says_how_to_join(client: Any, daemon: Any, e2e: Any) -> None:
    reply = await client.call("cluster.nodes")
    assert reply == {"address": None, "nodes": [], "placing": [], "detail": reply["detail"]}
    assert "executive serve --ray ADDRESS" in reply["detail"]
    r = await e2e.run_cli(daemon.home, "nodes")
    assert r.rc == 1 and "not on a Ray cluster" in r.err and "--ray" in r.err
