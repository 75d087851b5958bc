"""`cluster.nodes`, `executive nodes` and the NODE of each task in `executive ps` and in events, over the wire."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from executive.api.client import Client
from executive.api.server import ServeOptions, serve

from .conftest import Cluster, node_of
from .helpers import ON_B, reap_actors


@contextlib.asynccontextmanager
async def served(home: Path, address: str) -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    """`executive serve --ray ADDRESS` in this process; its remote tasks are killed at the end, pass or fail."""
    home.mkdir(parents=True)
    ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    opts = ServeOptions(home, host="127.0.0.1", port=0, auth=True, ray=address)
    task = asyncio.ensure_future(serve(opts, on_ready=ready.set_result, stop=stop))
    done, _ = await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task in done:
        task.result()
    info = ready.result()
    client = await Client.connect(info["url"], (home / "token").read_text().strip())
    ids: list[int] = []
    try:
        yield client, info
    finally:
        with contextlib.suppress(Exception):
            for t in await client.call("task.list"):
                ids.append(t["id"])
                if t["state"] != "ended":
                    await client.call("task.kill", task=t["id"])
                    await client.call("task.wait", task=t["id"], timeout=30)
        await client.close()
        stop.set()
        await asyncio.wait_for(task, 60)
        reap_actors(hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12], ids)


async def test_nodes_lists_both_nodes_with_resources_state_and_the_tasks_on_each(
    node_b: Cluster, tmp_path: Path, e2e: Any
) -> None:
    home = tmp_path / "home"
    async with served(home, node_b.address) as (client, _):
        before = await client.call("cluster.nodes")
        assert before["address"] == node_b.address and before["detail"] == ""
        alive = [n for n in before["nodes"] if n["state"] == "alive"]
        assert len(alive) >= 2 and all(n["alive"] for n in alive)
        b = node_of(before["nodes"], "node_b")
        [nb] = [n for n in alive if n["node_id"] == b]
        assert nb["resources"]["node_b"] == 1.0 and nb["resources"]["CPU"] == 1.0 and nb["tasks"] == []

        sub = await client.call("events.subscribe", types=["task_state"])
        t = await client.call("task.run", argv=["sleep", "300"], placement=ON_B)
        tid = t["id"]
        await e2e.wait_for(lambda: _state(client, tid, "running"), timeout=60)
        local = await client.call("task.run", argv=["sleep", "300"])

        async def on_b() -> bool:
            reply = await client.call("cluster.nodes")
            [n] = [n for n in reply["nodes"] if n["node_id"] == b]
            return n["tasks"] == [tid] and n["available"].get("node_b", 0.0) == 0.0

        await e2e.wait_for(on_b, timeout=30)  # Ray reports free resources with a short delay
        now = await client.call("cluster.nodes")
        assert all(local["id"] not in n["tasks"] for n in now["nodes"])  # local tasks are on no Ray node

        r = await e2e.run_cli(home, "nodes")
        assert r.rc == 0, r.err
        assert f"cluster {node_b.address}" in r.out
        row = next(line for line in r.out.splitlines() if line.startswith(b[:12]))
        assert "alive" in row and "node_b 0/1" in row and row.rstrip().endswith(str(tid))
        r = await e2e.run_cli(home, "nodes", "--json")
        assert r.rc == 0 and f'"{b}"' in r.out

        r = await e2e.run_cli(home, "ps")
        assert r.rc == 0 and "NODE" in r.out.splitlines()[0]
        rows = {line.split()[0]: line for line in r.out.splitlines()[1:]}
        assert b[:12] in rows[str(tid)] and b[:12] not in rows[str(local["id"])]

        await client.call("task.pause", task=tid)
        await client.call("task.resume", task=tid)
        await client.call("task.kill", task=tid)
        await client.call("task.wait", task=tid, timeout=60)
        events = []
        async for ev in client.events():
            if ev["pid"] == tid:
                events.append(ev)
            if ev["pid"] == tid and ev["data"]["to"] == "ended":
                break
        assert sub["subscription"]
        assert [e["data"]["to"] for e in events if e["data"]["to"] != "queued"] == [
            "starting", "running", "paused", "running", "stopping", "ended",
        ]  # fmt: skip
        for e in events:
            if e["data"]["to"] not in ("queued", "starting"):
                assert e["data"]["node"] == b, e  # every state change once placed says where


async def _state(client: Client, tid: int, state: str) -> bool:
    return bool((await client.call("task.info", task=tid))["state"] == state)


async def test_ps_shows_no_node_column_without_remote_tasks(node_b: Cluster, tmp_path: Path, e2e: Any) -> None:
    home = tmp_path / "home"
    async with served(home, node_b.address) as (client, _):
        t = await client.call("task.run", argv=["true"])
        await client.call("task.wait", task=t["id"], timeout=30)
        r = await e2e.run_cli(home, "ps")
        assert r.rc == 0 and "NODE" not in r.out and "true" in r.out
