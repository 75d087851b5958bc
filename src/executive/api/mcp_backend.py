"""How the MCP server reaches the daemon: JSON-RPC methods called by name.

The MCP tools never touch the service object.  Each one calls methods of the
``/rpc`` table (``task.run``, ``task.output``, ``debug.bp.add`` …) through a
:class:`McpBackend`, which has two implementations:

- :class:`DispatcherBackend`, inside the daemon (streamable HTTP at ``/mcp``):
  the very :class:`~executive.api.rpc.Dispatcher` that serves ``/rpc``, called
  in-process with a decoded request.  Params validation, the allow-list, every
  limit and the error table apply exactly as on the wire, without encoding.
- :class:`ClientBackend`, in ``executive mcp`` (stdio): the WebSocket client of
  ``api/client.py`` connected to the running daemon (or to one the command
  started itself).

Both raise :class:`BackendError` carrying the JSON-RPC error code, message and
data, so the MCP layer turns every failure into one tool error the same way.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Protocol

from executive.api.client import Client, RpcError
from executive.api.rpc import Dispatcher
from executive.kernel.errors import BadParamsError, ErrorCode

__all__ = ["BackendError", "ClientBackend", "DispatcherBackend", "McpBackend"]


class BackendError(Exception):
    """A JSON-RPC error answer (or a lost daemon), in one shape for both backends."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class McpBackend(Protocol):
    """Calls one daemon method by name; raises :class:`BackendError` on an error answer."""

    async def call(self, method: str, params: dict[str, Any]) -> Any: ...


class _McpCallContext:
    """The connection context the method handlers expect (api/methods.py ``CallContext``).

    MCP calls run without an executive session: the tools need no task locks,
    and a session held by an MCP client that vanishes would keep its locks
    until the session expires.  Event subscriptions are not offered through
    this context (the MCP tools poll; see api/mcp_resources.py).
    """

    def __init__(self, service: Any) -> None:
        self.service = service
        self.session_id: str | None = None
        self._bulk_reads = asyncio.Semaphore(2)  # as a WebSocket connection (api/connection.py)

    def add_subscription(self, sub: Any, *, binary_output: bool = False) -> None:
        raise BackendError(
            ErrorCode.INVALID_REQUEST, "event subscriptions are not available through MCP; use the resources"
        )

    def remove_subscription(self, sub_id: int) -> None:
        return None

    def send_binary(self, frame: bytes) -> None:
        raise BadParamsError('output "binary" is for /rpc WebSocket clients; read output as JSON here')

    def subscription_count(self) -> int:
        return 0

    @property
    def bulk_reads(self) -> asyncio.Semaphore:
        return self._bulk_reads


class DispatcherBackend:
    """The daemon's own dispatcher, in-process: the same validation and limits as ``/rpc``."""

    def __init__(self, dispatcher: Dispatcher, service: Any) -> None:
        self._dispatcher = dispatcher
        self._ctx = _McpCallContext(service)
        self._ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "events.subscribe":
            raise BackendError(ErrorCode.METHOD_NOT_FOUND, "events.subscribe is not available through MCP")
        msg = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        reply = await self._dispatcher.handle_message(msg, self._ctx)
        if reply is None:  # pragma: no cover - every message above carries an id
            raise BackendError(ErrorCode.INTERNAL_ERROR, f"no reply from {method}")
        if "error" in reply:
            err = reply["error"]
            raise BackendError(int(err.get("code", ErrorCode.INTERNAL_ERROR)), str(err.get("message")), err.get("data"))
        return reply["result"]


class ClientBackend:
    """A WebSocket JSON-RPC client of a daemon (``executive mcp`` over stdio)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self._client.call(method, **params)
        except RpcError as exc:
            raise BackendError(exc.code, exc.message, exc.data) from exc
        except ConnectionError as exc:
            raise BackendError(
                ErrorCode.INTERNAL_ERROR,
                f"the executive daemon went away ({exc}); restart it with `executive serve` and retry",
            ) from exc

    async def aclose(self) -> None:
        await self._client.close()
