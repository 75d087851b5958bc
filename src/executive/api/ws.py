"""The WebSocket shell around :class:`RpcConnection`: moves frames, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import cast

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from executive.api.auth import COOKIE_NAME, presented_token, same_origin, token_matches
from executive.api.connection import RpcConnection
from executive.api.rpc import Dispatcher
from executive.service import Executive

__all__ = ["ConnectionCounts", "serve_rpc_socket"]

log = structlog.get_logger("executive.ws")


def _presented_token(ws: WebSocket) -> str | None:
    token = presented_token(ws.headers.get("authorization"), ws.query_params.get("token"))
    if token is not None:
        return token
    cookie = ws.cookies.get(COOKIE_NAME)  # the dashboard's sign-in; only from a page of this very host
    if cookie and same_origin(ws.headers.get("origin"), ws.headers.get("host")):
        return cookie
    return None


@dataclasses.dataclass
class ConnectionCounts:
    """Open /rpc connections, in two pools so that token-less ones cannot lock out the token holders."""

    authorized: int = 0
    unauthenticated: int = 0

    @property
    def total(self) -> int:
        return self.authorized + self.unauthenticated


async def serve_rpc_socket(
    ws: WebSocket, service: Executive, dispatcher: Dispatcher, token: str | None, counts: ConnectionCounts
) -> None:
    """Run one /rpc connection until the client goes away or the daemon drops it.

    The handshake is accepted before any refusal, so a refused client reads the reason in the
    close frame (1013 "too many connections") instead of a bare HTTP 403.
    """
    lim = service.limits
    authorized = token_matches(token, _presented_token(ws))
    await ws.accept()
    if authorized and counts.authorized >= lim.max_connections:
        await ws.close(code=1013, reason=f"too many connections (limit {lim.max_connections}); retry later")
        return
    if not authorized and counts.unauthenticated >= lim.max_unauthenticated:
        await ws.close(code=1013, reason=f"too many connections without a token (limit {lim.max_unauthenticated})")
        return
    if authorized:
        counts.authorized += 1
    else:
        counts.unauthenticated += 1
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    conn = RpcConnection(service, dispatcher, authorized=authorized, peer=peer)
    log.info("connection_open", peer=peer, authorized=authorized)
    deadline = None
    if not authorized:  # it can never become authorized (the token goes with the handshake): answer, then go
        deadline = asyncio.get_running_loop().call_later(
            lim.auth_deadline_s, conn.request_close, 1008, "no valid token presented; connect with the token"
        )
    reader = asyncio.ensure_future(_read_loop(ws, conn))
    writer = asyncio.ensure_future(_write_loop(ws, conn))
    dropped = asyncio.ensure_future(conn.close_requested.wait())
    try:
        await asyncio.wait([reader, writer, dropped], return_when=asyncio.FIRST_COMPLETED)
        if conn.close_requested.is_set():
            writer.cancel()
            reader.cancel()
            with contextlib.suppress(Exception):  # the peer may be gone, or never read the close frame
                await asyncio.wait_for(ws.close(code=conn.close_code, reason=conn.close_reason), 5.0)
    finally:
        if authorized:
            counts.authorized -= 1
        else:
            counts.unauthenticated -= 1
        if deadline is not None:
            deadline.cancel()
        session = conn.session_id  # close() lets the bound session go
        await conn.close()
        for t in (reader, writer, dropped):
            t.cancel()
        await asyncio.gather(reader, writer, dropped, return_exceptions=True)
        log.info("connection_close", peer=peer, session=session, reason=conn.close_reason or None)


async def _read_loop(ws: WebSocket, conn: RpcConnection) -> None:
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            frame = msg.get("text")
            if frame is None:
                frame = msg.get("bytes") or b""
            await conn.receive(frame)
    except (WebSocketDisconnect, RuntimeError):
        return


async def _write_loop(ws: WebSocket, conn: RpcConnection) -> None:
    try:
        while not conn.closed:
            frame = await conn.next_frame()
            if frame is None:
                conn.wake.clear()
                if conn.has_output():
                    continue
                await conn.wake.wait()
                continue
            if ws.application_state != WebSocketState.CONNECTED:
                return
            if frame.binary:  # bytes, or a bytearray filled in place: uvicorn's websockets take any bytes-like
                await ws.send_bytes(cast(bytes, frame.data))
            else:
                await ws.send_text(frame.data.decode("utf-8"))
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return
