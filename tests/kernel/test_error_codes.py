"""The error-code table is a wire contract: every name keeps its number, forever.

A client (the CLI, the HSX port, scripts) branches on ``error.code``; changing a
number silently breaks them.  Adding a code means adding a line here; changing
or removing one must fail this test.
"""

from __future__ import annotations

import pytest

from executive.agents.errors import GitError, PatchTransitionError
from executive.kernel.errors import (
    BadParamsError,
    ClientError,
    ErrorCode,
    ExecutiveError,
    InvalidTransitionError,
    LimitError,
    LockedError,
    NotAllowedError,
    NotFoundError,
    ServerError,
)
from executive.pipeline.errors import NondeterminismError, RunTransitionError

PINNED = {
    "PARSE_ERROR": -32700,
    "INVALID_REQUEST": -32600,
    "METHOD_NOT_FOUND": -32601,
    "INVALID_PARAMS": -32602,
    "INTERNAL_ERROR": -32603,
    "UNAUTHORIZED": 1001,
    "SESSION_NOT_FOUND": 1002,
    "SESSION_LIMIT": 1003,
    "TASK_NOT_FOUND": 1010,
    "INVALID_TRANSITION": 1011,
    "TASK_LOCKED": 1012,
    "COMMAND_NOT_ALLOWED": 1020,
    "INVALID_ARGV": 1021,
    "SPAWN_FAILED": 1022,
    "LIMIT_EXCEEDED": 1030,
    "FRAME_TOO_LARGE": 1031,
    "SUBSCRIPTION_NOT_FOUND": 1040,
    "QUOTA_REACHED": 1050,
    "PIPELINE_INVALID": 1060,
    "RUN_NOT_FOUND": 1061,
    "RUN_INVALID_TRANSITION": 1062,
    "RUN_NONDETERMINISM": 1063,
    "SERVER_ERROR": 1070,
    "PROGRAMS_INVALID": 1080,
    "PROGRAM_NOT_FOUND": 1081,
    "UNAVAILABLE": 1071,
    "HXE_INVALID": 1100,
    "APP_EXISTS": 1101,
    "METADATA_CONFLICT": 1102,
    "SYMBOLS_INVALID": 1103,
    "NOT_A_VM_TASK": 1104,
    "AGENT_UNKNOWN": 1200,
    "AGENT_NOT_USABLE": 1201,
    "AGENT_RUN_NOT_FOUND": 1202,
    "WORKTREE_NOT_FOUND": 1205,
    "WORKTREE_BUSY": 1206,
    "NOT_A_REPOSITORY": 1207,
    "GIT_FAILED": 1208,
    "PATCH_NOT_FOUND": 1210,
    "PATCH_INVALID": 1211,
    "PATCH_REFUSED": 1212,
    "PATCH_TRANSITION": 1213,
    "PATCH_DIVERGED": 1214,
    "PATTERN_NOT_FOUND": 1220,
    "PATTERN_INVALID": 1221,
    "FIX_RUN_NOT_FOUND": 1225,
}


def test_every_code_keeps_its_number() -> None:
    assert {c.name: int(c.value) for c in ErrorCode} == PINNED


def test_numbers_are_unique() -> None:
    # IntEnum would silently make a duplicate value an alias of the first name.
    assert len(ErrorCode.__members__) == len(PINNED) == len(set(PINNED.values()))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ExecutiveError, ErrorCode.INTERNAL_ERROR),
        (ClientError, ErrorCode.INVALID_PARAMS),
        (BadParamsError, ErrorCode.INVALID_PARAMS),
        (NotFoundError, ErrorCode.TASK_NOT_FOUND),
        (InvalidTransitionError, ErrorCode.INVALID_TRANSITION),
        (NotAllowedError, ErrorCode.COMMAND_NOT_ALLOWED),
        (LockedError, ErrorCode.TASK_LOCKED),
        (LimitError, ErrorCode.LIMIT_EXCEEDED),
        (ServerError, ErrorCode.SERVER_ERROR),
        (GitError, ErrorCode.GIT_FAILED),
        (PatchTransitionError, ErrorCode.PATCH_TRANSITION),
        (RunTransitionError, ErrorCode.RUN_INVALID_TRANSITION),
        (NondeterminismError, ErrorCode.RUN_NONDETERMINISM),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v.name,
)
def test_each_error_type_defaults_to_its_code(error: type[ExecutiveError], code: ErrorCode) -> None:
    assert error.default_code is code


def test_a_server_error_is_not_reported_as_a_spawn_failure() -> None:
    wire = ServerError("patch 3: could not restore a.txt exactly; check the disk and retry").to_wire()
    assert wire["code"] == 1070 and wire["code"] != ErrorCode.SPAWN_FAILED
    assert ServerError("spawn", code=ErrorCode.SPAWN_FAILED).to_wire()["code"] == 1022
