"""States of a pipeline run, the events that move it, and the transition table.

Theory of operation
-------------------
A run is a replayable workflow (see ``engine.py``).  Its lifecycle is small and
explicit: every change of ``RunState`` goes through one lookup in
``RUN_TRANSITIONS``; a miss raises ``RunTransitionError`` (in ``errors.py``)
naming the run, its state and the attempted event, and nothing changes.

::

    PENDING --START--> RUNNING --PASS--> PASSED
                         |  ^  \\--FAIL--> FAILED
          WAIT_APPROVAL  |  |  APPROVED
                         v  |
                   WAITING_APPROVAL
    RUNNING/PENDING --INTERRUPT--> INTERRUPTED --RESUME--> RUNNING
    any live state --CANCEL--> CANCELLED --RESUME--> RUNNING
    PASSED/FAILED/CANCELLED/INTERRUPTED --REWORK--> RUNNING   (resume --rework-from STEP)

A daemon that dies leaves ``RUNNING`` in the store; the next daemon turns it
into ``INTERRUPTED`` at start (as the kernel turns live tasks into ``lost``).
``WAITING_APPROVAL`` needs no process, so the next daemon simply waits again.

This module is a leaf: it imports nothing from executive.
"""

from __future__ import annotations

import enum

__all__ = ["RUN_TRANSITIONS", "TERMINAL_STATES", "RunEvent", "RunMode", "RunState", "Verdict"]


class RunState(enum.Enum):
    PENDING = "pending"  # created and checkpointed, workflow not started yet
    RUNNING = "running"  # the workflow is executing (a step, a gate) on this daemon
    WAITING_APPROVAL = "waiting_approval"  # durable wait for `executive pipeline approve RUN PHASE`
    INTERRUPTED = "interrupted"  # the daemon stopped or died mid-run; `pipeline resume` continues it
    PASSED = "passed"  # every phase passed its exit gate (terminal)
    FAILED = "failed"  # a gate failed for good, or a step could not run (terminal; rework-from can restart)
    CANCELLED = "cancelled"  # a client cancelled it (resume re-runs the step that was cut off)


class RunEvent(enum.Enum):
    START = "start"
    WAIT_APPROVAL = "wait_approval"
    APPROVED = "approved"
    PASS = "pass"
    FAIL = "fail"
    CANCEL = "cancel"
    INTERRUPT = "interrupt"
    RESUME = "resume"
    REWORK = "rework"


_S, _E = RunState, RunEvent

# {state: {event: new_state}} — the only legal moves of a run.
RUN_TRANSITIONS: dict[RunState, dict[RunEvent, RunState]] = {
    _S.PENDING: {_E.START: _S.RUNNING, _E.CANCEL: _S.CANCELLED, _E.INTERRUPT: _S.INTERRUPTED},
    _S.RUNNING: {
        _E.WAIT_APPROVAL: _S.WAITING_APPROVAL,
        _E.PASS: _S.PASSED,
        _E.FAIL: _S.FAILED,
        _E.CANCEL: _S.CANCELLED,
        _E.INTERRUPT: _S.INTERRUPTED,
    },
    _S.WAITING_APPROVAL: {_E.APPROVED: _S.RUNNING, _E.CANCEL: _S.CANCELLED, _E.FAIL: _S.FAILED},
    _S.INTERRUPTED: {_E.RESUME: _S.RUNNING, _E.REWORK: _S.RUNNING, _E.CANCEL: _S.CANCELLED},
    _S.PASSED: {_E.REWORK: _S.RUNNING},
    _S.FAILED: {_E.REWORK: _S.RUNNING},
    _S.CANCELLED: {_E.RESUME: _S.RUNNING, _E.REWORK: _S.RUNNING},
}

TERMINAL_STATES = frozenset({RunState.PASSED, RunState.FAILED, RunState.CANCELLED})


class Verdict(enum.Enum):
    """The outcome of one exit-gate evaluation (scoring.decide)."""

    PASSED = "passed"  # score >= the iteration's threshold
    REWORK = "rework"  # below threshold, improving, iterations left: re-run the owners of failed checks
    NOT_IMPROVING = "not_improving"  # gained less than the minimum improvement: the phase stops
    EXHAUSTED = "exhausted"  # below threshold on the last allowed iteration (phase or overall)
    BELOW = "below"  # validate mode: below the threshold, reported; validate never reworks


class RunMode(enum.Enum):
    RUN = "run"  # execute every phase: steps, gates, rework
    VALIDATE = "validate"  # score an existing project with the exit gates; run no step
    REMEDIATE = "remediate"  # validate, then run the rework steps of what fails
