"""Result shapes of programs: named commands kept running under a restart policy (service/programs.py)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

__all__ = ["ProgramBrief", "ProgramInfo", "ProgramProblem", "ProgramsReloaded"]

ProgramStateName = Literal["stopped", "running", "backoff", "exited", "fatal"]
RestartPolicyName = Literal["never", "on-failure", "always"]


class ProgramBrief(TypedDict):
    """A program as the row of its latest run shows it (``task.list``, ``task.info``; ``ps``'s state suffix)."""

    name: str
    state: ProgramStateName
    restart: RestartPolicyName
    failures: int  # consecutive failed runs
    max_restarts: int
    next_in_s: float | None  # backoff: seconds until the next run
    reason: str | None  # why it is in its state (fatal: why it gave up)


class ProgramInfo(ProgramBrief):
    """One program (``programs.list``, ``programs.start``, ``programs.stop``)."""

    source: Literal["run", "file"]  # `run --restart` or the programs file
    argv: list[str]
    cwd: str
    env_keys: list[str]  # the names of the variables it adds (the values stay in the daemon)
    autostart: bool
    backoff_base: float
    backoff_max: float
    reset_after: float
    runs: int  # runs started so far
    task: int | None  # the latest run's task id
    updated: float


class ProgramProblem(TypedDict):
    program: str
    message: str


class ProgramsReloaded(TypedDict):
    """``programs.reload``: what changed, like ``supervisorctl update``."""

    source: str  # the programs file read
    added: list[str]  # new programs (started unless autostart is false)
    removed: list[str]  # programs no longer in the file (stopped)
    changed: list[str]  # programs whose definition changed (restarted)
    unchanged: list[str]
    errors: list[ProgramProblem]  # programs the daemon could not start (the rest of the reload stands)
