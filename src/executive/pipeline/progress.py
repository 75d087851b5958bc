"""How far a run is and how long the rest should take: the progress bar's numbers and its ETA.

Theory of operation
-------------------
Pure: the pipeline, the run's checkpoint rows, the durations of earlier runs of
the same pipeline and the current time go in; ``{done, total, eta, ...}`` comes
out.  A *unit* is one checkpointed operation: an entry gate that checks files
or runs commands, a step, an exit gate.

``done`` counts the run's finished units.  The units still to come are planned
the way the workflow would choose them: a phase not reached yet runs its entry
gate, its required steps and its exit gate; a phase in rework runs the owners
of the failed checks and the steps that failed (plus, once, its optional
steps), then the gate again.  The plan assumes every later gate passes, so a
rework iteration adds units when it happens, as the phased executor's bar does.

Each unit's expected duration is the mean of the same unit (phase, kind, step)
in earlier runs and earlier in this run; failing that, the mean of its kind,
then of everything measured.  The ETA is the sum over the planned units, less
the time the one in flight has already run.  With nothing measured yet it is
``None`` ("ETA unknown"), never a guess.

Rejected alternative: rich's own ``TimeRemainingColumn``, which extrapolates
from the speed so far; a pipeline's steps differ by orders of magnitude, so
the speed of the first step says little about the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

from executive.pipeline.model import Phase, Pipeline
from executive.pipeline.states import RunMode

__all__ = ["HISTORY_RUNS", "estimate_progress"]

HISTORY_RUNS = 20  # earlier runs of the same pipeline whose durations feed the ETA
_UNITS = ("entry", "step", "gate")
_PHASE_FAILED = ("not_improving", "exhausted", "below")

Unit = tuple[str, str, str | None]  # (phase, kind, step)


class _Expect:
    """Expected seconds per unit: same unit, else same kind, else anything measured."""

    def __init__(self, samples: Iterable[tuple[Unit, float]]) -> None:
        by_unit: dict[Unit, list[float]] = defaultdict(list)
        by_kind: dict[str, list[float]] = defaultdict(list)
        every: list[float] = []
        for unit, seconds in samples:
            by_unit[unit].append(seconds)
            by_kind[unit[1]].append(seconds)
            every.append(seconds)
        self.by_unit = {k: fmean(v) for k, v in by_unit.items()}
        self.by_kind = {k: fmean(v) for k, v in by_kind.items()}
        self.every = fmean(every) if every else None

    def __call__(self, unit: Unit) -> float | None:
        if unit in self.by_unit:
            return self.by_unit[unit]
        return self.by_kind.get(unit[1], self.every)


def _fresh_phase(phase: Phase, mode: RunMode) -> list[Unit]:
    units: list[Unit] = []
    if mode is not RunMode.VALIDATE and (phase.entry.files or phase.entry.commands):
        units.append((phase.name, "entry", None))
    if mode is RunMode.RUN:
        units += [(phase.name, "step", s.name) for s in phase.steps if s.required]
    units.append((phase.name, "gate", None))
    return units


def _rework_steps(phase: Phase, ops: list[Mapping[str, Any]], iteration: int, mode: RunMode) -> list[str]:
    """What iteration ``iteration`` (>= 2) runs, read off the gate and the steps of the one before."""
    before = [o for o in ops if o["iteration"] == iteration - 1]
    gate = next((o for o in before if o["kind"] == "gate"), None)
    failed_checks = set((gate["output"] or {}).get("failed", [])) if gate is not None else set()
    names = {owner for c in phase.checks if c.name in failed_checks for owner in c.owners}
    names |= {o["step"] for o in before if o["kind"] == "step" and o["status"] != "ok"}
    if mode is RunMode.RUN:
        ran = {o["step"] for o in ops if o["kind"] == "step"}
        names |= {s.name for s in phase.steps if not s.required and s.name not in ran}
    return [s.name for s in phase.steps if s.name in names]


def _remaining_in_phase(phase: Phase, ops: list[Mapping[str, Any]], mode: RunMode) -> list[Unit] | None:
    """Units still to run in a phase that has started; None when the phase has ended (passed or failed)."""
    gates = [o for o in ops if o["kind"] == "gate" and o["status"] != "running"]
    if gates and (gates[-1]["output"] or {}).get("verdict") in ("passed", *_PHASE_FAILED):
        return None
    if any(o["kind"] == "entry" and o["status"] == "failed" for o in ops):
        return None
    iteration = max([o["iteration"] for o in ops if o["kind"] in ("step", "gate")], default=1)
    if gates and gates[-1]["iteration"] == iteration:
        iteration += 1  # the gate asked for rework: the next iteration has not started
    if iteration == 1:
        wanted = [s.name for s in phase.steps if s.required] if mode is RunMode.RUN else []
    else:
        wanted = _rework_steps(phase, ops, iteration, mode)
    finished = {
        o["step"] for o in ops if o["iteration"] == iteration and o["kind"] == "step" and o["status"] != "running"
    }
    entry: list[Unit] = (
        [(phase.name, "entry", None)] if any(o["kind"] == "entry" and o["status"] == "running" for o in ops) else []
    )
    return entry + [(phase.name, "step", n) for n in wanted if n not in finished] + [(phase.name, "gate", None)]


def estimate_progress(
    pipeline: Pipeline,
    mode: RunMode,
    ops: Sequence[Mapping[str, Any]],
    history: Iterable[Mapping[str, Any]],
    *,
    ended: bool,
    now: float,
) -> dict[str, Any]:
    """``{done, total, eta, measured, current}`` for the run whose checkpoint rows are ``ops``.

    Args:
        history: ``{kind, phase, step, duration}`` rows of earlier runs of this pipeline.
        ended: the run has stopped for good (nothing more will run, so ``eta`` is 0).
        now: the current time (seconds since the epoch), for the unit in flight.
    """
    units = [o for o in ops if o["kind"] in _UNITS]
    finished = [o for o in units if o["status"] != "running" and o.get("ended") is not None]
    running = next((o for o in units if o["status"] == "running"), None)
    samples = [((str(h["phase"]), str(h["kind"]), h["step"]), float(h["duration"])) for h in history]
    samples += [((o["phase"], o["kind"], o["step"]), float(o["ended"]) - float(o["started"])) for o in finished]
    expect = _Expect(samples)

    remaining: list[Unit] = []
    if not ended:
        for phase in pipeline.phases:
            mine = [o for o in units if o["phase"] == phase.name]
            if not mine:
                remaining += _fresh_phase(phase, mode)
                continue
            rest = _remaining_in_phase(phase, mine, mode)
            if rest is None:
                last_gate = next((o for o in reversed(mine) if o["kind"] == "gate"), None)
                verdict = ((last_gate or {}).get("output") or {}).get("verdict")
                if mode is RunMode.RUN and verdict in _PHASE_FAILED:
                    break  # a run stops at its first failed phase
                continue
            remaining += rest
    left = 0.0
    known = True
    for unit in remaining:
        seconds = expect(unit)
        if seconds is None:
            known = False
            break
        if running is not None and (running["phase"], running["kind"], running["step"]) == unit:
            seconds = max(0.0, seconds - (now - float(running["started"])))
        left += seconds
    current = (
        {"phase": running["phase"], "iteration": running["iteration"], "kind": running["kind"], "step": running["step"]}
        if running is not None
        else None
    )
    return {
        "done": len(finished),
        "total": len(finished) + len(remaining),
        "eta": round(left, 1) if known else None,
        "measured": len(samples),
        "current": current,
    }
