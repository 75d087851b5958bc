"""cc_executor's wire, sans-I/O: frames in, requests and frames to send out (spec/cc-executor-wire.md §2).

Theory of operation
-------------------
A cc_executor connection carries JSON-RPC 2.0 objects, one per WebSocket text
frame.  :func:`parse_frame` turns one incoming frame into :class:`Request`
objects (or one error reply for a frame that is not JSON-RPC); the session in
api/ccx.py runs them against the service and turns the outcomes back into
frames with :func:`result_frame`, :func:`error_frame` and
:func:`notification_frame`.  Nothing here awaits, reads a clock or touches a
socket.

Where we part from the reference (its defects, spec §2.3 and §10):

* error codes follow JSON-RPC: parse error −32700, invalid request −32600,
  invalid params −32602 (the reference sends −32603 for all three); the codes
  the reference defines for its own situations keep their wire values
  (−32001 command not allowed, −32002 no process, −32003 session limit);
* a batch (JSON array) is answered with an array of replies in request order,
  as JSON-RPC 2.0 §6 says; the reference drops the connection instead.

:func:`shell_free_argv` is the allow-list helper: a command string the shell
would interpret exactly as :func:`shlex.split` does, split into argv; any
other string (operators, expansions, globs, redirections, comments) is None.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

import orjson

__all__ = [
    "CAPABILITIES",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "NOT_ALLOWED",
    "NO_PROCESS",
    "PARSE_ERROR",
    "PROTOCOL_VERSION",
    "SESSION_LIMIT",
    "CcxError",
    "Request",
    "batch_frame",
    "error_frame",
    "error_obj",
    "notification_frame",
    "parse_frame",
    "process_params",
    "reply_frame",
    "reply_obj",
    "result_frame",
    "shell_free_argv",
]

PROTOCOL_VERSION = "1.0.0"  # the `version` of the `connected` notification
CAPABILITIES = ["execute", "control", "stream", "detach"]  # the reference's three, plus our `detach` option

# JSON-RPC error codes on this wire (spec §2.3): the standard ones, and the reference's own wire values.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602  # also "a process is already running", as the reference sends it
INTERNAL_ERROR = -32603
NOT_ALLOWED = -32001  # the allow-list refused the command
NO_PROCESS = -32002  # control without a process
SESSION_LIMIT = -32003  # too many sessions; sent with id null before close 1008

# Characters that make a command string mean more to sh than shlex.split sees:
# operators, redirections, expansions, globs, comments, escapes, line breaks.
_SHELL_SYNTAX = frozenset(";&|<>()$`\\*?[]{}~#!\n\r")


class CcxError(Exception):
    """A request failed with a wire error code (the session turns it into an error reply)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One JSON-RPC request or notification (``has_id`` False: no reply is sent)."""

    method: str
    params: dict[str, Any]
    id: Any
    has_id: bool


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode("utf-8")


def result_frame(req_id: Any, result: Any) -> str:
    return _dumps({"jsonrpc": "2.0", "result": result, "id": req_id})


def error_obj(req_id: Any, code: int, message: str) -> dict[str, Any]:
    # The reference always sends `data: null` (spec §2).
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message, "data": None}, "id": req_id}


def error_frame(req_id: Any, code: int, message: str) -> str:
    return _dumps(error_obj(req_id, code, message))


def notification_frame(method: str, params: dict[str, Any]) -> str:
    return _dumps({"jsonrpc": "2.0", "method": method, "params": params})


def batch_frame(replies: list[dict[str, Any]] | dict[str, Any]) -> str:
    """One reply object, or the array of a batch's replies."""
    return _dumps(replies)


def reply_frame(req: Request, outcome: Any) -> str:
    return _dumps(reply_obj(req, outcome))


def reply_obj(req: Request, outcome: Any) -> dict[str, Any]:
    """The reply object of one request: its result, or the error a :class:`CcxError` outcome carries."""
    if isinstance(outcome, CcxError):
        return error_obj(req.id, outcome.code, outcome.message)
    return {"jsonrpc": "2.0", "result": outcome, "id": req.id}


def _request(obj: Any) -> Request | CcxError:
    if not isinstance(obj, dict):
        return CcxError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object")
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        return CcxError(INVALID_REQUEST, "Invalid Request: 'method' must be a non-empty string")
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return CcxError(INVALID_PARAMS, f"Invalid params for {method}: 'params' must be an object")
    return Request(method=method, params=params, id=obj.get("id"), has_id="id" in obj)


def parse_frame(frame: str | bytes, *, max_batch: int) -> tuple[list[Request | CcxError], bool] | str:
    """Decode one incoming frame.

    Returns:
        ``(items, is_batch)`` where each item is a :class:`Request` to run or a
        :class:`CcxError` to answer in its place; or a ready error frame (a
        string) when the frame as a whole is bad (not JSON, an empty or
        oversized batch), to be sent as is.
    """
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return error_frame(None, PARSE_ERROR, f"Parse error: {exc}")
    if isinstance(obj, list):
        if not obj:
            return error_frame(None, INVALID_REQUEST, "Invalid Request: empty batch")
        if len(obj) > max_batch:
            return error_frame(
                None, INVALID_REQUEST, f"Invalid Request: batch of {len(obj)} requests; at most {max_batch}"
            )
        return [_request(o) for o in obj], True
    return [_request(obj)], False


def process_params(
    status: str, pid: int | None, *, exit_code: int | None = None, error: str | None = None
) -> dict[str, Any]:
    """The params of ``process.started/paused/resumed/canceled`` (spec §2.2); a task leads its own group."""
    return {"status": status, "pid": pid, "pgid": pid, "exit_code": exit_code, "error": error}


def shell_free_argv(command: str) -> list[str] | None:
    """argv for a command string without shell syntax, else None.

    ``echo hi`` and ``ls -l "my dir"`` qualify (sh would run exactly what
    shlex.split yields); ``echo hi && id``, ``echo $(id)``, ``cat *.py`` or
    ``X=1 env`` do not.
    """
    if any(ch in _SHELL_SYNTAX for ch in command):
        return None
    try:
        argv = shlex.split(command, comments=False, posix=True)
    except ValueError:  # unbalanced quotes
        return None
    if not argv or "=" in argv[0]:  # `NAME=value cmd` is a shell assignment
        return None
    return argv
