"""A task's placement: where it runs (``{"on": "ray", "resources": {...}, "node": ID}``), validated without Ray.

Parsing is separate from the Ray runtime so a daemon without the ``[cluster]``
extra still rejects malformed placements with the same messages, and says how
to install the extra for well-formed ones.
"""

from __future__ import annotations

import math
import re
from typing import Any

from executive.kernel.errors import BadParamsError

__all__ = ["INSTALL_HINT", "MAX_RESOURCES", "PLACING", "feasible_nodes", "parse_placement"]

INSTALL_HINT = "install the cluster extra: pip install 'executive[cluster]'"
MAX_RESOURCES = 16
PLACING = "(placing)"  # the node key of remote tasks that wait for a node
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_NODE_ID = re.compile(r"^[0-9a-f]{56}$")


def parse_placement(value: Any) -> dict[str, Any] | None:
    """The normalized placement, or None for a local task; raises BadParamsError saying what is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadParamsError('placement must be an object, e.g. {"on": "ray", "resources": {"CPU": 1}}')
    unknown = set(value) - {"on", "resources", "node"}
    if unknown:
        raise BadParamsError(f"placement: unknown keys {sorted(unknown)}; use on, resources, node")
    on = value.get("on", "local")
    if on == "local":
        if value.get("resources") or value.get("node"):
            raise BadParamsError('placement: resources and node need "on": "ray"')
        return None
    if on != "ray":
        raise BadParamsError(f'placement.on must be "local" or "ray", got {on!r}')
    resources = value.get("resources") or {}
    if not isinstance(resources, dict) or len(resources) > MAX_RESOURCES:
        raise BadParamsError(
            f"placement.resources must be an object of at most {MAX_RESOURCES} names to amounts, "
            '{"CPU": 2, "gpu_box": 1}'
        )
    clean: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadParamsError(f"placement.resources: {name!r} is not a resource name (letters, digits, _.:-)")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount) or amount < 0:
            raise BadParamsError(f"placement.resources.{name} must be a number >= 0, got {amount!r}")
        if amount > 1 and amount != int(amount):
            raise BadParamsError(f"placement.resources.{name}: amounts above 1 must be whole numbers, got {amount}")
        clean[name] = float(amount)
    out: dict[str, Any] = {"on": "ray", "resources": clean}
    node = value.get("node")
    if node is not None:
        if not isinstance(node, str) or not _NODE_ID.match(node):
            raise BadParamsError(
                f"placement.node must be a Ray node id (56 hex digits, see `executive nodes`), got {node!r}"
            )
        out["node"] = node
    return out


def demand(placement: dict[str, Any]) -> dict[str, float]:
    """What the task asks of a node: its resources, one CPU unless it says otherwise."""
    need = dict(placement.get("resources") or {})
    need.setdefault("CPU", 1.0)
    return need


def feasible_nodes(placement: dict[str, Any], nodes: list[dict[str, Any]]) -> list[str]:
    """Ids of the alive nodes whose *total* resources could ever hold the task (busy or not)."""
    need = demand(placement)
    out = []
    for n in nodes:
        if not n.get("alive"):
            continue
        if placement.get("node") and n["node_id"] != placement["node"]:
            continue
        have = n.get("resources") or {}
        if all(have.get(k, 0.0) >= v for k, v in need.items()):
            out.append(n["node_id"])
    return out
