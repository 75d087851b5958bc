"""The one table lookup every state machine of executive goes through.

Theory of operation
-------------------
Each machine (kernel tasks, HSX programs, process supervisors, patches,
pipeline runs, worktrees, fix runs, agent runs) declares its states as an
``enum.Enum`` and its legal moves as a ``{state: {event: new_state}}`` table in
its own module.  :func:`next_state` is the only place that reads such a table:
a hit returns the new state, a miss raises the machine's
:class:`~executive.kernel.errors.InvalidTransitionError` subclass with
``machine``, ``state`` and ``event`` set and a message that says what was
attempted, what the state is and what *is* allowed from it.  Nothing changes
on a miss: callers compute the new state before they write anything.

Rejected alternative: one generic ``StateMachine`` base class holding the
state.  The machines keep their state in very different places (a dataclass
field, a row in SQLite updated inside a transaction, a supervisor attribute
with a logging setter), so sharing the lookup and the error is what pays;
sharing the storage would not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from executive.kernel.errors import InvalidTransitionError

__all__ = ["DEFAULT_MESSAGE", "can", "next_state"]

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)

# Placeholders: {subject} (what moves, e.g. "task 7 (job)"), {event}, {state}, {allowed}.
DEFAULT_MESSAGE = "cannot {event} {subject}: it is {state}; from {state} it can only {allowed}"


def can(table: Mapping[S, Mapping[E, S]], state: S, event: E) -> bool:
    """Whether ``table`` has an edge for ``event`` out of ``state``."""
    return event in table[state]


def next_state(
    table: Mapping[S, Mapping[E, S]],
    state: S,
    event: E,
    *,
    machine: str,
    subject: str,
    data: dict[str, Any],
    error: type[InvalidTransitionError] = InvalidTransitionError,
    message: str = DEFAULT_MESSAGE,
    when_final: str = "nothing (its state is final)",
    hint: str = "",
) -> S:
    """The state ``event`` leads to from ``state``.

    Args:
        table: the machine's ``{state: {event: new_state}}`` table.
        machine: the machine's name for logs and the error (``"task"``, ``"patch"``, ``"process"``...).
        subject: the instance in words, for the message (``"task 7 (job)"``).
        data: the JSON-safe ids and values the error carries to the client (unchanged by this function).
        error: the machine's error type (its code); an :class:`InvalidTransitionError` subclass.
        message: a format string with ``{subject}``, ``{event}``, ``{state}`` and ``{allowed}``.
        when_final: what ``{allowed}`` says when the state has no edges at all.
        hint: appended to the message as `` (hint)`` when not empty.

    Raises:
        InvalidTransitionError (``error``): no such edge; ``machine``, ``state`` and ``event`` are set on it.
    """
    try:
        return table[state][event]
    except KeyError:
        pass
    allowed = ", ".join(str(e.value) for e in table[state]) or when_final
    text = message.format(subject=subject, event=event.value, state=state.value, allowed=allowed)
    exc = error(text + (f" ({hint})" if hint else ""), data=data)
    exc.machine, exc.state, exc.event = machine, str(state.value), str(event.value)
    raise exc
