"""class Executive: the one public surface of the daemon.

Every transport (JSON-RPC over WebSocket, the HSX TCP port, the CLI when it
embeds the daemon) maps its requests onto methods of this object and of its
sub-services (``vm``, ``debug``, ``agents``, ``pipelines``); none of them touches
the kernel, a runtime or the store directly (tests/test_layering.py checks it).
All state lives on one asyncio event loop: no locks, no threads touching state
(DESIGN.md §3).  Disk writes go to the store's single writer thread.

The surface, one module each: tasks (service/tasks.py), sessions and locks
(sessions.py), events (events.py), HSX programs (vm.py), the debugger with its
trace buffers (debug.py, trace.py), the agents layer (agents.py), pipelines
(pipelines.py) and programs: restart policies and the programs file (programs.py,
programs_file.py).  Every public method returns a typed value (service/results/).

Lifecycle, the same on every sub-service: ``await Executive.open(home)`` restores
history from the store (tasks that were live when the previous daemon died become
``lost``) and starts housekeeping; ``await executive.aclose()`` cancels live tasks
and flushes the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal as _signal
import time
from pathlib import Path
from typing import Any, cast

import structlog

from executive.agents.service import AgentService
from executive.kernel.events import EventBus, Subscription
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.kernel.sessions import SessionManager
from executive.kernel.tasks import LIVE_STATES, EndReason, Task, TaskKind, TaskTable, Transition
from executive.logs import log_dropped
from executive.paths import make_private_dir
from executive.pipeline.engine import PipelineEngine
from executive.runtimes.allowlist import AllowList
from executive.runtimes.heap import HeapTrimmer, glibc_malloc_trim
from executive.runtimes.placed import PlacedRuntime, is_remote
from executive.runtimes.process import ProcessRuntime
from executive.runtimes.process_os import ProcessOS
from executive.service.agents import AgentsService
from executive.service.debug import DebugService
from executive.service.events import EventService, OutputWatch
from executive.service.pipelines import PipelinesService
from executive.service.programs import ProgramService
from executive.service.programs_file import ProgramsConfig
from executive.service.results import (
    ClusterNode,
    ClusterNodes,
    DaemonLimits,
    EventRecord,
    EventsAcked,
    Health,
    SessionClosed,
    SessionInfo,
    SessionOpened,
    TaskInfo,
    TaskInputResult,
    TaskLockResult,
    TaskOutputBytes,
    TaskOutputSlice,
    TaskPage,
    TaskRestarted,
    TaskRow,
    TaskStatsResult,
    TaskWaitResult,
    Unsubscribed,
)
from executive.service.sessions import SessionService
from executive.service.task_history import DEFAULT_PAGE, TaskHistory
from executive.service.task_stats import TaskStatsService
from executive.service.tasks import BASE_ENV_KEYS, TaskService
from executive.service.vm import VmService
from executive.store.records import LogSize
from executive.store.records import TaskRow as StoredTaskRow
from executive.store.sqlite import SqliteStore
from executive.store.writer import StoreWriter
from executive.task_records import task_from_row, task_to_row

__all__ = ["BASE_ENV_KEYS", "Executive", "OutputWatch", "load_allow_list"]

log = structlog.get_logger("executive")

_CLEAN_STOP = "clean_stop"  # meta key: "1" when the last daemon on this home stopped with every task row written


def load_allow_list(path: str | os.PathLike[str]) -> AllowList:
    """Read an allow-list file (runtimes/allowlist.py) for :meth:`Executive.open`'s ``allow_list``."""
    return AllowList.load(Path(path))


