"""The process supervisor's machine (runtimes/process_state.py): one test per edge.

Every test drives a real :class:`ProcessRuntime` through its public calls, with a
fake at the I/O seam: :class:`FakeOS` stands in for ``ProcessOS`` (spawn, the
tree, signals, and the clock, which only moves when a test moves it) and plays
the OS's side of the pipes (data, EOF, the leader's exit) through the asyncio
protocol the supervisor gave it.  Time-driven edges are taken by
``ProcessRuntime.transition(now)`` at fake times.  The state path is read from
the supervisor's ``process_state`` log lines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import itertools
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError, ServerError
from executive.kernel.events import EventBus
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState, Transition
from executive.kernel.transitions import next_state
from executive.runtimes.logwriter import HIGH_WATER, LogWriter, StreamLog
from executive.runtimes.process import ProcessRuntime, ProcessSpec
from executive.runtimes.process_os import ProcessOS
from executive.runtimes.process_state import (
    GATE_TABLE,
    REAP_POLL_S,
    REAP_POLLS,
    TABLE,
    GateEvent,
    OutputGate,
    ProcessEvent,
    ProcessState,
)

P, PE = ProcessState, ProcessEvent
LEADER, CHILD, STRAY = 4242, 4243, 5000  # the leader and a child share its group; a stray left it (setsid)
T0 = 1000.0
GRACE = 5.0
KILL, TERM, CONT, STOP = signal.SIGKILL, signal.SIGTERM, signal.SIGCONT, signal.SIGSTOP


# --- the fakes --------------------------------------------------------------------------------
class FakePipe:
    def __init__(self) -> None:
        self.reading = True
        self.closing = False
        self.written = b""

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True


class FakeTransport:
    def __init__(self) -> None:
        self.pipes = {0: FakePipe(), 1: FakePipe(), 2: FakePipe()}
        self.returncode: int | None = None
        self.closed = False

    def get_pid(self) -> int:
        return LEADER

    def get_pipe_transport(self, fd: int) -> FakePipe:
        return self.pipes[fd]

    def get_returncode(self) -> int | None:
        return self.returncode

    def close(self) -> None:
        self.closed = True


class FakeOS(ProcessOS):
    """The OS as the supervisor sees it: a clock that moves only on request, a tree, signals."""

    def __init__(self) -> None:
        self.now = T0
        self.tree_pids = {LEADER, CHILD}  # what a scan finds
        self.groups = {LEADER: LEADER, CHILD: LEADER, STRAY: STRAY}  # pid -> process group
        self.killable = True  # SIGKILL removes what it hits from the tree
        self.sent: list[tuple[signal.Signals, tuple[int, ...]]] = []
        self.scans = 0
        self.spawn_gate: asyncio.Event | None = None  # set: spawn waits for it
        self.refuse: OSError | None = None
        self.scan_gate: threading.Event | None = None  # set: a scan waits for it (in its thread)
        self.scan_started = threading.Event()
        self.protocol: Any = None
        self.transport = FakeTransport()

    def monotonic(self) -> float:
        return self.now

    async def spawn(self, protocol_factory: Any, argv: list[str], **kw: Any) -> tuple[Any, Any]:
        self.protocol = protocol_factory()
        if self.spawn_gate is not None:
            await self.spawn_gate.wait()
        if self.refuse is not None:
            raise self.refuse
        self.protocol.connection_made(self.transport)
        return self.transport, self.protocol

    def grow_pipe(self, pipe_transport: Any) -> None:
        return None

    def tree(self, leader: int | None, marker: str) -> list[int]:
        self.scans += 1
        self.scan_started.set()
        if self.scan_gate is not None:
            self.scan_gate.wait(10)
        return sorted(self.tree_pids)

    def signal_all(self, pids: Any, sig: signal.Signals) -> int:
        pids = tuple(pids)
        if pids:  # record the signals that reached someone
            self.sent.append((sig, pids))
        if sig is KILL and self.killable:
            self.tree_pids -= set(pids)
        return len(pids)

    def signal_group(self, pgid: int, sig: signal.Signals) -> bool:
        return self.signal_all(sorted(p for p in self.tree_pids if self.groups.get(p) == pgid), sig) > 0

    def pgid(self, pid: int) -> int | None:
        return self.groups.get(pid)

    # The OS's side of the pipes.
    def output(self, stream: str, data: bytes) -> None:
        self.protocol.pipe_data_received(1 if stream == "stdout" else 2, data)

    def eof(self, *streams: str) -> None:
        for stream in streams:
            self.protocol.pipe_connection_lost(1 if stream == "stdout" else 2, None)

    def exit(self, returncode: int) -> None:
        self.transport.returncode = returncode
        self.tree_pids.discard(LEADER)
        self.protocol.process_exited()

    def signals(self) -> list[signal.Signals]:
        return [sig for sig, _ in self.sent]


class HeldWriter(LogWriter):
    """A log writer whose disk is slow on request: appends wait until :meth:`release`."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[StreamLog, bytes | None, asyncio.AbstractEventLoop]] | None = None

    def hold(self) -> None:
        self.held = []

    def append(self, log: StreamLog, data: bytes) -> None:
        if self.held is None:
            return super().append(log, data)
        log.size += len(data)
        self.held.append((log, data, asyncio.get_running_loop()))

    def close(self, log: StreamLog) -> None:
        if self.held is None:
            return super().close(log)
        self.held.append((log, None, asyncio.get_running_loop()))

    def release(self) -> None:
        held, self.held = self.held or [], None
        for item in held:
            self._q.put(item)


