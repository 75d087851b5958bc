"""``executive nodes``: the Ray nodes a daemon started with ``--ray`` runs tasks on."""

from __future__ import annotations

import json
from typing import Any

import typer

from executive.cli._common import EXIT_ERROR, console, fail, fitted_table, run_client

__all__ = ["nodes", "register"]


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


def register(app: typer.Typer) -> None:
    app.command("nodes")(nodes)
