"""The ``--ccx-port`` server: cc_executor's wire for unmodified clients, no token, loopback only (api/ccx.py).

A second uvicorn server on its own socket, sharing the daemon's :class:`CcxEndpoint`
(so one session limit covers both endpoints).  It serves the reference's paths:
``/ws/mcp``, the older ``/ws`` its stress runners use, ``/health`` and ``/healthz``
(spec/cc-executor-wire.md §1).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket

from executive.api.ccx import CcxEndpoint, serve_ccx_socket
from executive.api.listen import keep_alive
from executive.kernel.errors import BadParamsError

__all__ = ["CcxServer", "create_ccx_app", "start_ccx_server"]


def create_ccx_app(endpoint: CcxEndpoint) -> FastAPI:
    """The app of the ``--ccx-port`` server: no token, the reference's paths and health bodies."""
    app = FastAPI(title="executive cc_executor endpoint", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return endpoint.health()

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    async def mcp(ws: WebSocket) -> None:
        await serve_ccx_socket(ws, endpoint, token=None)

    app.add_api_websocket_route("/ws/mcp", mcp)
    app.add_api_websocket_route("/ws", mcp)  # the reference's older path, which its stress runners use (spec §1)
    return app


@dataclasses.dataclass
class CcxServer:
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def aclose(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, 5.0)
        except (TimeoutError, Exception):
            self.task.cancel()


async def start_ccx_server(endpoint: CcxEndpoint, *, port: int) -> CcxServer:
    """Serve the cc_executor wire without a token on 127.0.0.1:``port`` (0 = a free port).

    Loopback only, whatever ``--host`` says: unmodified clients send no token.
    Protocol pings keep going every 20 s but never time out, so a reader that
    is minutes behind keeps its link (it is alive: TCP still acknowledges).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise BadParamsError(
            f"cannot listen on 127.0.0.1:{port} for --ccx-port: {exc.strerror}; pick another port (0 = any free port)"
        ) from exc
    keep_alive(sock)
    sock.listen(512)
    sock.setblocking(False)
    config = uvicorn.Config(
        create_ccx_app(endpoint),
        log_level="warning",
        access_log=False,
        ws_max_size=endpoint.service.limits.max_frame_bytes * 4,
        ws_ping_interval=20.0,
        ws_ping_timeout=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # The daemon owns SIGINT/SIGTERM (api/server.py); this second server must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
        raise BadParamsError("the --ccx-port server stopped while starting")
    return CcxServer(port=sock.getsockname()[1], server=server, task=task)
