"""Process tasks on a Ray cluster: the daemon side (a Ray driver), beside ``process.py``.

Theory of operation
-------------------
Each remote task is one *detached, named* actor (``ray_actor.RemoteTask``,
name ``executive:<instance>:<task>``, namespace ``executive``) placed by the
task's resources (``CPU`` defaults to 1) and, if given, pinned to a node
(hard node affinity).  The actor class ships by value, so nodes need Python
and the same Ray, not executive.

One pump coroutine per task pulls output from the actor by byte offset and
appends it to the task's logs through the same :class:`TaskOutput` as local
tasks: same files, same ``output`` events, same offsets.  Flow control is
bounded at both ends: the actor holds at most ``WINDOW`` unacknowledged bytes
a stream (its producer blocks on its pipe), and the pump stops pulling while
more than ``HIGH_WATER`` bytes wait for the daemon's disk.  The pump
acknowledges only bytes already *in the file*, so after a daemon restart
:meth:`RayRuntime.reattach` asks again from the log's size: no gap, no
duplicate.

A task ends with its exit status once the actor reports the exit and both
EOFs and every byte is on disk.  If the actor dies, the task ends
``node_lost`` when its node is gone (the log keeps every byte that arrived),
else ``lost``.  Daemon shutdown *detaches* (the actors run on, and the next
daemon re-attaches); a restarted daemon that cannot find a task's actor marks
the task ``lost``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import structlog

from executive.kernel.errors import BadParamsError, ErrorCode, InvalidTransitionError, LimitError, ServerError
from executive.kernel.tasks import EndReason, Task, TaskState, Transition
from executive.paths import make_private_dir
from executive.runtimes.logwriter import HIGH_WATER
from executive.runtimes.output import STREAMS, TaskOutput
from executive.runtimes.process import ProcessRuntime, ProcessSpec, TaskHost
from executive.runtimes.ray_placement import INSTALL_HINT, PLACING, demand, feasible_nodes

__all__ = ["RayCluster", "RayRuntime"]

log = structlog.get_logger("executive.ray")

NAMESPACE = "executive"
WINDOW = 8 * 1024 * 1024  # unacknowledged bytes an actor holds per stream
PULL_BYTES = 4 * 1024 * 1024  # bytes per stream in one pull answer
PULL_WAIT_S = 1.0  # a pull with nothing to say returns after this long
PLACEMENT_CHECK_S = 2.0  # how often a task waiting for a node re-checks that some node could ever take it
STDIN_QUEUE_BYTES = 16 * 1024 * 1024  # input accepted but not yet written on the node
UNREACHABLE_S = 30.0  # an actor that does not answer for this long is given up


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BadParamsError(f"Ray is not installed; {INSTALL_HINT}", code=ErrorCode.INVALID_PARAMS) from exc
    return ray


def _named(resources: dict[str, Any]) -> dict[str, float]:
    """Resources without Ray's implicit ``node:<ip>`` entries."""
    return {k: float(v) for k, v in resources.items() if not k.startswith("node:")}


def _available_per_node(ray: Any) -> dict[str, dict[str, float]]:
    """Free resources by node id (Ray's developer API, pinned with the extra; {} if it moved)."""
    try:
        from ray._private.state import available_resources_per_node

        return dict(available_resources_per_node())  # type: ignore[no-untyped-call]
    except (ImportError, AttributeError) as exc:
        log.warning("ray_available_resources_unreadable", error=str(exc))
        return {}


