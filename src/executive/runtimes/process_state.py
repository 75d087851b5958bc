"""The life of one supervised process tree: states, events and transition tables.

Theory of operation
-------------------
A process task's supervisor (``process_supervisor.py``) is two small machines that move
independently.

**The lifecycle** (:class:`ProcessState`) follows the leader, its pipes and
its tree from spawn to the one reported end::

    SPAWNING      spawned -> RUNNING          stop, kill -> STOP_PENDING     spawn_failed -> FAILED
    STOP_PENDING  spawned -> RUNNING (the pending stop is carried out at once)   spawn_failed -> FAILED
    RUNNING       stop -> STOPPING            kill -> KILLING                exit -> LINGERING
    STOPPING      kill, grace_expired -> KILLING                             exit -> REAPING
    KILLING       kill, poll, reaped -> KILLING                              exit -> REAPING
    LINGERING     stop, kill, linger_expired -> REAPING                      pipes_closed -> DRAINING
    REAPING       stop, kill, poll -> REAPING                                reaped -> DRAINING
    DRAINING      stop, kill -> REAPING                                      flushed -> DONE

A graceful stop (cancel, timeout, idle timeout) sends SIGTERM and SIGCONT to
the tree and waits ``grace`` for the leader; then, or at once for a kill, the
tree gets SIGKILL and a *reap poll* scans it every ``REAP_POLL_S`` (at most
``REAP_POLLS`` times) SIGKILLing whatever is left, strays that left the group
included.  Once the leader has exited and the poll is over, pipes still held
open are closed by us.  A leader that exits by itself while descendants hold
its pipes gets ``linger`` seconds before the tree is reaped the same way.
The end is reported (DONE) only when the leader has exited, both pipes are
closed and the logs hold every byte (DRAINING waits for the log writer).

Which edge a time-driven event takes is decided in one place,
``ProcessSupervisor.transition(now)``: timeout and idle timeout (-> STOP), the grace
deadline, the linger deadline and the reap poll.  Events from the OS (spawned,
exit, pipes closed, logs flushed, a reap poll's result) and from clients
(stop, kill) arrive as calls.  Every change goes through the table; a missing
edge raises the typed transition error of kernel/transitions.py.

**The output gate** (:class:`OutputGate`) says whether the pipes are read:
FLOWING normally, THROTTLED while the log writer is more than its high-water
mark behind (reading resumes below the low-water mark), and QUOTA for good once
the logs reach the task's quota or a log write failed — then the tree is
SIGSTOPped (unless it is being stopped) and the task cannot resume.  Unread
output waits in the pipe; nothing is dropped.

The two are separate because they are orthogonal: a quota-stopped task can
still be cancelled, throttled output can still linger after the leader exits.
One product machine would have ~30 states saying the same thing twice.

Rejected alternative: one asyncio task per supervisor sleeping through the
phases (the previous design).  Its state was implicit in where the coroutine
was suspended plus eight flags, so "what happens if a kill arrives during the
grace period" had no single place to read.

This module is a leaf: it imports nothing from executive.
"""

from __future__ import annotations

import enum

__all__ = [
    "ENDING",
    "GATE_TABLE",
    "LEADER_ALIVE",
    "REAP_POLLS",
    "REAP_POLL_S",
    "TABLE",
    "GateEvent",
    "OutputGate",
    "ProcessEvent",
    "ProcessState",
]

REAP_POLL_S = 0.02  # seconds between two scans of the tree while reaping it
REAP_POLLS = 50  # scans at most: a tree that survives 50 SIGKILLs is not ours to wait for


class ProcessState(enum.Enum):
    SPAWNING = "spawning"  # the OS is starting the leader; no pid yet, nothing to signal
    STOP_PENDING = "stop_pending"  # a cancel/kill arrived during the spawn; carried out once there is a pid
    RUNNING = "running"  # the leader is alive and no end has been decided (paused or not: see the kernel task)
    STOPPING = "stopping"  # SIGTERM+SIGCONT sent; waiting up to the grace period for the leader to exit
    KILLING = "killing"  # SIGKILL sent, leader still alive; the reap poll SIGKILLs what is left
    REAPING = "reaping"  # the leader has exited; the reap poll SIGKILLs what is left, then the pipes are closed
    LINGERING = "lingering"  # the leader exited by itself; descendants may hold the pipes until the linger deadline
    DRAINING = "draining"  # leader gone and pipes closed; waiting for the log writer to hold every byte
    DONE = "done"  # the end was reported once (exit code or signal, and the reason); terminal
    FAILED = "failed"  # the OS refused to start the leader; terminal, reported by the caller of start()


