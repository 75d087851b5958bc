"""The life of one HSX program under the scheduler: states and their transition table.

Theory of operation
-------------------
A VM task is READY when it may run, RUNNING while the scheduler executes its
slice, SLEEPING until a deadline (``EXEC_SLEEP_MS``), WAITING_MBX while blocked
in a mailbox receive, PAUSED when a user, a debugger, a breakpoint or a guest
``BRK`` stopped it.  It ends once, in RETURNED (``main`` returned; status = R0),
EXITED (``TASK_EXIT``; status = R0), FAULTED (a fault; reason and PC kept — it
never re-executes, unlike the reference controller, spec hsx-vm §3.4) or KILLED.

Every move goes through :func:`next_state`; a move that is not in ``TABLE``
raises :class:`InvalidTransitionError` naming the task, the state and the event
(the lookup is kernel/transitions.py, shared by every machine).
The kernel task state is derived (:data:`KERNEL_VIEW`): the four live
scheduling states are kernel RUNNING, PAUSED is PAUSED, the rest are ENDED.
"""

from __future__ import annotations

import enum

from executive.kernel import transitions

__all__ = ["FINISHED", "HSX_NAMES", "RUNNABLE", "TABLE", "VmEvent", "VmState", "next_state"]


class VmState(enum.Enum):
    READY = "ready"  # runnable, waiting for its slice
    RUNNING = "running"  # executing its slice now
    SLEEPING = "sleeping"  # blocked until a deadline
    WAITING_MBX = "waiting_mbx"  # blocked in MAILBOX_RECV (with or without a deadline)
    PAUSED = "paused"  # stopped by a user, debugger, breakpoint or BRK; resumable
    RETURNED = "returned"  # main returned at call depth 0; exit status = R0
    EXITED = "exited"  # SVC TASK_EXIT; exit status = R0
    FAULTED = "faulted"  # a fault stopped it for good (reason, PC)
    KILLED = "killed"  # killed by a client


class VmEvent(enum.Enum):
    SCHEDULE = "schedule"  # the scheduler picks it
    PREEMPT = "preempt"  # its quantum ran out
    SLEEP = "sleep"
    BLOCK = "block"  # mailbox receive with nothing to read
    WAKE = "wake"  # deadline passed, message arrived, or receive timed out
    PAUSE = "pause"
    RESUME = "resume"  # back to READY
    RESUME_SLEEPING = "resume_sleeping"  # resumed while its sleep deadline is still ahead
    RESUME_WAITING = "resume_waiting"  # resumed while its mailbox wait is still open
    RETURN = "return"
    EXIT = "exit"
    FAULT = "fault"
    KILL = "kill"


S, E = VmState, VmEvent
_LIVE_ENDS = {E.KILL: S.KILLED}

TABLE: dict[VmState, dict[VmEvent, VmState]] = {
    S.READY: {E.SCHEDULE: S.RUNNING, E.PAUSE: S.PAUSED, **_LIVE_ENDS},
    S.RUNNING: {
        E.PREEMPT: S.READY,
        E.SLEEP: S.SLEEPING,
        E.BLOCK: S.WAITING_MBX,
        E.PAUSE: S.PAUSED,
        E.RETURN: S.RETURNED,
        E.EXIT: S.EXITED,
        E.FAULT: S.FAULTED,
        **_LIVE_ENDS,
    },
    S.SLEEPING: {E.WAKE: S.READY, E.PAUSE: S.PAUSED, **_LIVE_ENDS},
    S.WAITING_MBX: {E.WAKE: S.READY, E.PAUSE: S.PAUSED, **_LIVE_ENDS},
    # A task paused while blocked keeps its wait: if the wait resolves meanwhile (WAKE) it
    # stays paused; on resume it returns to whichever state its wait is in.
    # A debugger single-step of a paused task can end it.
    S.PAUSED: {
        E.RESUME: S.READY,
        E.RESUME_SLEEPING: S.SLEEPING,
        E.RESUME_WAITING: S.WAITING_MBX,
        E.WAKE: S.PAUSED,
        E.RETURN: S.RETURNED,
        E.EXIT: S.EXITED,
        E.FAULT: S.FAULTED,
        **_LIVE_ENDS,
    },
    S.RETURNED: {},
    S.EXITED: {},
    S.FAULTED: {},
    S.KILLED: {},
}

RUNNABLE = frozenset({S.READY, S.RUNNING})
FINISHED = frozenset({S.RETURNED, S.EXITED, S.FAULTED, S.KILLED})

# Names the HSX executive protocol uses for our states (spec hsx-executive §6.2).
HSX_NAMES = {
    S.READY: "ready",
    S.RUNNING: "running",
    S.SLEEPING: "sleeping",
    S.WAITING_MBX: "waiting_mbx",
    S.PAUSED: "paused",
    S.RETURNED: "returned",
    S.EXITED: "returned",
    S.FAULTED: "faulted",  # not in the reference's TaskState (its VM re-runs a faulting instruction)
    S.KILLED: "terminated",
}


def next_state(task_id: int, state: VmState, event: VmEvent) -> VmState:
    """The state after ``event``, or InvalidTransitionError if the table has no such edge."""
    return transitions.next_state(
        TABLE,
        state,
        event,
        machine="vm",
        subject=f"HSX task {task_id}",
        data={"task": task_id, "state": state.value, "event": event.value},
        when_final="nothing (it has finished)",
    )