class RayCluster:
    """The daemon's connection to one Ray cluster (one per process: Ray has one driver per process)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.ray = _ray()
        self.actor_class: Any = None

    async def connect(self, timeout: float = 60.0) -> None:
        """Join the cluster as a driver; raises ServerError with what to check when it cannot."""
        ray = self.ray
        if self.address != "auto" and (self.address.startswith("ray://") or ":" not in self.address):
            raise BadParamsError(
                f"--ray expects HOST:PORT of a Ray head (GCS) or 'auto', got {self.address!r} "
                "(Ray Client ray:// is not supported)"
            )

        def init() -> None:
            if ray.is_initialized():
                return
            ray.init(
                address=self.address,
                namespace=NAMESPACE,
                log_to_driver=False,
                logging_level="WARNING",
                include_dashboard=False,
            )

        try:
            await asyncio.wait_for(asyncio.to_thread(init), timeout)
        except TimeoutError as exc:
            raise ServerError(
                f"could not reach the Ray cluster at {self.address} within {timeout:.0f}s; "
                "is `ray start --head` running there?",
            ) from exc
        except Exception as exc:  # ConnectionError and Ray's own errors
            raise ServerError(
                f"could not join the Ray cluster at {self.address}: {exc}; "
                "check the address (`ray status` on the head)",
            ) from exc
        from ray import cloudpickle

        from executive.runtimes import ray_actor

        cloudpickle.register_pickle_by_value(ray_actor)  # type: ignore[no-untyped-call]  # nodes need not have executive installed
        self.actor_class = ray.remote(ray_actor.RemoteTask)
        log.info("ray_connected", address=self.address)

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node Ray knows: id, alive, address, total and available resources."""
        ray = self.ray

        def read() -> list[dict[str, Any]]:
            free = _available_per_node(ray)
            out = []
            for n in ray.nodes():
                alive = bool(n.get("Alive"))
                out.append(
                    {
                        "node_id": n["NodeID"],
                        "alive": alive,
                        "state": "alive" if alive else "dead",
                        "address": n.get("NodeManagerAddress"),
                        "hostname": n.get("NodeManagerHostname"),
                        "resources": _named(n.get("Resources") or {}),
                        "available": _named(free.get(n["NodeID"], {})) if alive else {},
                    }
                )
            return out

        return await asyncio.wait_for(asyncio.to_thread(read), UNREACHABLE_S)

    def actor_name(self, instance: str, task_id: int) -> str:
        return f"executive:{instance}:{task_id}"


class _Lane:
    """Calls that must reach an actor in the order they were made."""

    __slots__ = ("bytes", "items", "runner")

    def __init__(self) -> None:
        self.items: collections.deque[tuple[Any, tuple[Any, ...]]] = collections.deque()
        self.runner: asyncio.Future[None] | None = None
        self.bytes = 0


