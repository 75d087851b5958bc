"""One table of error codes and the exception tree every transport maps from.

Every failure a client can see is an :class:`ExecutiveError` carrying an
:class:`ErrorCode`.  Transports translate it once, at their boundary: JSON-RPC
puts ``code.value`` into ``error.code``; the HSX TCP port prints the message.
Internal faults (anything that is not an ``ExecutiveError``) become
``INTERNAL_ERROR`` and send no details over the wire.

Tree (the type says whose fault it is)::

    ExecutiveError
    ├── ClientError            the request was wrong; retrying it unchanged fails again
    │   ├── BadParamsError         INVALID_PARAMS, INVALID_ARGV
    │   ├── NotFoundError          TASK_NOT_FOUND, SESSION_NOT_FOUND, SUBSCRIPTION_NOT_FOUND
    │   ├── InvalidTransitionError the task is not in a state that allows the action
    │   ├── NotAllowedError        COMMAND_NOT_ALLOWED, UNAUTHORIZED
    │   ├── LockedError            another session holds the task's control lock
    │   └── LimitError             a configured limit would be exceeded
    └── ServerError            something outside the request broke: SERVER_ERROR (default), SPAWN_FAILED,
                               UNAVAILABLE; GitError GIT_FAILED, NondeterminismError RUN_NONDETERMINISM
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "BadParamsError",
    "ClientError",
    "ErrorCode",
    "ExecutiveError",
    "InvalidTransitionError",
    "LimitError",
    "LockedError",
    "NotAllowedError",
    "NotFoundError",
    "ServerError",
]


class ErrorCode(enum.IntEnum):
    """Stable numeric codes; JSON-RPC ``error.code`` uses these values verbatim."""

    # JSON-RPC 2.0 reserved codes.
    PARSE_ERROR = -32700  # the frame was not valid JSON
    INVALID_REQUEST = -32600  # valid JSON but not a JSON-RPC 2.0 request
    METHOD_NOT_FOUND = -32601  # no such method
    INVALID_PARAMS = -32602  # params failed validation (data carries the detail)
    INTERNAL_ERROR = -32603  # a bug on our side; no details are sent
    # Application codes, grouped by concern.
    UNAUTHORIZED = 1001  # missing or wrong token
    SESSION_NOT_FOUND = 1002  # unknown, closed or expired session
    SESSION_LIMIT = 1003  # too many open sessions
    TASK_NOT_FOUND = 1010  # unknown task id or name
    INVALID_TRANSITION = 1011  # action not allowed in the task's current state
    TASK_LOCKED = 1012  # another session holds the task's control lock
    COMMAND_NOT_ALLOWED = 1020  # executable or arguments not on the allow-list
    INVALID_ARGV = 1021  # argv empty, not strings, or executable not found
    SPAWN_FAILED = 1022  # the OS refused to start the process
    LIMIT_EXCEEDED = 1030  # a limit from kernel/limits.py would be exceeded
    FRAME_TOO_LARGE = 1031  # an incoming frame exceeds the frame limit
    SUBSCRIPTION_NOT_FOUND = 1040  # unknown subscription id
    QUOTA_REACHED = 1050  # the task's log quota is used up
    PROGRAMS_INVALID = 1080  # a programs file is malformed (data.problems lists each problem with its path)
    PROGRAM_NOT_FOUND = 1081  # no program of that name
    SERVER_ERROR = 1070  # something outside the request broke (the disk, a child, a restore); the message says what
    UNAVAILABLE = 1071  # a part of the daemon the request needs is not running in this daemon
    HXE_INVALID = 1100  # an HXE image failed validation (the message names the rule)
    APP_EXISTS = 1101  # a single-instance HSX app of that name is running
    METADATA_CONFLICT = 1102  # HXE metadata clashes with registered values/commands/mailboxes
    SYMBOLS_INVALID = 1103  # a .sym file is malformed or too large
    NOT_A_VM_TASK = 1104  # a VM/debug operation on a task that is not an HSX program
    # Agents, worktrees, patches, patterns, fix loop (src/executive/agents/errors.py).
    AGENT_UNKNOWN = 1200  # no adapter of that name
    AGENT_NOT_USABLE = 1201  # the adapter's binary or configuration is missing
    AGENT_RUN_NOT_FOUND = 1202  # no agent run for that task id
    WORKTREE_NOT_FOUND = 1205  # unknown worktree id
    WORKTREE_BUSY = 1206  # a live task or operation still uses the worktree
    NOT_A_REPOSITORY = 1207  # the directory is not inside a git work tree (or has no commit)
    GIT_FAILED = 1208  # a git command failed unexpectedly
    PATCH_NOT_FOUND = 1210  # unknown patch id
    PATCH_INVALID = 1211  # the text is not a well-formed unified diff
    PATCH_REFUSED = 1212  # a path escapes the workspace, or a binary patch was not allowed
    PATCH_TRANSITION = 1213  # the patch's ledger state does not allow the action
    PATCH_DIVERGED = 1214  # the files changed since the patch was applied; rollback would lose work
    PATTERN_NOT_FOUND = 1220  # no pattern of that name
    PATTERN_INVALID = 1221  # the instance (or a user pattern file) fails its schema
    FIX_RUN_NOT_FOUND = 1225  # unknown fix-loop run id
    PIPELINE_INVALID = 1060  # a pipeline file is malformed (data.path names the bad field)
    RUN_NOT_FOUND = 1061  # unknown pipeline run id
    RUN_INVALID_TRANSITION = 1062  # action not allowed in the run's current state
    RUN_NONDETERMINISM = 1063  # a resumed run does not replay its checkpoints (code changed under it)


class ExecutiveError(Exception):
    """Base of every error a client may see.

    Args:
        message: what was expected, what was found, and what to do.
        code: the stable code; subclasses give a default.
        data: optional JSON-safe detail (ids, the offending value).
    """

    default_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member for this error."""
        err: dict[str, Any] = {"code": int(self.code), "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ClientError(ExecutiveError):
    """The request was wrong; the same request will fail again."""

    default_code = ErrorCode.INVALID_PARAMS


class BadParamsError(ClientError):
    default_code = ErrorCode.INVALID_PARAMS


class NotFoundError(ClientError):
    default_code = ErrorCode.TASK_NOT_FOUND


class InvalidTransitionError(ClientError):
    """A state machine has no edge for the event in its current state (see kernel/transitions.py)."""

    default_code = ErrorCode.INVALID_TRANSITION
    # Set by kernel.transitions.next_state on a table miss; None when raised by hand.
    machine: str | None = None  # which machine refused: "task", "vm", "process", "patch", "run", ...
    state: str | None = None  # the state it was in (its wire value)
    event: str | None = None  # the event or transition that has no edge from that state


class NotAllowedError(ClientError):
    default_code = ErrorCode.COMMAND_NOT_ALLOWED


class LockedError(ClientError):
    default_code = ErrorCode.TASK_LOCKED


class LimitError(ClientError):
    default_code = ErrorCode.LIMIT_EXCEEDED


class ServerError(ExecutiveError):
    """Something outside the request broke: the OS, the disk, a child.

    The default code is the generic ``SERVER_ERROR``; a raise site that knows
    more passes its own (``SPAWN_FAILED``, ``UNAVAILABLE``) or uses a subclass
    with its own default (``GitError``, ``NondeterminismError``).
    """

    default_code = ErrorCode.SERVER_ERROR
