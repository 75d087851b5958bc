"""A run's status, by phase and iteration, built from its checkpoint rows.

Pure: rows in, one JSON-safe dict out; ``pipeline status``, ``pipeline report``
and the JSON-RPC method all use it, so they always agree.  Shape::

    {run: {id, name, session, mode, state, detail, requirement, workdir, created, ended, active, live},
     phases: [{name, state, thresholds, entry, approval,
               iterations: [{iteration, threshold, score, verdict, previous, timed_out_steps,
                             steps: [{step, status, starts, attempts, tasks, duration, detail}],
                             checks: [{name, kind, score, weight, detail, failed}]}]}],
     totals: {steps_run, gates, duration}}
"""

from __future__ import annotations

from typing import Any

from executive.pipeline.model import Pipeline

__all__ = ["build_status"]


def _phase_state(
    iterations: list[dict[str, Any]], entry: dict[str, Any] | None, approval: dict[str, Any] | None
) -> str:
    if entry is not None and entry["status"] == "failed":
        return "blocked"
    if approval is not None and approval["status"] == "running":
        return "waiting_approval"
    if not iterations:
        return "running" if (entry or approval) else "pending"
    last = iterations[-1]
    verdict = last.get("verdict")
    if verdict == "passed":
        return "passed"
    if verdict in ("not_improving", "exhausted", "below"):
        return "failed"
    return "running"


def build_status(
    run: dict[str, Any],
    ops: list[dict[str, Any]],
    approvals: dict[str, dict[str, Any]],
    pipeline: Pipeline,
    live: dict[str, Any] | None,
) -> dict[str, Any]:
    """Assemble the status dict (see the module docstring)."""
    by_phase: dict[str, dict[str, Any]] = {}
    for phase in pipeline.phases:
        by_phase[phase.name] = {
            "name": phase.name,
            "description": phase.description,
            "thresholds": run["thresholds"].get(phase.name, pipeline.thresholds(phase)),
            "entry": None,
            "approval": None,
            "approval_required": phase.entry.approval,
            "approved": approvals.get(phase.name),
            "_its": {},
        }
    steps_run = gates = 0
    for op in ops:
        ph = by_phase.get(op["phase"])
        if ph is None:
            continue
        out = op["output"] or {}
        if op["kind"] == "entry":
            ph["entry"] = {"status": op["status"], "problems": out.get("problems", []), "tasks": op["tasks"]}
            continue
        if op["kind"] == "approval":
            ph["approval"] = {"status": op["status"], "approved": out.get("approved"), "note": out.get("note")}
            continue
        it = ph["_its"].setdefault(
            op["iteration"],
            {
                "iteration": op["iteration"],
                "steps": [],
                "checks": [],
                "score": None,
                "threshold": None,
                "verdict": None,
                "previous": None,
                "timed_out_steps": [],
            },
        )
        if op["kind"] == "step":
            steps_run += 1
            duration = out.get("duration")
            it["steps"].append(
                {
                    "step": op["step"],
                    "status": op["status"],
                    "starts": op["starts"],
                    "attempts": out.get("attempts"),
                    "tasks": op["tasks"],
                    "exit_code": out.get("exit_code"),
                    "duration": duration,
                    "detail": out.get("detail", ""),
                    "kind": out.get("kind"),
                }
            )
        elif op["kind"] == "gate":
            gates += 1
            if op["status"] == "running":
                it["verdict"] = "scoring"
                continue
            failed = set(out.get("failed", []))
            it.update(
                score=out.get("score"),
                threshold=out.get("threshold"),
                verdict=out.get("verdict"),
                previous=out.get("previous"),
                timed_out_steps=list(out.get("timed_out_steps", [])),
            )
            it["checks"] = [
                {k: c.get(k) for k in ("name", "kind", "score", "weight", "detail", "tasks", "owners")}
                | {"failed": c["name"] in failed}
                for c in out.get("checks", [])
            ]
    phases = []
    for ph in by_phase.values():
        its = [ph["_its"][k] for k in sorted(ph["_its"])]
        del ph["_its"]
        ph["iterations"] = its
        ph["state"] = _phase_state(its, ph["entry"], ph["approval"])
        phases.append(ph)
    info = {
        k: run.get(k)
        for k in (
            "id",
            "name",
            "mode",
            "state",
            "detail",
            "requirement",
            "workdir",
            "source",
            "content_sha",
            "created",
            "updated",
            "ended",
            "options",
        )
    }
    info["session"] = (run.get("options") or {}).get("session")
    info["active"] = live is not None
    info["live"] = live
    ended = run.get("ended") or run.get("updated") or run["created"]
    return {
        "run": info,
        "phases": phases,
        "totals": {"steps_run": steps_run, "gates": gates, "duration": round(ended - run["created"], 3)},
    }
