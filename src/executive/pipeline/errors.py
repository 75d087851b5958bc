"""Typed errors of the pipeline layer, on the kernel's one error-code table.

Tree (codes in ``kernel/errors.py``)::

    ExecutiveError
    ├── BadParamsError
    │   └── PipelineInvalidError   PIPELINE_INVALID: the file is malformed; data.path names the field
    ├── NotFoundError
    │   └── RunNotFoundError       RUN_NOT_FOUND
    ├── InvalidTransitionError
    │   └── RunTransitionError     RUN_INVALID_TRANSITION: e.g. approve a run that is not waiting
    └── ServerError
        └── NondeterminismError    RUN_NONDETERMINISM: a resumed run does not replay its checkpoints
"""

from __future__ import annotations

from typing import Any

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, NotFoundError, ServerError

__all__ = ["NondeterminismError", "PipelineInvalidError", "RunNotFoundError", "RunTransitionError"]


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

    def __init__(self, run_id: int) -> None:
        super().__init__(f"no pipeline run {run_id}; `executive pipeline list` shows the runs", data={"run": run_id})


class RunTransitionError(InvalidTransitionError):
    default_code = ErrorCode.RUN_INVALID_TRANSITION


class NondeterminismError(ServerError):
    """Replay met a checkpoint that does not match what the workflow does now (dbos DBOSUnexpectedStepError)."""

    default_code = ErrorCode.RUN_NONDETERMINISM
