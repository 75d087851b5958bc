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
group, and strays that left the group with setsid() (found by the
``EXECUTIVE_TASK`` marker in their environment): pause = SIGSTOP, resume =
SIGCONT, cancel = SIGTERM (+SIGCONT so stopped processes can act on it), a
grace period, then SIGKILL.  Kill is SIGKILL at once.

A task ends when its leader has exited and both pipes are closed, or
``Limits.exit_linger_s`` after the leader exited if descendants still hold the
pipes (those are then killed: a task owns its tree).  The end is reported once,
truthfully: exit code or signal, and the reason.

Quota: when the two logs reach the task's quota the pipes stop being read and
the tree is SIGSTOPped (state PAUSED, pause_reason "quota", a ``quota`` event).
Nothing is dropped: unread output waits in the pipe.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, Protocol

import structlog

from executive.kernel.errors import ErrorCode, InvalidTransitionError, LimitError, ServerError
from executive.kernel.events import EventBus
from executive.kernel.limits import Limits
from executive.kernel.tasks import EndReason, Task, TaskState, Transition
from executive.paths import make_private_dir
from executive.runtimes.logwriter import HIGH_WATER, LOW_WATER, LogWriter
from executive.runtimes.output import STREAMS, TaskOutput, utf8_cut
from executive.runtimes.process_os import MARKER_ENV, ProcessOS

__all__ = ["STREAMS", "ProcessRuntime", "ProcessSpec", "TaskHost", "utf8_cut"]

log = structlog.get_logger("executive.process")
_FD_STREAM = {1: "stdout", 2: "stderr"}


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

    __slots__ = ("argv", "cwd", "env", "grace", "idle_timeout", "quota", "stdin", "timeout")

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
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.stdin = stdin
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.quota = quota
        self.grace = grace


