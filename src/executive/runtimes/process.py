"""Supervised process tasks: spawn, pump output to disk and bus, signal the whole tree.

Theory of operation
-------------------
A process task runs an argv list (never a shell string) in a new session, so
it leads its own process group.  Its stdout and stderr are read continuously
by asyncio pipe protocols; every chunk is appended to
``$EXECUTIVE_HOME/tasks/<id>/<stream>.log`` *first* and then published as
``output`` events ``{stream, offset, data}`` whose ``offset`` is the byte offset
of ``data`` in that log.  So the log is the truth and events are a live view
of it: a client that misses events reads the gap back with ``task.output``.
Chunks are split at ``Limits.output_chunk_bytes`` on UTF-8 boundaries; bytes
that are not UTF-8 travel as ``data_b64`` instead of ``data``.

Control reaches every process of the task — the leader, its descendants, its
group, and strays that left the group, the session or the environment (found through
the task's containment, ``containment.py``: its own cgroup, or the daemon as a child
subreaper — never by scanning the host): pause = SIGSTOP, resume =
SIGCONT, cancel = SIGTERM (+SIGCONT so stopped processes can act on it), a
grace period, then SIGKILL.  Kill is SIGKILL at once.

A task ends when its leader has exited and both pipes are closed, or
``Limits.exit_linger_s`` after the leader exited if descendants still hold the
pipes (those are then killed: a task owns its tree).  The end is reported once,
truthfully: exit code or signal, and the reason.

Quota: when the two logs reach the task's quota the pipes stop being read and
the tree is SIGSTOPped (state PAUSED, pause_reason "quota", a ``quota`` event).
Nothing is dropped: unread output waits in the pipe.

Each live task has a :class:`~executive.runtimes.process_supervisor.ProcessSupervisor`
whose state machine (states, events, tables, and every time-driven edge:
timeout, idle timeout, grace then SIGKILL, linger, reap poll) is described in
``process_state.py``.  Tree scans run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import structlog

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError
from executive.kernel.events import EventBus
from executive.kernel.limits import Limits
from executive.kernel.tasks import EndReason, Task, Transition
from executive.paths import make_private_dir
from executive.runtimes.logwriter import LogWriter
from executive.runtimes.output import STREAMS, TaskOutput, utf8_cut
from executive.runtimes.process_os import ProcessOS
from executive.runtimes.process_state import OutputGate, ProcessState
from executive.runtimes.process_supervisor import ProcessSupervisor

__all__ = ["STREAMS", "ProcessRuntime", "ProcessSpec", "TaskHost", "utf8_cut"]

log = structlog.get_logger("executive.process")


class TaskHost(Protocol):
    """What a runtime needs from the service that owns the task table."""

    bus: EventBus
    limits: Limits

    def transition(self, task: Task, tr: Transition, *, reason: str, **data: Any) -> None: ...

    def task_ended(self, task: Task) -> None: ...

    def persist(self, task: Task, *, pid_start: float | None = None) -> None: ...

    def persist_log(self, task_id: int, stream: str, path: str, size: int) -> None: ...


class ProcessSpec:
    """Validated launch parameters of one process task."""

    __slots__ = ("argv", "cwd", "env", "exe_check", "grace", "idle_timeout", "quota", "stdin", "timeout")

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        stdin: bool = False,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        quota: int,
        grace: float,
        exe_check: Callable[[str], None] | None = None,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.stdin = stdin
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.quota = quota
        self.grace = grace
        # Called at spawn with the real path of the opened executable; raises to refuse it (the
        # allow-list).  When set, the process executes exactly the file that was checked.
        self.exe_check = exe_check


class ProcessRuntime:
    """Runs process tasks for a :class:`TaskHost`."""

    def __init__(
        self,
        host: TaskHost,
        *,
        home: Path,
        os_api: ProcessOS | None = None,
        instance: str = "",
        writer: LogWriter | None = None,
    ) -> None:
        self.host = host
        self.home = home
        self.os = os_api or ProcessOS()
        self.instance = instance
        self.containment = self.os.contain(instance)  # a cgroup per task, or the daemon as a subreaper
        self._live: dict[int, ProcessSupervisor] = {}
        self._writer: LogWriter | None = writer  # made on first use unless injected
        self._background: set[asyncio.Task[None]] = set()  # signal queues and stray reaps; awaited by shutdown
        self._exec_links: set[str] = set()  # links made by exec_link (made once, reused)

    def background(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task this runtime keeps a reference to until it ends (and awaits at shutdown)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    @property
    def writer(self) -> LogWriter:
        if self._writer is None:
            self._writer = LogWriter()
        return self._writer

    def marker(self, task_id: int) -> str:
        return f"{self.instance}:{task_id}"

    def exec_link(self, fd: int, name: str) -> str:
        """A path that executes the file open in the child's descriptor ``fd``, ending in ``name``.

        ``$HOME/exec/fd<N>/<name>`` is a symlink to ``/proc/self/fd/<N>``: executing it runs exactly
        the opened file (as ``fexecve`` does), and the program's name (``comm``, what ``ps`` shows)
        is ``name`` instead of the number ``N``.  Scripts work too: the interpreter opens the same path.
        """
        link = self.home / "exec" / f"fd{int(fd)}" / name
        key = str(link)
        if key not in self._exec_links:
            make_private_dir(link.parent)
            target = f"/proc/self/fd/{int(fd)}"
            try:
                os.symlink(target, link)
            except FileExistsError:
                if not link.is_symlink() or os.readlink(link) != target:
                    link.unlink()
                    os.symlink(target, link)
            self._exec_links.add(key)
        return key

    def task_dir(self, task_id: int) -> Path:
        return self.home / "tasks" / str(int(task_id))

    def log_path(self, task_id: int, stream: str) -> Path:
        if stream not in STREAMS:
            raise ValueError(stream)
        return self.task_dir(task_id) / f"{stream}.log"

    async def start(self, task: Task, spec: ProcessSpec) -> None:
        """Spawn the task's process; raises ServerError when the OS refuses."""
        sup = ProcessSupervisor(self, task, spec)  # (its TaskOutput makes the task's private directory)
        self._live[task.id] = sup
        try:
            await sup.start()
        except BaseException:
            self._live.pop(task.id, None)
            raise

    def _sup(self, task: Task) -> ProcessSupervisor:
        sup = self._live.get(task.id)
        if sup is None:
            raise InvalidTransitionError(
                f"task {task.id} has no running process (it is {task.state.value})", data={"task": task.id}
            )
        return sup

    def is_live(self, task_id: int) -> bool:
        return task_id in self._live

    def state(self, task_id: int) -> ProcessState | None:
        """The supervisor state of a live process task (None once its end is reported)."""
        sup = self._live.get(task_id)
        return sup.state if sup is not None else None

    def transition(self, now: float) -> None:
        """Take the time-driven edges of every live task as of ``now`` (the ProcessOS clock).

        Each supervisor's own timer calls this for it at its next deadline; tests
        drive it with a fake clock.
        """
        for sup in list(self._live.values()):
            sup.transition(now)

    def pause(self, task: Task) -> None:
        self._sup(task).pause("user")

    def resume(self, task: Task) -> None:
        sup = self._sup(task)
        if sup.gate is OutputGate.QUOTA:
            raise LimitError(
                f"task {task.id} reached its log quota of {sup.spec.quota} bytes; raise it with "
                f"`executive set-quota {task.id} SIZE` (task.set_quota) to let it run on, or cancel it",
                code=ErrorCode.QUOTA_REACHED,
                data={"task": task.id, "quota": sup.spec.quota},
            )
        sup.resume()

    def set_quota(self, task: Task, quota: int) -> bool:
        """Give a live task a new log quota; True when it was held by the old one and runs on now.

        Raises:
            BadParamsError: ``quota`` is not above what its logs already hold.
            LimitError (QUOTA_REACHED): a log write failed, which a larger quota cannot help.
        """
        sup = self._sup(task)
        if quota <= sup.output.total:
            raise BadParamsError(
                f"task {task.id} has already written {sup.output.total} bytes; a new quota must be larger",
                data={"task": task.id, "used": sup.output.total},
            )
        if sup.write_failed:
            raise LimitError(
                f"task {task.id} stopped because a log write failed (disk full?); free space, then cancel and rerun it",
                code=ErrorCode.QUOTA_REACHED,
                data={"task": task.id},
            )
        if not sup.raise_quota(quota):
            return False
        if sup.stop_reason is None:
            sup.resume()  # SIGCONT: the quota's SIGSTOP is undone
        return True

    def stop(self, task: Task, reason: EndReason) -> None:
        self._sup(task).stop(reason)

    def write_input(self, task: Task, data: bytes, eof: bool) -> None:
        self._sup(task).write_input(data, eof)

    async def wait_done(self, task_id: int) -> None:
        sup = self._live.get(task_id)
        if sup is not None:
            await sup.finished.wait()

    async def signals_sent(self) -> None:
        """Wait until every tree signal queued so far by a live task has been sent."""
        while busy := [sup._signaller for sup in list(self._live.values()) if sup._signaller is not None]:
            await asyncio.wait(busy)

    async def reap_strays(self, marker: str, task_id: int) -> None:
        """SIGTERM, then SIGKILL, whatever is still in a finished task's containment; then release it."""
        if self.os.release_if_empty(marker):
            return  # the usual end: nothing strayed, and nothing had to be listed to know it
        pids = (
            self.os.tree(None, marker)
            if self.containment.cheap
            else await asyncio.to_thread(self.os.tree, None, marker)
        )
        if pids:
            log.info("task_strays", task=task_id, pids=pids[:16], count=len(pids))
            self.os.signal_all(pids, signal.SIGTERM)
            self.os.signal_all(pids, signal.SIGCONT)
            await asyncio.sleep(min(1.0, self.host.limits.kill_grace_s))
            left = await asyncio.to_thread(self.os.tree, None, marker)
            if left:
                self.os.signal_all(left, signal.SIGKILL)
                self.os.kill_unit(marker, left)
                await asyncio.sleep(0.05)
                await asyncio.to_thread(self.os.tree, None, marker)  # (the subreaper collects the exited)
        self.os.release(marker)

    def forget(self, task_id: int) -> None:
        self._live.pop(task_id, None)

    def live_output(self, task_id: int) -> TaskOutput | None:
        """The output sink of a live process task (None once it has ended)."""
        sup = self._live.get(task_id)
        return sup.output if sup is not None else None

    async def shutdown(self) -> None:
        """Cancel every live task (daemon stop): their end is recorded as cancelled."""
        sups = list(self._live.values())
        for sup in sups:
            sup.stop(EndReason.CANCELLED)
        for sup in sups:
            try:
                await asyncio.wait_for(sup.finished.wait(), sup.spec.grace + 2.0)
            except TimeoutError:
                log.error("shutdown_stuck", task=sup.task.id)
        if self._background:
            # Stray reaps of tasks that just ended (bounded by kill_grace_s), signal queues still scanning.
            _, stuck = await asyncio.wait(list(self._background), timeout=self.host.limits.kill_grace_s + 2.0)
            for t in stuck:
                t.cancel()
            if stuck:
                await asyncio.wait(stuck)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        self.containment.close()
