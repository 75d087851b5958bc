"""The adapter's breakpoints: what the editor asked for, bound to code addresses.

Theory of operation
-------------------
DAP sends breakpoints per kind and per source as whole lists ("these are now the
breakpoints of prog.c"), each with an optional ``condition``, ``hitCondition`` and
``logMessage``.  The daemon knows only addresses (``debug.bp.*``) and watches
(``debug.watch.*``).  :class:`BreakpointBook` keeps the editor's view — one
:class:`BreakSpec` per editor breakpoint, grouped by where it came from — and answers the
two questions the session asks: which addresses must the daemon break at (the union of
every group: :meth:`BreakpointBook.addresses`), and which specs sit at the address the task
stopped at (:meth:`BreakpointBook.at`).  Several specs may share an address (a line
breakpoint and a function breakpoint on the same instruction); the task stops when any of
them wants to.

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
    address: int | None  # code address (None: not bound, or a data breakpoint)
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None
    hits: int = 0  # times the task reached it with the condition true
    watch_id: int | None = None  # data breakpoints: the daemon's watch


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

    def addresses(self) -> set[int]:
        """The code addresses the daemon must break at."""
        return {s.address for s in self._code_specs() if s.address is not None}

    def at(self, address: int) -> list[BreakSpec]:
        return [s for s in self._code_specs() if s.address == address]

    def data_spec(self, watch_id: int) -> BreakSpec | None:
        return next((s for s in self.data if s.watch_id == watch_id), None)

    def _code_specs(self) -> list[BreakSpec]:
        out = [s for specs in self.by_source.values() for s in specs]
        return out + self.functions + self.instructions
