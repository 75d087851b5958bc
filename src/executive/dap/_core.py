"""The state one DAP session keeps, and the helpers every part of it uses.

:class:`SessionCore` is the base of :class:`~executive.dap.session.DapSession` and of the
mixins that implement its requests by concern — launch and attach (_launch.py),
breakpoints (_breakpoint_requests.py), run control and daemon events (_run_control.py),
memory and code (_memory_requests.py) — so each file holds one concept and all of them
share one set of attributes, documented here with their invariants.  What the session
knows of each debugged task is its :class:`~executive.dap.threads.TaskThread`.  See
session.py for the theory of operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from executive.dap.breakpoints import BreakpointBook, BreakSpec
from executive.dap.build import Builder
from executive.dap.output import TaggedLines
from executive.dap.protocol import MessageFactory, Rpc
from executive.dap.threads import TaskThread, ThreadTable
from executive.dap.variables import VariableHandles

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
        self.threads = ThreadTable()  # the debugged tasks, one DAP thread each (dap/threads.py)
        self.handles = VariableHandles()  # variablesReference numbers of every thread's stop
        self.book = BreakpointBook()
        self._tagged = TaggedLines()  # output of a session of several tasks, line by line
        self._stop_on_entry = False
        self._terminated = False  # exited/terminated sent: the session is over
        self._session_opened = False
        self._after: list[dict[str, Any]] = []  # events to send after the current response

    def orphans(self) -> list[int]:
        """Tasks this session launched that still run: the shell kills them when the editor
        goes away without a disconnect."""
        return [t.pid for t in self.threads if t.launched and t.end is None]

    # ------------------------------------------------------------------ plumbing
    def _event(self, name: str, body: dict[str, Any] | None = None, *, later: bool = False) -> None:
        msg = self.msgs.event(name, body)
        if later:
            self._after.append(msg)
        else:
            self._send(msg)

    def _output(self, text: str, category: str = "console", *, later: bool = False) -> None:
        self._event("output", {"category": category, "output": text}, later=later)

    def _task_output(self, thread: TaskThread, text: str, stream: str) -> None:
        """A task's stdout/stderr: as is with one task, in tagged whole lines with several."""
        category = "stderr" if stream == "stderr" else "stdout"
        if not self.threads.several:
            self._output(text, category)
            return
        lines = self._tagged.feed(thread.pid, category, text, thread.tag)
        if lines:
            self._output(lines, category)

    def _flush_output(self, thread: TaskThread, *, later: bool = False) -> None:
        """Show a task's unfinished output line before its stop or end is reported."""
        for category, text in self._tagged.flush(thread.pid, thread.tag):
            self._output(text, category, later=later)

    async def _call(self, method: str, **params: Any) -> Any:
        return await self.rpc.call(method, **params)

    def _require_task(self) -> TaskThread:
        """The focused thread (requests that name no thread act on it)."""
        return self.threads.focused()

    def _stopped(
        self,
        thread: TaskThread,
        reason: str,
        *,
        later: bool = False,
        description: str | None = None,
        hit: list[int] | None = None,
        text: str | None = None,
    ) -> None:
        """Tell the editor ``thread`` stopped; ``allThreadsStopped`` says whether every
        thread of the session is stopped now (the VM stops tasks one at a time)."""
        thread.running = False
        thread.ran()  # what was shown of an earlier stop is void
        thread.stopped = True
        self.threads.focus = thread.pid
        self._flush_output(thread, later=later)
        body: dict[str, Any] = {
            "reason": reason,
            "threadId": thread.pid,
            "allThreadsStopped": self.threads.all_stopped(),
        }
        if description:
            body["description"] = description
        if text:
            body["text"] = text
        if hit:
            body["hitBreakpointIds"] = hit
        self._event("stopped", body, later=later)

    def _thread_gone(self, thread: TaskThread, *, later: bool = False) -> None:
        """The task ended and the editor is done with it: its thread exits; after the last
        one, the session (``exited`` with the exit code of dap/threads.py, ``terminated``)."""
        if thread.exited or thread.end is None:
            return
        thread.exited = True
        thread.running = thread.stopped = False
        self._flush_output(thread, later=later)
        if self.threads.several:
            code = thread.end.get("exit_code")
            how = f"exit status {code}" if isinstance(code, int) else str(thread.end.get("reason") or "ended")
            self._output(f"{thread.label} ended: {how}\n", later=later)
        self._event("thread", {"reason": "exited", "threadId": thread.pid}, later=later)
        if self.threads.all_gone() and not self._terminated:
            self._terminated = True
            self._event("exited", {"exitCode": self.threads.exit_code()}, later=later)
            self._event("terminated", later=later)

    if TYPE_CHECKING:  # provided by the mixins

        async def _wants_stop(self, spec: BreakSpec, thread: TaskThread) -> bool: ...
