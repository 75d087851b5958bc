"""The FastAPI app on one port: ``/rpc`` (JSON-RPC over WebSocket), ``/mcp`` (MCP), ``GET /health``, the dashboard."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI, WebSocket

from executive import __version__
from executive.api.agent_methods import agent_methods
from executive.api.ccx import CcxEndpoint, serve_ccx_socket
from executive.api.cluster_methods import cluster_methods
from executive.api.dashboard_methods import dashboard_methods
from executive.api.debug_methods import debug_methods
from executive.api.mcp import mount_mcp_http
from executive.api.mcp_backend import DispatcherBackend
from executive.api.methods import NoParams, core_methods
from executive.api.pipeline_methods import pipeline_methods
from executive.api.program_methods import program_methods
from executive.api.rpc import Dispatcher, Method, MethodDescription
from executive.api.vm_methods import vm_methods
from executive.api.web import mount_dashboard
from executive.api.ws import ConnectionCounts, serve_rpc_socket
from executive.service import Executive

__all__ = ["build_dispatcher", "create_app"]


def build_dispatcher(service: Executive, extra_methods: list[Method] | None = None) -> Dispatcher:
    methods: list[Method] = core_methods()
    methods += agent_methods()
    methods += pipeline_methods()
    methods += vm_methods()
    methods += debug_methods()
    methods += dashboard_methods()
    methods += program_methods()
    methods += cluster_methods()
    methods += extra_methods or []
    dispatcher = Dispatcher(methods, max_batch=service.limits.max_batch)
    dispatcher.methods["rpc.discover"] = Method(
        "rpc.discover",
        NoParams,
        list[MethodDescription],
        lambda c, p: dispatcher.describe(),
        "Every method with the JSON Schema of its params and of its result.",
    )
    return dispatcher


def create_app(
    service: Executive,
    *,
    token: str | None,
    extra_methods: list[Method] | None = None,
    ccx: CcxEndpoint | None = None,
) -> FastAPI:
    """Build the app around a running service; the caller owns the service's lifetime.

    ``ccx`` is shared with a ``--ccx-port`` server so both count one session limit.
    The caller also runs ``app.state.mcp.run()`` while serving (the MCP session manager's task group).
    """
    # No OpenAPI document: the HTTP side has only /health, and the RPC schema is rpc.discover behind the token.
    app = FastAPI(title="executive", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    dispatcher = build_dispatcher(service, extra_methods)
    connections = ConnectionCounts()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        out = cast(dict[str, Any], service.health())  # the /rpc reply plus what only HTTP reports
        out["version"] = __version__
        out["connections"] = connections.total
        return out

    @app.websocket("/rpc")
    async def rpc(ws: WebSocket) -> None:
        await serve_rpc_socket(ws, service, dispatcher, token, connections)

    ccx_endpoint = ccx or CcxEndpoint(service)

    @app.websocket("/ws/mcp")
    async def ws_mcp(ws: WebSocket) -> None:  # cc_executor's wire (api/ccx.py); the token like everywhere here
        await serve_ccx_socket(ws, ccx_endpoint, token=token)

    mount_dashboard(app, service, token)
    app.state.service = service
    app.state.dispatcher = dispatcher
    app.state.mcp = mount_mcp_http(app, DispatcherBackend(dispatcher, service), token)
    return app
