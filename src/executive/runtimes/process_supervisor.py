"""The live side of one process task: the machine of process_state.py, driven by the OS and the clock.

A :class:`ProcessSupervisor` owns one task's leader, pipes, logs and tree
signals for :class:`~executive.runtimes.process.ProcessRuntime`.  Its states,
events and tables, and the theory of operation, are in ``process_state.py``;
this module is the code that takes the edges: ``transition(now)`` for the
time-driven ones, ``on_*`` for the OS's events, ``stop``/``pause``/``resume``
for clients'.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import math
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from executive.kernel.errors import ErrorCode, InvalidTransitionError, NotAllowedError, ServerError
from executive.kernel.tasks import EndReason, Task, TaskState, Transition
from executive.kernel.transitions import next_state
from executive.runtimes.logwriter import HIGH_WATER, LOW_WATER
from executive.runtimes.output import STREAMS, TaskOutput
from executive.runtimes.process_os import MARKER_ENV, exe_path
from executive.runtimes.process_state import (
    GATE_TABLE,
    LEADER_ALIVE,
    REAP_POLL_S,
    REAP_POLLS,
    TABLE,
    GateEvent,
    OutputGate,
    ProcessEvent,
    ProcessState,
)

if TYPE_CHECKING:
    from executive.runtimes.process import ProcessRuntime, ProcessSpec

__all__ = ["ProcessSupervisor"]

log = structlog.get_logger("executive.process")
_FD_STREAM = {1: "stdout", 2: "stderr"}
_NEVER = math.inf  # a deadline that is not set


class _Pipes(asyncio.SubprocessProtocol):
    """asyncio protocol: forwards the spawn, pipe data, EOF and exit to the supervisor.

    asyncio and uvloop both call ``connection_made`` before any other callback,
    so the supervisor has its transport (and a pid) before the first byte.
    """

    def __init__(self, sup: ProcessSupervisor) -> None:
        self.sup = sup

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sup.on_spawned(transport)  # type: ignore[arg-type]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.sup.on_data(_FD_STREAM[fd], data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in _FD_STREAM:
            self.sup.on_eof(_FD_STREAM[fd])

    def process_exited(self) -> None:
        self.sup.on_exit()


class _SignalJob:
    """Signals for the whole tree, sent after a scan of it; ``guard`` may veto them once the scan is back."""

    __slots__ = ("guard", "signals", "skip_group", "then")

    def __init__(
        self,
        signals: tuple[signal.Signals, ...],
        guard: Callable[[], bool] | None,
        then: Callable[[list[int]], None] | None,
        skip_group: int | None,
    ) -> None:
        self.signals = signals
        self.guard = guard
        self.then = then
        self.skip_group = skip_group  # a process group that already got the signals (its members are left out)


class ProcessSupervisor:
    """The live side of one process task: the machine of process_state.py, driven by the OS and the clock.

    While the leader lives, a tree signal goes at once to its process group (one
    ``killpg``, on the loop: the leader and every descendant that stayed in the
    group have it before the request is answered, as a client expects of
    ``task.pause``).  The rest of the tree, descendants that left the group and
    marked strays, needs a scan (``ProcessOS.tree``, milliseconds with many
    processes): that runs in a thread, off the event loop, through one FIFO of
    :class:`_SignalJob`, so signals reach them in request order.  A job's guard
    is checked again after its scan, so a pause whose scan is still in flight
    when a cancel arrives sends no SIGSTOP after the cancel's SIGCONT.
    """

    def __init__(self, runtime: ProcessRuntime, task: Task, spec: ProcessSpec) -> None:
        self.rt = runtime
        self.host = runtime.host
        self.task = task
        self.spec = spec
        self.transport: asyncio.SubprocessTransport | None = None  # set once spawned (connection_made)
        self.output = TaskOutput(
            task.id,
            runtime.task_dir(task.id),
            writer=runtime.writer,
            bus=runtime.host.bus,
            chunk_bytes=runtime.host.limits.output_chunk_bytes,
            on_progress=self._on_log_progress,
        )
        self.logs = self.output.logs
        self.marker = runtime.marker(task.id)
        self._state = ProcessState.SPAWNING  # written only by the `state` setter, through TABLE
        self.gate = OutputGate.FLOWING  # written only by _move_gate, through GATE_TABLE
        self.write_failed = False  # the QUOTA gate closed because a log write failed: raising the quota cannot help
        self.stop_reason: EndReason | None = None  # why we end it; None while it may end by itself (EXITED)
        self.open_pipes = set(STREAMS)  # streams that have not reached EOF (ours to close once the tree is reaped)
        self.finished = asyncio.Event()  # set on entering DONE or FAILED, for waiters
        self.last_output = runtime.os.monotonic()  # the idle clock: output, resume and paused time restart it
        # Deadlines on the ProcessOS clock; inf = none.  transition(now) takes the edges whose time has come.
        self._timeout_at = _NEVER  # the wall-clock timeout (RUNNING/LINGERING/DRAINING, no stop decided)
        self._grace_at = _NEVER  # STOPPING: SIGKILL after this (set once SIGTERM has been sent)
        self._linger_at = _NEVER  # LINGERING: reap the tree holding the pipes after this
        self._poll_at = _NEVER  # KILLING/REAPING: next reap-poll scan (inf while one is in flight)
        self._polls_left: int | None = None  # reap-poll scans left; None until reaping starts, 0 when it is over
        self._timer: asyncio.TimerHandle | None = None  # the one timer: fires transition() at the next deadline
        self._jobs: collections.deque[_SignalJob] = collections.deque()
        self._signaller: asyncio.Task[None] | None = None  # runs _jobs in order; None when idle

    # --- the machine ----------------------------------------------------------------
    @property
    def state(self) -> ProcessState:
        return self._state

    @state.setter
    def state(self, new: ProcessState) -> None:
        log.debug("process_state", task=self.task.id, **{"from": self._state.value, "to": new.value})
        self._state = new

    def _fire(self, event: ProcessEvent) -> None:
        """Move along one edge of TABLE (a missing edge raises, and nothing changes)."""
        self.state = next_state(
            TABLE,
            self._state,
            event,
            machine="process",
            subject=f"the process tree of task {self.task.id}",
            data={"task": self.task.id, "state": self._state.value, "event": event.value},
        )
        if self._state in (ProcessState.KILLING, ProcessState.REAPING) and self._polls_left is None:
            # Entering the reap: the first scan is due now, the next ones every REAP_POLL_S.
            self._polls_left = REAP_POLLS
            self._poll_at = self.rt.os.monotonic()

    def _move_gate(self, event: GateEvent) -> None:
        new = next_state(
            GATE_TABLE,
            self.gate,
            event,
            machine="output",
            subject=f"the output of task {self.task.id}",
            data={"task": self.task.id, "state": self.gate.value, "event": event.value},
        )
        log.debug("output_gate", task=self.task.id, **{"from": self.gate.value, "to": new.value})
        self.gate = new
        self._set_reading(new is OutputGate.FLOWING)

    def transition(self, now: float) -> None:
        """Take every time-driven edge whose deadline has passed, then arm the timer for the next one.

        Idempotent: calling it early, late or twice takes each edge at most once.
        """
        s = ProcessState
        if self.stop_reason is None and self._state in (s.RUNNING, s.LINGERING, s.DRAINING):
            if now >= self._timeout_at:
                # RUNNING -> STOPPING, LINGERING/DRAINING -> REAPING (timeout)
                self._begin_stop(EndReason.TIMED_OUT)
            elif self.spec.idle_timeout:
                if self.task.state is TaskState.PAUSED:
                    self.last_output = now  # paused time does not count as idle
                elif now >= self.last_output + self.spec.idle_timeout:
                    # RUNNING -> STOPPING, LINGERING/DRAINING -> REAPING (idle timeout)
                    self._begin_stop(EndReason.IDLE_TIMEOUT)
        if self._state is s.STOPPING and now >= self._grace_at:
            # STOPPING -> KILLING (grace expired: the leader ignored SIGTERM)
            self._fire(ProcessEvent.GRACE_EXPIRED)
        elif self._state is s.LINGERING and now >= self._linger_at:
            # LINGERING -> REAPING (linger expired: descendants held the pipes too long)
            self._fire(ProcessEvent.LINGER_EXPIRED)
        if self._state in (s.KILLING, s.REAPING) and now >= self._poll_at:
            # KILLING -> KILLING, REAPING -> REAPING (reap poll: scan the tree, SIGKILL what is left;
            # _polled takes POLL, or REAPED when the tree is empty or the scans are used up)
            self._poll_at = _NEVER
            self._send(signal.SIGKILL, then=self._polled, group=False)  # the scan must see the whole tree
        self._arm(now)

    def _next_deadline(self) -> float:
        s = ProcessState
        st = self._state
        due = _NEVER
        if self.stop_reason is None and st in (s.RUNNING, s.LINGERING, s.DRAINING):
            due = self._timeout_at
            if self.spec.idle_timeout:
                due = min(due, self.last_output + self.spec.idle_timeout)
        if st is s.STOPPING:
            due = min(due, self._grace_at)
        elif st is s.LINGERING:
            due = min(due, self._linger_at)
        elif st in (s.KILLING, s.REAPING):
            due = min(due, self._poll_at)
        return due

    def _arm(self, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self._next_deadline()
        if due != _NEVER:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.transition(self.rt.os.monotonic())

    def _advance(self) -> None:
        """Take the edges that wait for nothing more: a finished reap, closed pipes, flushed logs."""
        s = ProcessState
        if self._state is s.REAPING and self._polls_left == 0:
            self._fire(ProcessEvent.REAPED)  # REAPING -> DRAINING: pipes still held open are ours to close
            for stream in list(self.open_pipes):
                self._close_pipe(stream)
        if self._state is s.LINGERING and not self.open_pipes:
            self._fire(ProcessEvent.PIPES_CLOSED)  # LINGERING -> DRAINING
        if self._state is s.DRAINING and not any(lg.pending for lg in self.logs.values()):
            self._fire(ProcessEvent.FLUSHED)  # DRAINING -> DONE: the logs hold every byte
            self._report_end()

    # --- tree signals (scans off the loop, sent in order) -----------------------------
    def _send(
        self,
        *signals: signal.Signals,
        guard: Callable[[], bool] | None = None,
        then: Callable[[list[int]], None] | None = None,
        group: bool = True,
    ) -> None:
        """Signal the tree: the leader's group now (while it lives), the rest after a scan off the loop."""
        leader = self.task.pid
        sent_to_group: int | None = None
        if group and leader is not None and self._state in LEADER_ALIVE and (guard is None or guard()):
            for sig in signals:
                self.rt.os.signal_group(leader, sig)
            sent_to_group = leader
        self._jobs.append(_SignalJob(signals, guard, then, sent_to_group))
        if self._signaller is None:
            self._signaller = self.rt.background(self._run_signals())

    def _scan(self, skip_group: int | None) -> list[int]:
        """The tree (in a worker thread), without the members of a group that was signalled already."""
        pids = self.rt.os.tree(self.task.pid, self.marker)
        if skip_group is None:
            return pids
        return [p for p in pids if self.rt.os.pgid(p) != skip_group]

    async def _run_signals(self) -> None:
        try:
            while self._jobs:
                job = self._jobs.popleft()
                pids = await asyncio.to_thread(self._scan, job.skip_group)
                if self._state is ProcessState.DONE:
                    self._jobs.clear()  # it ended while we scanned: nothing of it is ours to signal any more
                    return
                try:
                    if job.guard is None or job.guard():
                        for sig in job.signals:
                            self.rt.os.signal_all(pids, sig)
                        if signal.SIGKILL in job.signals and pids:
                            self.rt.os.kill_unit(self.marker, pids)  # cgroup.kill: also what forked since the scan
                    if job.then is not None:
                        job.then(pids)
                except Exception:  # a bug: log it, and keep the jobs behind it (a SIGKILL may be among them)
                    log.exception("process_signal_job_failed", task=self.task.id, state=self._state.value)
        finally:
            self._signaller = None

    def _polled(self, pids: list[int]) -> None:
        """A reap-poll scan is back (its SIGKILL is sent)."""
        if self._state not in (ProcessState.KILLING, ProcessState.REAPING) or not self._polls_left:
            return
        self._polls_left = self._polls_left - 1 if pids else 0
        now = self.rt.os.monotonic()
        if self._polls_left:
            self._fire(ProcessEvent.POLL)  # KILLING -> KILLING, REAPING -> REAPING: scan again soon
            self._poll_at = now + REAP_POLL_S
        elif self._state is ProcessState.KILLING:
            self._fire(ProcessEvent.REAPED)  # KILLING -> KILLING: the reap is over; the leader's exit ends it
        self._advance()
        self.transition(now)

    # --- events from the OS -------------------------------------------------------------
    async def start(self) -> None:
        env = dict(self.spec.env)
        env[MARKER_ENV] = self.marker
        exe_fd: int | None = None
        try:
            executable: str | None = None
            if self.spec.exe_check is not None:
                exe_fd, executable = self._checked_executable(env)
            await self.rt.os.spawn(
                lambda: _Pipes(self),
                self.spec.argv,
                cwd=self.spec.cwd,
                env=env,
                stdin=self.spec.stdin,
                executable=executable,
                pass_fds=(exe_fd,) if exe_fd is not None else (),
                unit=self.marker,
            )
        except (OSError, NotAllowedError) as exc:
            self._fire(ProcessEvent.SPAWN_FAILED)  # SPAWNING/STOP_PENDING -> FAILED
            self.finished.set()
            self.close_logs()
            self.rt.os.release(self.marker)  # (its cgroup, if the fork was tried)
            if isinstance(exc, NotAllowedError):
                raise
            raise ServerError(
                f"could not start {self.spec.argv[0]!r}: {exc.strerror or exc}; check the path, permissions and cwd",
                code=ErrorCode.SPAWN_FAILED,
                data={"argv": self.spec.argv[:8], "errno": exc.errno},
            ) from exc
        finally:
            if exe_fd is not None:
                self.rt.os.close_fd(exe_fd)  # the child has its own copy (or the spawn failed)

    def _checked_executable(self, env: dict[str, str]) -> tuple[int, str]:
        """Resolve the executable now, open it, check the opened file; return the descriptor and a path to exec it.

        The check is on the file the descriptor holds, and the child executes that descriptor, so
        re-pointing a symlink or replacing the file after the check changes nothing.
        """
        argv0 = self.spec.argv[0]
        path = self.rt.os.which(exe_path(argv0, self.spec.cwd), env.get("PATH"))
        if path is None:
            raise OSError(errno.ENOENT, f"executable {argv0!r} not found on the task's PATH at spawn")
        fd, real = self.rt.os.open_executable(path)
        try:
            assert self.spec.exe_check is not None
            self.spec.exe_check(real)
            return fd, self.rt.exec_link(fd, os.path.basename(real))
        except BaseException:
            self.rt.os.close_fd(fd)
            raise

    def on_spawned(self, transport: asyncio.SubprocessTransport) -> None:
        """The OS started the leader: SPAWNING -> RUNNING (a stop that arrived meanwhile is carried out now)."""
        self.transport = transport
        self.task.pid = transport.get_pid()
        for fd in (1, 2):
            self.rt.os.grow_pipe(transport.get_pipe_transport(fd))
        now = self.rt.os.monotonic()
        if self.spec.timeout:
            self._timeout_at = now + self.spec.timeout
        self.last_output = now
        pending = self._state is ProcessState.STOP_PENDING
        self._fire(ProcessEvent.SPAWNED)  # SPAWNING/STOP_PENDING -> RUNNING
        if pending and self.stop_reason is not None:
            self._begin_stop(self.stop_reason)  # RUNNING -> STOPPING/KILLING (the stop asked for during the spawn)
        self.transition(now)

    def on_data(self, stream: str, data: bytes) -> None:
        self.output.append(stream, data)  # the log is the truth: accepted here, written in order by the writer thread
        self.last_output = self.rt.os.monotonic()
        if self.output.total >= self.spec.quota:
            self._quota_pause(None)
        elif self.gate is OutputGate.FLOWING and self.output.pending > HIGH_WATER:
            self._move_gate(GateEvent.BACKLOG)  # FLOWING -> THROTTLED

    def on_eof(self, stream: str) -> None:
        self._close_pipe(stream)
        self._advance()

    def on_exit(self) -> None:
        now = self.rt.os.monotonic()
        self._linger_at = now + self.host.limits.exit_linger_s
        self._fire(ProcessEvent.EXIT)  # RUNNING -> LINGERING, STOPPING/KILLING -> REAPING
        self._advance()
        self.transition(now)

    def _close_pipe(self, stream: str) -> None:
        if stream in self.open_pipes:
            self.output.finish(stream)
            self.open_pipes.discard(stream)

    def _on_log_progress(self) -> None:
        """The writer thread caught up a little: resume reading, report failures, maybe finish."""
        for stream, lg in self.logs.items():
            if lg.error is not None and self.gate is not OutputGate.QUOTA:
                # Disk full or similar: reading on would lose output, so stop the producer and say why.
                log.error("log_write_failed", task=self.task.id, stream=stream, error=str(lg.error))
                self.write_failed = True
                self._quota_pause(f"log write failed: {lg.error.strerror}")
        if self.gate is OutputGate.THROTTLED and self.output.pending < LOW_WATER:
            self._move_gate(GateEvent.CAUGHT_UP)  # THROTTLED -> FLOWING
        self._advance()

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

    # --- requests from clients ------------------------------------------------------------
    def pause(self, reason: str) -> None:
        # Not once an end is decided: a SIGSTOP after a cancel's SIGCONT would hold the tree until SIGKILL.
        self._send(signal.SIGSTOP, guard=lambda: self.stop_reason is None)

    def resume(self) -> None:
        self.last_output = self.rt.os.monotonic()  # the idle clock restarts: paused time is not idle time
        self._send(signal.SIGCONT)

    def raise_quota(self, quota: int) -> bool:
        """Set a larger quota; True when the old one held the output and it flows again now.

        The caller has checked ``quota`` is above what the logs hold; the tree is continued by
        the caller (it also moves the task out of PAUSED).
        """
        self.spec.quota = quota
        if self.gate is not OutputGate.QUOTA or self.write_failed:
            return False
        self._move_gate(GateEvent.RAISED)  # QUOTA -> FLOWING: the pipes are read again
        if self.output.pending > HIGH_WATER:
            self._move_gate(GateEvent.BACKLOG)  # FLOWING -> THROTTLED: the disk is still behind
        return True

    def _quota_pause(self, why: str | None) -> None:
        if self.gate is OutputGate.QUOTA or self._state in (ProcessState.DONE, ProcessState.FAILED):
            return
        self._move_gate(GateEvent.QUOTA)  # FLOWING/THROTTLED -> QUOTA: the pipes are not read any more
        if self.stop_reason is None:
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
                "detail": why
                or "log quota reached; the task is paused — raise its quota (task.set_quota) or cancel it",
            },
        )

    def stop(self, reason: EndReason) -> None:
        """Begin ending the tree (cancel, timeouts, kill); idempotent, and a kill overrides a cancel."""
        s = ProcessState
        if self._state in (s.DONE, s.FAILED):
            return
        kill = reason is EndReason.KILLED
        if self._state in (s.SPAWNING, s.STOP_PENDING):
            # Nothing to signal yet: remember it (SPAWNING/STOP_PENDING -> STOP_PENDING); on_spawned carries it out.
            if self.stop_reason is None or kill:
                self.stop_reason = reason
            self._fire(ProcessEvent.KILL if kill else ProcessEvent.STOP)
            if self.task.can(Transition.STOP):
                self.host.transition(self.task, Transition.STOP, reason=reason.value)
            return
        if self.stop_reason is not None and not kill:
            return  # already on its way out
        self._begin_stop(reason)
        self._advance()  # a kill in DRAINING after a finished reap: REAPING -> DRAINING at once
        self.transition(self.rt.os.monotonic())

    def _begin_stop(self, reason: EndReason) -> None:
        self.stop_reason = reason
        if self.task.can(Transition.STOP):
            self.host.transition(self.task, Transition.STOP, reason=reason.value)
        if reason is EndReason.KILLED:
            self._fire(ProcessEvent.KILL)  # -> KILLING (leader alive) or REAPING (it has exited)
            self._send(signal.SIGKILL)
        else:
            self._fire(ProcessEvent.STOP)  # RUNNING -> STOPPING; LINGERING/DRAINING -> REAPING
            # A stopped process acts on SIGTERM only once continued.  The grace starts once both are sent.
            # Not to the group at once: SIGTERM goes once per process, after the scan, as it always did
            # (a pause's group SIGSTOP sent before this stays before it: the jobs run in order).
            self._send(signal.SIGTERM, signal.SIGCONT, then=self._term_sent, group=False)

    def _term_sent(self, pids: list[int]) -> None:
        if self._state is ProcessState.STOPPING:
            now = self.rt.os.monotonic()
            self._grace_at = now + self.spec.grace
            self.transition(now)

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

    # --- the end ----------------------------------------------------------------------------
    def _report_end(self) -> None:
        """DONE: report the end once — exit code or signal, the reason, the log sizes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.finished.set()
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
        # A task owns its tree: children it left behind (even ones that called setsid, left the
        # environment and hold no pipe) do not outlive it.  Found through its containment, off the loop.
        self.rt.background(self.rt.reap_strays(self.marker, task.id))

    def close_logs(self) -> None:
        self.output.close()