class Executive:
    """The daemon's service object.  Create with :meth:`open`, end with :meth:`aclose`."""

    def __init__(
        self,
        home: Path,
        *,
        limits: Limits = DEFAULT_LIMITS,
        allow_list: AllowList | None = None,
        os_api: ProcessOS | None = None,
        ray_address: str | None = None,
        programs: ProgramsConfig | None = None,
    ) -> None:
        self.home = Path(home)
        self._programs_config = programs  # the programs file of `serve --config` (applied by open)
        self.limits = limits
        self.allow_list = allow_list
        # The kernel and the runtimes: the layers below use these through their host Protocols;
        # transports never do (they call the methods below).
        self.bus = EventBus(history_events=limits.history_events, history_bytes=limits.history_bytes)
        self.tasks = TaskTable(max_ended=limits.max_tasks_in_memory)
        self.sessions = SessionManager(
            max_sessions=limits.max_sessions,
            idle_s=limits.session_idle_s,
            max_locks=limits.max_locks_per_session,
            resume_grace_s=limits.session_resume_grace_s,
        )
        instance = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        # Process tasks run here, or on a Ray cluster when their placement says so (runtimes/placed.py).
        self.processes = PlacedRuntime(self, ProcessRuntime(self, home=self.home, os_api=os_api, instance=instance))
        self.ray_address = ray_address
        # The sub-services.
        self.task_service = TaskService(self)  # process tasks: run queue, control, output, waiting
        self.task_stats_service = TaskStatsService(self)  # tree samples, restarts, limits (the dashboard's)
        self.task_history = TaskHistory(self)  # pages of task.list, summaries, tasks that left memory
        self.session_service = SessionService(self.sessions, self.tasks, self.bus)
        self.event_service = EventService(self.bus, limits)
        self.vm = VmService(self)  # HSX programs: loading, scheduling, registers, memory, mailboxes
        self.debug = DebugService(self)  # debugger services over VM tasks (breakpoints, symbols, stack, watches, trace)
        self.pipelines = PipelinesService(PipelineEngine(self))  # phased pipeline runs
        self.agents = AgentsService()  # agent runs, worktrees, patches, patterns, fix loop (attached by open)
        self.programs = ProgramService(self)  # restart policies and the programs file (a layer above tasks)
        self.started_at = time.time()
        self._store: StoreWriter | None = None
        self._pending_rows: dict[int, StoredTaskRow] = {}  # task rows saved this loop turn, written together
        self._pending_logs: list[LogSize] = []  # ended tasks' log sizes saved this loop turn
        self._rows_scheduled = False
        self._housekeeping: asyncio.Task[None] | None = None
        self._closed = False

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
        if self.ray_address:
            try:
                await self.processes.connect_ray(self.ray_address)
            except BaseException:
                self._store.close()
                raise
        await self._restore()
        await self.pipelines.open()  # interrupted runs wait for `pipeline resume`; approval waits re-attach
        await self.agents.open(AgentService(self))
        await self.programs.open(self._programs_config)  # interrupted programs run again; the file is applied
        self._housekeeping = asyncio.create_task(self._housekeep())
        return self

    async def aclose(self) -> None:
        """Stop: pipelines, queued and live tasks, programs, the agents layer; flush the store.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.programs.aclose()  # before any task is stopped: the ends that follow are the daemon's doing
        if self._housekeeping:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        # Pipelines first: a step whose task shutdown ends (queued or running) must stay
        # "in flight" in its checkpoint, so `pipeline resume` re-runs it.
        await self.pipelines.aclose()
        self.task_service.cancel_queued()
        await self.vm.aclose()
        await self.task_service.settle_background()  # spawns in flight finish, so shutdown finds their processes
        await self.processes.shutdown()
        await self.agents.aclose()
        if self._store is not None:
            self._flush_rows()
            await self._store.flush()
            # Every task's row is written: the next start need not look for directories without one.
            await self._store.call(lambda s: s.set_meta(_CLEAN_STOP, "1", durable=True))
            self._store.close()

    @property
    def containment(self) -> str:
        """How every task's processes are found and killed (a cgroup per task, or the daemon as subreaper)."""
        return str(self.processes.containment.describe())

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has begun (no queued task starts after that)."""
        return self._closed

    async def _restore(self) -> None:
        """Load every live task and the newest ``limits.tasks_restored`` ones; the older ones stay in the store.

        Start-up so costs the live and recent tasks, not the history: a task older than the
        loaded ones is read from the store when asked for (service/task_history.py), and
        ``tasks.complete_from`` says from which id on every task is in memory.  Tasks that
        were live when the previous daemon stopped end as ``lost`` (their orphaned trees
        killed); remote ones are re-attached.
        """
        assert self._store is not None
        recent = self.limits.tasks_restored
        live_states = sorted(s.value for s in LIVE_STATES)
        rows = await self._store.call(lambda s: s.load_tasks(recent, states=live_states))
        self.tasks.seed(await self._store.call(lambda s: s.next_task_id()))
        newest = sorted((r["id"] for r in rows), reverse=True)
        if recent <= 0:
            self.tasks.complete_from = self.tasks.peek_next_id()
        elif len(newest) >= recent:  # there may be older tasks: ids below the newest block are in the store only
            self.tasks.complete_from = newest[recent - 1]
        # A task created just before a crash may have a log directory but no row yet: never reuse its id.
        # After a clean stop every task has its row (aclose writes them all), so this scan of every task's
        # directory, which grows with history, runs only after a crash (or on a home of an older release).
        clean = await self._store.call(lambda s: s.get_meta(_CLEAN_STOP))
        await self._store.call(lambda s: s.set_meta(_CLEAN_STOP, "0", durable=True))
        if clean != "1":
            dirs = [int(name) for name in os.listdir(self.home / "tasks") if name.isdigit()]
            if dirs:
                self.tasks.seed(max(dirs) + 1)
        remote: list[Task] = []
        for row in rows:
            task, pid_start = task_from_row(row), row["pid_start"]
            if task.is_live and is_remote(task):
                remote.append(task)  # its actor may outlive us: re-attach below (a remote pid is not ours to check)
            elif task.is_live:
                detail = "the daemon stopped while this task was live"
                leader = task.pid if task.pid and self.processes.os.alive(task.pid, pid_start) else None
                marker = self.processes.marker(task.id)
                pids = await asyncio.to_thread(self.processes.os.tree, leader, marker)  # (a cgroup outlives us)
                if leader is not None:
                    pids = sorted(set(pids) | {leader})
                    self.processes.os.signal_group(leader, _signal.SIGKILL)
                if pids:
                    self.processes.os.signal_all(pids, _signal.SIGKILL)
                    self.processes.os.kill_unit(marker, pids)
                    detail += "; its orphaned process tree was killed"
                for _ in range(20):  # killed processes take a moment to leave their cgroup
                    if self.processes.os.release(marker):
                        break
                    await asyncio.sleep(0.05)
                prev = task.apply(Transition.END)  # every live state has an END edge (kernel/tasks.py)
                task.end_reason = EndReason.LOST
                task.end_detail = detail
                self.persist(task)
                log.info("task_transition", task=task.id, **{"from": prev.value, "to": "ended"}, reason="lost")
            self.tasks.insert(task)
        for task in remote:
            await self.task_service.reattach(task)

    async def _housekeep(self) -> None:
        trimmer = HeapTrimmer(trim=glibc_malloc_trim())
        while True:
            await asyncio.sleep(1.0)
            self.session_service.expire()
            await trimmer.tick(self.event_service.last_seq)  # memory of a finished burst goes back to the OS

    @property
    def store(self) -> StoreWriter:
        """The store's writer thread (every durable write goes through it)."""
        if self._store is None:
            raise RuntimeError("Executive.open() has not run")
        self._flush_rows()  # task rows saved earlier reach the store before whatever the caller submits
        return self._store

    # ------------------------------------------------------------ TaskHost hooks (the runtimes call these)
    def transition(self, task: Task, tr: Transition, *, reason: str, **data: Any) -> None:
        """Apply one state-machine edge, log it, publish ``task_state``, persist."""
        self.task_service.transition(task, tr, reason=reason, **data)

    def persist(self, task: Task, *, pid_start: float | None = None) -> None:
        """Save the task's row: batched with the other rows saved in this loop turn (one transaction)."""
        if self._store is None:
            return
        row = task_to_row(task, pid_start=pid_start)
        earlier = self._pending_rows.get(task.id)
        if earlier is not None and row["pid_start"] is None:
            row["pid_start"] = earlier["pid_start"]
        self._pending_rows[task.id] = row
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._rows_scheduled:
            self._rows_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._flush_rows)
            except RuntimeError:  # no loop running: write now
                self._flush_rows()

    async def write_ahead(self) -> None:
        """Wait until every task row saved so far is committed (before a spawn: no process without a row)."""
        if self._store is not None:
            self._flush_rows()
            await self._store.flush()

    def _flush_rows(self) -> None:
        """Submit the rows and log sizes saved since the last flush, in one store call and one transaction
        (keeps their order with later calls)."""
        self._rows_scheduled = False
        if (not self._pending_rows and not self._pending_logs) or self._store is None:
            return
        rows = list(self._pending_rows.values())
        logs = self._pending_logs
        self._pending_rows = {}
        self._pending_logs = []
        self._store.submit(lambda s: s.save_tasks(rows, logs))

    def persist_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        """Save the final size of an ended task's log, with the rows of this loop turn."""
        if self._store is not None:
            self._pending_logs.append((task_id, stream, path, size))
            self._schedule_flush()

    def task_ended(self, task: Task) -> None:
        """A task that held a running slot has ended: free the slot, wake waiters, start the next."""
        self.task_service.ended(task)

    def vm_task_ended(self, task: Task) -> None:
        """An HSX program ended (VM tasks hold no process slot)."""
        self.task_service.vm_ended(task)

    def register_task(self, task: Task) -> None:
        """Start tracking a task created outside task_run (waiters, persistence)."""
        self.task_service.register(task)

    # ------------------------------------------------------------------ sessions (service/sessions.py)
    def session_open(
        self,
        *,
        client: str = "",
        capabilities: list[str] | None = None,
        idle_s: float | None = None,
        lock: list[int] | None = None,
        resumable: bool = False,
    ) -> SessionOpened:
        return self.session_service.open(
            client=client, capabilities=capabilities, idle_s=idle_s, lock=lock, resumable=resumable
        )

    def session_attach(self, session_id: str) -> SessionInfo:
        """Bind a connection to a session; it ends with its last one (see kernel/sessions.py)."""
        return self.session_service.attach(session_id)

    def session_detach(self, session_id: str) -> None:
        """A connection bound to the session closed."""
        self.session_service.detach(session_id)

    def session_evict(self, session_id: str, *, reason: str = "") -> SessionClosed:
        """Close another client's session (operators: an abandoned one that holds locks or a slot)."""
        return self.session_service.evict(session_id, reason or "closed by an operator")

    def session_keepalive(self, session_id: str) -> SessionInfo:
        return self.session_service.keepalive(session_id)

    def session_touch(self, session_id: str) -> None:
        """Mark a session active (requests made under it keep it alive); NotFoundError when it is gone."""
        self.session_service.touch(session_id)

    def session_exists(self, session_id: str) -> bool:
        """Whether a session is live; a live one is marked active (every request under it counts)."""
        return self.session_service.exists(session_id)

    def session_close(self, session_id: str) -> SessionClosed:
        return self.session_service.close(session_id)

    def session_list(self) -> list[SessionInfo]:
        return self.session_service.list()

    def task_lock(self, ref: int | str, session_id: str) -> TaskLockResult:
        return self.session_service.lock(ref, session_id)

    def task_unlock(self, ref: int | str, session_id: str) -> TaskLockResult:
        return self.session_service.unlock(ref, session_id)

    def lock_owner(self, task_id: int) -> str | None:
        """The session holding a task's control lock (None: unlocked)."""
        return self.session_service.lock_owner(task_id)

    # --------------------------------------------------------------------- tasks (service/tasks.py)
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
        placement: dict[str, Any] | None = None,
    ) -> TaskRow:
        """Start (or queue) a supervised process task; see :meth:`TaskService.run`."""
        return await self.task_service.run(
            argv, name=name, cwd=cwd, env=env, stdin=stdin, timeout=timeout, idle_timeout=idle_timeout,
            quota=quota, session_id=session_id, lock=lock, kind=kind, meta=meta, placement=placement,
        )  # fmt: skip

    async def task_list(
        self,
        *,
        state: str | list[str] | None = None,
        kind: str | list[str] | None = None,
        name: str | None = None,
        since: float | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> TaskPage:
        """One page of task summaries, newest first, and the cursor of the next; see :meth:`TaskHistory.page`."""
        return await self.task_history.page(
            state=state, kind=kind, name=name, since=since, before_id=before_id, after_id=after_id, limit=limit
        )

    def task_info(self, ref: int | str) -> TaskInfo:
        """The whole row of a live task or a recently ended one (in memory); :meth:`task_lookup` finds any task."""
        return self.task_service.info(ref)

    async def task_lookup(self, ref: int | str) -> TaskInfo:
        """The whole row of any task, also one older than the tasks kept in memory (read from the store)."""
        return await self.task_service.lookup(ref)

    def task_id(self, ref: int | str) -> int:
        """The id of a task named by id or name.

        Raises:
            NotFoundError: no such task.
        """
        return self.tasks.get(ref).id

    def task_pause(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self.task_service.pause(ref, session_id=session_id)

    def task_set_quota(self, ref: int | str, quota: int, *, session_id: str | None = None) -> TaskRow:
        """A new log quota for a running process task; see :meth:`TaskService.set_quota`."""
        return self.task_service.set_quota(ref, quota, session_id=session_id)

    def task_resume(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self.task_service.resume(ref, session_id=session_id)

    def task_cancel(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self.task_service.cancel(ref, session_id=session_id)

    def task_kill(self, ref: int | str, *, session_id: str | None = None) -> TaskRow:
        return self.task_service.kill(ref, session_id=session_id)

    def task_end_idle(self, ref: int | str) -> TaskRow:
        """End a task as ``idle_timeout``: the agents layer stops a run that made no progress for its idle timeout."""
        return self.task_service.end_idle(ref)

    def task_input(
        self,
        ref: int | str,
        *,
        data: str | None = None,
        data_b64: str | None = None,
        eof: bool = False,
        session_id: str | None = None,
    ) -> TaskInputResult:
        return self.task_service.input(ref, data=data, data_b64=data_b64, eof=eof, session_id=session_id)

    async def task_output(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> TaskOutputSlice:
        """Read a slice of a task's log by byte offset; see :meth:`TaskService.output`."""
        return await self.task_service.output(ref, stream=stream, offset=offset, limit=limit)

    async def task_output_bytes(
        self, ref: int | str, *, stream: str = "stdout", offset: int = 0, limit: int | None = None
    ) -> TaskOutputBytes:
        """:meth:`task_output` with the slice as raw ``bytes`` in ``data`` (for in-process transports)."""
        return await self.task_service.output_bytes(ref, stream=stream, offset=offset, limit=limit)

    def task_output_cached_into(self, task_id: int, stream: str, offset: int, into: memoryview) -> bool:
        """Fill ``into`` with log bytes the page cache holds, without waiting (False: use :meth:`task_output_bytes`).

        For a transport sending output it has just seen published (api/connection.py ranges).
        """
        return self.task_service.cached_output_into(task_id, stream, offset, into)

    def open_output_watch(self, ref: int | str) -> OutputWatch:
        """A wake-up signal for one task: ``wait`` returns once its output grows or its state changes.

        For transports that stream a task's log by offset (api/ccx.py): they read with
        :meth:`task_output_bytes` and wait here when they have caught up; they must close it.
        """
        return self.event_service.output_watch(self.tasks.get(ref).id)

    async def task_wait(self, ref: int | str, *, timeout: float | None = None) -> TaskWaitResult:
        """Wait until the task ends (or ``timeout`` seconds pass) and return its row with ``timed_out``."""
        return await self.task_service.wait(ref, timeout=timeout)

    # ------------------------------------------------------------ dashboard (service/task_stats.py)
    async def task_stats(self, tasks: list[int | str] | None = None, *, processes: bool = False) -> TaskStatsResult:
        """CPU % and RSS of live local tasks' process trees; see :meth:`TaskStatsService.stats`."""
        return await self.task_stats_service.stats(tasks, processes=processes)

    async def task_restart(
        self, ref: int | str, *, name: str | None = None, session_id: str | None = None
    ) -> TaskRestarted:
        """Start a new process task with another one's argv, cwd and placement."""
        return await self.task_stats_service.restart(ref, name=name, session_id=session_id)

    def daemon_limits(self) -> DaemonLimits:
        return self.task_stats_service.limits()

    def task_log_path(self, task_id: int, stream: str = "stdout") -> Path:
        """The file holding a task's whole log, for a transport that serves it as a download.

        ``task_id`` is the id of a task the transport found first (:meth:`task_lookup`).
        """
        return self.task_stats_service.log_path(task_id, stream)

    # -------------------------------------------------------------------- events (service/events.py)
    def subscribe(
        self,
        *,
        types: list[str] | set[str] | None = None,
        tasks: list[int] | None = None,
        since_seq: int | None = None,
        ack_window: int | None = None,
        max_events: int | None = None,
        owner: Any = None,
        output_ranges: bool = False,
    ) -> Subscription:
        """A bounded subscription to the event stream; see :meth:`EventService.subscribe`."""
        return self.event_service.subscribe(
            types=types,
            tasks=tasks,
            since_seq=since_seq,
            ack_window=ack_window,
            max_events=max_events,
            owner=owner,
            output_ranges=output_ranges,
        )

    def subscription(self, sub_id: int, owner: Any = None) -> Subscription:
        return self.event_service.get(sub_id, owner)

    def events_ack(self, sub_id: int, seq: int, owner: Any = None) -> EventsAcked:
        return self.event_service.ack(sub_id, seq, owner)

    def unsubscribe(self, sub_id: int, owner: Any = None) -> Unsubscribed:
        return self.event_service.unsubscribe(sub_id, owner)

    def drop_subscription(self, sub_id: int) -> None:
        """Remove a subscription if it still exists (a transport cleaning up after a connection)."""
        self.event_service.drop(sub_id)

    def subscription_count(self) -> int:
        return self.event_service.count()

    def event_history_range(self) -> tuple[int, int]:
        """``(oldest_seq, newest_seq)`` a subscription's ``since_seq`` can still replay from."""
        return self.event_service.history_range()

    @property
    def last_seq(self) -> int:
        """The seq of the newest event."""
        return self.event_service.last_seq

    def make_event(self, type: str, pid: int | None, data: dict[str, Any]) -> EventRecord:
        """An event stamped with the next seq but not published (a transport's per-subscriber notice)."""
        return self.event_service.make_event(type, pid, data)

    # ------------------------------------------------------------------- cluster (runtimes/placed.py)
    async def cluster_nodes(self) -> list[ClusterNode]:
        """The Ray cluster's nodes (resources, alive, executive tasks on each); an error if not on a cluster."""
        return cast(list[ClusterNode], await self.processes.nodes())

    async def cluster_status(self) -> ClusterNodes:
        """``cluster.nodes``: the cluster's address and nodes; off a cluster no nodes and what to do instead."""
        address = self.processes.cluster_address
        if address is None:
            return {
                "address": None,
                "nodes": [],
                "placing": [],
                "detail": "this daemon is not on a Ray cluster; start it with `executive serve --ray ADDRESS` "
                "(or --ray auto) to run tasks there",
            }
        return {
            "address": address,
            "nodes": await self.cluster_nodes(),
            "placing": self.processes.placing(),
            "detail": "",
        }

    def health(self) -> Health:
        """Counts kept as things change (the task table counts live tasks on every edge): O(1), whatever the history."""
        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.started_at, 3),
            "tasks_live": self.tasks.live_count,
            "tasks_queued": self.task_service.queued,
            "sessions": len(self.session_service),
            "subscriptions": self.event_service.count(),
            "last_seq": self.event_service.last_seq,
            "log_dropped": log_dropped(),
        }
