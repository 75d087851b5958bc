"""Programs as the service offers them: restart policies, the programs file, reload (``Executive.programs``).

A supervisor layer above the task table (kernel/programs.py has the machine and
the policy arithmetic).  Each run of a program is an ordinary process task
created through :meth:`TaskService.submit`, carrying ``meta.program`` (the
name), ``meta.program_run`` (the run's number) and, from the second run on,
``meta.restart_of`` (the previous run's task; that task gets
``meta.restarted_as``).  :meth:`ProgramService.run_ended`, called by the task
service when any task ends, is where a run's end becomes the program's next
edge; backoff delays are loop timers (``call_later``), their deadline stored as
wall-clock ``next_at`` so a daemon restart keeps it.

Durability: every edge rewrites the program's row (store ``programs``).  On
:meth:`open` a program that was RUNNING when the previous daemon stopped is run
again (edge ``interrupted`` to BACKOFF with no delay) unless its policy is
``never``; one in BACKOFF keeps its deadline.  While the daemon stops
(:meth:`aclose`) ends of runs are not edges: the daemon, not the program, ended
them.

The programs file (service/programs_file.py) is applied by :meth:`open` (``serve
--config``) and :meth:`reload`: only the differences (added programs start,
removed ones stop, changed ones restart), like ``supervisorctl update``.  A file
with any problem is refused whole before anything changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import TYPE_CHECKING, Any, cast

import structlog

from executive.kernel.errors import BadParamsError, ExecutiveError, LimitError
from executive.kernel.programs import (
    Program,
    ProgramEvent,
    ProgramState,
    RestartPolicy,
    RestartSettings,
    after_run,
    backoff_delay,
    give_up_reason,
)
from executive.kernel.tasks import Task
from executive.service import _program_records as _records
from executive.service.programs_file import (
    ProgramDefinition,
    ProgramNotFoundError,
    ProgramsConfig,
    ProgramsInvalidError,
    load_programs_file,
)
from executive.service.results import ProgramInfo, ProgramProblem, ProgramsReloaded, TaskRow

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["ProgramService"]

log = structlog.get_logger("executive")

_ACTIVE = (ProgramState.RUNNING, ProgramState.BACKOFF)
_META_FILE = "programs_file"  # store meta key: the programs file `reload` reads by default


class ProgramService:
    """Every program of the daemon, their timers and the programs file in force."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive
        self._programs: dict[str, Program] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._admin = asyncio.Lock()  # reload/start/stop/restart: one at a time (each awaits runs ending)
        self._closing = False
        self.config_path: str | None = None  # the programs file `reload` reads when given no path

    # ------------------------------------------------------------------ lifecycle
    async def open(self, config: ProgramsConfig | None) -> None:
        """Restore programs from the store, continue the interrupted ones, apply ``config`` (serve --config)."""
        rows = await self.ex.store.call(lambda s: s.programs())
        stored_path = await self.ex.store.call(lambda s: s.get_meta(_META_FILE))
        now = time.time()
        for row in rows:
            p = _records.from_row(row)
            self._programs[p.name] = p
            if p.state is ProgramState.RUNNING:
                if p.settings.policy is RestartPolicy.NEVER:
                    self._transition(p, ProgramEvent.DONE, "its run was lost when the daemon stopped; restart never")
                else:
                    reason = "the daemon restarted while it ran; running it again"
                    self._transition(p, ProgramEvent.INTERRUPTED, reason, delay=0.0)
                    self._schedule(p, 0.0)
            elif p.state is ProgramState.BACKOFF:
                self._schedule(p, max(0.0, (p.next_at or now) - now))
        self.config_path = stored_path
        if config is not None:
            await self._remember_file(config.source)
            await self._apply(config, startup=True)

    def aclose(self) -> None:
        """Daemon stop: no more edges or runs; the stored states stay so the next daemon continues them."""
        self._closing = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # ------------------------------------------------------------------ the task service's hook
    def run_ended(self, task: Task) -> None:
        """A task ended; if it is the current run of a program, the program's policy decides what follows."""
        name = task.meta.get("program")
        if name is None or self._closing:
            return
        p = self._programs.get(name)
        if p is None or p.task_id != task.id or p.state is not ProgramState.RUNNING:
            return  # an older run, a removed program, or a run a client stopped on purpose
        outcome = _records.outcome(task)
        event, p.failures, reason = after_run(p.settings, outcome, p.failures, name=p.name)
        delay = None
        if event is ProgramEvent.BACK_OFF:
            delay = backoff_delay(p.settings, p.failures)
            reason += f"; next run in {delay:.3g}s"
        self._transition(p, event, reason, delay=delay)
        if delay is not None:
            self._schedule(p, delay)

    def annotate(self, task: Task, row: dict[str, Any]) -> None:
        """Add ``program`` to the row of a program's latest run (``ps`` shows the program's state beside it)."""
        name = task.meta.get("program")
        p = self._programs.get(name) if name is not None else None
        if p is not None and p.task_id == task.id:
            row["program"] = _records.brief(p)

    # ------------------------------------------------------------------ requests
    async def run(
        self,
        argv: list[str],
        *,
        restart: str,
        name: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        quota: int | None = None,
        max_restarts: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        reset_after: float | None = None,
    ) -> TaskRow:
        """Start ``argv`` as a program with a restart policy (``task.run`` with ``restart``); returns its first run.

        Raises:
            BadParamsError: a bad setting, or the name belongs to an active program or a live task.
            LimitError: ``max_programs`` programs are active.
            (and whatever :meth:`TaskService.run` raises for the command; then nothing is created)
        """
        settings = self._settings(restart, max_restarts, backoff_base, backoff_max, reset_after)
        program_name = name or f"process-{self.ex.tasks.peek_next_id()}"
        old = self._programs.get(program_name)
        if old is not None and (old.state in _ACTIVE or old.source == "file"):
            raise BadParamsError(
                f"a program named {program_name!r} already exists ({old.source}, {old.state.value}); "
                "choose another --name, or stop it first (`executive programs stop NAME`)",
                data={"program": program_name},
            )
        if self.ex.tasks.live_named(program_name) is not None:
            raise BadParamsError(
                f"a live task is already named {program_name!r}; a program's runs carry its name, choose another",
                data={"name": program_name},
            )
        evict = self._make_room() if old is None else None
        now = time.time()
        spec = {
            "argv": list(argv),
            "cwd": cwd,
            "env": dict(env or {}),
            "timeout": timeout,
            "idle_timeout": idle_timeout,
            "quota": quota,
            "autostart": True,
        }
        p = Program(name=program_name, source="run", spec=spec, settings=settings, created=now, updated=now)
        self._programs[program_name] = p
        try:
            task = self._start_run(p, ProgramEvent.START, "started by task.run")
        except BaseException:
            if old is not None:
                self._programs[program_name] = old
            else:
                del self._programs[program_name]
            raise
        if evict is not None:
            self._forget(evict)
        row = cast(dict[str, Any], await self.ex.task_service.started_row(task))
        self.annotate(task, row)
        return cast(TaskRow, row)

    def list(self) -> list[ProgramInfo]:
        return [_records.info(self._programs[n]) for n in sorted(self._programs)]

    def get(self, name: str) -> Program:
        p = self._programs.get(name)
        if p is None:
            raise ProgramNotFoundError(name)
        return p

    def has(self, name: str) -> bool:
        return name in self._programs

    async def start(self, name: str) -> ProgramInfo:
        """Start a program that is not running (a stopped, exited or fatal one; one in backoff starts now)."""
        async with self._admin:
            p = self.get(name)
            if p.state is ProgramState.RUNNING:
                return _records.info(p)
            if p.state is ProgramState.BACKOFF:
                self._stop_now(p, "started by a client during its backoff")
            p.failures = 0
            self._start_run(p, ProgramEvent.START, "started by a client", restart_of=p.task_id)
            return _records.info(p)

    async def stop(self, name: str) -> ProgramInfo:
        """Stop a program: its live run is cancelled (and awaited), a pending backoff is dropped."""
        async with self._admin:
            p = self.get(name)
            await self._stop_and_wait(p, "stopped by a client")
            return _records.info(p)

    async def restart(self, name: str) -> tuple[Task, int | None]:
        """Stop the program's run (awaiting its end) and start a new one; returns the new run and the previous one."""
        async with self._admin:
            p = self.get(name)
            previous = p.task_id
            await self._stop_and_wait(p, "restarted by a client")
            p.failures = 0
            task = self._start_run(p, ProgramEvent.START, "restarted by a client", restart_of=previous)
        await self.ex.task_service.started_row(task)  # the reply carries the pid
        return task, previous

    async def reload(self, path: str | None = None) -> ProgramsReloaded:
        """Re-read the programs file (``path``, or the one in force) and apply only the differences.

        Raises:
            ProgramsInvalidError: the file has problems (all listed); nothing changed.
            BadParamsError: no path given and no programs file in force.
        """
        source = path or self.config_path
        if source is None:
            raise BadParamsError(
                "no programs file: start the daemon with `executive serve --config FILE`, or pass the file's path"
            )
        limits, which = self.ex.limits, self.ex.processes.os.which
        config = await asyncio.to_thread(load_programs_file, source, limits, which=which)
        async with self._admin:
            out = await self._apply(config, startup=False)
        await self._remember_file(config.source)
        return out

    # ------------------------------------------------------------------ the programs file
    async def _apply(self, config: ProgramsConfig, *, startup: bool) -> ProgramsReloaded:
        current = {n: p for n, p in self._programs.items() if p.source == "file"}
        wanted = config.programs
        if startup:
            # `serve --config`: the file has the last word over programs `run --restart` left behind.
            for n, p in list(self._programs.items()):
                if n in wanted and p.source != "file":
                    log.warning("program_replaced_by_file", program=n, source=config.source)
                    self._stop_now(p, "replaced by the programs file")
                    self._forget(p)
        clashes = [
            (f"programs.{n}", f"a program of that name was started with `run --restart` and is {p.state.value}; "
             "stop it (`executive programs stop NAME`) or rename this one")
            for n, p in self._programs.items()
            if n in wanted and p.source != "file" and p.state in _ACTIVE
        ]  # fmt: skip
        others = sum(1 for n, p in self._programs.items() if p.source != "file" and n not in wanted)
        if len(wanted) + others > self.ex.limits.max_programs and not startup:
            cap = self.ex.limits.max_programs
            clashes.append(("programs", f"{len(wanted)} programs and {others} others exceed max_programs={cap}"))
        if clashes:
            raise ProgramsInvalidError(config.source, clashes)
        added = sorted(n for n in wanted if n not in current)
        removed = sorted(n for n in current if n not in wanted)
        changed = sorted(
            n for n in wanted if n in current and not wanted[n].same_as(current[n].spec, current[n].settings)
        )
        unchanged = sorted(n for n in wanted if n in current and n not in changed)
        errors: list[ProgramProblem] = []
        for n in removed:
            await self._stop_and_wait(current[n], "removed from the programs file")
            self._forget(current[n])
        for n in changed:
            await self._stop_and_wait(current[n], "changed in the programs file")
        for n in added + changed:
            old = self._programs.get(n)
            if old is not None and old.source != "file":
                self._forget(old)  # a finished `run --restart` program of the same name gives way
            self._programs[n] = self._from_definition(wanted[n], old if n in changed else None)
            self._save(self._programs[n])
        to_start = added + changed
        if startup:  # `serve --config`: every autostart program not already running or due runs
            to_start += [n for n in unchanged if self._programs[n].state not in _ACTIVE]
        for n in to_start:
            p = self._programs[n]
            if not p.spec.get("autostart", True):
                continue
            try:
                p.failures = 0
                self._start_run(p, ProgramEvent.START, "started from the programs file", restart_of=p.task_id)
            except ExecutiveError as exc:
                p.reason = f"could not start: {exc.message}"
                self._save(p)
                errors.append({"program": n, "message": exc.message})
        log.info("programs_applied", source=config.source, added=added, removed=removed, changed=changed)
        self.ex.bus.publish(
            "programs_reloaded",
            None,
            {"source": config.source, "added": added, "removed": removed, "changed": changed},
        )
        return {
            "source": config.source,
            "added": added,
            "removed": removed,
            "changed": changed,
            "unchanged": unchanged,
            "errors": errors,
        }

    def _from_definition(self, d: ProgramDefinition, old: Program | None) -> Program:
        now = time.time()
        p = Program(name=d.name, source="file", spec=dict(d.spec), settings=d.settings, created=now, updated=now)
        if old is not None:  # a changed program keeps its history: run numbers and the link to its last run
            p.runs, p.task_id, p.created = old.runs, old.task_id, old.created
        return p

    async def _remember_file(self, source: str) -> None:
        self.config_path = source
        await self.ex.store.call(lambda s: s.set_meta(_META_FILE, source))

    # ------------------------------------------------------------------ edges and runs
    def _settings(
        self,
        restart: str,
        max_restarts: int | None,
        backoff_base: float | None,
        backoff_max: float | None,
        reset_after: float | None,
    ) -> RestartSettings:
        lim = self.ex.limits
        try:
            policy = RestartPolicy(restart)
        except ValueError:
            raise BadParamsError(f"restart must be never, on-failure or always, not {restart[:40]!r}") from None
        d = RestartSettings(policy=policy)
        s = RestartSettings(
            policy=policy,
            max_restarts=d.max_restarts if max_restarts is None else max_restarts,
            backoff_base=d.backoff_base if backoff_base is None else backoff_base,
            backoff_max=d.backoff_max if backoff_max is None else backoff_max,
            reset_after=d.reset_after if reset_after is None else reset_after,
        )
        if not (0 <= s.max_restarts <= lim.program_max_restarts):
            raise BadParamsError(f"max_restarts must be 0..{lim.program_max_restarts}, got {s.max_restarts}")
        for label in ("backoff_base", "backoff_max", "reset_after"):
            value = getattr(s, label)
            if not (0 < value <= lim.program_backoff_max_s):
                raise BadParamsError(
                    f"{label} must be more than 0 and at most {lim.program_backoff_max_s} seconds, got {value}"
                )
        if s.backoff_max < s.backoff_base:
            raise BadParamsError(f"backoff_max ({s.backoff_max}) must not be less than backoff_base ({s.backoff_base})")
        return s

    def _make_room(self) -> Program | None:
        """The finished `run --restart` program to forget so one more fits (None: there is room).

        Raises:
            LimitError: ``max_programs`` programs exist and none of them is a finished one from `run`.
        """
        if len(self._programs) < self.ex.limits.max_programs:
            return None
        done = [p for p in self._programs.values() if p.source == "run" and p.state not in _ACTIVE]
        if not done:
            raise LimitError(
                f"{len(self._programs)} programs exist; the limit is max_programs={self.ex.limits.max_programs}; "
                "stop some or remove them from the programs file",
                data={"limit": self.ex.limits.max_programs},
            )
        return min(done, key=lambda p: p.updated)

    def _forget(self, p: Program) -> None:
        self._cancel_timer(p.name)
        if self._programs.get(p.name) is p:
            del self._programs[p.name]
        name = p.name
        self.ex.store.submit(lambda s: s.program_delete(name))

    def _start_run(self, p: Program, event: ProgramEvent, reason: str, *, restart_of: int | None = None) -> Task:
        """Create the next run's task and take ``event`` (START or RETRY) to RUNNING.

        Synchronous from the submit to the edge, so the run cannot end before the program knows it.
        Raises what :meth:`TaskService.submit` raises; then the program is unchanged.
        """
        spec = p.spec
        meta: dict[str, Any] = {"program": p.name, "program_run": p.runs + 1}
        if restart_of is not None:
            meta["restart_of"] = restart_of
        task = self.ex.task_service.submit(
            list(spec["argv"]),
            name=p.name,
            cwd=spec.get("cwd"),
            env=spec.get("env") or None,
            timeout=spec.get("timeout"),
            idle_timeout=spec.get("idle_timeout"),
            quota=spec.get("quota"),
            meta=meta,
        )
        p.runs += 1
        p.task_id = task.id
        p.spec["cwd"] = task.cwd  # the resolved directory, so a later run does not depend on the client's
        if restart_of is not None:
            self.link_restart(restart_of, task.id)
        self._transition(p, event, reason)
        return task

    def link_restart(self, old_id: int, new_id: int) -> None:
        """Note on the old task which task restarted it (``meta.restarted_as``), in memory and in the store."""
        try:
            old = self.ex.tasks.get(old_id)
        except ExecutiveError:
            return  # left memory (it stays in the store); the new task's restart_of still links them
        old.meta["restarted_as"] = new_id
        self.ex.persist(old)

    def _due(self, name: str) -> None:
        """A backoff delay passed: start the next run (a refused start counts as a failure)."""
        self._timers.pop(name, None)
        p = self._programs.get(name)
        if self._closing or p is None or p.state is not ProgramState.BACKOFF:
            return
        try:
            reason = f"restart {p.failures}/{p.settings.max_restarts}"
            self._start_run(p, ProgramEvent.RETRY, reason, restart_of=p.task_id)
        except ExecutiveError as exc:
            p.failures += 1
            last = f"could not start: {exc.message}"
            if p.failures > p.settings.max_restarts:
                self._transition(p, ProgramEvent.GIVE_UP, give_up_reason(p.settings, p.failures, last, p.name))
                return
            delay = backoff_delay(p.settings, p.failures)
            self._transition(p, ProgramEvent.RETRY_REFUSED, f"{last}; next try in {delay:.3g}s", delay=delay)
            self._schedule(p, delay)

    def _schedule(self, p: Program, delay: float) -> None:
        self._cancel_timer(p.name)
        if self._closing:
            return
        # A fresh context: the timer must not carry the request (log fields) whose reply armed it.
        loop = asyncio.get_running_loop()
        self._timers[p.name] = loop.call_later(delay, self._due, p.name, context=contextvars.Context())

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _stop_now(self, p: Program, reason: str) -> int | None:
        """Take STOP if the program is active (dropping its timer, cancelling its run); returns a run to await."""
        if p.state not in _ACTIVE:
            return None
        self._cancel_timer(p.name)
        running = p.task_id if p.state is ProgramState.RUNNING else None
        self._transition(p, ProgramEvent.STOP, reason)
        if running is not None:
            task = self.ex.tasks.get(running)
            if task.is_live:
                self.ex.task_service.cancel(task.id)
                return task.id
        return None

    async def _stop_and_wait(self, p: Program, reason: str) -> None:
        task_id = self._stop_now(p, reason)
        if task_id is not None:
            await self.ex.task_service.wait(task_id, timeout=self.ex.limits.kill_grace_s + 10.0)

    def _transition(self, p: Program, event: ProgramEvent, reason: str, *, delay: float | None = None) -> None:
        """Apply one edge, log it, publish ``program_state``, persist."""
        prev = p.apply(event)
        now = time.time()
        p.reason = reason
        p.updated = now
        if delay is not None:
            p.next_at = now + delay
        log.info("program_transition", program=p.name, **{"from": prev.value, "to": p.state.value}, reason=reason)
        data: dict[str, Any] = {
            "name": p.name,
            "from": prev.value,
            "to": p.state.value,
            "event": event.value,
            "reason": reason,
            "restart": p.settings.policy.value,
            "failures": p.failures,
            "max_restarts": p.settings.max_restarts,
            "runs": p.runs,
            "task": p.task_id,
        }
        if delay is not None:
            data["delay_s"] = delay
        self.ex.bus.publish("program_state", p.task_id, data)
        self._save(p)

    def _save(self, p: Program) -> None:
        row = _records.to_row(p)
        self.ex.store.submit(lambda s: s.program_save(row))
