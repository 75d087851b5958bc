"""The adapter's breakpoints: what the editor asked for, bound to code addresses.

Theory of operation
-------------------
DAP sends breakpoints per kind and per source as whole lists ("these are now the
breakpoints of prog.c"), each with an optional ``condition``, ``hitCondition`` and
``logMessage``.  The daemon knows only addresses (``debug.bp.*``) and watches
(``debug.watch.*``), per task.  :class:`BreakpointBook` keeps the editor's view — one
:class:`BreakSpec` per editor breakpoint, grouped by where it came from — and answers the
two questions the session asks: which addresses must the daemon break at in a task (the
union of every group: :meth:`BreakpointBook.addresses`), and which specs sit at the address
a task stopped at (:meth:`BreakpointBook.at`).  Several specs may share an address (a line
breakpoint and a function breakpoint on the same instruction); the task stops when any of
them wants to.

An editor breakpoint is bound in every task of the session it applies to — a line of a
source file two tasks were built from, a function both have, an instruction address (the
editor gives no task for those) — so a spec holds one address per task.  A data
breakpoint watches the memory of the one task its ``dataId`` names.

Conditions and log messages are evaluated by the daemon (``debug.eval``); the book only
counts hits and decides hit conditions, which are pure: ``N`` or ``>= N`` (from the Nth
hit on), ``== N``, ``> N``, ``< N``, ``<= N``, ``% N`` (every Nth hit).
"""

from __future__ import annotations

import dataclasses
import re

from executive.dap.protocol import DapError

__all__ = ["BreakSpec", "BreakpointBook", "hit_condition_met", "log_message_parts"]

_HIT = re.compile(r"^\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$")


@dataclasses.dataclass(slots=True)
class BreakSpec:
    """One breakpoint as the editor set it."""

    id: int  # DAP breakpoint id, unique in the session
    kind: str  # "source", "function", "instruction" or "data"
    addresses: dict[int, int]  # task pid -> code address there (empty: bound nowhere, or a data breakpoint)
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None
    hits: int = 0  # times a task reached it with the condition true (all tasks together)
    watch_id: int | None = None  # data breakpoints: the daemon's watch
    task: int | None = None  # data breakpoints: the task whose memory is watched


def hit_condition_met(text: str | None, hits: int) -> bool:
    """Whether the ``hits``-th hit stops under a hit condition (None: always).

    Raises:
        DapError: the text is not one of the supported forms.
    """
    if text is None or not text.strip():
        return True
    m = _HIT.match(text)
    if m is None:
        raise DapError(f"hit condition {text!r} is not understood; write N, >= N, == N, > N, < N, <= N or % N")
    op, n = m.group(1) or ">=", int(m.group(2))
    if op == "%":
        return n > 0 and hits % n == 0
    return {"==": hits == n, ">=": hits >= n, "<=": hits <= n, ">": hits > n, "<": hits < n}[op]


def log_message_parts(text: str) -> list[tuple[str, bool]]:
    """A log message split into literal text and ``{expression}`` parts: (text, is_expression).

    ``{{`` and ``}}`` are literal braces.
    """
    parts: list[tuple[str, bool]] = []
    buf, i = "", 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i : i + 2] in ("{{", "}}"):
            buf += c
            i += 2
            continue
        if c == "{":
            end = text.find("}", i)
            if end < 0:
                buf += text[i:]
                break
            if buf:
                parts.append((buf, False))
                buf = ""
            parts.append((text[i + 1 : end], True))
            i = end + 1
            continue
        buf += c
        i += 1
    if buf:
        parts.append((buf, False))
    return parts


class BreakpointBook:
    """Every breakpoint of the session, by origin."""

    def __init__(self) -> None:
        self._ids = 0
        self.by_source: dict[str, list[BreakSpec]] = {}  # editor path -> its line breakpoints
        self.functions: list[BreakSpec] = []
        self.instructions: list[BreakSpec] = []
        self.data: list[BreakSpec] = []

    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    def addresses(self, pid: int) -> set[int]:
        """The code addresses the daemon must break at in task ``pid``."""
        return {s.addresses[pid] for s in self._code_specs() if pid in s.addresses}

    def at(self, pid: int, address: int) -> list[BreakSpec]:
        """The specs bound at ``address`` in task ``pid``."""
        return [s for s in self._code_specs() if s.addresses.get(pid) == address]

    def data_spec(self, watch_id: int) -> BreakSpec | None:
        return next((s for s in self.data if s.watch_id == watch_id), None)

    def _code_specs(self) -> list[BreakSpec]:
        out = [s for specs in self.by_source.values() for s in specs]
        return out + self.functions + self.instructions
