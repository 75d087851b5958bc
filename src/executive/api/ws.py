"""The WebSocket shell around :class:`RpcConnection`: moves frames, nothing else."""

from __future__ import annotations

import asyncio

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from executive.api.auth import token_matches
from executive.api.connection import RpcConnection
from executive.api.rpc import Dispatcher
from executive.service import Executive

__all__ = ["serve_rpc_socket"]

log = structlog.get_logger("executive.ws")


def _presented_token(ws: WebSocket) -> str | None:
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return ws.query_params.get("token")


async def serve_rpc_socket(
    ws: WebSocket, service: Executive, dispatcher: Dispatcher, token: str | None, counter: list[int]
) -> None:
    """Run one /rpc connection until the client goes away."""
    if counter[0] >= service.limits.max_connections:
        await ws.close(code=1013, reason=f"too many connections (limit {service.limits.max_connections}); retry later")
        return
    await ws.accept()
    counter[0] += 1
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    authorized = token_matches(token, _presented_token(ws))
    conn = RpcConnection(service, dispatcher, authorized=authorized, peer=peer)
    log.info("connection_open", peer=peer, authorized=authorized)
    writer = asyncio.ensure_future(_write_loop(ws, conn))
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            frame = msg.get("text")
            if frame is None:
                frame = msg.get("bytes") or b""
            await conn.receive(frame)
            if writer.done():
                break
    except WebSocketDisconnect:
        pass
    finally:
        counter[0] -= 1
        await conn.close()
        writer.cancel()
        log.info("connection_close", peer=peer, session=conn.session_id)


async def _write_loop(ws: WebSocket, conn: RpcConnection) -> None:
    try:
        while not conn.closed:
            frame = conn.next_frame()
            if frame is None:
                conn.wake.clear()
                if conn.has_output():
                    continue
                await conn.wake.wait()
                continue
            if ws.application_state != WebSocketState.CONNECTED:
                return
            await ws.send_text(frame.decode("utf-8"))
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return