class _Pipes(asyncio.SubprocessProtocol):
    """asyncio protocol: forwards pipe data and exit to the supervisor."""

    def __init__(self, sup: _Supervisor) -> None:
        self.sup = sup

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.sup.on_data(_FD_STREAM[fd], data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in _FD_STREAM:
            self.sup.on_eof(_FD_STREAM[fd])

    def process_exited(self) -> None:
        self.sup.on_exit()


class _Supervisor:
    """The live side of one process task."""

    def __init__(self, runtime: ProcessRuntime, task: Task, spec: ProcessSpec) -> None:
        self.rt = runtime
        self.host = runtime.host
        self.task = task
        self.spec = spec
        self.transport: asyncio.SubprocessTransport | None = None
        self.output = TaskOutput(
            task.id,
            runtime.task_dir(task.id),
            writer=runtime.writer,
            bus=runtime.host.bus,
            chunk_bytes=runtime.host.limits.output_chunk_bytes,
            on_progress=self._on_log_progress,
        )
        self.logs = self.output.logs
        self.throttled = False  # pipes paused because too much output waits for the disk
        self.open_pipes = set(STREAMS)
        self.exited = False
        self.exit_event = asyncio.Event()
        self.done = asyncio.Event()
        self.stop_reason: EndReason | None = None  # set when we decided to end it
        self.quota_hit = False
        self.last_output = runtime.os.monotonic()
        self.timers: list[asyncio.TimerHandle] = []
        self.stopper: asyncio.Task[None] | None = None
        self.pending_stop: EndReason | None = None  # a cancel/kill that arrived during the spawn
        self.marker = runtime.marker(task.id)

    # --- start --------------------------------------------------------------------
    async def start(self) -> None:
        env = dict(self.spec.env)
        env[MARKER_ENV] = self.marker
        try:
            self.transport, _ = await self.rt.os.spawn(
                lambda: _Pipes(self), self.spec.argv, cwd=self.spec.cwd, env=env, stdin=self.spec.stdin
            )
        except OSError as exc:
            self.close_logs()
            raise ServerError(
                f"could not start {self.spec.argv[0]!r}: {exc.strerror or exc}; check the path, permissions and cwd",
                code=ErrorCode.SPAWN_FAILED,
                data={"argv": self.spec.argv[:8], "errno": exc.errno},
            ) from exc
        self.task.pid = self.transport.get_pid()
        for fd in (1, 2):
            self.rt.os.grow_pipe(self.transport.get_pipe_transport(fd))
        loop = asyncio.get_running_loop()
        if self.spec.timeout:
            self.timers.append(loop.call_later(self.spec.timeout, self._on_timeout))
        if self.spec.idle_timeout:
            self.timers.append(loop.call_later(self.spec.idle_timeout, self._on_idle_check))
        if self.pending_stop is not None:
            self.stop(self.pending_stop)

    # --- output -------------------------------------------------------------------
    def on_data(self, stream: str, data: bytes) -> None:
        self.output.append(stream, data)  # the log is the truth: accepted here, written in order by the writer thread
        self.last_output = self.rt.os.monotonic()
        if self.output.total >= self.spec.quota:
            self._quota_pause(None)
        elif not self.throttled and self.output.pending > HIGH_WATER:
            self.throttled = True
            self._set_reading(False)

    def _set_reading(self, on: bool) -> None:
        if self.transport is None:
            return
        for fd in (1, 2):
            pipe = self.transport.get_pipe_transport(fd)
            if pipe is not None and not pipe.is_closing():
                if on:
                    pipe.resume_reading()  # type: ignore[attr-defined]
                else:
                    pipe.pause_reading()  # type: ignore[attr-defined]

    def _on_log_progress(self) -> None:
        """The writer thread caught up a little: resume reading, report failures, maybe finish."""
        for stream, lg in self.logs.items():
            if lg.error is not None and not self.quota_hit:
                # Disk full or similar: reading on would lose output, so stop the producer and say why.
                log.error("log_write_failed", task=self.task.id, stream=stream, error=str(lg.error))
                self._quota_pause(f"log write failed: {lg.error.strerror}")
        if self.throttled and not self.quota_hit and self.output.pending < LOW_WATER:
            self.throttled = False
            self._set_reading(True)
        self._maybe_finish()

    def on_eof(self, stream: str) -> None:
        self.output.finish(stream)
        self.open_pipes.discard(stream)
        self._maybe_finish()

    def on_exit(self) -> None:
        self.exited = True
        self.exit_event.set()
        if self.open_pipes:
            # Descendants still hold the pipes; give them a moment, then end the task anyway.
            asyncio.get_running_loop().call_later(self.rt.host.limits.exit_linger_s, self._linger_expired)
        self._maybe_finish()

    def _linger_expired(self) -> None:
        if self.done.is_set():
            return
        pids = self.rt.os.tree(None, self.marker)
        if pids:
            self.rt.os.signal_all(pids, signal.SIGKILL)
        # Drain what is buffered, then stop waiting for the pipes.
        for stream in list(self.open_pipes):
            self.on_eof(stream)

    # --- control ------------------------------------------------------------------
    def _tree(self) -> list[int]:
        return self.rt.os.tree(self.task.pid, self.marker)

    def pause(self, reason: str) -> None:
        self.rt.os.signal_all(self._tree(), signal.SIGSTOP)

    def resume(self) -> None:
        self.last_output = self.rt.os.monotonic()  # the idle clock restarts: paused time is not idle time
        self.rt.os.signal_all(self._tree(), signal.SIGCONT)

    def _quota_pause(self, why: str | None) -> None:
        if self.quota_hit or self.done.is_set():
            return
        self.quota_hit = True
        self._set_reading(False)
        if self.stop_reason is None and self.pending_stop is None:
            self.pause("quota")  # not while a cancel/timeout is ending it: SIGSTOP would undo its SIGCONT
        used = sum(lg.size for lg in self.logs.values())
        if self.task.state is TaskState.RUNNING:
            self.host.transition(self.task, Transition.PAUSE, reason="quota", quota=self.spec.quota, used=used)
            self.task.pause_reason = "quota"
        self.host.bus.publish(
            "quota",
            self.task.id,
            {
                "quota": self.spec.quota,
                "used": used,
                "detail": why or "log quota reached; the task is paused — cancel it, or read its logs",
            },
        )

    def stop(self, reason: EndReason) -> None:
        """Begin ending the tree (cancel, timeouts, kill); idempotent."""
        if self.done.is_set():
            return
        if self.transport is None:
            # Still spawning: there is nothing to signal yet; start() carries the stop out.
            if self.pending_stop is None or reason is EndReason.KILLED:
                self.pending_stop = reason
            if self.task.can(Transition.STOP):
                self.host.transition(self.task, Transition.STOP, reason=reason.value)
            return
        if reason is EndReason.KILLED:
            self.stop_reason = EndReason.KILLED
            if self.task.can(Transition.STOP):
                self.host.transition(self.task, Transition.STOP, reason="killed")
            self.rt.os.signal_all(self._tree(), signal.SIGKILL)
            if self.stopper is None:
                self.stopper = asyncio.ensure_future(self._reap_after_kill())
            return
        if self.stopper is not None:
            return
        self.stop_reason = reason
        if self.task.can(Transition.STOP):
            self.host.transition(self.task, Transition.STOP, reason=reason.value)
        self.stopper = asyncio.ensure_future(self._terminate())

    async def _terminate(self) -> None:
        pids = self._tree()
        self.rt.os.signal_all(pids, signal.SIGTERM)
        self.rt.os.signal_all(pids, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
        try:
            await asyncio.wait_for(self.exit_event.wait(), self.spec.grace)
        except TimeoutError:
            pass
        await self._reap_after_kill()

    async def _reap_after_kill(self) -> None:
        # SIGKILL whatever is left, including strays still holding the pipes.
        for _ in range(50):
            pids = self._tree()
            if not pids:
                break
            self.rt.os.signal_all(pids, signal.SIGKILL)
            if self.exited and not pids:
                break
            await asyncio.sleep(0.02)
        await self.exit_event.wait()
        for stream in list(self.open_pipes):
            self.on_eof(stream)

    def _on_timeout(self) -> None:
        self.stop(EndReason.TIMED_OUT)

    def _on_idle_check(self) -> None:
        if self.done.is_set() or self.stop_reason is not None:
            return
        idle = self.spec.idle_timeout or 0.0
        now = self.rt.os.monotonic()
        if self.task.state is TaskState.PAUSED:
            self.last_output = now  # paused time does not count as idle
        remaining = self.last_output + idle - now
        if remaining <= 0:
            self.stop(EndReason.IDLE_TIMEOUT)
        else:
            self.timers.append(asyncio.get_running_loop().call_later(remaining, self._on_idle_check))

    def write_input(self, data: bytes, eof: bool) -> None:
        if self.transport is None or not self.spec.stdin:
            raise InvalidTransitionError(
                f"task {self.task.id} has no stdin; start it with stdin=true to write to it",
                data={"task": self.task.id},
            )
        pipe = self.transport.get_pipe_transport(0)
        if pipe is None or pipe.is_closing():
            raise InvalidTransitionError(f"task {self.task.id}: stdin is closed", data={"task": self.task.id})
        if data:
            pipe.write(data)  # type: ignore[attr-defined]
        if eof:
            pipe.close()

    # --- end ----------------------------------------------------------------------
    def _maybe_finish(self) -> None:
        if self.done.is_set() or not self.exited or self.open_pipes:
            return
        if any(lg.pending for lg in self.logs.values()):
            return  # the end is reported only once the logs hold every byte (see _on_log_progress)
        self.done.set()
        for t in self.timers:
            t.cancel()
        rc = self.transport.get_returncode() if self.transport is not None else None
        task = self.task
        if rc is not None and rc < 0:
            task.signal, task.exit_code = -rc, None
        else:
            task.exit_code, task.signal = rc, None
        reason = self.stop_reason or EndReason.EXITED
        task.end_reason = reason
        self.close_logs()
        if self.transport is not None:
            self.transport.close()
        for stream, lg in self.logs.items():
            self.host.persist_log(task.id, stream, str(lg.path), lg.size)
        self.host.transition(
            task,
            Transition.END,
            reason=reason.value,
            exit_code=task.exit_code,
            signal=task.signal,
            stdout_bytes=self.logs["stdout"].size,
            stderr_bytes=self.logs["stderr"].size,
        )
        self.rt.forget(task.id)
        self.host.task_ended(task)
        if reason is EndReason.EXITED:
            # A task owns its tree: children it left behind (even ones that called setsid
            # and hold no pipe) do not outlive it.  Found off the loop: it scans /proc.
            asyncio.ensure_future(self.rt.reap_strays(self.marker, task.id))

    def close_logs(self) -> None:
        self.output.close()


class ProcessRuntime:
    """Runs process tasks for a :class:`TaskHost`."""

    def __init__(self, host: TaskHost, *, home: Path, os_api: ProcessOS | None = None, instance: str = "") -> None:
        self.host = host
        self.home = home
        self.os = os_api or ProcessOS()
        self.instance = instance
        self._live: dict[int, _Supervisor] = {}
        self._writer: LogWriter | None = None

    @property
    def writer(self) -> LogWriter:
        if self._writer is None:
            self._writer = LogWriter()
        return self._writer

    def marker(self, task_id: int) -> str:
        return f"{self.instance}:{task_id}"

    def task_dir(self, task_id: int) -> Path:
        return self.home / "tasks" / str(int(task_id))

    def log_path(self, task_id: int, stream: str) -> Path:
        if stream not in STREAMS:
            raise ValueError(stream)
        return self.task_dir(task_id) / f"{stream}.log"

    async def start(self, task: Task, spec: ProcessSpec) -> None:
        """Spawn the task's process; raises ServerError when the OS refuses."""
        make_private_dir(self.task_dir(task.id))
        sup = _Supervisor(self, task, spec)
        self._live[task.id] = sup
        try:
            await sup.start()
        except BaseException:
            self._live.pop(task.id, None)
            raise

    def _sup(self, task: Task) -> _Supervisor:
        sup = self._live.get(task.id)
        if sup is None:
            raise InvalidTransitionError(
                f"task {task.id} has no running process (it is {task.state.value})", data={"task": task.id}
            )
        return sup

    def is_live(self, task_id: int) -> bool:
        return task_id in self._live

    def pause(self, task: Task) -> None:
        self._sup(task).pause("user")

    def resume(self, task: Task) -> None:
        sup = self._sup(task)
        if sup.quota_hit:
            raise LimitError(
                f"task {task.id} reached its log quota of {sup.spec.quota} bytes; it cannot resume — cancel it",
                code=ErrorCode.QUOTA_REACHED,
                data={"task": task.id, "quota": sup.spec.quota},
            )
        sup.resume()

    def stop(self, task: Task, reason: EndReason) -> None:
        self._sup(task).stop(reason)

    def write_input(self, task: Task, data: bytes, eof: bool) -> None:
        self._sup(task).write_input(data, eof)

    async def wait_done(self, task_id: int) -> None:
        sup = self._live.get(task_id)
        if sup is not None:
            await sup.done.wait()

    async def reap_strays(self, marker: str, task_id: int) -> None:
        """SIGTERM, then SIGKILL, whatever still carries a finished task's marker."""
        pids = await asyncio.to_thread(self.os.tree, None, marker)
        if not pids:
            return
        log.info("task_strays", task=task_id, pids=pids[:16], count=len(pids))
        self.os.signal_all(pids, signal.SIGTERM)
        self.os.signal_all(pids, signal.SIGCONT)
        await asyncio.sleep(min(1.0, self.host.limits.kill_grace_s))
        left = await asyncio.to_thread(self.os.tree, None, marker)
        if left:
            self.os.signal_all(left, signal.SIGKILL)

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
                await asyncio.wait_for(sup.done.wait(), sup.spec.grace + 2.0)
            except TimeoutError:
                log.error("shutdown_stuck", task=sup.task.id)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
