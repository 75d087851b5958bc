"""What a run does: phases, iterations, step selection, gates — the deterministic workflow.

Theory of operation
-------------------
:meth:`Workflow.run` is an ordinary coroutine whose control flow depends only
on the pipeline text stored with the run and on the results of its operations;
every operation (entry gate, approval, step, exit gate) goes through
:meth:`PipelineEngine.op`, which checkpoints it or, on resume, replays its
stored result.  So the same code serves a first run and every resume.

Per phase: the entry gate (earlier phases passed, files, commands), an
optional approval, then iterations.  Iteration 1 runs the required steps;
iteration 2 on runs the steps that own failed checks, steps that failed, and —
once — the optional steps; each iteration ends in an exit-gate verdict
(``scoring.decide``).  A failed required step ends the iteration early: later
steps build on it, and the gate (plus rework) decides what happens next.
Validate mode scores the project as it is (no steps, one gate per phase);
remediate mode then reworks what fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from executive.pipeline.gates import evaluate_entry_gate, evaluate_exit_gate
from executive.pipeline.model import Phase, Pipeline, Step
from executive.pipeline.run_options import phase_max_iterations, phase_thresholds
from executive.pipeline.runner import RunContext
from executive.pipeline.scoring import decide, failed_checks, threshold_for, weighted_score
from executive.pipeline.states import RunMode, RunState, Verdict

if TYPE_CHECKING:
    from executive.pipeline.engine import PipelineEngine

__all__ = ["ActiveRun", "Workflow"]

_TIMEOUTS = ("timed_out", "idle_timeout")  # task end reasons that mean "did not finish in time"


@dataclasses.dataclass(eq=False)
class ActiveRun:
    """A run attached to this daemon (executing, or waiting for an approval)."""

    id: int
    pipeline: Pipeline
    mode: RunMode
    state: RunState
    ctx: RunContext
    options: dict[str, Any]
    recorded: dict[int, dict[str, Any]]  # checkpoint rows at attach time, by seq (replay source)
    seq: int = 0  # the deterministic operation counter
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # replaced on every state change
    live: dict[str, Any] = dataclasses.field(default_factory=dict)  # phase, iteration, step, task, score, threshold


class Workflow:
    """One execution (first run or resume) of an attached run."""

    def __init__(self, engine: PipelineEngine, run: ActiveRun) -> None:
        self.engine = engine
        self.r = run

    async def run(self) -> tuple[bool, str]:
        """Phases in order; returns (passed, detail).  Deterministic given the replayed results."""
        r = self.r
        pl = r.pipeline
        names = [p.name for p in pl.phases]
        passed: list[str] = []
        below: list[str] = []
        total = 0
        for idx, phase in enumerate(pl.phases):
            r.live.update(phase=phase.name, iteration=0, step=None, score=None, threshold=None)
            if r.mode is not RunMode.VALIDATE:
                entry = await self.entry(phase, names[:idx], passed)
                if not entry["ok"]:
                    self.engine.publish(
                        "pipeline.phase",
                        None,
                        {"run": r.id, "phase": phase.name, "state": "blocked", "problems": entry["problems"]},
                    )
                    if r.mode is RunMode.REMEDIATE:
                        below.append(phase.name)
                        continue
                    return False, f"the entry gate of phase {phase.name} failed: {'; '.join(entry['problems'])}"
                if phase.entry.approval:
                    await self.engine.approval(self.r, phase)
            verdict, total, score, threshold, timed_out = await self.phase(phase, total)
            if verdict is Verdict.PASSED:
                passed.append(phase.name)
                continue
            below.append(phase.name)
            if r.mode is RunMode.RUN:
                why = f"; required step {', '.join(timed_out)} timed out" if timed_out else ""
                return (
                    False,
                    f"phase {phase.name} stopped ({verdict.value}): score {score:g} against threshold {threshold:g}"
                    + why,
                )
        if not below:
            return True, f"all {len(names)} phases passed"
        return False, f"{len(below)} of {len(names)} phases below threshold: {', '.join(below)}"

    def select(self, phase: Phase, iteration: int, rework: set[str], optional_done: set[str]) -> list[Step]:
        """Iteration 1: required steps.  Later: owners of failed checks, failed steps, and optional steps once."""
        r = self.r
        if r.mode is not RunMode.RUN and iteration == 1:
            return []  # validate/remediate: iteration 1 scores the project as it is
        if iteration == 1:
            return [s for s in phase.steps if s.required]
        extra = r.mode is RunMode.RUN
        return [
            s for s in phase.steps if s.name in rework or (extra and not s.required and s.name not in optional_done)
        ]

    async def phase(self, phase: Phase, total: int) -> tuple[Verdict, int, float, float, list[str]]:
        """Iterations of one phase until a verdict other than rework.

        Returns (verdict, gates used, score, threshold, required steps whose latest run timed out).
        """
        r = self.r
        pl = r.pipeline
        thresholds = phase_thresholds(pl, phase, r.options)
        offset = int(r.options.get("iteration", 1)) - 1  # validate --iteration N scores against threshold N
        max_it = 1 if r.mode is RunMode.VALIDATE else phase_max_iterations(pl, phase, r.options)
        previous: float | None = None
        rework: set[str] = set()
        rework_checks: list[dict[str, Any]] = []
        optional_done: set[str] = set()
        failed_steps: set[str] = set()
        # Required steps whose latest run timed out: their work is unfinished, so the phase cannot pass
        # on the checks alone (issue 18); rework re-runs them like any failed step.
        timed_out: set[str] = set()
        prev_threshold: float | None = None
        verdict, score, threshold = Verdict.EXHAUSTED, 0.0, thresholds[0]
        self.engine.publish("pipeline.phase", None, {"run": r.id, "phase": phase.name, "state": "started"})
        for iteration in range(1, max_it + 1):
            if total >= pl.defaults.max_total_iterations:
                break  # the run's budget is spent: EXHAUSTED
            threshold = threshold_for(thresholds, iteration + offset)
            r.live.update(iteration=iteration, threshold=threshold)
            for step in self.select(phase, iteration, rework, optional_done):
                mine = [c for c in rework_checks if step.name in c["owners"]] if step.name in rework else []
                if step.name in rework and not mine:
                    mine = rework_checks
                out = await self.step(phase, iteration, step, mine, prev_threshold)
                if not step.required:
                    optional_done.add(step.name)
                if out["status"] == "ok":
                    failed_steps.discard(step.name)
                    timed_out.discard(step.name)
                    continue
                failed_steps.add(step.name)
                if step.required and out.get("end_reason") in _TIMEOUTS:
                    timed_out.add(step.name)
                else:
                    timed_out.discard(step.name)
                if step.required:
                    break  # later steps build on this one: go to the gate, rework will re-run it
            total += 1
            gate = await self.gate(phase, iteration, threshold, previous, total, sorted(timed_out))
            verdict, score = Verdict(gate["verdict"]), float(gate["score"])
            if verdict is not Verdict.REWORK:
                break
            by_name = {c["name"]: c for c in gate["checks"]}
            rework_checks = [by_name[n] for n in gate["failed"]]
            rework = {o for c in rework_checks for o in c["owners"]} | failed_steps
            previous, prev_threshold = score, threshold
        state = "passed" if verdict is Verdict.PASSED else "failed"
        self.engine.publish(
            "pipeline.phase",
            None,
            {
                "run": r.id,
                "phase": phase.name,
                "state": state,
                "verdict": verdict.value,
                "score": score,
                "threshold": threshold,
            },
        )
        return verdict, total, score, threshold, sorted(timed_out) if verdict is not Verdict.PASSED else []

    async def entry(self, phase: Phase, earlier: list[str], passed: list[str]) -> dict[str, Any]:
        """The entry gate: checkpointed when it runs commands or checks files, computed inline otherwise."""
        r = self.r
        if not phase.entry.files and not phase.entry.commands:
            required = earlier if phase.entry.requires is None else list(phase.entry.requires)
            problems = [f"phase {n!r} has not passed" for n in required if n not in passed]
            return {"ok": not problems, "problems": problems, "tasks": []}

        async def fn(seq: int) -> dict[str, Any]:
            runner = self.engine.runner(self.r, phase, 0, seq)
            res = await evaluate_entry_gate(phase, earlier, passed, runner, self.engine.gate_ctx(runner))
            res["status"] = "passed" if res["ok"] else "failed"
            self.engine.publish(
                "pipeline.gate",
                None,
                {"run": r.id, "phase": phase.name, "gate": "entry", "ok": res["ok"], "problems": res["problems"]},
            )
            return res

        return await self.engine.op(self.r, "entry", phase.name, 0, None, fn)

    async def step(
        self, phase: Phase, iteration: int, step: Step, rework: list[dict[str, Any]], threshold: float | None
    ) -> dict[str, Any]:
        """One step as a checkpointed operation; ``rework`` holds the failed checks it owns."""
        r = self.r

        async def fn(seq: int) -> dict[str, Any]:
            r.live.update(step=step.name, task=None)
            base = {"run": r.id, "phase": phase.name, "iteration": iteration, "step": step.name}
            self.engine.publish("pipeline.step", None, base | {"state": "started", "rework": bool(rework)})
            out = await self.engine.runner(self.r, phase, iteration, seq).run_step(step, rework, threshold)
            pid = out["tasks"][-1] if out["tasks"] else None
            self.engine.publish(
                "pipeline.step",
                pid,
                base
                | {"state": "ended"}
                | {k: out.get(k) for k in ("status", "attempts", "tasks", "exit_code", "duration", "detail")},
            )
            r.live.update(step=None, task=None)
            return out

        return await self.engine.op(self.r, "step", phase.name, iteration, step.name, fn)

    async def gate(
        self,
        phase: Phase,
        iteration: int,
        threshold: float,
        previous: float | None,
        total: int,
        timed_out: list[str],
    ) -> dict[str, Any]:
        """The exit gate as a checkpointed operation: every check, the weighted score, the verdict.

        ``timed_out`` names required steps whose latest run timed out; while there are any the
        verdict is not ``passed``, whatever the checks score.
        """
        r = self.r
        pl = r.pipeline

        async def fn(seq: int) -> dict[str, Any]:
            r.live.update(step="(exit gate)")
            runner = self.engine.runner(self.r, phase, iteration, seq)
            checks = await evaluate_exit_gate(phase, runner, self.engine.gate_ctx(runner))
            score = weighted_score(checks)
            verdict = decide(
                score=score,
                threshold=threshold,
                iteration=iteration,
                max_iterations=phase_max_iterations(pl, phase, r.options),
                previous=previous,
                min_improvement=pl.min_improvement(phase),
                total_used=total,
                max_total=pl.defaults.max_total_iterations,
                validate=r.mode is RunMode.VALIDATE,
                unfinished=bool(timed_out),
            )
            failed = [c["name"] for c in failed_checks(checks, threshold)] if verdict is not Verdict.PASSED else []
            out = {
                "status": verdict.value,
                "verdict": verdict.value,
                "score": score,
                "threshold": threshold,
                "previous": previous,
                "iteration": iteration,
                "checks": checks,
                "failed": failed,
                "timed_out_steps": timed_out,
            }
            r.live.update(step=None, score=score)
            self.engine.publish(
                "pipeline.gate",
                None,
                {
                    "run": r.id,
                    "phase": phase.name,
                    "gate": "exit",
                    "iteration": iteration,
                    "score": score,
                    "threshold": threshold,
                    "verdict": verdict.value,
                    "failed": failed,
                    "timed_out_steps": timed_out,
                    "checks": [{"name": c["name"], "score": c["score"]} for c in checks],
                },
            )
            return out

        return await self.engine.op(self.r, "gate", phase.name, iteration, None, fn)
