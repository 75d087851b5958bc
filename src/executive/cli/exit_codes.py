"""The one table of exit codes every `executive` command uses (README "Exit codes" shows the same table).

| code    | meaning                                                                          |
|---------|----------------------------------------------------------------------------------|
| 0       | done                                                                             |
| 1       | failed: the daemon could not do it, a check or gate failed, a question declined  |
| 2       | bad input: a wrong option or value, or a request not allowed in the current state |
| 3       | no daemon runs for this home (or it stopped answering)                           |
| 4       | not found: no such task, patch, run, worktree, pattern or subscription           |
| 124     | the task timed out (``--timeout``, ``--idle-timeout``)                           |
| 127     | the task's program could not be started                                          |
| 128+N   | the task was ended by signal N                                                   |
| 130     | the task was cancelled (Ctrl-C, ``executive cancel``)                            |
| other   | ``run``, ``load --wait`` and ``hsx run`` exit with the task's own exit status    |
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR",
    "NOT_FOUND",
    "NO_DAEMON",
    "OK",
    "SIGNALLED",
    "TABLE",
    "TASK_CANCELLED",
    "TASK_NOT_STARTED",
    "TASK_TIMED_OUT",
    "USAGE",
    "for_rpc_error",
    "for_task_end",
]

OK = 0
ERROR = 1
USAGE = 2
NO_DAEMON = 3
NOT_FOUND = 4
TASK_TIMED_OUT = 124
TASK_NOT_STARTED = 127
SIGNALLED = 128  # + the signal number
TASK_CANCELLED = 130

TABLE: tuple[tuple[str, str], ...] = (
    ("0", "done"),
    ("1", "failed: the daemon could not do it, a check or gate failed, a question declined"),
    ("2", "bad input: a wrong option or value, or a request not allowed in the current state"),
    ("3", "no daemon runs for this home (or it stopped answering)"),
    ("4", "not found: no such task, patch, run, worktree, pattern or subscription"),
    ("124", "the task timed out (--timeout, --idle-timeout)"),
    ("127", "the task's program could not be started"),
    ("128+N", "the task was ended by signal N"),
    ("130", "the task was cancelled (Ctrl-C, executive cancel)"),
    ("other", "run, load --wait and hsx run exit with the task's own exit status"),
)

# Daemon error codes (kernel/errors.py ErrorCode) that mean "no such thing".
_NOT_FOUND_CODES = frozenset(
    {
        1002,  # SESSION_NOT_FOUND
        1010,  # TASK_NOT_FOUND
        1040,  # SUBSCRIPTION_NOT_FOUND
        1061,  # RUN_NOT_FOUND
        1081,  # PROGRAM_NOT_FOUND
        1202,  # AGENT_RUN_NOT_FOUND
        1205,  # WORKTREE_NOT_FOUND
        1210,  # PATCH_NOT_FOUND
        1220,  # PATTERN_NOT_FOUND
        1225,  # FIX_RUN_NOT_FOUND
    }
)
# Daemon error codes below 1100 that are the daemon's (or the machine's) failure, not the request's.
_FAILURE_CODES = frozenset(
    {
        1022,  # SPAWN_FAILED
        1070,  # SERVER_ERROR
        1071,  # UNAVAILABLE
    }
)


def for_rpc_error(code: int) -> int:
    """The exit code for a daemon's JSON-RPC error ``code``."""
    if code in _NOT_FOUND_CODES:
        return NOT_FOUND
    if code in _FAILURE_CODES:
        return ERROR
    if code in (-32700, -32600, -32601, -32602) or 1000 <= code < 1100:  # a malformed or refused request
        return USAGE
    return ERROR  # the HSX, agent, patch and pipeline layers' refusals (1100 and up): it could not be done


def for_task_end(info: dict[str, Any]) -> int:
    """A foreground task's exit code, shell-style: its own status, 128+signal, 124 on a timeout,
    127 if it never started, 130 when it was cancelled (``info``: its ended event's data or row)."""
    reason = info.get("reason") or info.get("end_reason")
    if reason in ("timed_out", "idle_timeout"):
        return TASK_TIMED_OUT
    if reason == "failed":
        return TASK_NOT_STARTED
    if reason == "cancelled" and not info.get("signal") and not info.get("exit_code"):
        return TASK_CANCELLED  # interrupted, even if the task handled SIGTERM and exited 0
    if info.get("exit_code") is not None:
        return int(info["exit_code"])
    if info.get("signal"):
        return SIGNALLED + int(info["signal"])
    return 1