class ProcessEvent(enum.Enum):
    SPAWNED = "spawned"  # the OS started the leader (its pipes are connected)
    SPAWN_FAILED = "spawn_failed"  # the OS refused to start it
    STOP = "stop"  # a graceful stop: cancel, timeout or idle timeout (the reason is kept on the supervisor)
    KILL = "kill"  # SIGKILL now, no grace
    GRACE_EXPIRED = "grace_expired"  # the leader outlived the grace period after SIGTERM
    EXIT = "exit"  # the leader exited (asyncio's process_exited)
    POLL = "poll"  # one reap-poll scan found processes left and SIGKILLed them
    REAPED = "reaped"  # the reap poll is over (the tree is empty, or REAP_POLLS scans were made)
    LINGER_EXPIRED = "linger_expired"  # descendants held the pipes for longer than the linger period
    PIPES_CLOSED = "pipes_closed"  # both pipes reached EOF by themselves
    FLUSHED = "flushed"  # the logs hold every byte read


P, PE = ProcessState, ProcessEvent

# {state: {event: new_state}}: the only legal moves of a supervisor.
TABLE: dict[ProcessState, dict[ProcessEvent, ProcessState]] = {
    P.SPAWNING: {
        PE.SPAWNED: P.RUNNING,
        PE.STOP: P.STOP_PENDING,
        PE.KILL: P.STOP_PENDING,
        PE.SPAWN_FAILED: P.FAILED,
    },
    # The first stop reason is kept, except that a kill overrides a cancel.
    P.STOP_PENDING: {
        PE.SPAWNED: P.RUNNING,  # and the pending stop is carried out at once (RUNNING -> STOPPING/KILLING)
        PE.STOP: P.STOP_PENDING,
        PE.KILL: P.STOP_PENDING,
        PE.SPAWN_FAILED: P.FAILED,
    },
    P.RUNNING: {PE.STOP: P.STOPPING, PE.KILL: P.KILLING, PE.EXIT: P.LINGERING},
    P.STOPPING: {PE.KILL: P.KILLING, PE.GRACE_EXPIRED: P.KILLING, PE.EXIT: P.REAPING},
    P.KILLING: {PE.KILL: P.KILLING, PE.POLL: P.KILLING, PE.REAPED: P.KILLING, PE.EXIT: P.REAPING},
    # A stop that arrives after the leader exited records its reason and joins the reaping.
    P.REAPING: {PE.STOP: P.REAPING, PE.KILL: P.REAPING, PE.POLL: P.REAPING, PE.REAPED: P.DRAINING},
    P.LINGERING: {
        PE.STOP: P.REAPING,
        PE.KILL: P.REAPING,
        PE.LINGER_EXPIRED: P.REAPING,
        PE.PIPES_CLOSED: P.DRAINING,
    },
    # Pipes are closed but the log writer is behind: a cancel still decides the reported reason,
    # and reaps whatever is left of the tree (descendants that closed their pipes).
    P.DRAINING: {PE.STOP: P.REAPING, PE.KILL: P.REAPING, PE.FLUSHED: P.DONE},
    P.DONE: {},
    P.FAILED: {},
}

LEADER_ALIVE = frozenset({P.RUNNING, P.STOPPING, P.KILLING})  # states whose tree scan includes the leader's pid
ENDING = frozenset({P.STOPPING, P.KILLING, P.REAPING})  # states in which the tree is being stopped


class OutputGate(enum.Enum):
    FLOWING = "flowing"  # the pipes are read as data arrives
    THROTTLED = "throttled"  # reading paused: the log writer is more than HIGH_WATER bytes behind
    QUOTA = "quota"  # reading stopped: quota reached (until it is raised) or a log write failed; tree SIGSTOPped


class GateEvent(enum.Enum):
    BACKLOG = "backlog"  # the writer fell more than HIGH_WATER bytes behind
    CAUGHT_UP = "caught_up"  # the writer is back under LOW_WATER bytes
    QUOTA = "quota"  # the logs reached the quota, or a log write failed
    RAISED = "raised"  # the quota was raised above what the logs hold (never after a failed write)


G, GE = OutputGate, GateEvent

GATE_TABLE: dict[OutputGate, dict[GateEvent, OutputGate]] = {
    G.FLOWING: {GE.BACKLOG: G.THROTTLED, GE.QUOTA: G.QUOTA},
    G.THROTTLED: {GE.CAUGHT_UP: G.FLOWING, GE.QUOTA: G.QUOTA},
    G.QUOTA: {GE.RAISED: G.FLOWING},
}
