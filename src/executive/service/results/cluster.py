"""Result shapes of the cluster surface (``Executive.cluster_nodes``): the Ray nodes a daemon on ``--ray`` sees."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

__all__ = ["ClusterNode", "ClusterNodes"]


class ClusterNode(TypedDict):
    """One Ray node (runtimes/ray_runtime.py ``RayCluster.nodes``) with the executive tasks running on it."""

    node_id: str
    alive: bool
    state: Literal["alive", "dead"]
    address: str | None
    hostname: str | None
    resources: dict[str, float]  # totals, without Ray's implicit ``node:<ip>`` entries
    available: dict[str, float]  # what is free now (empty for a dead node)
    tasks: list[int]  # live executive tasks on it (ids)


class ClusterNodes(TypedDict):
    """``cluster.nodes``: the cluster this daemon joined and its nodes; off a cluster, no nodes and why."""

    address: str | None  # the --ray address (None: the daemon is not on a cluster)
    nodes: list[ClusterNode]
    detail: str  # empty on a cluster; otherwise what to do to join one
    placing: list[int]  # remote tasks still waiting for a node (not on any node yet)