class FakeHost:
    """The service side: the kernel task table's transitions, recorded."""

    def __init__(self, limits: Limits) -> None:
        self.bus = EventBus()
        self.limits = limits
        self.moves: list[tuple[str, str, str]] = []
        self.ended: list[int] = []

    def transition(self, task: Task, tr: Transition, *, reason: str, **data: Any) -> None:
        prev = task.apply(tr)
        if tr is Transition.PAUSE:
            task.pause_reason = reason
        self.moves.append((prev.value, task.state.value, reason))

    def task_ended(self, task: Task) -> None:
        self.ended.append(task.id)

    def persist(self, task: Task, **kw: Any) -> None:
        return None

    def persist_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        return None


@dataclasses.dataclass
class Rig:
    os: FakeOS
    host: FakeHost
    rt: ProcessRuntime
    writer: HeldWriter
    home: Path
    logs: list[dict[str, Any]]
    task: Task | None = None

    def spec(self, **kw: Any) -> ProcessSpec:
        args: dict[str, Any] = {"cwd": str(self.home), "env": {}, "quota": 1 << 30, "grace": GRACE}
        args.update(kw)
        return ProcessSpec(["prog"], **args)

    async def start(self, **kw: Any) -> Task:
        """Spawn a task (as the service does: STARTING, then STARTED once spawned)."""
        self.task = task = Task(id=7, name="job", kind=TaskKind.PROCESS, state=TaskState.STARTING)
        await self.rt.start(task, self.spec(**kw))
        self.host.transition(task, Transition.STARTED, reason="spawned")
        return task

    def begin_start(self, **kw: Any) -> asyncio.Task[None]:
        """Start a spawn that waits for the fake OS (``os.spawn_gate``)."""
        self.os.spawn_gate = asyncio.Event()
        self.task = Task(id=7, name="job", kind=TaskKind.PROCESS, state=TaskState.STARTING)
        return asyncio.ensure_future(self.rt.start(self.task, self.spec(**kw)))

    @property
    def state(self) -> ProcessState | None:
        assert self.task is not None
        return self.rt.state(self.task.id)

    def path(self) -> list[str]:
        """Every state the supervisor entered, in order."""
        return [e["to"] for e in self.logs if e.get("event") == "process_state"]

    def at(self, dt: float) -> None:
        """Move the fake clock to T0 + dt and take the time-driven edges."""
        self.os.now = T0 + dt
        self.rt.transition(self.os.now)

    async def settle(self) -> None:
        await self.rt.signals_sent()

    async def ended(self) -> Task:
        assert self.task is not None
        await asyncio.wait_for(self.rt.wait_done(self.task.id), 10)
        assert self.rt.state(self.task.id) is None and self.host.ended == [self.task.id]
        return self.task

    async def tick(self) -> None:
        """One reap-poll period later: take the edges, let the scans come back."""
        await self.settle()
        self.os.now += REAP_POLL_S
        self.rt.transition(self.os.now)
        await self.settle()

    async def exit_and_close(self, returncode: int) -> None:
        """The leader exits and its pipes close; a reap in progress gets its next scan."""
        self.os.exit(returncode)
        self.os.eof("stdout", "stderr")
        await self.tick()