class _RemoteSupervisor:
    """The daemon side of one remote task."""

    def __init__(self, rt: RayRuntime, task: Task, spec: ProcessSpec, actor: Any) -> None:
        self.rt = rt
        self.host = rt.host
        self.task = task
        self.spec = spec
        self.actor = actor
        self.output = TaskOutput(
            task.id,
            rt.local.task_dir(task.id),
            writer=rt.local.writer,
            bus=rt.host.bus,
            chunk_bytes=rt.host.limits.output_chunk_bytes,
            on_progress=self._on_progress,
            fresh=False,  # a re-attached task's logs go on from their sizes
        )
        self.logs = self.output.logs
        self.done = asyncio.Event()
        self.progress = asyncio.Event()
        self.placed = asyncio.Event()
        self.stopped = asyncio.Event()
        self.stop_reason: EndReason | None = None
        self.pending_stop: EndReason | None = None
        self.quota_hit = False
        self.detached = False
        self.last_output = time.monotonic()
        self.timers: list[asyncio.TimerHandle] = []
        self.pump: asyncio.Task[None] | None = None
        self.control = _Lane()
        self.stdin = _Lane()

    def _on_progress(self) -> None:
        self.progress.set()

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        """Wait until Ray places the actor and it spawned the process; fail clearly if no node ever can."""
        ray = self.rt.cluster.ray
        ref = self.actor.start.remote()
        placement = self.task.meta.get("placement") or {}
        waited = False
        while True:
            done, _ = await asyncio.wait([asyncio.wrap_future(ref.future())], timeout=PLACEMENT_CHECK_S)
            if done:
                break
            if self.pending_stop is not None:
                ray.kill(self.actor)
                self.placed.set()
                self._end(self.pending_stop, detail="stopped while waiting for a Ray node")
                return
            nodes = await self.rt.cluster.nodes()
            if not feasible_nodes(placement, nodes):
                ray.kill(self.actor)
                raise ServerError(
                    f"no alive Ray node can ever satisfy {demand(placement)}"
                    + (f" on node {placement['node']}" if placement.get("node") else ""),
                    code=ErrorCode.SPAWN_FAILED,
                )
            if not waited:
                waited = True
                why = f"waiting for a Ray node with {demand(placement)} free"
                self.task.meta["placement_wait"] = why
                self.host.persist(self.task)
                self.host.bus.publish("placement", self.task.id, {"state": "waiting", "detail": why})
        try:
            info = ref.future().result()
        except Exception as exc:
            why = f"the Ray actor of task {self.task.id} failed to start: {exc}"
            raise ServerError(why, code=ErrorCode.SPAWN_FAILED) from exc
        if "error" in info:
            ray.kill(self.actor)
            raise ServerError(info["error"], code=ErrorCode.SPAWN_FAILED, data={"errno": info.get("errno")})
        self.task.meta.pop("placement_wait", None)
        self.task.pid = info["pid"]
        self.task.meta["node"] = info["node_id"]
        self.task.meta["host"] = info["host"]
        self.placed.set()
        self._arm_timers()
        self.pump = asyncio.ensure_future(self._pump())
        if self.pending_stop is not None:
            self.stop(self.pending_stop)

    def attach(self) -> None:
        """Re-attached after a daemon restart: resume pulling from the log's size."""
        self.placed.set()
        self._arm_timers()
        self.pump = asyncio.ensure_future(self._pump())

    def _arm_timers(self) -> None:
        loop = asyncio.get_running_loop()
        if self.spec.timeout:
            self.timers.append(loop.call_later(self.spec.timeout, self.stop, EndReason.TIMED_OUT))
        if self.spec.idle_timeout:
            self.timers.append(loop.call_later(self.spec.idle_timeout, self._on_idle_check))

    # ----------------------------------------------------------------- output
    async def _pump(self) -> None:
        ray = self.rt.cluster.ray
        rc: int | None = None
        silent_since: float | None = None
        while not self.detached:
            if self.quota_hit and self.stop_reason is None:
                await self.stopped.wait()  # nothing more is read past the quota; only a stop ends it
            while self.output.pending > HIGH_WATER:  # the disk is the limit: stop pulling
                self.progress.clear()
                await self.progress.wait()
            want = {s: lg.size for s, lg in self.logs.items()}
            ack = {s: lg.written for s, lg in self.logs.items()}
            try:
                ans = await asyncio.wait_for(
                    self.actor.pull.remote(want, ack, PULL_BYTES, PULL_WAIT_S), PULL_WAIT_S + UNREACHABLE_S
                )
                silent_since = None
            except (ray.exceptions.ActorDiedError, ray.exceptions.RayActorError) as exc:
                if isinstance(exc, ray.exceptions.ActorUnavailableError):
                    silent_since = silent_since or time.monotonic()
                    if time.monotonic() - silent_since < UNREACHABLE_S:
                        await asyncio.sleep(0.5)
                        continue
                await self._actor_gone(exc)
                return
            except TimeoutError:
                await self._actor_gone(None)
                return
            if self.detached:
                return
            for s, data in ans["data"].items():
                if data and not self.quota_hit:
                    self.output.append(s, data)
                    self.last_output = time.monotonic()
            if self.output.total >= self.spec.quota:
                self._quota_pause()
            rc = ans["returncode"]
            complete = self.quota_hit or all(ans["eof"][s] and self.logs[s].size >= ans["ends"][s] for s in STREAMS)
            if rc is not None and complete:
                break
        if self.detached:
            return
        for s in STREAMS:
            self.output.finish(s)
        for lg in self.logs.values():
            await lg.flushed(lg.size)
        try:
            await asyncio.wait_for(self.actor.reap.remote(), 10.0)
        except Exception as exc:  # the task's end stands; strays die with the actor's node or are logged
            log.warning("remote_reap_failed", task=self.task.id, error=str(exc))
        ray.kill(self.actor)
        if rc is not None and rc < 0:
            self.task.signal, self.task.exit_code = -rc, None
        else:
            self.task.exit_code, self.task.signal = rc, None
        self._end(self.stop_reason or EndReason.EXITED)

    async def _actor_gone(self, exc: Exception | None) -> None:
        node = self.task.meta.get("node")
        try:
            alive = {n["node_id"] for n in await self.rt.cluster.nodes() if n["alive"]}
            node_alive = node in alive
            head = True
        except Exception:
            node_alive, head = False, False
        for s in STREAMS:
            self.output.finish(s)
        for lg in self.logs.values():
            await lg.flushed(lg.size)
        if not node_alive:
            detail = (
                f"node {node} left the cluster" if head else "the Ray head is unreachable"
            ) + f"; the log keeps the {self.output.total} bytes that arrived"
            self._end(EndReason.NODE_LOST, detail=detail)
        else:
            self._end(EndReason.LOST, detail=f"the task's Ray actor died on a live node: {exc or 'no answer'}")

    def _quota_pause(self) -> None:
        if self.quota_hit:
            return
        self.quota_hit = True
        if self.stop_reason is None:
            self._call(self.actor.pause)
        used = self.output.total
        if self.task.state is TaskState.RUNNING:
            self.host.transition(self.task, Transition.PAUSE, reason="quota", quota=self.spec.quota, used=used)
        self.host.bus.publish(
            "quota",
            self.task.id,
            {"quota": self.spec.quota, "used": used, "detail": "log quota reached; the task is paused — cancel it"},
        )

    def _on_idle_check(self) -> None:
        if self.done.is_set() or self.stop_reason is not None:
            return
        now = time.monotonic()
        if self.task.state is TaskState.PAUSED:
            self.last_output = now
        remaining = self.last_output + (self.spec.idle_timeout or 0.0) - now
        if remaining <= 0:
            self.stop(EndReason.IDLE_TIMEOUT)
        else:
            self.timers.append(asyncio.get_running_loop().call_later(remaining, self._on_idle_check))

    # ---------------------------------------------------------------- control
    def _call(self, method: Any, *args: Any) -> None:
        """Queue a control call; calls reach the actor in order (its methods run on a thread pool)."""
        self._ordered(self.control, method, args)

    def _ordered(self, lane: _Lane, method: Any, args: tuple[Any, ...]) -> None:
        lane.items.append((method, args))
        if lane.runner is None or lane.runner.done():
            lane.runner = asyncio.ensure_future(self._run_lane(lane))

    async def _run_lane(self, lane: _Lane) -> None:
        if lane is self.stdin and not self.placed.is_set():
            # Input written while the task waits for a node: the actor runs calls on a thread pool, so a
            # write sent now could overtake ``start``; it is held here until the process is spawned.
            placed = asyncio.ensure_future(self.placed.wait())
            done = asyncio.ensure_future(self.done.wait())
            await asyncio.wait([placed, done], return_when=asyncio.FIRST_COMPLETED)
            placed.cancel()
            done.cancel()
            if self.pump is None:  # it never started (refused, or stopped while placing): the input has no reader
                lane.items.clear()
                lane.bytes = 0
                return
        while lane.items:
            method, args = lane.items.popleft()
            try:
                await method.remote(*args)
            except Exception as exc:  # the actor's death is reported by the pump; a refused write is logged
                log.warning("remote_call_failed", task=self.task.id, error=str(exc)[:500])
            finally:
                if lane.bytes:
                    lane.bytes -= len(args[0]) if args and isinstance(args[0], bytes) else 0

    def write_input(self, data: bytes, eof: bool) -> None:
        if self.stdin.bytes + len(data) > STDIN_QUEUE_BYTES:
            raise LimitError(
                f"task {self.task.id}: {self.stdin.bytes} bytes of input still travel to its node; "
                f"the limit is {STDIN_QUEUE_BYTES} — wait and retry",
                data={"limit": STDIN_QUEUE_BYTES},
            )
        self.stdin.bytes += len(data)
        self._ordered(self.stdin, self.actor.write_stdin, (data, eof))

    def stop(self, reason: EndReason) -> None:
        if self.done.is_set():
            return
        if self.task.can(Transition.STOP):
            self.host.transition(self.task, Transition.STOP, reason=reason.value)
        if not self.placed.is_set() or self.pump is None:
            if self.pending_stop is None or reason is EndReason.KILLED:
                self.pending_stop = reason
            return
        self.stopped.set()
        if reason is EndReason.KILLED:
            self.stop_reason = EndReason.KILLED
            self._call(self.actor.kill)
            return
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self._call(self.actor.terminate, self.spec.grace)

    # ------------------------------------------------------------------- end
    def _end(self, reason: EndReason, detail: str | None = None) -> None:
        if self.done.is_set():
            return
        self.done.set()
        for t in self.timers:
            t.cancel()
        task = self.task
        task.end_reason = reason
        if detail:
            task.end_detail = detail
        self.output.close()
        for stream, lg in self.logs.items():
            self.host.persist_log(task.id, stream, str(lg.path), lg.size)
        data: dict[str, Any] = {
            "exit_code": task.exit_code,
            "signal": task.signal,
            "stdout_bytes": self.logs["stdout"].size,
            "stderr_bytes": self.logs["stderr"].size,
            "node": task.meta.get("node"),
        }
        if detail:
            data["detail"] = detail
        self.host.transition(task, Transition.END, reason=reason.value, **data)
        self.rt.live.pop(task.id, None)
        self.host.task_ended(task)


