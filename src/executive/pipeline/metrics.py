"""A run's metrics as one flat table: a row per entry gate, approval, step, exit gate, check and phase.

Theory of operation
-------------------
The phased executor's review asked for metrics a spreadsheet or a dashboard
can read without knowing our status shape.  So this is a table, the same for
``pipeline metrics --format json`` (``{run, columns, rows}``) and ``--format
csv`` (the CLI writes ``columns`` as the header and ``rows`` under it, RFC
4180).  Pure: the status (``status.build_status``) and the checkpoint rows go
in, the table comes out; durations are ``ended - started`` of each checkpoint,
so a replayed operation keeps the duration it had when it ran.

Row kinds (``kind``), in run order within each phase, the phase row last:

* ``entry``     the entry gate (when it checks files or runs commands): passed or failed;
* ``approval``  the wait for ``pipeline approve``: its duration is the wait;
* ``step``      one step of one iteration: status ok/failed/cancelled, attempts, exit code;
* ``gate``      the exit gate of one iteration: weighted score, threshold, verdict;
* ``check``     one check of that gate: its score against its bar (pass_score, else the threshold);
* ``phase``     the phase's outcome: the last score and threshold, iterations used, wall time.

``passed`` is a boolean where the row has a pass/fail meaning, else null;
``duration_s`` is null while an operation is still running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["METRIC_COLUMNS", "build_metrics"]

METRIC_COLUMNS = [
    "run",
    "session",
    "pipeline",
    "phase",
    "iteration",
    "kind",
    "name",
    "status",
    "passed",
    "score",
    "threshold",
    "weight",
    "duration_s",
    "attempts",
    "exit_code",
    "started",
    "ended",
]

_PASSING = {"entry": "passed", "approval": "approved", "step": "ok", "gate": "passed"}


def _duration(op: Mapping[str, Any]) -> float | None:
    if op.get("ended") is None or op["status"] == "running":
        return None
    return round(float(op["ended"]) - float(op["started"]), 3)


def build_metrics(status: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{run, columns, rows}``: see the module docstring for the rows."""
    run = status["run"]
    base = {"run": run["id"], "session": run.get("session"), "pipeline": run["name"]}
    rows: list[dict[str, Any]] = []

    def row(**values: Any) -> None:
        rows.append({c: values.get(c, base.get(c)) for c in METRIC_COLUMNS})

    for ph in status["phases"]:
        mine = [o for o in ops if o["phase"] == ph["name"]]
        for op in mine:
            out = op.get("output") or {}
            kind = op["kind"]
            timing = {"duration_s": _duration(op), "started": op["started"], "ended": op.get("ended")}
            common = {"phase": ph["name"], "iteration": op["iteration"], "kind": kind, "status": op["status"]}
            if kind in ("entry", "approval"):
                done = op["status"] != "running"
                row(**common, name=kind, passed=(op["status"] == _PASSING[kind]) if done else None, **timing)
            elif kind == "step":
                row(
                    **common,
                    name=op["step"],
                    passed=(op["status"] == "ok") if op["status"] != "running" else None,
                    attempts=out.get("attempts"),
                    exit_code=out.get("exit_code"),
                    **timing,
                )
            elif kind == "gate":
                threshold = out.get("threshold")
                done = op["status"] != "running"
                row(
                    **common
                    | timing
                    | {
                        "name": "exit",
                        "status": out.get("verdict", op["status"]),
                        "passed": (out.get("verdict") == "passed") if done else None,
                        "score": out.get("score"),
                        "threshold": threshold,
                    }
                )
                for c in out.get("checks", []):
                    bar = c.get("pass_score") if c.get("pass_score") is not None else threshold
                    ok = None if bar is None else float(c["score"]) >= float(bar)
                    row(
                        phase=ph["name"],
                        iteration=op["iteration"],
                        kind="check",
                        name=c["name"],
                        status=None if ok is None else ("passed" if ok else "failed"),
                        passed=ok,
                        score=c["score"],
                        threshold=bar,
                        weight=c.get("weight"),
                    )
        its = ph["iterations"]
        last = next((it for it in reversed(its) if it["score"] is not None), None)
        starts = [o["started"] for o in mine]
        ends = [o["ended"] for o in mine if o.get("ended") is not None]
        final = ph["state"] in ("passed", "failed", "blocked")
        row(
            phase=ph["name"],
            iteration=len(its) or None,
            kind="phase",
            name=ph["name"],
            status=ph["state"],
            passed=(ph["state"] == "passed") if final else None,
            score=last["score"] if last else None,
            threshold=last["threshold"] if last else None,
            duration_s=round(max(ends) - min(starts), 3) if starts and ends and final else None,
            started=min(starts) if starts else None,
            ended=max(ends) if ends and final else None,
        )
    summary = {
        **base,
        "name": run["name"],
        "mode": run["mode"],
        "state": run["state"],
        "requirement": run["requirement"],
        "created": run["created"],
        "ended": run["ended"],
        "duration_s": status["totals"]["duration"],
        "steps_run": status["totals"]["steps_run"],
        "gates": status["totals"]["gates"],
    }
    return {"run": summary, "columns": list(METRIC_COLUMNS), "rows": rows}