@pytest.fixture
def debug_logs() -> Iterator[list[dict[str, Any]]]:
    old = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as entries:
            yield entries
    finally:
        structlog.configure(wrapper_class=old)


@pytest.fixture
async def rig(tmp_path: Path, debug_logs: list[dict[str, Any]]) -> AsyncIterator[Rig]:
    fake = FakeOS()
    host = FakeHost(dataclasses.replace(DEFAULT_LIMITS, exit_linger_s=1.0, kill_grace_s=0.1))
    writer = HeldWriter()
    r = Rig(fake, host, ProcessRuntime(host, home=tmp_path, os_api=fake, writer=writer), writer, tmp_path, debug_logs)
    yield r
    writer.release()
    if r.task is not None and r.rt.is_live(r.task.id):  # let a test that stopped half-way end cleanly
        fake.killable = True
        if fake.transport.returncode is None and fake.protocol is not None and r.rt.state(r.task.id) is not P.SPAWNING:
            fake.exit(-9)
        if fake.protocol is not None:
            fake.eof("stdout", "stderr")
        if r.rt.is_live(r.task.id):
            r.rt.stop(r.task, EndReason.KILLED)
            fake.now += 1000
            r.rt.transition(fake.now)
    await r.rt.shutdown()


# --- SPAWNING ---------------------------------------------------------------------------------
async def spawning_spawned(r: Rig) -> None:
    task = await r.start()
    assert r.state is P.RUNNING and task.pid == LEADER and r.os.sent == []


