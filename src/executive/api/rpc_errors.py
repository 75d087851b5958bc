"""The errors a client of ``/rpc`` sees, shared by the async client and the small synchronous one."""

from __future__ import annotations

from typing import Any

__all__ = ["DaemonClosedConnection", "RpcError"]


class DaemonClosedConnection(ConnectionError):
    """The daemon closed this connection and said why (too many connections, unread replies, no token)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"the daemon closed the connection: {reason} (close code {code})")
        self.code = code
        self.reason = reason


class RpcError(Exception):
    """A JSON-RPC error reply."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data
