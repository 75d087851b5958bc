"""``executive nodes``: the Ray nodes a daemon started with ``--ray`` runs tasks on."""

from __future__ import annotations

import json
from typing import Any

import typer

from executive.api.client import Client
from executive.cli._common import EXIT_ERROR, EXIT_USAGE, console, fail, fitted_table, run_client

NODE_ID_HEX = 56  # a Ray node id: 28 bytes in hex

__all__ = [
    "node_option",
    "nodes",
    "on_option",
    "placement_option",
    "resolve_node",
    "resources_option",
]


def _amount(name: str, value: float) -> str:
    """CPU 1, memory 1.5G: whole numbers plain, byte-sized resources in G."""
    if name in ("memory", "object_store_memory"):
        return f"{value / 1024**3:.1f}G"
    return str(int(value)) if value == int(value) else f"{value:g}"


def _resources(node: dict[str, Any]) -> str:
    """``CPU 0/1 node_b 1/1``: free/total of each resource (total only for a dead node)."""
    parts = []
    for name, total in sorted(node["resources"].items(), key=lambda kv: (kv[0] != "CPU", kv[0])):
        if node["state"] == "alive":
            free = node["available"].get(name, 0.0)
            parts.append(f"{name} {_amount(name, free)}/{_amount(name, total)}")
        else:
            parts.append(f"{name} {_amount(name, total)}")
    return "  ".join(parts)


def nodes(as_json: bool = typer.Option(False, "--json", help="Print the reply of cluster.nodes as JSON.")) -> None:
    """List the Ray cluster's nodes: id, state, address, resources (free/total) and the tasks on each."""
    reply = run_client(lambda c: c.call("cluster.nodes"))
    if as_json:
        print(json.dumps(reply, indent=2))
        return
    if reply["address"] is None:
        raise fail(reply["detail"], EXIT_ERROR)
    rows = []
    for n in sorted(reply["nodes"], key=lambda n: (n["state"] != "alive", n["node_id"])):
        state = "[green]alive[/]" if n["state"] == "alive" else "[red]dead[/]"
        tasks = " ".join(str(t) for t in n["tasks"]) or "-"
        rows.append([n["node_id"][:12], state, n["address"] or "-", _resources(n), tasks])
    console.print(f"cluster {reply['address']}: {sum(n['state'] == 'alive' for n in reply['nodes'])} alive")
    console.print(fitted_table(["NODE", "STATE", "ADDRESS", "RESOURCES (free/total)", "TASKS"], rows))
    if reply["placing"]:
        waiting = " ".join(str(t) for t in reply["placing"])
        console.print(f"waiting for a node: {waiting} (see `executive ps`)")


def on_option() -> Any:
    return typer.Option("local", "--on", help="Where it runs: local, or ray (a daemon started with --ray).")


def resources_option() -> Any:
    return typer.Option(
        None,
        "--resources",
        help='With --on ray: what a node must have free, as JSON, e.g. \'{"CPU": 2, "gpu_box": 1}\'.',
    )


def node_option() -> Any:
    return typer.Option(
        None, "--node", help="With --on ray: run on this node (its id, or a unique prefix from `executive nodes`)."
    )


def placement_option(on: str, resources: str | None, node: str | None) -> dict[str, Any] | None:
    """The ``placement`` of ``--on/--resources/--node`` (None: here); a usage error says what was wrong.

    The daemon checks the rest (names, amounts, that some node could ever hold it) with the same messages
    as over the wire.
    """
    if on not in ("local", "ray"):
        raise fail(f"--on must be local or ray, got {on!r}", EXIT_USAGE)
    if on == "local":
        if resources is not None or node is not None:
            raise fail("--resources and --node need --on ray", EXIT_USAGE)
        return None
    out: dict[str, Any] = {"on": "ray"}
    if resources is not None:
        try:
            parsed = json.loads(resources)
        except ValueError as exc:
            raise fail(
                f'--resources is not JSON ({exc}); write e.g. \'{{"CPU": 2, "gpu_box": 1}}\'', EXIT_USAGE
            ) from None
        if not isinstance(parsed, dict):
            raise fail(
                f'--resources must be a JSON object of names to amounts, e.g. {{"CPU": 2}}; got {resources}', EXIT_USAGE
            )
        out["resources"] = parsed
    if node is not None:
        node = node.strip().lower()
        if not node or any(c not in "0123456789abcdef" for c in node) or len(node) > NODE_ID_HEX:
            raise fail(
                f"--node must be a node id or a prefix of one (hex digits, see `executive nodes`), got {node!r}",
                EXIT_USAGE,
            )
        out["node"] = node
    return out


async def resolve_node(client: Client, placement: dict[str, Any]) -> dict[str, Any]:
    """Expand a node id prefix (as `executive nodes` prints it) to the one node id it names."""
    prefix = placement.get("node")
    if prefix is None or len(prefix) == NODE_ID_HEX:
        return placement
    reply = await client.call("cluster.nodes")
    if reply["address"] is None:
        raise fail(reply["detail"], EXIT_ERROR)
    ids = [n["node_id"] for n in reply["nodes"] if n["node_id"].startswith(prefix)]
    if len(ids) != 1:
        what = "no node" if not ids else f"{len(ids)} nodes"
        raise fail(f"--node {prefix}: {what} of the cluster start so; `executive nodes` lists them", EXIT_USAGE)
    return {**placement, "node": ids[0]}
