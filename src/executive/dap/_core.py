"""The state one DAP session keeps, and the helpers every part of it uses.

:class:`SessionCore` is the base of :class:`~executive.dap.session.DapSession` and of the
mixins that implement its requests by concern — breakpoints (_breakpoint_requests.py), run
control and daemon events (_run_control.py), memory and code (_memory_requests.py) — so
each file holds one concept and all of them share one set of attributes, documented here
with their invariants.  See session.py for the theory of operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from executive.dap.breakpoints import BreakpointBook, BreakSpec
from executive.dap.build import Builder
from executive.dap.protocol import DapError, MessageFactory, Rpc
from executive.dap.sources import SourceMap
from executive.dap.variables import Inspector

__all__ = ["STOP_REASONS", "Send", "SessionCore"]

Send = Callable[[dict[str, Any]], None]

#: DAP ``stopped`` reasons by the kind of breakpoint that stopped the task
STOP_REASONS = {"source": "breakpoint", "function": "function breakpoint", "instruction": "instruction breakpoint"}


class SessionCore:
    """Attributes and helpers shared by the parts of a session."""

    def __init__(self, rpc: Rpc, send: Send, *, cwd: str | None = None, builder: Builder | None = None) -> None:
        self.rpc = rpc
        self._builder = builder or Builder()  # assembles .mvasm launches (the only file writes)
        self._send = send
        self._cwd = cwd or os.getcwd()
        self.msgs = MessageFactory()
        self.closed = False  # disconnect answered: the shell ends the connection
        self.pid: int | None = None  # the debugged task
        self.name = ""
        self.launched = False  # we loaded the task (disconnect kills it by default) vs. attached
        self.book = BreakpointBook()
        self.sources = SourceMap([], self._cwd)
        self.inspector: Inspector | None = None
        self._lines: dict[str, dict[int, list[int]]] = {}  # line-table file name -> {line: addresses}
        self._generated: frozenset[int] = frozenset()
        self._has_lines = False
        self._daemon_bps: set[int] = set()  # addresses set on the daemon for the book
        self._bp_errors: dict[int, str] = {}  # address -> why the daemon refused it
        self._running = False  # since the last task_state -> running event, until a stop
        self._out_target: tuple[int, int, bool] | None = None  # (return address, depth, temporary bp added)
        self._stop_on_entry = False
        self._resume_on_config = False
        self._fault: dict[str, Any] | None = None  # the fault that ended the task (post-mortem)
        self._end: dict[str, Any] | None = None  # the task_state payload that ended it
        self._terminated = False
        self._session_opened = False
        self._after: list[dict[str, Any]] = []  # events to send after the current response

    # ------------------------------------------------------------------ plumbing
    def _event(self, name: str, body: dict[str, Any] | None = None, *, later: bool = False) -> None:
        msg = self.msgs.event(name, body)
        if later:
            self._after.append(msg)
        else:
            self._send(msg)

    def _output(self, text: str, category: str = "console") -> None:
        self._event("output", {"category": category, "output": text})

    async def _call(self, method: str, **params: Any) -> Any:
        return await self.rpc.call(method, **params)

    def _require_task(self) -> int:
        if self.pid is None:
            raise DapError("no program is being debugged; launch or attach first")
        return self.pid

    def _stopped(
        self,
        reason: str,
        *,
        later: bool = False,
        description: str | None = None,
        hit: list[int] | None = None,
        text: str | None = None,
    ) -> None:
        self._running = False
        if self.inspector is not None:
            self.inspector.reset()
        body: dict[str, Any] = {"reason": reason, "threadId": self.pid, "allThreadsStopped": True}
        if description:
            body["description"] = description
        if text:
            body["text"] = text
        if hit:
            body["hitBreakpointIds"] = hit
        self._event("stopped", body, later=later)

    if TYPE_CHECKING:  # provided by the mixins

        async def _wants_stop(self, spec: BreakSpec) -> bool: ...
