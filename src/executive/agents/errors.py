"""Typed errors of the agents layer, on the kernel's one error-code table.

Tree (codes in ``kernel/errors.py``)::

    ExecutiveError
    ├── BadParamsError
    │   ├── AgentUnknownError        AGENT_UNKNOWN: no adapter of that name
    │   ├── NotARepositoryError      NOT_A_REPOSITORY: git work tree (with a commit) required
    │   ├── PatchInvalidError        PATCH_INVALID: not a well-formed unified diff (data.line)
    │   ├── PatchRefusedError        PATCH_REFUSED: path outside the workspace, binary not allowed
    │   └── PatternInvalidError      PATTERN_INVALID: instance fails its schema (data.errors[].path)
    ├── NotAllowedError
    │   └── AgentNotUsableError      AGENT_NOT_USABLE: binary missing, --version failed
    ├── NotFoundError
    │   ├── AgentRunNotFoundError    AGENT_RUN_NOT_FOUND
    │   ├── WorktreeNotFoundError    WORKTREE_NOT_FOUND
    │   ├── PatchNotFoundError       PATCH_NOT_FOUND
    │   ├── PatternNotFoundError     PATTERN_NOT_FOUND
    │   └── FixRunNotFoundError      FIX_RUN_NOT_FOUND
    ├── InvalidTransitionError
    │   ├── PatchTransitionError     PATCH_TRANSITION: the ledger state forbids the action
    │   └── PatchDivergedError       PATCH_DIVERGED: files changed since apply; rollback refused
    ├── LockedError
    │   └── WorktreeBusyError        WORKTREE_BUSY: a live task or operation uses it
    └── ServerError
        └── GitError                 GIT_FAILED: a git command failed (stderr in data)
"""

from __future__ import annotations

from typing import Any

from executive.kernel.errors import (
    BadParamsError,
    ErrorCode,
    InvalidTransitionError,
    LockedError,
    NotAllowedError,
    NotFoundError,
    ServerError,
)

__all__ = [
    "AgentNotUsableError",
    "AgentRunNotFoundError",
    "AgentUnknownError",
    "FixRunNotFoundError",
    "GitError",
    "NotARepositoryError",
    "PatchDivergedError",
    "PatchInvalidError",
    "PatchNotFoundError",
    "PatchRefusedError",
    "PatchTransitionError",
    "PatternInvalidError",
    "PatternNotFoundError",
    "WorktreeBusyError",
    "WorktreeNotFoundError",
]


class AgentUnknownError(BadParamsError):
    default_code = ErrorCode.AGENT_UNKNOWN


class AgentNotUsableError(NotAllowedError):
    default_code = ErrorCode.AGENT_NOT_USABLE


class AgentRunNotFoundError(NotFoundError):
    default_code = ErrorCode.AGENT_RUN_NOT_FOUND

    def __init__(self, task: Any) -> None:
        super().__init__(f"no agent run for task {task!r}; `executive agent runs` lists them", data={"task": task})


class NotARepositoryError(BadParamsError):
    default_code = ErrorCode.NOT_A_REPOSITORY


class GitError(ServerError):
    """A git command failed; ``data`` carries the argv (shortened), exit code and stderr tail."""

    default_code = ErrorCode.GIT_FAILED


class WorktreeNotFoundError(NotFoundError):
    default_code = ErrorCode.WORKTREE_NOT_FOUND

    def __init__(self, wt: Any) -> None:
        super().__init__(f"no worktree {wt!r}; `executive agent worktrees` lists them", data={"worktree": wt})


class WorktreeBusyError(LockedError):
    default_code = ErrorCode.WORKTREE_BUSY


class PatchInvalidError(BadParamsError):
    """The diff text is malformed; ``data = {"line": N}`` points at the first bad line (1-based)."""

    default_code = ErrorCode.PATCH_INVALID

    def __init__(self, message: str, *, line: int | None = None, patch: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"not a valid unified diff: {where}{message}", data={"line": line, "patch": patch})
        self.line = line


class PatchRefusedError(BadParamsError):
    default_code = ErrorCode.PATCH_REFUSED


class PatchNotFoundError(NotFoundError):
    default_code = ErrorCode.PATCH_NOT_FOUND

    def __init__(self, patch: Any) -> None:
        super().__init__(f"no patch {patch!r} in the ledger; `executive patch list` shows them", data={"patch": patch})


class PatchTransitionError(InvalidTransitionError):
    default_code = ErrorCode.PATCH_TRANSITION


class PatchDivergedError(InvalidTransitionError):
    default_code = ErrorCode.PATCH_DIVERGED


class PatternNotFoundError(NotFoundError):
    default_code = ErrorCode.PATTERN_NOT_FOUND

    def __init__(self, name: Any, known: list[str]) -> None:
        super().__init__(
            f"no pattern {name!r}; known patterns: {', '.join(known) or 'none'} (`executive pattern list`)",
            data={"pattern": name, "known": known},
        )


class PatternInvalidError(BadParamsError):
    """``data = {"errors": [{"path": "$.fields[0].type", "message": ...}]}``."""

    default_code = ErrorCode.PATTERN_INVALID


class FixRunNotFoundError(NotFoundError):
    default_code = ErrorCode.FIX_RUN_NOT_FOUND

    def __init__(self, run: Any) -> None:
        super().__init__(f"no fix run {run!r}; `executive fix --stats` lists recent runs", data={"run": run})