async def spawning_stop(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    assert r.state is P.SPAWNING
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    assert r.state is P.STOP_PENDING and r.os.sent == []  # nothing to signal yet
    assert r.host.moves == [("starting", "stopping", "cancelled")]
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    await spawn


async def spawning_kill(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.STOP_PENDING and r.os.sent == []
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    await spawn
    assert r.state is P.KILLING


async def spawning_spawn_failed(r: Rig) -> None:
    r.os.refuse = OSError(errno.ENOENT, "No such file or directory")
    task = Task(id=7, name="job", kind=TaskKind.PROCESS, state=TaskState.STARTING)
    with pytest.raises(ServerError) as info:
        await r.rt.start(task, r.spec())
    assert info.value.code is ErrorCode.SPAWN_FAILED and "could not start 'prog'" in info.value.message
    assert r.path() == ["failed"] and not r.rt.is_live(task.id) and r.os.sent == []


# --- STOP_PENDING -----------------------------------------------------------------------------
async def stop_pending_spawned(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    await spawn
    await r.settle()
    assert r.path() == ["stop_pending", "running", "stopping"]  # the pending cancel is carried out at once
    assert r.os.signals() == [TERM, CONT] and r.os.sent[0][1] == (LEADER, CHILD)


async def stop_pending_stop(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.rt.stop(r.task, EndReason.TIMED_OUT)  # type: ignore[arg-type]
    assert r.state is P.STOP_PENDING and len(r.host.moves) == 1
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    await spawn
    await r.exit_and_close(-15)
    assert (await r.ended()).end_reason is EndReason.CANCELLED  # the first reason is kept


async def stop_pending_kill(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.STOP_PENDING
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    await spawn
    assert r.state is P.KILLING  # a kill overrides the cancel: no SIGTERM, no grace
    await r.settle()
    assert TERM not in r.os.signals() and r.os.signals()[0] is KILL


async def stop_pending_spawn_failed(r: Rig) -> None:
    spawn = r.begin_start()
    await asyncio.sleep(0)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.os.refuse = OSError(errno.EACCES, "Permission denied")
    r.os.spawn_gate.set()  # type: ignore[union-attr]
    with pytest.raises(ServerError):
        await spawn
    assert r.path() == ["stop_pending", "failed"] and r.os.sent == []


# --- RUNNING ----------------------------------------------------------------------------------
async def running_stop(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    assert r.state is P.STOPPING and r.task.state is TaskState.STOPPING  # type: ignore[union-attr]
    await r.settle()
    assert r.os.sent == [(TERM, (LEADER, CHILD)), (CONT, (LEADER, CHILD))]
    await r.exit_and_close(-15)
    task = await r.ended()
    assert task.end_reason is EndReason.CANCELLED and task.signal == 15


async def running_kill(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.KILLING
    await r.settle()
    assert r.os.signals()[0] is KILL and TERM not in r.os.signals()


async def running_exit(r: Rig) -> None:
    await r.start()
    r.os.exit(0)
    assert r.state is P.LINGERING  # its pipes are still open
    r.os.eof("stdout", "stderr")
    task = await r.ended()
    assert r.path() == ["running", "lingering", "draining", "done"]
    assert task.end_reason is EndReason.EXITED and task.exit_code == 0 and r.os.transport.closed


# --- STOPPING ---------------------------------------------------------------------------------
async def stopping_kill(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.KILLING
    assert r.os.sent == [(KILL, (LEADER, CHILD))]  # at once: it does not wait behind the cancel's scan
    await r.settle()
    await r.exit_and_close(-9)
    assert (await r.ended()).end_reason is EndReason.KILLED


async def stopping_grace_expired(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    await r.settle()  # SIGTERM is out: the grace runs from now
    r.at(GRACE - 0.01)
    assert r.state is P.STOPPING and KILL not in r.os.signals()
    r.at(GRACE)
    assert r.state is P.KILLING
    await r.settle()
    assert r.os.signals() == [TERM, CONT, KILL]


async def stopping_exit(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    await r.settle()
    r.os.exit(-15)
    assert r.state is P.REAPING  # the leader is gone; what is left of the tree is SIGKILLed
    await r.settle()
    assert r.os.sent[-1] == (KILL, (CHILD,))


# --- KILLING ----------------------------------------------------------------------------------
async def killing_kill(r: Rig) -> None:
    await r.start()
    r.os.killable = False
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    await r.settle()
    before = r.os.signals().count(KILL)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.KILLING
    await r.settle()
    assert r.os.signals().count(KILL) == before + 1  # a second kill signals again


async def killing_poll(r: Rig) -> None:
    await r.start()
    r.os.killable = False  # a tree that survives SIGKILL for a while (uninterruptible sleep)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    await r.settle()
    scans = r.os.scans
    r.at(REAP_POLL_S / 2)
    await r.settle()
    assert r.os.scans == scans  # not yet
    r.at(REAP_POLL_S)
    await r.settle()
    assert r.os.scans == scans + 1 and r.state is P.KILLING and r.path()[-1] == "killing"


async def killing_reaped(r: Rig) -> None:
    await r.start()
    r.os.killable = False
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    await r.settle()
    for i in range(1, REAP_POLLS + 1):  # the poll gives up after REAP_POLLS scans
        r.at(i * REAP_POLL_S)
        await r.settle()
    scans = r.os.scans
    r.at(1000.0)
    await r.settle()
    assert r.os.scans == scans and r.state is P.KILLING  # the reap is over; the leader's exit ends it
    r.os.exit(-9)
    task = await r.ended()
    assert r.path()[-3:] == ["reaping", "draining", "done"]  # pipes still held open were closed by us
    assert task.end_reason is EndReason.KILLED and task.signal == 9


async def killing_exit(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    r.os.exit(-9)
    assert r.state is P.REAPING


# --- REAPING ----------------------------------------------------------------------------------
async def _reaping_by_itself(r: Rig) -> None:
    """Leader exited, a descendant held the pipes past the linger: REAPING without a stop reason."""
    await r.start()
    r.os.killable = False
    r.os.exit(0)
    r.at(1.0)
    assert r.state is P.REAPING


async def reaping_stop(r: Rig) -> None:
    await _reaping_by_itself(r)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING
    r.os.killable = True
    await r.tick()
    await r.tick()
    assert (await r.ended()).end_reason is EndReason.CANCELLED


async def reaping_kill(r: Rig) -> None:
    await _reaping_by_itself(r)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING
    r.os.killable = True
    await r.tick()
    await r.tick()
    assert (await r.ended()).end_reason is EndReason.KILLED


async def reaping_poll(r: Rig) -> None:
    await _reaping_by_itself(r)
    await r.settle()
    scans = r.os.scans
    r.at(1.0 + REAP_POLL_S)
    await r.settle()
    assert r.os.scans == scans + 1 and r.state is P.REAPING and r.os.sent[-1] == (KILL, (CHILD,))


async def reaping_reaped(r: Rig) -> None:
    await r.start()
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    r.os.exit(-15)
    await r.settle()  # the first scan SIGKILLs the child
    await r.tick()  # the next one finds nothing: the reap is over and the pipes are closed by us
    task = await r.ended()
    assert r.path() == ["running", "stopping", "reaping", "reaping", "draining", "done"]  # one POLL, then REAPED
    assert task.end_reason is EndReason.CANCELLED and task.signal == 15


# --- LINGERING --------------------------------------------------------------------------------
async def lingering_stop(r: Rig) -> None:
    await r.start()
    r.os.exit(0)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING
    await r.settle()
    assert r.os.signals()[:3] == [TERM, CONT, KILL]  # no grace: the leader is already gone
    await r.tick()
    task = await r.ended()
    assert task.end_reason is EndReason.CANCELLED and task.exit_code == 0


async def lingering_kill(r: Rig) -> None:
    await r.start()
    r.os.exit(0)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING
    await r.settle()
    assert TERM not in r.os.signals() and KILL in r.os.signals()


async def lingering_linger_expired(r: Rig) -> None:
    await r.start()
    r.os.exit(0)
    r.at(0.99)
    assert r.state is P.LINGERING and r.os.sent == []
    r.at(1.0)
    assert r.state is P.REAPING
    await r.tick()
    task = await r.ended()
    assert r.os.sent[0] == (KILL, (CHILD,))  # the descendant holding the pipes
    assert task.end_reason is EndReason.EXITED and task.exit_code == 0  # it still exited by itself


async def lingering_pipes_closed(r: Rig) -> None:
    await r.start()
    r.os.exit(3)
    r.os.eof("stdout")
    assert r.state is P.LINGERING
    r.os.eof("stderr")
    task = await r.ended()
    assert r.path()[-2:] == ["draining", "done"] and task.exit_code == 3


# --- DRAINING ---------------------------------------------------------------------------------
async def _draining(r: Rig) -> None:
    await r.start()
    r.writer.hold()  # the disk is behind: the logs do not hold every byte yet
    r.os.output("stdout", b"last words\n")
    r.os.exit(0)
    r.os.eof("stdout", "stderr")
    assert r.state is P.DRAINING


async def draining_stop(r: Rig) -> None:
    await _draining(r)
    r.rt.stop(r.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING  # strays that closed their pipes are reaped
    await r.tick()
    assert r.state is P.DRAINING
    r.writer.release()
    assert (await r.ended()).end_reason is EndReason.CANCELLED


async def draining_kill(r: Rig) -> None:
    await _draining(r)
    r.rt.stop(r.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert r.state is P.REAPING
    await r.tick()
    r.writer.release()
    assert (await r.ended()).end_reason is EndReason.KILLED


async def draining_flushed(r: Rig) -> None:
    await _draining(r)
    await asyncio.sleep(0.05)
    assert r.state is P.DRAINING and r.host.ended == []  # the end waits for the log
    r.writer.release()
    task = await r.ended()
    assert task.end_reason is EndReason.EXITED
    assert (r.rt.log_path(task.id, "stdout")).read_bytes() == b"last words\n"


SCENARIOS: dict[tuple[ProcessState, ProcessEvent], Callable[[Rig], Awaitable[None]]] = {
    (P.SPAWNING, PE.SPAWNED): spawning_spawned,
    (P.SPAWNING, PE.STOP): spawning_stop,
    (P.SPAWNING, PE.KILL): spawning_kill,
    (P.SPAWNING, PE.SPAWN_FAILED): spawning_spawn_failed,
    (P.STOP_PENDING, PE.SPAWNED): stop_pending_spawned,
    (P.STOP_PENDING, PE.STOP): stop_pending_stop,
    (P.STOP_PENDING, PE.KILL): stop_pending_kill,
    (P.STOP_PENDING, PE.SPAWN_FAILED): stop_pending_spawn_failed,
    (P.RUNNING, PE.STOP): running_stop,
    (P.RUNNING, PE.KILL): running_kill,
    (P.RUNNING, PE.EXIT): running_exit,
    (P.STOPPING, PE.KILL): stopping_kill,
    (P.STOPPING, PE.GRACE_EXPIRED): stopping_grace_expired,
    (P.STOPPING, PE.EXIT): stopping_exit,
    (P.KILLING, PE.KILL): killing_kill,
    (P.KILLING, PE.POLL): killing_poll,
    (P.KILLING, PE.REAPED): killing_reaped,
    (P.KILLING, PE.EXIT): killing_exit,
    (P.REAPING, PE.STOP): reaping_stop,
    (P.REAPING, PE.KILL): reaping_kill,
    (P.REAPING, PE.POLL): reaping_poll,
    (P.REAPING, PE.REAPED): reaping_reaped,
    (P.LINGERING, PE.STOP): lingering_stop,
    (P.LINGERING, PE.KILL): lingering_kill,
    (P.LINGERING, PE.LINGER_EXPIRED): lingering_linger_expired,
    (P.LINGERING, PE.PIPES_CLOSED): lingering_pipes_closed,
    (P.DRAINING, PE.STOP): draining_stop,
    (P.DRAINING, PE.KILL): draining_kill,
    (P.DRAINING, PE.FLUSHED): draining_flushed,
}


def test_every_edge_of_the_table_has_a_test() -> None:
    edges = {(s, e) for s, row in TABLE.items() for e in row}
    assert set(SCENARIOS) == edges


@pytest.mark.parametrize(
    ("edge", "scenario"), list(SCENARIOS.items()), ids=[f"{s.value}-{e.value}" for s, e in SCENARIOS]
)
async def test_transition(rig: Rig, edge: tuple[ProcessState, ProcessEvent], scenario: Any) -> None:
    state, event = edge
    await scenario(rig)
    # The edge was taken: the log shows `state` followed by TABLE's target (a self-loop shows it twice).
    path = ["spawning", *rig.path()]
    target = TABLE[state][event].value
    assert any(a == state.value and b == target for a, b in itertools.pairwise(path)), path


@pytest.mark.parametrize(("state", "event"), [(s, e) for s in ProcessState for e in ProcessEvent if e not in TABLE[s]])
def test_missing_edges_raise_a_typed_error(state: ProcessState, event: ProcessEvent) -> None:
    with pytest.raises(InvalidTransitionError) as info:
        next_state(TABLE, state, event, machine="process", subject="the process tree of task 1", data={})
    assert (info.value.machine, info.value.state, info.value.event) == ("process", state.value, event.value)


# --- time-driven stops --------------------------------------------------------------------------
async def test_running_to_stopping_on_timeout(rig: Rig) -> None:
    await rig.start(timeout=10.0)
    rig.at(9.99)
    assert rig.state is P.RUNNING
    rig.at(10.0)
    assert rig.state is P.STOPPING
    await rig.exit_and_close(-15)
    assert (await rig.ended()).end_reason is EndReason.TIMED_OUT


async def test_running_to_stopping_on_idle_timeout_output_restarts_the_clock(rig: Rig) -> None:
    await rig.start(idle_timeout=5.0)
    rig.at(3.0)
    rig.os.output("stdout", b"tick\n")
    rig.at(7.99)
    assert rig.state is P.RUNNING
    rig.at(8.0)
    assert rig.state is P.STOPPING
    await rig.exit_and_close(-15)
    assert (await rig.ended()).end_reason is EndReason.IDLE_TIMEOUT


async def test_paused_time_is_not_idle_time(rig: Rig) -> None:
    task = await rig.start(idle_timeout=5.0)
    rig.rt.pause(task)
    rig.host.transition(task, Transition.PAUSE, reason="user")
    rig.at(100.0)
    assert rig.state is P.RUNNING
    rig.rt.resume(task)
    rig.host.transition(task, Transition.RESUME, reason="user")
    rig.at(104.99)
    assert rig.state is P.RUNNING
    rig.at(105.0)
    assert rig.state is P.STOPPING


# --- signals: off the loop, in order --------------------------------------------------------------
async def test_a_pause_in_flight_sends_no_sigstop_after_a_cancel(rig: Rig) -> None:
    task = await rig.start()
    rig.os.tree_pids.add(STRAY)
    rig.os.scan_gate = threading.Event()
    rig.rt.pause(task)  # the group is stopped before pause returns; the scan for the rest runs in a thread
    assert rig.os.sent == [(STOP, (LEADER, CHILD))]
    await asyncio.to_thread(rig.os.scan_started.wait, 10)
    rig.rt.stop(task, EndReason.CANCELLED)  # lands while the pause's scan is in flight
    rig.os.scan_gate.set()
    await rig.settle()
    # The stray never gets the SIGSTOP: it would hold it after the cancel's SIGCONT, until SIGKILL.
    assert rig.os.sent == [
        (STOP, (LEADER, CHILD)),
        (TERM, (LEADER, CHILD, STRAY)),
        (CONT, (LEADER, CHILD, STRAY)),
    ]


async def test_signals_reach_the_group_at_once_and_the_rest_after_a_scan_off_the_loop(rig: Rig) -> None:
    task = await rig.start()
    rig.os.tree_pids.add(STRAY)
    rig.os.scan_gate = threading.Event()
    rig.rt.pause(task)
    await asyncio.to_thread(rig.os.scan_started.wait, 10)  # the scan is blocked in its thread...
    assert rig.os.sent == [(STOP, (LEADER, CHILD))]  # ...while the loop runs: the group has its signal
    rig.os.scan_gate.set()
    await rig.settle()
    assert rig.os.sent == [(STOP, (LEADER, CHILD)), (STOP, (STRAY,))]  # each process got it once


async def test_pause_then_resume_are_sent_in_order(rig: Rig) -> None:
    task = await rig.start()
    rig.rt.pause(task)
    rig.rt.resume(task)
    await rig.settle()
    assert rig.os.signals() == [STOP, CONT]


# --- the output gate ----------------------------------------------------------------------------------
def test_every_gate_edge_is_tested() -> None:
    assert {(s, e) for s, row in GATE_TABLE.items() for e in row} == {
        (OutputGate.FLOWING, GateEvent.BACKLOG),
        (OutputGate.FLOWING, GateEvent.QUOTA),
        (OutputGate.THROTTLED, GateEvent.CAUGHT_UP),
        (OutputGate.THROTTLED, GateEvent.QUOTA),
        (OutputGate.QUOTA, GateEvent.RAISED),
    }


async def test_gate_flowing_to_throttled_and_back(rig: Rig) -> None:
    await rig.start()
    rig.writer.hold()
    rig.os.output("stdout", b"x" * (HIGH_WATER + 1))
    pipes = rig.os.transport.pipes
    assert not pipes[1].reading and not pipes[2].reading  # FLOWING -> THROTTLED
    rig.writer.release()
    for _ in range(1000):
        if pipes[1].reading:
            break
        await asyncio.sleep(0.01)
    assert pipes[1].reading and pipes[2].reading  # THROTTLED -> FLOWING once the disk caught up
    assert [e["to"] for e in rig.logs if e.get("event") == "output_gate"] == ["throttled", "flowing"]


async def test_gate_flowing_to_quota_pauses_for_good(rig: Rig) -> None:
    task = await rig.start(quota=100)
    rig.os.output("stdout", b"y" * 100)
    await rig.settle()
    assert not rig.os.transport.pipes[1].reading and rig.os.signals() == [STOP]
    assert task.state is TaskState.PAUSED and task.pause_reason == "quota"
    with pytest.raises(LimitError) as info:
        rig.rt.resume(task)
    assert info.value.code is ErrorCode.QUOTA_REACHED


async def test_gate_quota_to_flowing_when_the_quota_is_raised(rig: Rig) -> None:
    task = await rig.start(quota=100)
    rig.os.output("stdout", b"y" * 100)
    await rig.settle()
    with pytest.raises(BadParamsError):
        rig.rt.set_quota(task, 100)  # not above what the logs hold: nothing changes
    assert not rig.os.transport.pipes[1].reading and rig.os.signals() == [STOP]
    assert rig.rt.set_quota(task, 1000) is True  # QUOTA -> FLOWING
    await rig.settle()
    assert rig.os.transport.pipes[1].reading and rig.os.signals() == [STOP, CONT]
    assert [e["to"] for e in rig.logs if e.get("event") == "output_gate"] == ["quota", "flowing"]
    assert rig.rt.set_quota(task, 2000) is False  # already flowing: only the number changes
    rig.os.output("stdout", b"y" * 1900)
    await rig.settle()
    assert rig.os.signals() == [STOP, CONT, STOP]  # the new quota holds it again


async def test_a_failed_log_write_is_not_undone_by_a_larger_quota(rig: Rig) -> None:
    task = await rig.start(quota=100)
    sup = rig.rt._sup(task)
    sup.write_failed = True  # as _on_log_progress records a failed write before closing the gate
    sup._quota_pause("log write failed: No space left on device")
    with pytest.raises(LimitError) as info:
        rig.rt.set_quota(task, 10_000)
    assert info.value.code is ErrorCode.QUOTA_REACHED and "log write failed" in info.value.message
    assert rig.rt.state(task.id) is not None and not rig.os.transport.pipes[1].reading


async def test_gate_throttled_to_quota_and_no_sigstop_while_stopping(rig: Rig) -> None:
    task = await rig.start(quota=HIGH_WATER + 100)
    rig.writer.hold()
    rig.os.output("stdout", b"z" * (HIGH_WATER + 1))
    rig.rt.stop(task, EndReason.CANCELLED)
    rig.os.output("stdout", b"z" * 100)  # quota reached while the cancel is ending it
    await rig.settle()
    assert [e["to"] for e in rig.logs if e.get("event") == "output_gate"] == ["throttled", "quota"]
    assert STOP not in rig.os.signals()


async def test_a_kill_after_a_finished_reap_goes_back_to_draining_at_once(rig: Rig) -> None:
    await _draining(rig)
    rig.rt.stop(rig.task, EndReason.CANCELLED)  # type: ignore[arg-type]
    await rig.tick()
    assert rig.state is P.DRAINING  # the reap is over; the disk is still behind
    rig.rt.stop(rig.task, EndReason.KILLED)  # type: ignore[arg-type]
    assert rig.state is P.DRAINING and rig.path()[-2:] == ["reaping", "draining"]
    rig.writer.release()
    assert (await rig.ended()).end_reason is EndReason.KILLED
