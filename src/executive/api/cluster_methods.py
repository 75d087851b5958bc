"""``cluster.nodes``: the Ray cluster a daemon started with ``--ray`` runs tasks on (runtimes/placed.py).

A daemon not on a cluster answers with no nodes and a ``detail`` saying how to join one, so a
client can ask any daemon without first knowing how it was started.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from executive.api.methods import CallContext
from executive.api.rpc import Method
from executive.service.results import ClusterNodes

__all__ = ["cluster_methods"]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def _nodes(ctx: CallContext, p: NoParams) -> ClusterNodes:
    return await ctx.service.cluster_status()


def cluster_methods() -> list[Method]:
    return [
        Method(
            "cluster.nodes",
            NoParams,
            ClusterNodes,
            _nodes,
            "The Ray nodes (resources total and free, alive or dead, executive tasks on each); none off a cluster.",
        )
    ]
