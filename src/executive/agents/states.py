"""States of the agents layer's records (worktrees, fix runs, agent runs) and their transition tables.

Theory of operation
-------------------
Each record is a row in SQLite whose ``state`` column holds the ``value`` of
one of these enums; the values are what users see (``executive agent
worktrees``, ``executive fix --stats``) and what old databases hold, so they
never change.  A row is inserted in its machine's initial state; every later
change of ``state`` is looked up in the machine's table through
:func:`executive.kernel.transitions.next_state` before anything is written, so
a move that is not in the table raises a typed error and changes nothing.
(The patch ledger's machine lives in ``ledger.py``, next to its transactional
store functions.)

Worktrees::

    CREATING --created--> READY --remove--> REMOVED
    CREATING --remove--> REMOVED            (creation failed, or a crash left it)

Fix runs (one iteration loop on the daemon)::

    RUNNING --green|improved|unchanged|fail|cancel--> the state of that name
    RUNNING --interrupt--> CANCELLED         (the daemon stopped during the run)

Agent runs (the follower of one agent task)::

    RUNNING --finish--> DONE                 (result parsed and stored, ok or not)
    RUNNING --follow_failed--> DONE          (following broke: a failed result is stored)
    RUNNING --lost--> LOST                   (the daemon died before the result was stored)

This module is a leaf: it imports nothing from executive.
"""

from __future__ import annotations

import enum

__all__ = [
    "AGENT_RUN_TABLE",
    "FIX_RUN_TABLE",
    "WORKTREE_TABLE",
    "AgentRunEvent",
    "AgentRunState",
    "FixRunEvent",
    "FixRunState",
    "WorktreeEvent",
    "WorktreeState",
]


class WorktreeState(enum.Enum):
    CREATING = "creating"  # row inserted, `git worktree add` and the baseline snapshot in progress
    READY = "ready"  # checked out at its baseline; usable by an agent, a validation or a fix attempt
    REMOVED = "removed"  # directory gone (an agent branch and its commits stay); final


class WorktreeEvent(enum.Enum):
    CREATED = "created"  # the checkout and its baseline commit exist
    REMOVE = "remove"  # removed on request, when its operation ended, by prune, or as a leftover


_W, _WE = WorktreeState, WorktreeEvent

WORKTREE_TABLE: dict[WorktreeState, dict[WorktreeEvent, WorktreeState]] = {
    _W.CREATING: {_WE.CREATED: _W.READY, _WE.REMOVE: _W.REMOVED},
    _W.READY: {_WE.REMOVE: _W.REMOVED},
    _W.REMOVED: {},
}


class FixRunState(enum.Enum):
    RUNNING = "running"  # the loop is iterating on this daemon
    GREEN = "green"  # the tests pass (already did, or after kept fixes); final
    IMPROVED = "improved"  # fewer failures than at the baseline, not green; final
    UNCHANGED = "unchanged"  # no kept fix lowered the failures; final
    FAILED = "failed"  # the loop could not go on (no reproducing test, an error); final
    CANCELLED = "cancelled"  # cancelled on request, or the daemon stopped during the run; final


class FixRunEvent(enum.Enum):
    GREEN = "green"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    FAIL = "fail"
    CANCEL = "cancel"  # a client cancelled it
    INTERRUPT = "interrupt"  # found still running at daemon start


_F, _FE = FixRunState, FixRunEvent

FIX_RUN_TABLE: dict[FixRunState, dict[FixRunEvent, FixRunState]] = {
    _F.RUNNING: {
        _FE.GREEN: _F.GREEN,
        _FE.IMPROVED: _F.IMPROVED,
        _FE.UNCHANGED: _F.UNCHANGED,
        _FE.FAIL: _F.FAILED,
        _FE.CANCEL: _F.CANCELLED,
        _FE.INTERRUPT: _F.CANCELLED,
    },
    _F.GREEN: {},
    _F.IMPROVED: {},
    _F.UNCHANGED: {},
    _F.FAILED: {},
    _F.CANCELLED: {},
}


class AgentRunState(enum.Enum):
    RUNNING = "running"  # the agent task is live; its output is being parsed
    DONE = "done"  # the result is stored (``ok`` says whether the agent succeeded); final
    LOST = "lost"  # the daemon died while it ran; final


class AgentRunEvent(enum.Enum):
    FINISH = "finish"  # the task ended and its result was parsed
    FOLLOW_FAILED = "follow_failed"  # following the output broke; a failed result is recorded
    LOST = "lost"  # found still running at daemon start


_A, _AE = AgentRunState, AgentRunEvent

AGENT_RUN_TABLE: dict[AgentRunState, dict[AgentRunEvent, AgentRunState]] = {
    _A.RUNNING: {_AE.FINISH: _A.DONE, _AE.FOLLOW_FAILED: _A.DONE, _AE.LOST: _A.LOST},
    _A.DONE: {},
    _A.LOST: {},
}
