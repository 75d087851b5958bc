"""Result shapes of the cluster surface (``Executive.cluster_nodes``): the Ray nodes a daemon on ``--ray`` sees."""

from __future__ import annotations

from typing_extensions import TypedDict

__all__ = ["ClusterNode"]


class ClusterNode(TypedDict):
    """One Ray node (runtimes/ray_runtime.py ``RayCluster.nodes``) with the executive tasks running on it."""

    node_id: str
    alive: bool
    address: str | None
    hostname: str | None
    resources: dict[str, float]  # totals, without Ray's implicit ``node:<ip>`` entries
    tasks: list[int]
