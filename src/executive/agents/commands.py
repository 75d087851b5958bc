"""Run a user command (tests, verification) as an ordinary task and wait for its end.

Verification and test commands are user commands: they go through
``Executive.task_run``, so the allow-list applies, their output is logged and
streamed like any task's, and ``executive cancel`` stops them.  This module
only adds the waiting and the reading of the output's tail.
"""

from __future__ import annotations

import base64
import dataclasses
import shlex
from collections.abc import Callable
from typing import Any

from executive.agents.host import TaskSurface
from executive.kernel.errors import BadParamsError

__all__ = ["CommandOutcome", "output_tail", "run_command", "split_command"]


@dataclasses.dataclass(frozen=True, slots=True)
class CommandOutcome:
    task: int
    exit_code: int | None
    end_reason: str
    output: str  # the tail of stdout then stderr

    @property
    def ok(self) -> bool:
        return self.end_reason == "exited" and self.exit_code == 0

    def describe(self) -> str:
        how = f"exit {self.exit_code}" if self.end_reason == "exited" else self.end_reason
        return f"task {self.task}, {how}"


def split_command(cmd: str | list[str]) -> list[str]:
    """A command given as a string is split like a shell would (no shell runs it)."""
    if isinstance(cmd, list):
        argv = cmd
    else:
        try:
            argv = shlex.split(cmd)
        except ValueError as exc:
            raise BadParamsError(f"cannot split the command {cmd!r}: {exc}") from exc
    if not argv:
        raise BadParamsError("the command is empty")
    return argv


async def output_tail(ex: TaskSurface, task: int, limit: int) -> str:
    """The last ``limit`` bytes of stdout and of stderr (each), as text."""
    parts = []
    for stream in ("stdout", "stderr"):
        info = ex.task_info(task)
        size = info["output_bytes"][stream]
        if not size:
            continue
        r = await ex.task_output(task, stream=stream, offset=max(0, size - limit), limit=min(limit, size))
        raw = r["data"].encode() if "data" in r else base64.b64decode(r["data_b64"])
        parts.append(raw.decode("utf-8", "replace"))
    return "\n".join(parts)


async def run_command(
    ex: TaskSurface,
    argv: list[str],
    *,
    cwd: str,
    name: str,
    timeout: float | None = None,
    session_id: str | None = None,
    tail_bytes: int = 32 * 1024,
    meta: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> CommandOutcome:
    """Run ``argv`` as a task in ``cwd`` and wait for it to end (``on_start`` gets the task id first).

    Raises:
        BadParamsError, NotAllowedError, LimitError: the task could not be created.
    """
    task = await ex.task_run(
        argv,
        name=name,
        cwd=cwd,
        env=env,
        timeout=timeout or ex.limits.verify_timeout_s,
        session_id=session_id,
        meta=meta,
    )
    tid = int(task["id"])
    if on_start is not None:
        on_start(tid)
    while True:
        info = await ex.task_wait(tid, timeout=ex.limits.max_wait_s)
        if not info["timed_out"]:
            break
    return CommandOutcome(
        tid, info.get("exit_code"), info.get("end_reason") or "exited", await output_tail(ex, tid, tail_bytes)
    )
