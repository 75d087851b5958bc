"""The shared table lookup: a hit returns the new state, a miss raises the machine's typed error."""

from __future__ import annotations

import enum

import pytest

from executive.agents.errors import PatchTransitionError
from executive.kernel.errors import ErrorCode, InvalidTransitionError
from executive.kernel.transitions import can, next_state


class Door(enum.Enum):
    OPEN = "open"
    SHUT = "shut"
    GONE = "gone"


class Push(enum.Enum):
    CLOSE = "close"
    OPEN = "open"
    BURN = "burn"


TABLE = {
    Door.OPEN: {Push.CLOSE: Door.SHUT, Push.BURN: Door.GONE},
    Door.SHUT: {Push.OPEN: Door.OPEN, Push.BURN: Door.GONE},
    Door.GONE: {},
}


def test_a_hit_returns_the_new_state() -> None:
    assert next_state(TABLE, Door.OPEN, Push.CLOSE, machine="door", subject="door 1", data={}) is Door.SHUT
    assert can(TABLE, Door.SHUT, Push.OPEN) and not can(TABLE, Door.SHUT, Push.CLOSE)


def test_a_miss_names_the_machine_the_state_and_the_event() -> None:
    with pytest.raises(InvalidTransitionError) as info:
        next_state(TABLE, Door.SHUT, Push.CLOSE, machine="door", subject="door 1", data={"door": 1})
    err = info.value
    assert (err.machine, err.state, err.event) == ("door", "shut", "close")
    assert err.message == "cannot close door 1: it is shut; from shut it can only open, burn"
    assert err.code is ErrorCode.INVALID_TRANSITION and err.data == {"door": 1}


def test_a_final_state_says_so_and_the_error_type_and_template_are_the_machines() -> None:
    with pytest.raises(PatchTransitionError) as info:
        next_state(
            TABLE,
            Door.GONE,
            Push.OPEN,
            machine="door",
            subject="door 2",
            data={},
            error=PatchTransitionError,
            message="{subject} is {state}: it cannot be {event}; it can only be {allowed}",
            when_final="nothing (it burnt)",
            hint="build a new one",
        )
    assert (
        info.value.message == "door 2 is gone: it cannot be open; it can only be nothing (it burnt) (build a new one)"
    )
    assert info.value.code is ErrorCode.PATCH_TRANSITION