class RayRuntime:
    """Runs process tasks whose placement is ``on: ray`` for a :class:`TaskHost`."""

    def __init__(self, host: TaskHost, local: ProcessRuntime, cluster: RayCluster) -> None:
        self.host = host
        self.local = local  # task directories and the log writer are shared with local tasks
        self.cluster = cluster
        self.live: dict[int, _RemoteSupervisor] = {}
        self.early_input: dict[int, list[tuple[bytes, bool]]] = {}  # input to tasks whose start has not begun

    def _actor(self, task: Task, spec: ProcessSpec, *, create: bool) -> Any:
        ray = self.cluster.ray
        name = self.cluster.actor_name(self.local.instance, task.id)
        if not create:
            return ray.get_actor(name, namespace=NAMESPACE)
        placement = task.meta.get("placement") or {}
        need = demand(placement)
        opts: dict[str, Any] = {
            "name": name,
            "namespace": NAMESPACE,
            "lifetime": "detached",
            "max_concurrency": 8,
            "max_restarts": 0,
            "num_cpus": need.pop("CPU"),
        }
        if "GPU" in need:
            opts["num_gpus"] = need.pop("GPU")
        if "memory" in need:
            opts["memory"] = need.pop("memory")
        if need:
            opts["resources"] = need
        if placement.get("node"):
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=placement["node"], soft=False)
        marker = self.local.marker(task.id)
        return self.cluster.actor_class.options(**opts).remote(
            spec.argv,
            spec.cwd,
            spec.env,
            stdin=spec.stdin,
            marker=marker,
            window=WINDOW,
            linger_s=self.host.limits.exit_linger_s,
        )

    async def check_placement(self, placement: dict[str, Any]) -> None:
        """Reject an unknown node or a placement no alive node could ever satisfy (nothing changes)."""
        nodes = await self.cluster.nodes()
        node = placement.get("node")
        if node and not any(n["node_id"] == node for n in nodes):
            raise BadParamsError(f"no Ray node {node}; `executive nodes` lists them", data={"node": node})
        if node and not any(n["node_id"] == node and n["alive"] for n in nodes):
            raise BadParamsError(
                f"Ray node {node} is dead; `executive nodes` lists the alive ones", data={"node": node}
            )
        if not feasible_nodes(placement, nodes):
            totals = {n["node_id"][:12]: n["resources"] for n in nodes if n["alive"]}
            raise BadParamsError(
                f"no alive Ray node can ever satisfy {demand(placement)}; the nodes have {totals}",
                data={"demand": demand(placement)},
            )

    async def start(self, task: Task, spec: ProcessSpec) -> None:
        early = self.early_input.pop(task.id, [])
        make_private_dir(self.local.task_dir(task.id))
        actor = self._actor(task, spec, create=True)
        sup = _RemoteSupervisor(self, task, spec, actor)
        self.live[task.id] = sup
        for data, eof in early:
            sup.write_input(data, eof)
        try:
            await sup.start()
        except BaseException:
            self.live.pop(task.id, None)
            sup.output.close()
            raise

    async def reattach(self, task: Task, spec: ProcessSpec) -> str | None:
        """Find a restored task's actor and resume its log; None if attached, else why it is lost."""
        ray = self.cluster.ray
        try:
            actor = await asyncio.to_thread(self._actor, task, spec, create=False)
        except ValueError:
            return "its Ray actor is gone (its node died or it ended while no daemon watched)"
        try:
            info = await asyncio.wait_for(actor.info.remote(), UNREACHABLE_S)
        except (ray.exceptions.RayActorError, TimeoutError) as exc:
            ray.kill(actor)
            return f"its Ray actor does not answer: {exc}"
        sup = _RemoteSupervisor(self, task, spec, actor)
        self.live[task.id] = sup
        log.info("ray_reattached", task=task.id, pid=info["pid"], ends=info["ends"], log_sizes=sup.output.sizes())
        sup.attach()
        if task.state is TaskState.STOPPING:
            sup.stop(task.end_reason or EndReason.CANCELLED)
        return None

    def _sup(self, task: Task) -> _RemoteSupervisor:
        sup = self.live.get(task.id)
        if sup is None:
            raise InvalidTransitionError(
                f"task {task.id} has no running remote process (it is {task.state.value})", data={"task": task.id}
            )
        return sup

    def pause(self, task: Task) -> None:
        self._sup(task)._call(self._sup(task).actor.pause)

    def resume(self, task: Task) -> None:
        sup = self._sup(task)
        if sup.quota_hit:
            raise LimitError(
                f"task {task.id} reached its log quota of {sup.spec.quota} bytes; it cannot resume — cancel it",
                code=ErrorCode.QUOTA_REACHED,
                data={"task": task.id, "quota": sup.spec.quota},
            )
        sup.last_output = time.monotonic()
        sup._call(sup.actor.resume)

    def stop(self, task: Task, reason: EndReason) -> None:
        self._sup(task).stop(reason)

    def write_input(self, task: Task, data: bytes, eof: bool) -> None:
        if not (task.meta.get("remote_spec") or {}).get("stdin"):
            raise InvalidTransitionError(
                f"task {task.id} has no stdin; start it with stdin=true to write to it", data={"task": task.id}
            )
        sup = self.live.get(task.id)
        if sup is not None:
            sup.write_input(data, eof)
            return
        if task.state is not TaskState.STARTING:
            self._sup(task)  # raises: it has no running remote process
        # Between the START edge and RayRuntime.start: kept until its supervisor exists (start() hands it over).
        early = self.early_input.setdefault(task.id, [])
        held = sum(len(d) for d, _ in early)
        if held + len(data) > STDIN_QUEUE_BYTES:
            raise LimitError(
                f"task {task.id}: {held} bytes of input wait for its node; the limit is {STDIN_QUEUE_BYTES} "
                "— wait and retry",
                data={"limit": STDIN_QUEUE_BYTES},
            )
        early.append((data, eof))

    async def wait_done(self, task_id: int) -> None:
        sup = self.live.get(task_id)
        if sup is not None:
            await sup.done.wait()

    def live_output(self, task_id: int) -> TaskOutput | None:
        sup = self.live.get(task_id)
        return sup.output if sup is not None else None

    def node_tasks(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for tid, sup in self.live.items():
            out.setdefault(sup.task.meta.get("node") or PLACING, []).append(tid)
        return out

    async def detach(self) -> None:
        """Daemon shutdown: stop pumping, leave the actors running for the next daemon to re-attach."""
        for sup in list(self.live.values()):
            sup.detached = True
            if sup.pump is not None:
                sup.pump.cancel()
            for t in sup.timers:
                t.cancel()
            for lg in sup.logs.values():
                await lg.flushed(lg.size)
            sup.output.close()
        self.live.clear()
