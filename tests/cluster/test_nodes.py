"""`cluster.nodes`, `executive nodes` and the NODE of each task in `executive ps` and in events, over the wire."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client, RpcError
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
            for t in (await client.call("task.list", after_id=0))["tasks"]:
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


async def test_run_on_ray_places_by_resources_or_node_prefix_and_refuses_bad_placements(
    node_b: Cluster, tmp_path: Path, e2e: Any
) -> None:
    home = tmp_path / "home"
    async with served(home, node_b.address) as (client, _):
        b = node_of((await client.call("cluster.nodes"))["nodes"], "node_b")
        r = await e2e.run_cli(home, "run", "--on", "ray", "--resources", '{"node_b": 1}', "--", "sh", "-c", "echo hi")
        assert (r.rc, r.out) == (0, "hi\n"), r.err
        r = await e2e.run_cli(home, "run", "--on", "ray", "--node", b[:10], "--", "sh", "-c", "exit 4")
        assert r.rc == 4, r.err
        rows = (await client.call("task.list", after_id=0))["tasks"]
        assert [t["meta"]["node"] for t in rows] == [b, b]
        assert rows[1]["meta"]["placement"] == {"on": "ray", "resources": {}, "node": b}

        bad = [
            (["--on", "ray", "--resources", "{CPU: 1"], 2, "--resources is not JSON"),
            (["--on", "ray", "--resources", "[1]"], 2, "must be a JSON object"),
            (["--on", "ray", "--resources", '{"CPU": -1}'], 2, "placement.resources.CPU must be a number >= 0"),
            (["--on", "ray", "--resources", '{"gpu_box": 1}'], 2, "no alive Ray node can ever satisfy"),
            (["--on", "ray", "--node", "xyz"], 2, "hex digits"),
            (["--on", "ray", "--node", "0" * 56], 2, "no Ray node"),
            (["--on", "ray", "--node", "fffffffffff0"], 2, "no node of the cluster"),
            (["--resources", '{"CPU": 1}'], 2, "need --on ray"),
            (["--on", "moon"], 2, "--on must be local or ray"),
        ]
        for args, rc, says in bad:
            r = await e2e.run_cli(home, "run", *args, "--", "true")
            assert r.rc == rc and says in r.err and "Traceback" not in r.err, (args, r.rc, r.err)
        assert len((await client.call("task.list"))["tasks"]) == 2  # nothing was created by a refused placement


async def test_agent_run_with_a_placement_runs_the_cli_on_that_node(node_b: Cluster, tmp_path: Path, e2e: Any) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    async with served(home, node_b.address) as (client, _):
        b = node_of((await client.call("cluster.nodes"))["nodes"], "node_b")
        script = 'echo "$1" > said.txt; echo done'
        task = await client.call(
            "agent.run", agent="command", bin="sh", args=["-c", script, "agent"], prompt="hello",
            cwd=str(work), placement=ON_B,
        )  # fmt: skip
        end = await client.call("task.wait", task=task["id"], timeout=60)
        assert end["kind"] == "agent" and end["exit_code"] == 0 and end["meta"]["node"] == b
        assert (work / "said.txt").read_text() == "hello\n"
        with pytest.raises(RpcError, match="worktree=true needs the agent to run here"):
            await client.call(
                "agent.run", agent="command", bin="sh", prompt="x", cwd=str(work), placement=ON_B, worktree=True
            )
        with pytest.raises(RpcError, match=r'placement\.on must be "local" or "ray"'):
            await client.call("agent.run", agent="command", bin="sh", prompt="x", cwd=str(work), placement={"on": "x"})
        args = ["-a", "command", "--bin", "sh", "--arg=-c", f"--arg={script}", "--arg=agent", "--cwd", str(work)]
        r = await e2e.run_cli(home, "agent", "run", *args, "--on", "ray", "--node", b[:12], "again")
        assert r.rc == 0, r.err
        assert (work / "said.txt").read_text() == "again\n"
        rows = [t for t in (await client.call("task.list", after_id=0))["tasks"] if t["kind"] == "agent"]
        assert [t["meta"].get("node") for t in rows] == [b, b]
