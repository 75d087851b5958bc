"""Typed errors of the pipeline layer, on the kernel's one error-code table.

Tree (codes in ``kernel/errors.py``)::

    ExecutiveError
    ├── BadParamsError
    │   ├── PipelineInvalidError   PIPELINE_INVALID: the file is malformed; data.path names the field
    │   └── SessionExistsError     INVALID_PARAMS: `run --session NAME` when a run already has that name
    ├── NotFoundError
    │   └── RunNotFoundError       RUN_NOT_FOUND (a run id, or a session name no run has)
    ├── InvalidTransitionError
    │   └── RunTransitionError     RUN_INVALID_TRANSITION: e.g. approve a run that is not waiting
    └── ServerError
        └── NondeterminismError    RUN_NONDETERMINISM: a resumed run does not replay its checkpoints
"""

from __future__ import annotations

from typing import Any

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, NotFoundError, ServerError

__all__ = [
    "NondeterminismError",
    "PipelineInvalidError",
    "RunNotFoundError",
    "RunTransitionError",
    "SessionExistsError",
]


class PipelineInvalidError(BadParamsError):
    """A pipeline file failed to load; ``data = {"path": "phases[1].steps[0].timeout_s", "errors": [...]}``."""

    default_code = ErrorCode.PIPELINE_INVALID

    def __init__(
        self, message: str, *, path: str = "", errors: list[dict[str, Any]] | None = None, source: str = ""
    ) -> None:
        super().__init__(message, data={"path": path, "source": source, "errors": errors or []})
        self.path = path


class RunNotFoundError(NotFoundError):
    default_code = ErrorCode.RUN_NOT_FOUND

    def __init__(self, run: int | str) -> None:
        what = f"run {run}" if isinstance(run, int) else f"run named {run!r}"
        super().__init__(f"no pipeline {what}; `executive pipeline list` shows the runs", data={"run": run})


class SessionExistsError(BadParamsError):
    """Session names are unique: a second ``run --session NAME`` would make ``resume NAME`` ambiguous."""

    def __init__(self, session: str, run_id: int) -> None:
        super().__init__(
            f"session {session!r} is run {run_id} already; continue it with `executive pipeline resume {session}`, "
            "or pick another name",
            data={"session": session, "run": run_id},
        )


class RunTransitionError(InvalidTransitionError):
    default_code = ErrorCode.RUN_INVALID_TRANSITION


class NondeterminismError(ServerError):
    """Replay met a checkpoint that does not match what the workflow does now (dbos DBOSUnexpectedStepError)."""

    default_code = ErrorCode.RUN_NONDETERMINISM
