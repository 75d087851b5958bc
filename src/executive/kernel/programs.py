"""Programs: named commands the daemon keeps running under a restart policy, and their state machine.

Theory of operation
-------------------
A *program* is a supervisor layer above the task table (supervisord's
``[program:x]``, a PM2 app): a name, the command to run (argv, cwd, env,
timeouts, log quota) and a :class:`RestartPolicy`.  Each *run* of a program is
an ordinary process task; a program never re-uses a task, it starts a new one
linked to the previous (``restart_of`` in the new task's meta), so the task
history shows every run.

A program moves through :class:`ProgramState` along the edges of
``TRANSITIONS`` (looked up with :func:`~executive.kernel.transitions.next_state`).
When a run ends, :func:`after_run` decides, from the policy, the outcome and
the count of consecutive failures, which edge to take::

    STOPPED/EXITED/FATAL --start--> RUNNING --done------> EXITED   (never; on-failure after a success)
                                    RUNNING --back_off--> BACKOFF  (restart after backoff_delay())
                                    RUNNING --give_up---> FATAL    (max_restarts+1 failures in a row)
                                    RUNNING --stop------> STOPPED  (a client cancelled the run)
                                    BACKOFF --retry-----> RUNNING  (the delay passed; a new run started)

A failure is any end but exit status 0: a non-zero status, a signal the run was
not sent by a client, a timeout, a spawn that failed.  A success, or a run that
stayed up for ``reset_after`` seconds (PM2's ``min_uptime``, supervisord's
``startsecs``), forgives the earlier failures: the count starts again at zero.
The delay before restart *n* of a failing program doubles from
``backoff_base`` up to ``backoff_max``; a program restarted after a success
(``always``) waits ``backoff_base``, so a command that exits at once cannot spin.

Everything here is pure (no clock, no I/O): the service (service/programs.py)
passes times in, applies the edges, arms the timers and persists the record.

Rejected alternative: restart policies as fields of a task.  A task ends
exactly once (kernel/tasks.py); a program outlives its runs, is stored with its
own counters, and survives a daemon restart, so it is its own machine.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from executive.kernel.errors import InvalidTransitionError
from executive.kernel.transitions import next_state

__all__ = [
    "TRANSITIONS",
    "Program",
    "ProgramEvent",
    "ProgramState",
    "RestartPolicy",
    "RestartSettings",
    "RunOutcome",
    "after_run",
    "backoff_delay",
    "give_up_reason",
]


class RestartPolicy(enum.Enum):
    NEVER = "never"  # a run that ends is not restarted
    ON_FAILURE = "on-failure"  # restart after a failure; a success (exit 0) ends the program
    ALWAYS = "always"  # restart after every end, success or failure


class ProgramState(enum.Enum):
    STOPPED = "stopped"  # no run and none due: not started yet (autostart off) or stopped by a client
    RUNNING = "running"  # a run of it is live (queued, starting, running, paused or stopping)
    BACKOFF = "backoff"  # its last run ended and the policy restarts it once the delay has passed
    EXITED = "exited"  # its last run ended and the policy does not restart it
    FATAL = "fatal"  # it failed more than max_restarts times in a row; ``reason`` says why


class ProgramEvent(enum.Enum):
    START = "start"  # a client, autostart or a reload started a run
    RETRY = "retry"  # the backoff delay passed and a new run started
    RETRY_REFUSED = "retry_refused"  # the backoff delay passed but the run could not be started (a failure)
    DONE = "done"  # a run ended and the policy does not restart it
    BACK_OFF = "back_off"  # a run ended and the policy restarts it after a delay
    GIVE_UP = "give_up"  # a run failed (or could not start) one time too many in a row
    STOP = "stop"  # a client stopped it (or cancelled its run), or it left the programs file
    INTERRUPTED = "interrupted"  # the daemon stopped while a run was live; the next daemon runs it again


_S, _E = ProgramState, ProgramEvent

# {state: {event: new_state}}: the only legal moves of a program.
TRANSITIONS: dict[ProgramState, dict[ProgramEvent, ProgramState]] = {
    _S.STOPPED: {_E.START: _S.RUNNING},
    _S.RUNNING: {
        _E.DONE: _S.EXITED,
        _E.BACK_OFF: _S.BACKOFF,
        _E.GIVE_UP: _S.FATAL,
        _E.STOP: _S.STOPPED,
        _E.INTERRUPTED: _S.BACKOFF,
    },
    _S.BACKOFF: {
        _E.RETRY: _S.RUNNING,
        _E.RETRY_REFUSED: _S.BACKOFF,
        _E.GIVE_UP: _S.FATAL,
        _E.STOP: _S.STOPPED,
    },
    _S.EXITED: {_E.START: _S.RUNNING},
    _S.FATAL: {_E.START: _S.RUNNING},
}


@dataclasses.dataclass(frozen=True, slots=True)
class RestartSettings:
    """A program's restart policy and its numbers (validated by the service against kernel/limits.py)."""

    policy: RestartPolicy = RestartPolicy.ON_FAILURE
    max_restarts: int = 5  # restarts after consecutive failures before FATAL (0: the first failure is fatal)
    backoff_base: float = 1.0  # seconds before the first restart; doubles with every further failure
    backoff_max: float = 60.0  # the delay never exceeds this
    reset_after: float = 60.0  # a run that stays up this long forgives the failures before it

    def to_dict(self) -> dict[str, Any]:
        return {
            "restart": self.policy.value,
            "max_restarts": self.max_restarts,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "reset_after": self.reset_after,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RestartSettings:
        return cls(
            policy=RestartPolicy(d.get("restart", RestartPolicy.ON_FAILURE.value)),
            max_restarts=int(d.get("max_restarts", 5)),
            backoff_base=float(d.get("backoff_base", 1.0)),
            backoff_max=float(d.get("backoff_max", 60.0)),
            reset_after=float(d.get("reset_after", 60.0)),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RunOutcome:
    """How one run ended, as :func:`after_run` needs it."""

    succeeded: bool  # exit status 0 on its own
    stopped_by_client: bool  # a client cancelled or killed it (the program stops; no restart)
    uptime: float  # seconds from start to end (0 when it never started)
    describe: str  # "exited with status 1", "killed by signal 9", "timed out", ...


def backoff_delay(settings: RestartSettings, failures: int) -> float:
    """Seconds to wait before the next run: ``base * 2**(failures-1)`` capped at ``max`` (``base`` after a success)."""
    exponent = min(max(0, failures - 1), 64)  # past 2**64 every base is beyond any max
    return min(settings.backoff_max, math.ldexp(settings.backoff_base, exponent))


def after_run(
    settings: RestartSettings, outcome: RunOutcome, failures: int, *, name: str = "NAME"
) -> tuple[ProgramEvent, int, str]:
    """The edge a program takes when its run ends, its new failure count, and the reason in words.

    Args:
        settings: the program's policy and numbers.
        outcome: how the run ended.
        failures: consecutive failed runs before this one.
        name: the program's name, for the advice in a FATAL reason.

    Returns:
        ``(event, failures, reason)``: ``event`` is DONE, BACK_OFF, GIVE_UP or STOP.
    """
    if outcome.stopped_by_client:
        return ProgramEvent.STOP, failures, f"its run was stopped by a client ({outcome.describe})"
    if outcome.succeeded or outcome.uptime >= settings.reset_after:
        failures = 0  # a success, or a run that stayed up long enough, forgives the failures before it
    if not outcome.succeeded:
        failures += 1
    policy = settings.policy
    if policy is RestartPolicy.NEVER:
        return ProgramEvent.DONE, failures, f"{outcome.describe}; restart policy never"
    if policy is RestartPolicy.ON_FAILURE and outcome.succeeded:
        return ProgramEvent.DONE, failures, f"{outcome.describe}; restart policy on-failure restarts only failures"
    if failures > settings.max_restarts:
        return ProgramEvent.GIVE_UP, failures, give_up_reason(settings, failures, outcome.describe, name)
    return ProgramEvent.BACK_OFF, failures, f"{outcome.describe}; restart {failures}/{settings.max_restarts}"


def give_up_reason(settings: RestartSettings, failures: int, last: str, name: str = "NAME") -> str:
    """Why a program is FATAL, in words a user can act on."""
    return (
        f"failed {failures} times in a row (last: {last}); gave up after max_restarts={settings.max_restarts} "
        f"restarts; fix the command, then `executive restart {name}`"
    )


@dataclasses.dataclass(slots=True)
class Program:
    """One program's record: its spec, policy, state and counters; mutable only through :meth:`apply`."""

    name: str
    source: str  # "run" (task.run with a restart policy) or "file" (the programs file)
    spec: dict[str, Any]  # argv, cwd, env, timeout, idle_timeout, quota, autostart: what each run starts with
    settings: RestartSettings
    state: ProgramState = ProgramState.STOPPED
    failures: int = 0  # consecutive failed runs (reset by a success or a long enough run)
    runs: int = 0  # runs started so far; the current run carries this number in its task meta
    task_id: int | None = None  # the latest run's task
    next_at: float | None = None  # BACKOFF: wall-clock time the next run is due
    reason: str | None = None  # why it is in its state (FATAL: why it gave up)
    created: float = 0.0
    updated: float = 0.0

    def apply(self, event: ProgramEvent) -> ProgramState:
        """Move along one edge of ``TRANSITIONS`` and return the previous state.

        Raises:
            InvalidTransitionError: no such edge; nothing changes.
        """
        new = next_state(
            TRANSITIONS,
            self.state,
            event,
            machine="program",
            subject=f"program {self.name!r}",
            data={"program": self.name, "state": self.state.value, "event": event.value},
            error=InvalidTransitionError,
        )
        prev, self.state = self.state, new
        if new is not ProgramState.BACKOFF:
            self.next_at = None
        return prev
