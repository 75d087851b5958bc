"""Tasks as the service offers them: run, queue, control, output and wait (``Executive.task_*``).

Process and agent tasks are admitted here (argv, env, cwd and size checks, the
allow-list), wait in the run queue for a slot (limits.max_running), and are
spawned, paused, resumed and stopped through the process runtime; VM tasks are
passed to ``Executive.vm``.  The task state machine's edges are applied in
:meth:`TaskService.transition`, which logs, publishes ``task_state`` and persists
every edge; the runtimes call it through the Executive (their ``TaskHost``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import structlog

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError, NotAllowedError
from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState, Transition
from executive.pipeline.checkpoints import CrashSeam
from executive.runtimes.logread import read_cached, read_slice
from executive.runtimes.output import TaskOutput
from executive.runtimes.placed import is_remote
from executive.runtimes.process import STREAMS, ProcessSpec
from executive.runtimes.process_os import exe_path
from executive.runtimes.ray_placement import parse_placement
from executive.service.results import (
    OutputBytes,
    TaskInfo,
    TaskInputResult,
    TaskOutputBytes,
    TaskOutputSlice,
    TaskRow,
    TaskWaitResult,
)

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["BASE_ENV_KEYS", "TASK_CRASH_ENV", "TaskService"]

TASK_CRASH_ENV = "EXECUTIVE_TASK_CRASH_AT"

log = structlog.get_logger("executive")

START_TIME_DELAY_S = 0.2  # a live leader's start time is read this long after its spawn (see _record_start_time)

# Variables a child inherits from the daemon; everything else must be passed explicitly.
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM", "SHELL")


class TaskService:
    """The task half of the surface; owns the run queue, the running-slot count and the end waiters."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        self._queue: collections.deque[tuple[Task, ProcessSpec]] = collections.deque()
        self._running = 0  # tasks holding a running slot (STARTING/RUNNING/PAUSED/STOPPING)
        self._ended: dict[int, asyncio.Event] = {}
        self._spawning: set[asyncio.Future[None]] = set()  # spawns and deferred stops in flight (kept referenced)
        self._spawns: dict[int, asyncio.Future[None]] = {}  # task id -> its spawn in flight (run() awaits it)
        # Test seam: EXECUTIVE_TASK_CRASH_AT=write_ahead:N|spawned:N kills the daemon (SIGKILL) right after
        # the N-th task's row is durable / its process is spawned (tests/api/test_write_ahead.py).
        self._seam = CrashSeam(os.environ.get(TASK_CRASH_ENV))

    def _background(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """Run ``coro`` on the loop, keeping a reference until it is done (the loop holds only weak ones)."""
        fut = asyncio.ensure_future(coro)
        self._spawning.add(fut)
        fut.add_done_callback(self._spawning.discard)
        return fut

    async def settle_background(self, timeout: float = 5.0) -> None:
        """Daemon stop: let spawns and deferred stops in flight finish (cancel any still running after ``timeout``)."""
        if not self._spawning:
            return
        _, late = await asyncio.wait(list(self._spawning), timeout=timeout)
        for fut in late:
            fut.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def cancel_queued(self) -> None:
        """Daemon stop: every task still waiting for a slot ends as cancelled."""
        for task, _spec in list(self._queue):
            self._end_without_running(task, EndReason.CANCELLED, "daemon stopped before the task started")
        self._queue.clear()

    # ------------------------------------------------------------ TaskHost hooks (runtimes call these)
    def transition(self, task: Task, tr: Transition, *, reason: str, **data: Any) -> None:
        """Apply one state-machine edge, log it, publish ``task_state``, persist."""
        prev = task.apply(tr)
        if tr is Transition.PAUSE:
            task.pause_reason = reason
        if task.state is TaskState.ENDED and task.end_reason is None:
            task.end_reason = EndReason(reason) if reason in EndReason._value2member_map_ else EndReason.EXITED
        log.info(
            "task_transition",
            task=task.id,
            name=task.name,
            **{"from": prev.value, "to": task.state.value},
            reason=reason,
        )
        payload = {
            "from": prev.value,
            "to": task.state.value,
            "reason": reason,
            "name": task.name,
            "kind": task.kind.value,
        }
        if "node" in task.meta:  # every state change of a task on a Ray node says which node
            payload["node"] = task.meta["node"]
        payload.update(data)
        self.ex.bus.publish("task_state", task.id, payload)
        self.ex.persist(task)

    def ended(self, task: Task) -> None:
        """A task that held a running slot has ended: free the slot, wake waiters, start the next."""
        self._running -= 1
        self._finish(task)
        self._start_queued()

    def vm_ended(self, task: Task) -> None:
        """An HSX program ended (VM tasks hold no process slot)."""
        self._finish(task)

    def register(self, task: Task) -> None:
        """Start tracking a task created outside task_run (waiters, persistence)."""
        self._ended[task.id] = asyncio.Event()
        self.ex.persist(task)

    def _finish(self, task: Task) -> None:
        for sid in [self.ex.sessions.lock_owner(task.id)]:
            if sid is not None:
                self.ex.sessions.release_task(task.id)
        ev = self._ended.pop(task.id, None)
        if ev is not None:
            ev.set()
        self.ex.programs.run_ended(task)  # a run of a program: its restart policy decides what follows

    # --------------------------------------------------------------------- tasks
    def _child_env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        env.setdefault("PATH", os.defpath)
        if extra:
            env.update(extra)
        return env

    def _validate_run(
        self, argv: Any, env: Any, cwd: Any, name: Any, *, remote: bool = False
    ) -> tuple[list[str], dict[str, str], str]:
        lim = self.ex.limits
        if not isinstance(argv, list) or not argv:
            raise BadParamsError(
                'argv must be a non-empty list of strings, e.g. ["echo", "hi"] (commands are never shell strings)',
                code=ErrorCode.INVALID_ARGV,
            )
        if not all(isinstance(a, str) for a in argv):
            raise BadParamsError("argv must contain only strings", code=ErrorCode.INVALID_ARGV)
        if any("\0" in a for a in argv) or not argv[0]:
            raise BadParamsError(
                "argv entries must be non-empty at [0] and contain no NUL bytes", code=ErrorCode.INVALID_ARGV
            )
        if len(argv) > lim.max_argv:
            raise LimitError(f"argv has {len(argv)} entries; the limit is {lim.max_argv}", data={"limit": lim.max_argv})
        if env is not None and (
            not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise BadParamsError("env must be an object of string keys to string values")
        if env and (len(env) > lim.max_env or any(not k or "=" in k or "\0" in k + v for k, v in env.items())):
            raise BadParamsError(f"env: at most {lim.max_env} entries, keys without '=' and no NUL bytes")
        size = sum(len(a) for a in argv) + sum(len(k) + len(v) for k, v in (env or {}).items())
        if size > lim.max_argv_bytes:
            raise LimitError(
                f"argv and env take {size} bytes; the limit is {lim.max_argv_bytes}", data={"limit": lim.max_argv_bytes}
            )
        if name is not None and (
            not isinstance(name, str)
            or not name
            or len(name) > lim.max_name
            or name.isdigit()
            or not name.isprintable()
        ):
            raise BadParamsError(
                f"name must be 1..{lim.max_name} printable characters and not all digits (ids are numbers)"
            )
        cwd = os.path.abspath(cwd) if cwd else str(Path.home())
        if remote:  # the executable and the directory are the node's: the node reports what it cannot find
            child_env = self._child_env(env)
            if self.ex.allow_list is not None:
                self.ex.allow_list.check(argv[0], argv, env)
            return argv, child_env, cwd
        if not os.path.isdir(cwd):
            raise BadParamsError(f"cwd {cwd!r} is not a directory", data={"cwd": cwd})
        child_env = self._child_env(env)
        real = self.ex.processes.os.which(exe_path(argv[0], cwd), child_env.get("PATH"))
        if real is None:
            raise BadParamsError(
                f"executable {argv[0]!r} not found on the task's PATH; give a full path, or set PATH with env",
                code=ErrorCode.INVALID_ARGV,
                data={"argv0": argv[0]},
            )
        if self.ex.allow_list is not None:
            self.ex.allow_list.check(real, argv, env)
        return argv, child_env, cwd

    def _spawn_check(self, argv: list[str], env: dict[str, str] | None) -> Callable[[str], None] | None:
        """The allow-list check again at spawn, on the file that will run (a queued task's path may change)."""
        allow = self.ex.allow_list
        if allow is None:
            return None
        client_env = dict(env or {})

        def check(real_exe: str) -> None:
            try:
                allow.check(real_exe, argv, client_env)
            except NotAllowedError as exc:
                exc.message = f"refused at spawn: {exc.message}"
                raise

        return check

    async def run(
        self,
        argv: list[str],
        *,
        name: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        quota: int | None = None,
        session_id: str | None = None,
        lock: bool = False,
        kind: TaskKind = TaskKind.PROCESS,
        meta: dict[str, Any] | None = None,
        placement: dict[str, Any] | None = None,
    ) -> TaskRow:
        """Start (or queue) a supervised process task and return its row.

        ``placement`` ``{"on": "ray", "resources": {...}, "node": ID}`` runs it on a Ray
        node (runtimes/placed.py); argv[0] and cwd are then resolved on that node.

        Raises:
            BadParamsError: argv/env/cwd/name invalid, or the executable is not found.
            NotAllowedError: the allow-list refuses the command.
            LimitError: the queue is full.
        """
        where = parse_placement(placement)
        if where is not None:
            await self.ex.processes.check_placement(where)  # unknown node, or no node could ever hold it
        task = self.submit(
            argv, name=name, cwd=cwd, env=env, stdin=stdin, timeout=timeout, idle_timeout=idle_timeout,
            quota=quota, session_id=session_id, lock=lock, kind=kind, meta=meta, placement=where,
        )  # fmt: skip
        return await self.started_row(task)

    def submit(
        self,
        argv: list[str],
        *,
        name: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        quota: int | None = None,
        session_id: str | None = None,
        lock: bool = False,
        kind: TaskKind = TaskKind.PROCESS,
        meta: dict[str, Any] | None = None,
        placement: dict[str, Any] | None = None,
    ) -> Task:
        """:meth:`run` without waiting: validate, create and queue the task (its spawn starts in the background).

        Synchronous, so a caller (service/programs.py) can record the new task before anything
        else runs on the loop, in particular before the task can end.  ``placement`` is already
        parsed and checked (:meth:`run`).  Raises as :meth:`run`; a refused request creates nothing.
        """
        argv, child_env, cwd = self._validate_run(argv, env, cwd, name, remote=placement is not None)
        session = self.ex.session_service.get(session_id)
        for label, value in (("timeout", timeout), ("idle_timeout", idle_timeout)):
            if value is not None and not (0 < value <= 30 * 24 * 3600):
                raise BadParamsError(f"{label} must be between 0 and 30 days (seconds), got {value}")
        q = self.ex.limits.output_quota_bytes if quota is None else quota
        self._check_quota(q)
        if self._running >= self.ex.limits.max_running and len(self._queue) >= self.ex.limits.max_queued:
            raise LimitError(
                f"the queue is full ({self.ex.limits.max_queued} tasks wait for "
                f"{self.ex.limits.max_running} running slots); try later",
                data={"limit": self.ex.limits.max_queued},
            )
        task_meta = dict(meta or {})
        if placement is not None:
            task_meta["placement"] = placement
            task_meta["remote_spec"] = {"stdin": stdin, "timeout": timeout, "idle_timeout": idle_timeout, "quota": q}
        spec = ProcessSpec(
            argv,
            cwd=cwd,
            env=child_env,
            stdin=stdin,
            timeout=timeout,
            idle_timeout=idle_timeout,
            quota=q,
            grace=self.ex.limits.kill_grace_s,
            exe_check=self._spawn_check(argv, env),
        )
        task = self.ex.tasks.create(
            kind=kind,
            name=name,
            argv=argv,
            cwd=cwd,
            owner=session.id if session else None,
            meta=task_meta,
            # Only process tasks can be restarted (task.restart): an agent's env (API keys) is not kept.
            spec=_run_spec(env, stdin, timeout, idle_timeout, quota) if kind is TaskKind.PROCESS else {},
        )
        self._ended[task.id] = asyncio.Event()
        if session is not None and lock:
            self.ex.sessions.lock(session, task.id)
        log.info("task_created", task=task.id, name=task.name, argv=argv[:8])
        self.ex.bus.publish(
            "task_state",
            task.id,
            {
                "from": None,
                "to": "queued",
                "reason": "created",
                "name": task.name,
                "kind": task.kind.value,
                "argv": argv[:64],
            },
        )
        self.ex.persist(task)
        self._queue.append((task, spec))
        self._start_queued()
        return task

    async def started_row(self, task: Task) -> TaskRow:
        """The row of a task from :meth:`submit` once its spawn has had a moment (so the row carries the pid)."""
        if task.state is not TaskState.QUEUED:
            await self._wait_started(task)
        return _task_row(task)

    async def _wait_started(self, task: Task) -> None:
        """Wait (up to a second) for the spawn of a STARTING task to finish."""
        spawn = self._spawns.get(task.id)
        if spawn is not None and task.state is TaskState.STARTING:
            await asyncio.wait([spawn], timeout=1.0)

    def _start_queued(self) -> None:
        while self._queue and self._running < self.ex.limits.max_running and not self.ex.closed:
            task, spec = self._queue.popleft()
            if task.state is not TaskState.QUEUED:
                continue
            self._running += 1
            self.transition(task, Transition.START, reason="slot_free")
            spawn = self._background(self._spawn(task, spec))
            self._spawns[task.id] = spawn
            spawn.add_done_callback(functools.partial(self._spawned, task.id))

    def _spawned(self, task_id: int, _spawn: asyncio.Future[None]) -> None:
        self._spawns.pop(task_id, None)

    async def _spawn(self, task: Task, spec: ProcessSpec) -> None:
        try:
            # Write-ahead: the task's row (its id names its containment and marker, all a restart
            # needs to find and kill its processes) is committed before its process exists.
            await self.ex.write_ahead()
            self._seam.after("write_ahead")
            await self.ex.processes.start(task, spec)
            self._seam.after("spawned")
        except Exception as exc:  # ServerError from the OS, or a bug: the task must still end truthfully
            task.end_reason = EndReason.FAILED
            task.end_detail = getattr(exc, "message", None) or repr(exc)
            self.transition(task, Transition.END, reason="failed", detail=task.end_detail)
            self.ended(task)
            return
        if task.state is TaskState.STARTING:
            where = {"node": task.meta["node"]} if "node" in task.meta else {}
            self.transition(task, Transition.STARTED, reason="spawned", pid=task.pid, **where)
            if task.pid and not is_remote(task):
                asyncio.get_running_loop().call_later(START_TIME_DELAY_S, self._record_start_time, task, task.pid)

    def _record_start_time(self, task: Task, pid: int) -> None:
        """Store the leader's start time, by which a restarted daemon tells it from a reused pid.

        Read a moment after the spawn, not at once: reading ``/proc/PID/stat`` of a child that
        is still finishing its exec waits for it (0.05-0.5 ms per task on the event loop), and
        most tasks of a burst have ended by then and need it no more.
        """
        if task.state is TaskState.ENDED or task.pid != pid or self.ex.closed:
            return
        pid_start = self.ex.processes.os.create_time(pid)
        if pid_start is not None:
            self.ex.persist(task, pid_start=pid_start)

    async def reattach(self, task: Task) -> None:
        """A remote task that was live when the previous daemon stopped: follow it again, or end it ``lost``."""
        saved = task.meta.get("remote_spec") or {}
        spec = ProcessSpec(
            list(task.argv or []),
            cwd=task.cwd or "",
            env={},
            stdin=bool(saved.get("stdin")),
            timeout=saved.get("timeout"),
            idle_timeout=saved.get("idle_timeout"),
            quota=int(saved.get("quota") or self.ex.limits.output_quota_bytes),
            grace=self.ex.limits.kill_grace_s,
        )
        self._ended[task.id] = asyncio.Event()
        self._running += 1
        why = await self.ex.processes.reattach(task, spec)
        if why is None:
            return
        task.end_reason = EndReason.LOST
        task.end_detail = f"the daemon stopped while this task was live; {why}"
        task.apply(Transition.END)  # every live state has an END edge; the table counts it
        self.ex.persist(task)
        self._running -= 1
        self._finish(task)

    def _end_without_running(self, task: Task, reason: EndReason, detail: str) -> None:
        task.end_reason = reason
        task.end_detail = detail
        self.transition(task, Transition.END, reason=reason.value, detail=detail)
        self._finish(task)

    def _row(self, task: Task) -> TaskInfo:
        d = cast(TaskInfo, task.to_dict())
        d["locked_by"] = self.ex.sessions.lock_owner(task.id)
        self.ex.programs.annotate(task, cast(dict[str, Any], d))  # TaskInfo is a TypedDict: a dict at run time
        out = self.live_output(task.id)
        if out is not None:
            d["output_bytes"] = cast(OutputBytes, out.sizes())
        return d

    def info(self, ref: int | str) -> TaskInfo:
        """The whole row of a task in memory (live, or among the newest ended); see :meth:`lookup` for any task."""
        return self.info_of(self.ex.tasks.get(ref))

    async def lookup(self, ref: int | str) -> TaskInfo:
        """:meth:`info` of any task, also one that has left memory (read from the store)."""
        return self.info_of(await self.ex.task_history.find(ref))

    def info_of(self, task: Task) -> TaskInfo:
        d = self._row(task)
        if "output_bytes" not in d and task.kind in (TaskKind.PROCESS, TaskKind.AGENT):
            d["output_bytes"] = cast(OutputBytes, {s: self._log_size(task.id, s) for s in STREAMS})
        return d

    def _control(self, ref: int | str, session_id: str | None) -> Task:
        task = self.ex.tasks.get(ref)
        if session_id:
            self.ex.sessions.get(session_id)
        self.ex.sessions.check_control(task.id, session_id)
        return task

    def pause(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        task = self._control(ref, session_id)
        if task.kind is TaskKind.VM:
            self.ex.vm.pause(task.id, session_id=session_id)
            return _task_row(task)
        if not task.can(Transition.PAUSE) or task.state is not TaskState.RUNNING:
            raise InvalidTransitionError(
                f"cannot pause task {task.id}: it is {task.state.value}; only running tasks pause",
                data={"task": task.id, "state": task.state.value},
            )
        self.ex.processes.pause(task)
        self.transition(task, Transition.PAUSE, reason="user")
        return _task_row(task)

    def resume(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        task = self._control(ref, session_id)
        if task.kind is TaskKind.VM:
            self.ex.vm.resume(task.id, session_id=session_id)
            return _task_row(task)
        if task.state is not TaskState.PAUSED:
            raise InvalidTransitionError(
                f"cannot resume task {task.id}: it is {task.state.value}; only paused tasks resume",
                data={"task": task.id, "state": task.state.value},
            )
        self.ex.processes.resume(task)
        self.transition(task, Transition.RESUME, reason="user")
        return _task_row(task)

    def _check_quota(self, quota: int) -> None:
        top = self.ex.limits.max_output_quota_bytes
        if not (0 < quota <= top):
            raise LimitError(f"quota must be 1..{top} bytes (limit max_output_quota_bytes)", data={"limit": top})

    def set_quota(self, ref: int | str, quota: int, *, session_id: str | None = None) -> TaskRow:
        """A new log quota for a live process task; one paused on its quota runs on at once."""
        task = self._control(ref, session_id)
        self._check_quota(quota)
        if task.kind is TaskKind.VM or not self.ex.processes.is_live(task.id):
            raise InvalidTransitionError(
                f"cannot set the quota of task {task.id}: it is {task.state.value} and not a running process task",
                data={"task": task.id, "state": task.state.value},
            )
        was_held = task.state is TaskState.PAUSED and task.pause_reason == "quota"
        if self.ex.processes.set_quota(task, quota) and was_held:
            self.transition(task, Transition.RESUME, reason="quota_raised", quota=quota)
        return _task_row(task)

    def cancel(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self._stop(ref, session_id, EndReason.CANCELLED)

    def kill(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self._stop(ref, session_id, EndReason.KILLED)

    def end_idle(self, ref: int | str) -> TaskRow:
        """End a task as ``idle_timeout`` on its supervisor's decision (an agent run that stopped making progress)."""
        return self._stop(ref, None, EndReason.IDLE_TIMEOUT)

    def _stop(self, ref: int | str, session_id: str | None, reason: EndReason) -> TaskRow:
        task = self._control(ref, session_id)
        verb = "cancel" if reason is EndReason.CANCELLED else "kill"
        if task.state is TaskState.ENDED:
            raise InvalidTransitionError(
                f"cannot {verb} task {task.id}: it has already ended "
                f"({task.end_reason.value if task.end_reason else 'ended'})",
                data={"task": task.id, "state": task.state.value},
            )
        if task.kind is TaskKind.VM:
            self.ex.vm.kill(task.id, session_id=session_id, reason=reason)
            return _task_row(task)
        if task.state is TaskState.QUEUED:
            self._queue = collections.deque(entry for entry in self._queue if entry[0] is not task)
            self._end_without_running(task, reason, f"{verb}led before it started")
            return _task_row(task)
        if task.state is TaskState.STOPPING and reason is not EndReason.KILLED:
            return _task_row(task)  # already on its way out; cancel is idempotent
        if not self.ex.processes.is_live(task.id):
            # Still spawning: stop it as soon as it exists.
            self._background(self._stop_when_spawned(task, reason))
            return _task_row(task)
        self.ex.processes.stop(task, reason)
        return _task_row(task)

    async def _stop_when_spawned(self, task: Task, reason: EndReason) -> None:
        await self._wait_started(task)
        if self.ex.processes.is_live(task.id):
            self.ex.processes.stop(task, reason)

    def input(
        self,
        ref: int | str,
        *,
        data: str | None = None,
        data_b64: str | None = None,
        eof: bool = False,
        session_id: str | None = None,
    ) -> TaskInputResult:
        task = self._control(ref, session_id)
        raw = data.encode() if data is not None else b""
        if data_b64 is not None:
            try:
                raw += base64.b64decode(data_b64, validate=True)
            except ValueError as exc:
                raise BadParamsError(f"data_b64 is not valid base64: {exc}") from exc
        if len(raw) > self.ex.limits.max_input_bytes:
            raise LimitError(
                f"input of {len(raw)} bytes exceeds the limit of {self.ex.limits.max_input_bytes}",
                data={"limit": self.ex.limits.max_input_bytes},
            )
        # A remote task still waiting for its node takes input too: it waits, in order, for the process.
        writable = (TaskState.RUNNING, TaskState.PAUSED) + ((TaskState.STARTING,) if is_remote(task) else ())
        if task.state not in writable:
            raise InvalidTransitionError(
                f"cannot write to task {task.id}: it is {task.state.value}", data={"task": task.id}
            )
        if task.kind is TaskKind.VM:
            return self.ex.vm.task_input(task, raw, eof)
        self.ex.processes.write_input(task, raw, eof)
        return {"task": task.id, "written": len(raw), "eof": eof}

    def live_output(self, task_id: int) -> TaskOutput | None:
        """The output sink of a task whose logs may still be growing (process or VM)."""
        out = self.ex.processes.live_output(task_id)
        if out is None:
            vt = self.ex.vm.runtime.tasks.get(task_id)
            out = vt.output if vt is not None else None
        return out

    def _log_size(self, task_id: int, stream: str) -> int:
        out = self.live_output(task_id)
        if out is not None:
            return out.logs[stream].size
        try:
            return self.ex.processes.log_path(task_id, stream).stat().st_size
        except OSError:
            return 0

    async def output(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> TaskOutputSlice:
        """Read a slice of a task's log by byte offset (works live, after the end, and after restarts).

        Returns ``{task, stream, offset, data | data_b64, next_offset, size, eof}``;
        ``eof`` is true when the task has ended and ``next_offset == size``.
        """
        raw = await self.output_bytes(ref, stream=stream, offset=offset, limit=limit)
        out = cast(dict[str, Any], raw)
        chunk = out.pop("data")
        try:
            out["data"] = chunk.decode("utf-8")
        except UnicodeDecodeError:
            out["data_b64"] = base64.b64encode(chunk).decode("ascii")
        return cast(TaskOutputSlice, out)

    async def output_bytes(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> TaskOutputBytes:
        """:meth:`output` with the slice as raw ``bytes`` in ``data`` (for in-process transports)."""
        task = await self.ex.task_history.find(ref)
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
        if offset < 0:
            raise BadParamsError("offset must be >= 0")
        cap = self.ex.limits.output_read_bytes
        n = cap if limit is None else limit
        if not (0 < n <= cap):
            raise LimitError(f"limit must be 1..{cap} bytes", data={"limit": cap})
        ended = task.state is TaskState.ENDED  # read before the size: an end seen here means the size is final
        size = self._log_size(task.id, stream)
        live = self.live_output(task.id)
        if live is not None:
            await live.logs[stream].flushed(offset + n)
        path = self.ex.processes.log_path(task.id, stream)
        chunk = await asyncio.to_thread(read_slice, path, offset, min(n, max(0, size - offset)))
        return {
            "task": task.id,
            "stream": cast(Any, stream),
            "offset": offset,
            "data": chunk,
            "next_offset": offset + len(chunk),
            "size": size,
            "eof": ended and offset + len(chunk) >= size,
        }

    def cached_output_into(self, task_id: int, stream: str, offset: int, into: memoryview) -> bool:
        """Fill ``into`` with the log bytes at ``offset`` if they are written and in the page cache
        (read on the loop, never waiting for a disk); False otherwise: use :meth:`output_bytes`."""
        live = self.live_output(task_id)
        if live is not None and live.logs[stream].written < offset + len(into):
            return False
        return read_cached(self.ex.processes.log_path(task_id, stream), offset, into)

    async def wait(self, ref: int | str, *, timeout: float | None = None) -> TaskWaitResult:
        """Wait until the task ends (or ``timeout`` seconds pass) and return its row with ``timed_out``."""
        task = await self.ex.task_history.find(ref)
        limit = self.ex.limits.max_wait_s
        t = limit if timeout is None else timeout
        if not (0 <= t <= limit):
            raise BadParamsError(f"timeout must be 0..{limit} seconds")
        ev = self._ended.get(task.id)
        timed_out = False
        if task.is_live and ev is not None:
            try:
                await asyncio.wait_for(ev.wait(), t)
            except TimeoutError:
                timed_out = True
        d = cast(TaskWaitResult, self._row(task))
        d["timed_out"] = timed_out
        return d


def _run_spec(
    env: dict[str, str] | None, stdin: bool, timeout: float | None, idle_timeout: float | None, quota: int | None
) -> dict[str, Any]:
    """What a restart needs beyond argv and cwd (only what was given: the defaults may change)."""
    spec: dict[str, Any] = {"env": dict(env or {})}
    given = {"stdin": stdin or None, "timeout": timeout, "idle_timeout": idle_timeout, "quota": quota}
    for key, value in given.items():
        if value is not None:
            spec[key] = value
    return spec


def _task_row(task: Task) -> TaskRow:
    return cast(TaskRow, task.to_dict())
