"""DAP message shapes the adapter sends: responses, events, errors, and its capabilities.

Kept apart from the session so the capability list — what ``initialize`` promises — sits
in one place next to nothing else; every flag set here has a handler in session.py
(a test checks that each promised request is answered).  Spec: the Debug Adapter
Protocol, https://microsoft.github.io/debug-adapter-protocol/specification.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "CAPABILITIES",
    "DapError",
    "MessageFactory",
    "Rpc",
    "format_int",
    "memory_reference",
    "parse_memory_reference",
]

#: what ``initialize`` answers: only what the adapter implements
CAPABILITIES: dict[str, Any] = {
    "supportsConfigurationDoneRequest": True,
    "supportsFunctionBreakpoints": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsLogPoints": True,
    "supportsInstructionBreakpoints": True,
    "supportsDataBreakpoints": True,
    "supportsEvaluateForHovers": True,
    "supportsSetVariable": True,
    "supportsExceptionInfoRequest": True,
    "supportsDisassembleRequest": True,
    "supportsReadMemoryRequest": True,
    "supportsWriteMemoryRequest": True,
    "supportsSteppingGranularity": True,
    # every run request acts on the one thread it names (dap/threads.py), so `singleThread` is always honoured
    "supportsSingleThreadExecutionRequests": True,
    "supportsTerminateRequest": True,
    "supportTerminateDebuggee": True,
    "supportsValueFormattingOptions": True,
    "exceptionBreakpointFilters": [],
}


class DapError(Exception):
    """A request the adapter refuses; ``message`` goes back to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MessageFactory:
    """Numbers outgoing messages (``seq``) and gives responses and events their shape."""

    def __init__(self) -> None:
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def response(self, request: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "seq": self._next(),
            "type": "response",
            "request_seq": request.get("seq", 0),
            "success": True,
            "command": request.get("command", ""),
        }
        if body is not None:
            msg["body"] = body
        return msg

    def error(self, request: dict[str, Any], message: str) -> dict[str, Any]:
        return {
            "seq": self._next(),
            "type": "response",
            "request_seq": request.get("seq", 0),
            "success": False,
            "command": request.get("command", ""),
            "message": message,
            "body": {"error": {"id": 1, "format": message.replace("{", "{{").replace("}", "}}"), "showUser": True}},
        }

    def event(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"seq": self._next(), "type": "event", "event": name}
        if body is not None:
            msg["body"] = body
        return msg


def format_int(value: int, *, hex_only: bool = False) -> str:
    """A register or memory value as shown in the Variables pane: ``0x0000002A (42)``.

    The decimal part is signed 32-bit, so -1 reads as ``0xFFFFFFFF (-1)``.
    """
    u = value & 0xFFFFFFFF
    if hex_only:
        return f"0x{u:08X}"
    signed = u - (1 << 32) if u >> 31 else u
    return f"0x{u:08X} ({signed})"


def memory_reference(address: int, task: int | None = None) -> str:
    """A DAP memory reference to a data address: ``0x4000``, or ``0x4000@3`` naming task 3
    (a session of several tasks: each has its own data memory)."""
    return f"0x{address:X}" if task is None else f"0x{address:X}@{task}"


def parse_memory_reference(ref: Any) -> tuple[int, int | None]:
    """The address and the task (None: not named) of a memory reference.

    Raises:
        DapError: not ``ADDRESS`` or ``ADDRESS@TASK`` with integer parts.
    """
    text = str(ref)
    address, _, task = text.partition("@")
    try:
        return int(address, 0), (int(task) if task else None)
    except ValueError:
        raise DapError(f"memoryReference {ref!r} is not an address") from None


class Rpc(Protocol):
    """The daemon as the adapter sees it: one JSON-RPC call (api/client.py ``Client.call``)."""

    async def call(self, method: str, **params: Any) -> Any: ...
