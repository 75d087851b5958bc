"""class Executive: the one public surface of the daemon.

Every transport (JSON-RPC over WebSocket, the HSX TCP port, the CLI when it
embeds the daemon) maps its requests onto methods of this class; none of them
touches the kernel or a runtime directly.  All state lives on one asyncio
event loop: no locks, no threads touching state (DESIGN.md §3).  Disk writes
go to the store's single writer thread.

Lifecycle: ``await Executive.open(home)`` restores history from the store
(tasks that were live when the previous daemon died become ``lost``) and
starts housekeeping; ``await executive.close()`` cancels live tasks and
flushes the store.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import os
import secrets
import signal as _signal
import time
from pathlib import Path
from typing import Any

import structlog

from executive.agents.service import AgentService
from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError, NotFoundError
from executive.kernel.events import EventBus, Subscription
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.kernel.sessions import Session, SessionManager
from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState, TaskTable, Transition
from executive.paths import make_private_dir
from executive.pipeline.engine import PipelineEngine
from executive.runtimes.allowlist import AllowList
from executive.runtimes.output import TaskOutput
from executive.runtimes.process import STREAMS, ProcessRuntime, ProcessSpec
from executive.runtimes.process_os import ProcessOS
from executive.service_debug import DebugService
from executive.service_vm import VmService
from executive.store.sqlite import SqliteStore
from executive.store.writer import StoreWriter
from executive.task_records import task_from_row, task_to_row

__all__ = ["BASE_ENV_KEYS", "Executive", "OutputWatch"]

log = structlog.get_logger("executive")

# Variables a child inherits from the daemon; everything else must be passed explicitly.
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM", "SHELL")


class Executive:
    """The daemon's service object.  Create with :meth:`open`."""

    def __init__(
        self,
        home: Path,
        *,
        limits: Limits = DEFAULT_LIMITS,
        allow_list: AllowList | None = None,
        os_api: ProcessOS | None = None,
    ) -> None:
        self.home = Path(home)
        self.limits = limits
        self.allow_list = allow_list
        self.bus = EventBus(history_events=limits.history_events, history_bytes=limits.history_bytes)
        self.tasks = TaskTable(max_ended=limits.max_tasks_in_memory)
        self.sessions = SessionManager(
            max_sessions=limits.max_sessions, idle_s=limits.session_idle_s, max_locks=limits.max_locks_per_session
        )
        instance = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        self.processes = ProcessRuntime(self, home=self.home, os_api=os_api, instance=instance)
        self.vm = VmService(self)  # HSX programs: loading, scheduling, registers, memory, mailboxes
        self.debug = DebugService(self)  # debugger services over VM tasks (breakpoints, symbols, stack, watches, trace)
        self.started_at = time.time()
        self._store: StoreWriter | None = None
        self._queue: collections.deque[tuple[Task, ProcessSpec]] = collections.deque()
        self._running = 0  # tasks holding a running slot (STARTING/RUNNING/PAUSED/STOPPING)
        self._ended: dict[int, asyncio.Event] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        self._closed = False
        self.pipelines = PipelineEngine(self)  # phased pipeline runs (pipeline/engine.py)
        self.agents: AgentService | None = None  # agent runs, worktrees, patches, patterns, fix loop (set by open)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, home: str | os.PathLike[str], **kw: Any) -> Executive:
        """Create the service on ``home``: store, history, lost-task recovery, housekeeping."""
        self = cls(Path(home), **kw)
        make_private_dir(self.home)
        make_private_dir(self.home / "tasks")
        store = SqliteStore(self.home / "executive.db")
        self._store = StoreWriter(store)
        # Event seqs continue after the previous run's lease, so they never repeat (kernel/events.py).
        lease = int(await self._store.call(lambda s: s.get_meta("event_seq_lease", "0")) or 0)
        self.bus.resume_from(lease, lambda limit: store.set_meta("event_seq_lease", str(limit), durable=True))
        await self._restore()
        await self.pipelines.start()  # interrupted runs wait for `pipeline resume`; approval waits re-attach
        self.agents = AgentService(self)
        await self.agents.open()
        self._housekeeping = asyncio.create_task(self._housekeep())
        return self

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._housekeeping:
            self._housekeeping.cancel()
        # Pipelines first: a step whose task shutdown ends (queued or running) must stay
        # "in flight" in its checkpoint, so `pipeline resume` re-runs it.
        await self.pipelines.aclose()
        for task, _spec in list(self._queue):
            self._end_without_running(task, EndReason.CANCELLED, "daemon stopped before the task started")
        self._queue.clear()
        await self.vm.aclose()
        await self.processes.shutdown()
        if self.agents is not None:
            await self.agents.aclose()
        if self._store is not None:
            await self._store.flush()
            self._store.close()

    async def _restore(self) -> None:
        assert self._store is not None
        limit = self.limits.max_tasks_in_memory
        rows = await self._store.call(lambda s: s.load_tasks(limit))
        self.tasks.seed(await self._store.call(lambda s: s.next_task_id()))
        # A task created just before a crash may have a log directory but no row yet: never reuse its id.
        dirs = [int(p.name) for p in (self.home / "tasks").iterdir() if p.name.isdigit()]
        if dirs:
            self.tasks.seed(max(dirs) + 1)
        for row in rows:
            task, pid_start = task_from_row(row), row["pid_start"]
            if task.is_live:
                detail = "the daemon stopped while this task was live"
                if task.pid and self.processes.os.alive(task.pid, pid_start):
                    pids = self.processes.os.tree(task.pid, self.processes.marker(task.id))
                    self.processes.os.signal_all(pids, _signal.SIGKILL)
                    detail += "; its orphaned process tree was killed"
                task.state = TaskState.ENDED
                task.end_reason = EndReason.LOST
                task.end_detail = detail
                task.ended = task.ended or time.time()
                self.persist(task)
                log.info("task_transition", task=task.id, **{"from": "live", "to": "ended"}, reason="lost")
            self.tasks.insert(task)

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for s in self.sessions.expire():
                log.info("session_expired", session=s.id, client=s.client)
                self.bus.publish("session", None, {"session": s.id, "state": "expired"})

    @property
    def store(self) -> StoreWriter:
        """The store's writer thread (every durable write goes through it)."""
        if self._store is None:
            raise RuntimeError("Executive.open() has not run")
        return self._store

    # ------------------------------------------------------------ TaskHost hooks
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
        payload.update(data)
        self.bus.publish("task_state", task.id, payload)
        self.persist(task)

    def persist(self, task: Task, *, pid_start: float | None = None) -> None:
        if self._store is not None:
            row = task_to_row(task, pid_start=pid_start)
            self._store.submit(lambda s: s.save_task(row))

    def persist_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        if self._store is not None:
            self._store.submit(lambda s: s.save_log(task_id, stream, path, size))

    def task_ended(self, task: Task) -> None:
        """A task that held a running slot has ended: free the slot, wake waiters, start the next."""
        self._running -= 1
        self._finish(task)
        self._start_queued()

    def vm_task_ended(self, task: Task) -> None:
        """An HSX program ended (VM tasks hold no process slot)."""
        self._finish(task)

    def register_task(self, task: Task) -> None:
        """Start tracking a task created outside task_run (waiters, persistence)."""
        self._ended[task.id] = asyncio.Event()
        self.persist(task)

    def _finish(self, task: Task) -> None:
        self.tasks.note_ended(task)
        for sid in [self.sessions.lock_owner(task.id)]:
            if sid is not None:
                self.sessions.release_task(task.id)
        ev = self._ended.pop(task.id, None)
        if ev is not None:
            ev.set()

    # ------------------------------------------------------------------ sessions
    def session_open(
        self, *, client: str = "", capabilities: list[str] | None = None, idle_s: float | None = None
    ) -> dict[str, Any]:
        session, warnings = self.sessions.open(client=client, capabilities=capabilities, idle_s=idle_s)
        log.info("session_open", session=session.id, client=client)
        out = session.to_dict(time.time())
        out["warnings"] = warnings
        return out

    def session_keepalive(self, session_id: str) -> dict[str, Any]:
        return self.sessions.get(session_id).to_dict(time.time())

    def session_close(self, session_id: str) -> dict[str, Any]:
        s = self.sessions.close(session_id)
        log.info("session_close", session=s.id)
        return {"id": s.id, "closed": True}

    def session_list(self) -> list[dict[str, Any]]:
        now = time.time()
        return [s.to_dict(now) for s in self.sessions.list()]

    def _session(self, session_id: str | None) -> Session | None:
        return self.sessions.get(session_id) if session_id else None

    def task_lock(self, ref: int | str, session_id: str) -> dict[str, Any]:
        task = self.tasks.get(ref)
        self.sessions.lock(self.sessions.get(session_id), task.id)
        return {"task": task.id, "locked_by": session_id}

    def task_unlock(self, ref: int | str, session_id: str) -> dict[str, Any]:
        task = self.tasks.get(ref)
        self.sessions.unlock(self.sessions.get(session_id), task.id)
        return {"task": task.id, "locked_by": self.sessions.lock_owner(task.id)}

    # --------------------------------------------------------------------- tasks
    def _child_env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        env.setdefault("PATH", os.defpath)
        if extra:
            env.update(extra)
        return env

    def _validate_run(self, argv: Any, env: Any, cwd: Any, name: Any) -> tuple[list[str], dict[str, str], str]:
        lim = self.limits
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
        if not os.path.isdir(cwd):
            raise BadParamsError(f"cwd {cwd!r} is not a directory", data={"cwd": cwd})
        child_env = self._child_env(env)
        exe = argv[0] if os.sep not in argv[0] or os.path.isabs(argv[0]) else os.path.join(cwd, argv[0])
        real = self.processes.os.which(exe, child_env.get("PATH"))
        if real is None:
            raise BadParamsError(
                f"executable {argv[0]!r} not found on the task's PATH; give a full path, or set PATH with env",
                code=ErrorCode.INVALID_ARGV,
                data={"argv0": argv[0]},
            )
        if self.allow_list is not None:
            self.allow_list.check(real, argv, env)
        return argv, child_env, cwd

    async def task_run(
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
    ) -> dict[str, Any]:
        """Start (or queue) a supervised process task and return its row.

        Raises:
            BadParamsError: argv/env/cwd/name invalid, or the executable is not found.
            NotAllowedError: the allow-list refuses the command.
            LimitError: the queue is full.
        """
        argv, child_env, cwd = self._validate_run(argv, env, cwd, name)
        session = self._session(session_id)
        for label, value in (("timeout", timeout), ("idle_timeout", idle_timeout)):
            if value is not None and not (0 < value <= 30 * 24 * 3600):
                raise BadParamsError(f"{label} must be between 0 and 30 days (seconds), got {value}")
        q = self.limits.output_quota_bytes if quota is None else quota
        if not (0 < q <= self.limits.output_quota_bytes):
            raise LimitError(
                f"quota must be 1..{self.limits.output_quota_bytes} bytes",
                data={"limit": self.limits.output_quota_bytes},
            )
        if self._running >= self.limits.max_running and len(self._queue) >= self.limits.max_queued:
            raise LimitError(
                f"the queue is full ({self.limits.max_queued} tasks wait for {self.limits.max_running} running slots); try later",
                data={"limit": self.limits.max_queued},
            )
        spec = ProcessSpec(
            argv,
            cwd=cwd,
            env=child_env,
            stdin=stdin,
            timeout=timeout,
            idle_timeout=idle_timeout,
            quota=q,
            grace=self.limits.kill_grace_s,
        )
        task = self.tasks.create(
            kind=kind, name=name, argv=argv, cwd=cwd, owner=session.id if session else None, meta=dict(meta or {})
        )
        self._ended[task.id] = asyncio.Event()
        if session is not None and lock:
            self.sessions.lock(session, task.id)
        log.info("task_created", task=task.id, name=task.name, argv=argv[:8])
        self.bus.publish(
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
        self.persist(task)
        self._queue.append((task, spec))
        self._start_queued()
        if task.state is TaskState.QUEUED:
            return task.to_dict()
        # Give the spawn a chance to finish so the reply carries the pid.
        await self._wait_started(task)
        return task.to_dict()

    async def _wait_started(self, task: Task) -> None:
        for _ in range(200):
            if task.state is not TaskState.STARTING:
                return
            await asyncio.sleep(0.005)

    def _start_queued(self) -> None:
        while self._queue and self._running < self.limits.max_running and not self._closed:
            task, spec = self._queue.popleft()
            if task.state is not TaskState.QUEUED:
                continue
            self._running += 1
            self.transition(task, Transition.START, reason="slot_free")
            asyncio.ensure_future(self._spawn(task, spec))

    async def _spawn(self, task: Task, spec: ProcessSpec) -> None:
        try:
            await self.processes.start(task, spec)
        except Exception as exc:  # ServerError from the OS, or a bug: the task must still end truthfully
            task.end_reason = EndReason.FAILED
            task.end_detail = getattr(exc, "message", None) or repr(exc)
            self.transition(task, Transition.END, reason="failed", detail=task.end_detail)
            self.task_ended(task)
            return
        pid_start = self.processes.os.create_time(task.pid) if task.pid else None
        if task.state is TaskState.STARTING:
            self.transition(task, Transition.STARTED, reason="spawned", pid=task.pid)
            self.persist(task, pid_start=pid_start)

    def _end_without_running(self, task: Task, reason: EndReason, detail: str) -> None:
        task.end_reason = reason
        task.end_detail = detail
        self.transition(task, Transition.END, reason=reason.value, detail=detail)
        self._finish(task)

    def task_list(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        rows = [
            t
            for t in self.tasks
            if (state is None or t.state.value == state) and (kind is None or t.kind.value == kind)
        ]
        rows.sort(key=lambda t: t.id)
        return [self._row(t) for t in rows[-limit:]]

    def _row(self, task: Task) -> dict[str, Any]:
        d = task.to_dict()
        d["locked_by"] = self.sessions.lock_owner(task.id)
        out = self._live_output(task.id)
        if out is not None:
            d["output_bytes"] = out.sizes()
        return d

    def task_info(self, ref: int | str) -> dict[str, Any]:
        task = self.tasks.get(ref)
        d = self._row(task)
        if "output_bytes" not in d and task.kind in (TaskKind.PROCESS, TaskKind.AGENT):
            d["output_bytes"] = {s: self._log_size(task.id, s) for s in STREAMS}
        return d

    def _control(self, ref: int | str, session_id: str | None) -> Task:
        task = self.tasks.get(ref)
        if session_id:
            self.sessions.get(session_id)
        self.sessions.check_control(task.id, session_id)
        return task

    def task_pause(self, ref: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        task = self._control(ref, session_id)
        if task.kind is TaskKind.VM:
            self.vm.pause(task.id, session_id=session_id)
            return task.to_dict()
        if not task.can(Transition.PAUSE) or task.state is not TaskState.RUNNING:
            raise InvalidTransitionError(
                f"cannot pause task {task.id}: it is {task.state.value}; only running tasks pause",
                data={"task": task.id, "state": task.state.value},
            )
        self.processes.pause(task)
        self.transition(task, Transition.PAUSE, reason="user")
        return task.to_dict()

    def task_resume(self, ref: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        task = self._control(ref, session_id)
        if task.kind is TaskKind.VM:
            self.vm.resume(task.id, session_id=session_id)
            return task.to_dict()
        if task.state is not TaskState.PAUSED:
            raise InvalidTransitionError(
                f"cannot resume task {task.id}: it is {task.state.value}; only paused tasks resume",
                data={"task": task.id, "state": task.state.value},
            )
        self.processes.resume(task)
        self.transition(task, Transition.RESUME, reason="user")
        return task.to_dict()

    def task_cancel(self, ref: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        return self._stop(ref, session_id, EndReason.CANCELLED)

    def task_end_idle(self, ref: int | str) -> dict[str, Any]:
        """End a task as ``idle_timeout`` on its supervisor's decision (an agent run that stopped making progress)."""
        return self._stop(ref, None, EndReason.IDLE_TIMEOUT)

    def task_kill(self, ref: int | str, *, session_id: str | None = None) -> dict[str, Any]:
        return self._stop(ref, session_id, EndReason.KILLED)

    def _stop(self, ref: int | str, session_id: str | None, reason: EndReason) -> dict[str, Any]:
        task = self._control(ref, session_id)
        verb = "cancel" if reason is EndReason.CANCELLED else "kill"
        if task.state is TaskState.ENDED:
            raise InvalidTransitionError(
                f"cannot {verb} task {task.id}: it has already ended ({task.end_reason.value if task.end_reason else 'ended'})",
                data={"task": task.id, "state": task.state.value},
            )
        if task.kind is TaskKind.VM:
            self.vm.kill(task.id, session_id=session_id, reason=reason)
            return task.to_dict()
        if task.state is TaskState.QUEUED:
            self._queue = collections.deque(entry for entry in self._queue if entry[0] is not task)
            self._end_without_running(task, reason, f"{verb}led before it started")
            return task.to_dict()
        if task.state is TaskState.STOPPING and reason is not EndReason.KILLED:
            return task.to_dict()  # already on its way out; cancel is idempotent
        if not self.processes.is_live(task.id):
            # Still spawning: stop it as soon as it exists.
            asyncio.ensure_future(self._stop_when_spawned(task, reason))
            return task.to_dict()
        self.processes.stop(task, reason)
        return task.to_dict()

    async def _stop_when_spawned(self, task: Task, reason: EndReason) -> None:
        await self._wait_started(task)
        if self.processes.is_live(task.id):
            self.processes.stop(task, reason)

    def task_input(
        self,
        ref: int | str,
        *,
        data: str | None = None,
        data_b64: str | None = None,
        eof: bool = False,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        task = self._control(ref, session_id)
        raw = data.encode() if data is not None else b""
        if data_b64 is not None:
            try:
                raw += base64.b64decode(data_b64, validate=True)
            except ValueError as exc:
                raise BadParamsError(f"data_b64 is not valid base64: {exc}") from exc
        if len(raw) > self.limits.max_input_bytes:
            raise LimitError(
                f"input of {len(raw)} bytes exceeds the limit of {self.limits.max_input_bytes}",
                data={"limit": self.limits.max_input_bytes},
            )
        if task.state not in (TaskState.RUNNING, TaskState.PAUSED):
            raise InvalidTransitionError(
                f"cannot write to task {task.id}: it is {task.state.value}", data={"task": task.id}
            )
        if task.kind is TaskKind.VM:
            return self.vm.task_input(task, raw, eof)
        self.processes.write_input(task, raw, eof)
        return {"task": task.id, "written": len(raw), "eof": eof}

    def _live_output(self, task_id: int) -> TaskOutput | None:
        """The output sink of a task whose logs may still be growing (process or VM)."""
        out = self.processes.live_output(task_id)
        if out is None:
            vt = self.vm.runtime.tasks.get(task_id)
            out = vt.output if vt is not None else None
        return out

    def _log_size(self, task_id: int, stream: str) -> int:
        out = self._live_output(task_id)
        if out is not None:
            return out.logs[stream].size
        try:
            return self.processes.log_path(task_id, stream).stat().st_size
        except OSError:
            return 0

    async def task_output(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """Read a slice of a task's log by byte offset (works live, after the end, and after restarts).

        Returns ``{task, stream, offset, data | data_b64, next_offset, size, eof}``;
        ``eof`` is true when the task has ended and ``next_offset == size``.
        """
        out = await self.task_output_bytes(ref, stream=stream, offset=offset, limit=limit)
        chunk = out.pop("data")
        try:
            out["data"] = chunk.decode("utf-8")
        except UnicodeDecodeError:
            out["data_b64"] = base64.b64encode(chunk).decode("ascii")
        return out

    async def task_output_bytes(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """:meth:`task_output` with the slice as raw ``bytes`` in ``data`` (for in-process transports)."""
        task = self.tasks.get(ref)
        if stream not in STREAMS:
            raise BadParamsError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
        if offset < 0:
            raise BadParamsError("offset must be >= 0")
        cap = self.limits.output_read_bytes
        n = cap if limit is None else limit
        if not (0 < n <= cap):
            raise LimitError(f"limit must be 1..{cap} bytes", data={"limit": cap})
        ended = task.state is TaskState.ENDED  # read before the size: an end seen here means the size is final
        size = self._log_size(task.id, stream)
        live = self._live_output(task.id)
        if live is not None:
            await live.logs[stream].flushed(offset + n)
        path = self.processes.log_path(task.id, stream)
        chunk = await asyncio.to_thread(_read_slice, path, offset, min(n, max(0, size - offset)))
        return {
            "task": task.id,
            "stream": stream,
            "offset": offset,
            "data": chunk,
            "next_offset": offset + len(chunk),
            "size": size,
            "eof": ended and offset + len(chunk) >= size,
        }

    def open_output_watch(self, ref: int | str) -> OutputWatch:
        """A wake-up signal for one task: :meth:`OutputWatch.wait` returns once its output grows or its state changes.

        For transports that stream a task's log by offset (api/ccx.py): they read
        with :meth:`task_output_bytes` and wait here when they have caught up.  The
        caller must :meth:`OutputWatch.close` it.
        """
        task = self.tasks.get(ref)
        # A tiny ring: the events are only a doorbell; the bytes are read from the log.
        sub = self.bus.subscribe(types=["output", "task_state", "quota"], pids=[task.id], max_events=4, max_bytes=1)
        return OutputWatch(self.bus, sub)

    async def task_wait(self, ref: int | str, *, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the task ends (or ``timeout`` seconds pass) and return its row with ``timed_out``."""
        task = self.tasks.get(ref)
        limit = self.limits.max_wait_s
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
        d = self._row(task)
        d["timed_out"] = timed_out
        return d

    # -------------------------------------------------------------------- events
    def subscribe(
        self,
        *,
        types: list[str] | None = None,
        tasks: list[int] | None = None,
        since_seq: int | None = None,
        ack_window: int | None = None,
        owner: Any = None,
    ) -> Subscription:
        lim = self.limits
        if len(self.bus.subscriptions()) >= lim.max_subscriptions:
            raise LimitError(
                f"too many subscriptions ({lim.max_subscriptions}); unsubscribe unused ones",
                data={"limit": lim.max_subscriptions},
            )
        if len(types or ()) > lim.max_event_filters or len(tasks or ()) > lim.max_event_filters:
            raise LimitError(
                f"at most {lim.max_event_filters} entries per filter", data={"limit": lim.max_event_filters}
            )
        if since_seq is not None and since_seq < 0:
            raise BadParamsError("since_seq must be >= 0")
        if ack_window is not None and not (1 <= ack_window <= lim.subscription_events):
            raise BadParamsError(f"ack_window must be 1..{lim.subscription_events}")
        return self.bus.subscribe(
            types=types,
            pids=tasks,
            since_seq=since_seq,
            max_events=lim.subscription_events,
            max_bytes=lim.subscription_bytes,
            ack_window=ack_window,
            owner=owner,
            max_control=lim.subscription_control_events,
        )

    def subscription(self, sub_id: int, owner: Any = None) -> Subscription:
        sub = self.bus.get(sub_id)
        if sub is None or (owner is not None and sub.owner is not owner):
            raise NotFoundError(
                f"no subscription {sub_id} on this connection",
                code=ErrorCode.SUBSCRIPTION_NOT_FOUND,
                data={"subscription": sub_id},
            )
        return sub

    def unsubscribe(self, sub_id: int, owner: Any = None) -> dict[str, Any]:
        self.subscription(sub_id, owner)
        self.bus.unsubscribe(sub_id)
        return {"subscription": sub_id, "unsubscribed": True}

    def health(self) -> dict[str, Any]:
        live = sum(1 for t in self.tasks if t.is_live)
        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.started_at, 3),
            "tasks_live": live,
            "tasks_queued": len(self._queue),
            "sessions": len(self.sessions),
            "subscriptions": len(self.bus.subscriptions()),
            "last_seq": self.bus.last_seq,
        }


class OutputWatch:
    """See :meth:`Executive.open_output_watch`."""

    def __init__(self, bus: EventBus, sub: Subscription) -> None:
        self._bus = bus
        self._sub = sub
        self._rung = asyncio.Event()
        sub.notify = self._rung.set

    async def wait(self, timeout: float) -> None:
        """Return when something happened to the task since the last wait (or after ``timeout`` seconds)."""
        if not self._sub.ready():
            try:
                await asyncio.wait_for(self._rung.wait(), timeout)
            except TimeoutError:
                pass
        self._rung.clear()
        self._sub.drain(1 << 30, 1 << 62)

    def close(self) -> None:
        if not self._sub.closed:
            self._bus.unsubscribe(self._sub.id)


def _read_slice(path: Path, offset: int, n: int) -> bytes:
    if n <= 0:
        return b""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(n)
    except FileNotFoundError:
        return b""


def new_token() -> str:
    return secrets.token_urlsafe(32)
