"""The pipeline engine: phased runs as durable, replayable workflows.

Theory of operation
-------------------
A run executes :class:`~executive.pipeline.workflow.Workflow` (what a run does:
phases, iterations, step selection, gates).  This module is how a run lives on
a daemon: creating and checkpointing it, attaching it (a first start, a
resume, a re-attach after a restart), and the operations the workflow is made
of.  Every operation goes through :meth:`PipelineEngine.op`, which numbers it
with a deterministic counter and checkpoints its start and its end
(``checkpoints.py``).  Resuming a run is running the same workflow again:
finished operations return their stored results instantly; the one that was
in flight runs again, once.  An approval (:meth:`PipelineEngine.approval`) is a
durable wait released by ``pipeline approve``.

The run's lifecycle is the table in ``states.py``; :meth:`_transition` is the
only writer of ``state``.  Events on the bus: ``pipeline.run`` (state changes),
``pipeline.phase``, ``pipeline.step``, ``pipeline.gate`` — each with ``run``
in ``data``; ``pid`` is the step's task id where there is one.

Rejected alternative: a hand-written resume that inspects the last checkpoint
and jumps into the middle of the loops.  Replaying the workflow keeps one code
path for first runs and resumes, and the name check turns any divergence into
a typed error instead of silently skipping work.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from executive.kernel import transitions
from executive.kernel.errors import BadParamsError, ExecutiveError, LimitError
from executive.kernel.events import EventBus
from executive.pipeline import checkpoints as cp
from executive.pipeline.agent_steps import AgentLauncher, default_launcher
from executive.pipeline.errors import NondeterminismError, RunNotFoundError, RunTransitionError
from executive.pipeline.gates import GateContext
from executive.pipeline.metrics import build_metrics
from executive.pipeline.model import Phase, Pipeline, load_pipeline, parse_pipeline
from executive.pipeline.progress import HISTORY_RUNS, estimate_progress
from executive.pipeline.report import render_html
from executive.pipeline.run_options import check_requirement, phase_thresholds, run_options
from executive.pipeline.runner import RunContext, TaskHost, TaskRunner
from executive.pipeline.states import RUN_TRANSITIONS, TERMINAL_STATES, RunEvent, RunMode, RunState
from executive.pipeline.status import build_status
from executive.pipeline.workflow import ActiveRun, Workflow
from executive.store.records import PipelineRunRow
from executive.store.writer import StoreWriter

__all__ = ["PipelineEngine", "PipelineHost"]

log = structlog.get_logger("executive.pipeline")


class PipelineHost(TaskHost, Protocol):
    """What the engine needs from :class:`~executive.service.Executive`.

    Read-only properties, not attributes: a Protocol attribute would demand a
    settable one, which the service's ``store`` (a property) is not.
    """

    @property
    def bus(self) -> EventBus: ...

    @property
    def store(self) -> StoreWriter: ...


def next_state(run_id: int, state: RunState, event: RunEvent) -> RunState:
    """Look ``event`` up in the transition table; a miss is a :class:`RunTransitionError`."""
    return transitions.next_state(
        RUN_TRANSITIONS,
        state,
        event,
        machine="run",
        subject=f"run {run_id}",
        data={"run": run_id, "state": state.value, "event": event.value},
        error=RunTransitionError,
        when_final="nothing",
        hint="a finished run resumes only with --rework-from STEP" if event is RunEvent.RESUME else "",
    )


class PipelineEngine:
    """Creates, drives, resumes and reports pipeline runs for one daemon."""

    def __init__(self, host: PipelineHost, *, launcher: AgentLauncher | None = None) -> None:
        self.host = host
        self.launcher = launcher
        self.seam = cp.CrashSeam(None)
        self._active: dict[int, ActiveRun] = {}
        self._approvals: dict[tuple[int, str], asyncio.Event] = {}
        self._closing = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover after a restart: interrupted runs wait for `resume`; approval waits re-attach."""
        self.seam = cp.CrashSeam.from_env()
        store = self.host.store
        interrupted = [RunState.RUNNING.value, RunState.PENDING.value]
        for run_id in await store.call(lambda s: s.pipeline_runs_in_states(interrupted)):
            row = await store.call(lambda s: s.pipeline_run_get(run_id, content=False))  # noqa: B023 (awaited here)
            assert row is not None
            new = next_state(run_id, RunState(row["state"]), RunEvent.INTERRUPT)
            detail = (
                f"the daemon stopped while this run was executing; `executive pipeline resume {run_id}` continues it"
            )
            await store.call(cp.set_run_state, run_id, new.value, detail, False)
            log.info("run_transition", run=run_id, **{"from": row["state"], "to": new.value}, reason="daemon_restart")
        for run_id in await store.call(lambda s: s.pipeline_runs_in_states([RunState.WAITING_APPROVAL.value])):
            try:
                await self._attach(run_id, None)
            except ExecutiveError as exc:
                log.warning("run_reattach_failed", run=run_id, error=exc.message)

    async def aclose(self) -> None:
        """Stop executing runs (they become ``interrupted``; approval waits stay durable)."""
        self._closing = True
        tasks = [r.task for r in self._active.values() if r.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ creating runs
    async def run(
        self,
        *,
        path: str | None = None,
        text: str | None = None,
        requirement: str = "",
        workdir: str | None = None,
        session: str | None = None,
        max_phase_iterations: int | None = None,
        threshold_schedule: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Start a run of a pipeline file (``path``) or text; returns the run row.

        Every check happens before the run exists, in this order: the file, the
        requirement, then the client's options (``run_options.py``).

        Raises:
            PipelineInvalidError: the file is malformed (the message lists every problem).
            BadParamsError: neither/both of path and text, the working directory is missing, the
                requirement is empty, or a bad session name, iteration cap or threshold schedule.
            SessionExistsError: a run already has that session name.
            LimitError: the requirement is too long, or too many runs are active.
        """
        pipeline, content, source, base = await self._load(path, text, workdir)
        lim = self.host.limits
        requirement = check_requirement(requirement, lim)
        options = run_options(
            pipeline,
            lim,
            session=session,
            max_phase_iterations=max_phase_iterations,
            threshold_schedule=threshold_schedule,
        )
        wd = Path(workdir) if workdir else base / pipeline.workdir
        return await self._create(pipeline, content, source, wd, requirement, RunMode.RUN, options)

    async def resolve(self, run: int | str) -> int:
        """The id of ``run``: an id as it is, a session name (``run --session NAME``) looked up."""
        if isinstance(run, int):
            return run
        if run.isdigit():
            return int(run)
        found = await self.host.store.call(lambda s: s.pipeline_run_by_session(run))
        if found is None:
            raise RunNotFoundError(run)
        return found

    async def validate(
        self, directory: str, *, path: str | None = None, remediate: bool = False, iteration: int = 1
    ) -> dict[str, Any]:
        """Score the project in ``directory`` with the pipeline's exit gates; ``remediate`` reworks what fails."""
        if not os.path.isdir(directory):
            raise BadParamsError(f"{directory} is not a directory; validate scores an existing project directory")
        if not (1 <= iteration <= self.host.limits.pipeline_max_iterations):
            raise BadParamsError(
                f"iteration must be 1..{self.host.limits.pipeline_max_iterations} (whose threshold to score against)"
            )
        file = path or os.path.join(directory, "pipeline.yaml")
        pipeline, content, source, _ = await self._load(file, None, None)
        mode = RunMode.REMEDIATE if remediate else RunMode.VALIDATE
        return await self._create(pipeline, content, source, Path(directory), "", mode, {"iteration": iteration})

    async def _load(self, path: str | None, text: str | None, workdir: str | None) -> tuple[Pipeline, str, str, Path]:
        lim = self.host.limits
        if (path is None) == (text is None):
            raise BadParamsError("give exactly one of path (a pipeline file) or text (its content)")
        if path is not None:
            pipeline, content = await asyncio.to_thread(load_pipeline, path, lim)
            return pipeline, content, os.path.abspath(path), Path(os.path.abspath(path)).parent
        assert text is not None
        if workdir is None:
            raise BadParamsError("a pipeline sent as text needs workdir (there is no file to be relative to)")
        return parse_pipeline(text, lim, source="pipeline text"), text, "", Path(workdir)

    async def _create(
        self,
        pipeline: Pipeline,
        content: str,
        source: str,
        workdir: Path,
        requirement: str,
        mode: RunMode,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        lim = self.host.limits
        if len(requirement.encode()) > lim.pipeline_requirement_bytes:
            raise LimitError(
                f"the requirement has {len(requirement.encode())} bytes; "
                f"pipeline_requirement_bytes is {lim.pipeline_requirement_bytes}; "
                "put long requirements in a file a step reads",
                data={"limit": lim.pipeline_requirement_bytes},
            )
        if len(self._active) >= lim.pipeline_max_active_runs:
            raise LimitError(
                f"{len(self._active)} runs are active; "
                f"the limit is pipeline_max_active_runs={lim.pipeline_max_active_runs}; "
                "wait for one to finish or cancel one",
                data={"limit": lim.pipeline_max_active_runs},
            )
        wd = workdir.resolve()
        if not wd.is_dir():
            raise BadParamsError(
                f"working directory {wd} does not exist; create it or set workdir in the pipeline file"
            )
        row: PipelineRunRow = {
            "name": pipeline.name,
            "mode": mode.value,
            "source": source,
            "content": content,
            "content_sha": hashlib.sha256(content.encode()).hexdigest(),
            "requirement": requirement,
            "workdir": str(wd),
            "thresholds": {ph.name: phase_thresholds(pipeline, ph, options) for ph in pipeline.phases},
            "options": options,
            "state": RunState.PENDING.value,
        }
        run_id = await self.host.store.call(cp.create_run, row, self.seam)
        log.info("run_created", run=run_id, pipeline=pipeline.name, mode=mode.value, workdir=str(wd))
        await self._attach(run_id, RunEvent.START)
        return await self.info(run_id)

    # ------------------------------------------------------------------ attaching
    async def _attach(self, run_id: int, event: RunEvent | None, detail: str | None = None) -> ActiveRun:
        store = self.host.store
        row = await store.call(lambda s: s.pipeline_run_get(run_id, content=True))
        if row is None:
            raise RunNotFoundError(run_id)
        pipeline = parse_pipeline(row["content"], self.host.limits, source=row["source"] or f"run {run_id}")
        ops = await store.call(lambda s: s.checkpoint_ops(run_id))
        ctx = RunContext(run_id, pipeline, row["workdir"], row["requirement"], row["created"])
        r = ActiveRun(
            run_id,
            pipeline,
            RunMode(row["mode"]),
            RunState(row["state"]),
            ctx,
            row["options"],
            {o["seq"]: dict(o) for o in ops},
        )
        if event is not None:
            await self._transition(r, event, detail)
        self._active[run_id] = r
        # A fresh context: the run outlives the request that started it (no request_id in its logs).
        r.task = asyncio.create_task(self._drive(r), name=f"pipeline-run-{run_id}", context=contextvars.Context())
        return r

    async def _drive(self, r: ActiveRun) -> None:
        try:
            ok, detail = await Workflow(self, r).run()
            await self._transition(r, RunEvent.PASS if ok else RunEvent.FAIL, detail)
        except asyncio.CancelledError:
            if not self._closing:
                await self._transition(
                    r,
                    RunEvent.CANCEL,
                    "cancelled by a client; `executive pipeline resume` re-runs the step that was cut off",
                )
            elif r.state is RunState.RUNNING:
                await self._transition(
                    r, RunEvent.INTERRUPT, f"the daemon stopped; `executive pipeline resume {r.id}` continues it"
                )
        except ExecutiveError as exc:
            log.warning("run_failed", run=r.id, error=exc.message)
            await self._transition(r, RunEvent.FAIL, exc.message)
        except Exception:
            log.exception("run_crashed", run=r.id)
            await self._transition(r, RunEvent.FAIL, "internal error in the pipeline engine; see the daemon log")
        finally:
            self._active.pop(r.id, None)
            for key in [k for k in self._approvals if k[0] == r.id]:
                del self._approvals[key]
            r.done.set()
            r.changed.set()

    async def _transition(self, r: ActiveRun, event: RunEvent, detail: str | None, *, persist: bool = True) -> None:
        """The one writer of a run's state: table lookup, durable write, log, event."""
        new = next_state(r.id, r.state, event)
        prev, r.state = r.state, new
        if persist:
            await self.host.store.call(cp.set_run_state, r.id, new.value, detail, new in TERMINAL_STATES, self.seam)
        log.info("run_transition", run=r.id, **{"from": prev.value, "to": new.value}, reason=event.value)
        self.publish(
            "pipeline.run",
            None,
            {"run": r.id, "from": prev.value, "to": new.value, "event": event.value, "detail": detail},
        )
        old, r.changed = r.changed, asyncio.Event()
        old.set()

    def publish(self, type_: str, pid: int | None, data: dict[str, Any]) -> None:
        self.host.bus.publish(type_, pid, data)

    # ------------------------------------------------------------------ operations
    def _claim(
        self, r: ActiveRun, kind: str, phase: str, iteration: int, step: str | None
    ) -> tuple[int, str, dict[str, Any] | None]:
        r.seq += 1
        name = f"{kind}:{phase}:{iteration}" + (f":{step}" if step else "")
        prev = r.recorded.get(r.seq)
        if prev is not None and prev["name"] != name:
            raise NondeterminismError(
                f"run {r.id} cannot be replayed: checkpoint {r.seq} is {prev['name']!r} "
                f"but the workflow now does {name!r}; "
                "the engine changed under a stored run — "
                "restart it with `pipeline resume --rework-from STEP` before that point",
                data={"run": r.id, "seq": r.seq, "recorded": prev["name"], "expected": name},
            )
        return r.seq, name, prev

    async def op(
        self,
        r: ActiveRun,
        kind: str,
        phase: str,
        iteration: int,
        step: str | None,
        fn: Callable[[int], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run one checkpointed operation, or replay its stored result."""
        seq, name, prev = self._claim(r, kind, phase, iteration, step)
        if prev is not None and prev["status"] != "running":
            return dict(prev["output"] or {})
        op = {"kind": kind, "name": name, "phase": phase, "iteration": iteration, "step": step}
        await self.host.store.call(cp.op_start, r.id, seq, op, None, self.seam)
        output = await fn(seq)
        await self.host.store.call(cp.op_end, r.id, seq, kind, str(output["status"]), output, None, self.seam)
        return output

    def runner(self, r: ActiveRun, phase: Phase, iteration: int, seq: int) -> TaskRunner:
        def on_task(tid: int) -> None:
            r.live["task"] = tid
            self.host.store.submit(lambda s: s.checkpoint_attach_task(r.id, seq, tid))

        # Resolved per use: the agents layer opens after the engine starts.
        launcher = self.launcher or default_launcher(self.host)
        return TaskRunner(self.host, r.ctx, launcher, phase=phase, iteration=iteration, on_task=on_task)

    def gate_ctx(self, runner: TaskRunner) -> GateContext:
        lim = self.host.limits
        return GateContext(
            runner.ctx.workdir, runner.values(), lim.pipeline_prompt_bytes, lim.pipeline_check_output_bytes
        )

    async def approval(self, r: ActiveRun, phase: Phase) -> None:
        """A durable wait: checkpointed as running (run state waiting_approval) until approved."""
        seq, name, prev = self._claim(r, "approval", phase.name, 0, None)
        if prev is not None and prev["status"] != "running":
            return
        store = self.host.store
        key = (r.id, phase.name)
        wake = self._approvals.setdefault(key, asyncio.Event())
        approved = (await store.call(lambda s: s.pipeline_approvals(r.id))).get(phase.name)
        op = {"kind": "approval", "name": name, "phase": phase.name, "iteration": 0, "step": None}
        wait_state = RunState.WAITING_APPROVAL if approved is None and r.state is RunState.RUNNING else None
        await store.call(cp.op_start, r.id, seq, op, wait_state.value if wait_state else None, self.seam)
        if wait_state is not None:
            await self._transition(r, RunEvent.WAIT_APPROVAL, None, persist=False)
        if approved is None:
            r.live.update(step="(waiting for approval)")
            self.publish(
                "pipeline.phase",
                None,
                {
                    "run": r.id,
                    "phase": phase.name,
                    "state": "waiting_approval",
                    "hint": f"executive pipeline approve {r.id} {phase.name}",
                },
            )
        while approved is None:
            await wake.wait()
            wake.clear()
            approved = (await store.call(lambda s: s.pipeline_approvals(r.id))).get(phase.name)
        self._approvals.pop(key, None)
        resume_state = RunState.RUNNING if r.state is RunState.WAITING_APPROVAL else None
        out = {"status": "approved", "approved": approved["approved"], "note": approved["note"]}
        await store.call(
            cp.op_end, r.id, seq, "approval", "approved", out, resume_state.value if resume_state else None, self.seam
        )
        if resume_state is not None:
            await self._transition(r, RunEvent.APPROVED, None, persist=False)
        r.live.update(step=None)

    # ------------------------------------------------------------------ client actions
    async def _row(self, run_id: int) -> dict[str, Any]:
        row = await self.host.store.call(lambda s: s.pipeline_run_get(run_id, content=True))
        if row is None:
            raise RunNotFoundError(run_id)
        return dict(row)

    async def info(self, run_id: int) -> dict[str, Any]:
        """The run row (without the file content) plus ``active`` and the live position."""
        row = await self._row(run_id)
        row.pop("content", None)
        row["session"] = (row.get("options") or {}).get("session")
        r = self._active.get(run_id)
        row["active"] = r is not None
        row["live"] = dict(r.live) if r is not None else None
        return row

    async def resume(self, run_id: int, *, rework_from: str | None = None) -> dict[str, Any]:
        """Continue an interrupted or cancelled run, or restart any stopped run from a step.

        ``rework_from`` names the step as ``PHASE/STEP`` or ``STEP``.
        """
        if run_id in self._active:
            r = self._active[run_id]
            raise RunTransitionError(
                f"run {run_id} is {r.state.value} on this daemon; "
                f"cancel it first (`executive pipeline cancel {run_id}`)",
                data={"run": run_id, "state": r.state.value},
            )
        row = await self._row(run_id)
        state = RunState(row["state"])
        if len(self._active) >= self.host.limits.pipeline_max_active_runs:
            raise LimitError(
                f"pipeline_max_active_runs={self.host.limits.pipeline_max_active_runs} runs are active; "
                "wait or cancel one"
            )
        if rework_from is None:
            next_state(run_id, state, RunEvent.RESUME)
            await self._attach(run_id, RunEvent.RESUME, "resumed")
            return await self.info(run_id)
        next_state(run_id, state, RunEvent.REWORK)
        ops = await self.host.store.call(lambda s: s.checkpoint_ops(run_id))
        seq = self._rework_point(run_id, rework_from, [dict(op) for op in ops])
        removed = await self.host.store.call(lambda s: s.checkpoint_truncate(run_id, seq))
        log.info("run_rework_from", run=run_id, step=rework_from, seq=seq, removed=removed)
        await self._attach(run_id, RunEvent.REWORK, f"rework from {rework_from}")
        return await self.info(run_id)

    @staticmethod
    def _rework_point(run_id: int, spec: str, ops: list[dict[str, Any]]) -> int:
        phase, _, step = spec.rpartition("/")
        hits = [o for o in ops if o["kind"] == "step" and o["step"] == step and (not phase or o["phase"] == phase)]
        if not hits:
            ran = sorted({f"{o['phase']}/{o['step']}" for o in ops if o["kind"] == "step"})
            raise BadParamsError(
                f"no step {spec!r} has run in run {run_id}; steps that ran: {', '.join(ran) or 'none'}",
                data={"run": run_id, "steps": ran},
            )
        phases = {o["phase"] for o in hits}
        if len(phases) > 1:
            raise BadParamsError(
                f"step {step!r} ran in phases {', '.join(sorted(phases))}; say which with PHASE/{step}"
            )
        return int(max(o["seq"] for o in hits))  # its latest run: the project's current state came from there

    async def approve(self, run_id: int, phase: str, note: str = "") -> dict[str, Any]:
        """Durably approve ``phase`` of ``run_id`` and wake the run if it waits for it."""
        row = await self._row(run_id)
        pipeline = parse_pipeline(row["content"], self.host.limits, source=row["source"] or f"run {run_id}")
        try:
            ph = pipeline.phase(phase)
        except KeyError:
            raise BadParamsError(
                f"run {run_id} has no phase {phase!r}; phases: {', '.join(p.name for p in pipeline.phases)}"
            ) from None
        if not ph.entry.approval:
            gated = [p.name for p in pipeline.phases if p.entry.approval]
            raise BadParamsError(
                f"phase {phase!r} has no approval gate (entry.approval: true); "
                f"gated phases: {', '.join(gated) or 'none'}"
            )
        if RunState(row["state"]) in TERMINAL_STATES:
            raise RunTransitionError(
                f"cannot approve run {run_id}: it is {row['state']}", data={"run": run_id, "state": row["state"]}
            )
        approval = await self.host.store.call(lambda s: s.pipeline_approve(run_id, phase, note, time.time()))
        out: dict[str, Any] = {"run": run_id, "phase": phase, **approval}
        self.publish("pipeline.phase", None, {"run": run_id, "phase": phase, "state": "approved", "note": note})
        wake = self._approvals.get((run_id, phase))
        r = self._active.get(run_id)
        if wake is not None and r is not None:
            changed = r.changed
            wake.set()
            try:  # reply once the run has moved on, so a client's next call sees it running
                await asyncio.wait_for(changed.wait(), 10.0)
            except TimeoutError:
                pass
        out["state"] = (r.state if r is not None else RunState(row["state"])).value
        return out

    async def cancel(self, run_id: int) -> dict[str, Any]:
        """Cancel a run: its in-flight task is cancelled; `resume` later re-runs that step."""
        r = self._active.get(run_id)
        if r is not None and r.task is not None:
            r.task.cancel()
            await r.done.wait()
            return await self.info(run_id)
        row = await self._row(run_id)
        new = next_state(run_id, RunState(row["state"]), RunEvent.CANCEL)
        await self.host.store.call(cp.set_run_state, run_id, new.value, "cancelled by a client", True, self.seam)
        self.publish(
            "pipeline.run",
            None,
            {"run": run_id, "from": row["state"], "to": new.value, "event": "cancel", "detail": None},
        )
        return await self.info(run_id)

    async def wait(self, run_id: int, *, timeout: float) -> dict[str, Any]:
        """Wait until the run stops executing (ends, is interrupted, or waits for approval).

        ``timed_out`` in the reply says if it did not.
        """
        deadline = time.monotonic() + timeout
        while True:
            r = self._active.get(run_id)
            if r is None or r.state is not RunState.RUNNING:
                out = await self.info(run_id)
                out["timed_out"] = False
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                out = await self.info(run_id)
                out["timed_out"] = True
                return out
            try:
                await asyncio.wait_for(r.changed.wait(), remaining)
            except TimeoutError:
                continue

    async def status(self, run_id: int) -> dict[str, Any]:
        """Steps, verdicts, scores and durations by phase and iteration (``status.build_status``)."""
        store = self.host.store
        row = await self._row(run_id)
        ops = [dict(op) for op in await store.call(lambda s: s.checkpoint_ops(run_id))]
        approvals = {k: dict(v) for k, v in (await store.call(lambda s: s.pipeline_approvals(run_id))).items()}
        pipeline = parse_pipeline(row["content"], self.host.limits, source=row["source"] or f"run {run_id}")
        r = self._active.get(run_id)
        return build_status(row, ops, approvals, pipeline, dict(r.live) if r is not None else None)

    async def metrics(self, run_id: int) -> dict[str, Any]:
        """The run as one flat table of entry gates, steps, gates, checks and phases (``metrics.build_metrics``)."""
        ops = [dict(op) for op in await self.host.store.call(lambda s: s.checkpoint_ops(run_id))]
        return build_metrics(await self.status(run_id), ops)

    async def progress(self, run_id: int) -> dict[str, Any]:
        """How many units are done, how many are planned, and the ETA from earlier durations (``progress.py``)."""
        store = self.host.store
        row = await self._row(run_id)
        ops = [dict(op) for op in await store.call(lambda s: s.checkpoint_ops(run_id))]
        history = await store.call(lambda s: s.pipeline_step_durations(row["name"], run_id, HISTORY_RUNS))
        pipeline = parse_pipeline(row["content"], self.host.limits, source=row["source"] or f"run {run_id}")
        r = self._active.get(run_id)
        ended = r is None and RunState(row["state"]) in TERMINAL_STATES
        now = time.time()
        out = estimate_progress(pipeline, RunMode(row["mode"]), ops, history, ended=ended, now=now)
        out.update(run=run_id, state=(r.state.value if r is not None else row["state"]))
        out["elapsed"] = round((row.get("ended") or now) - row["created"], 1)
        runs = {h["run_id"] for h in history}
        out["history_runs"] = len(runs)
        return out

    async def list_runs(self, *, limit: int = 100, state: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` runs (oldest first), each with ``active``: attached to this daemon."""
        rows: list[dict[str, Any]] = [
            dict(r) for r in await self.host.store.call(lambda s: s.pipeline_runs(limit, state))
        ]
        for row in rows:
            row["active"] = row["id"] in self._active
        return rows

    async def report(self, run_id: int) -> str:
        """The HTML report of a run (``report.render_html``)."""
        return render_html(await self.status(run_id))
