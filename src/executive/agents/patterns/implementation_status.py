"""``implementation_status``: pipeline, pattern, patch, fix-loop and agent-run progress from the store.

Every section reads only tables that exist: the pipeline layer's tables may not
be there (an older store, or a build without pipelines), in which case the
section says ``available: false`` instead of failing.  Pipeline tables are
found by name (``pipeline%``) and summarised generically — row counts, and
counts per ``state``/``status`` column when there is one — so this pattern
does not depend on their exact schema.
"""

from __future__ import annotations

import datetime
from typing import Any

from executive.agents.patterns._report import render
from executive.agents.patterns.base import Pattern, PatternContext, Plan, PlannedFile
from executive.kernel.errors import ErrorCode, ServerError
from executive.store.sqlite import Store

__all__ = ["SECTIONS", "ImplementationStatus", "collect"]

SECTIONS = ("pipeline", "patterns", "patches", "fix", "agents")


def _tables(store: Store) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}


def _by(store: Store, table: str, column: str) -> dict[str, int]:
    return {
        str(r["k"]): int(r["n"])
        for r in store.query(f'SELECT "{column}" AS k, COUNT(*) AS n FROM "{table}" GROUP BY "{column}" ORDER BY k')
    }


def collect(store: Store, sections: list[str]) -> dict[str, Any]:
    """The status sections, read in one go on the store's thread."""
    tables = _tables(store)
    out: dict[str, Any] = {}
    if "pipeline" in sections:
        names = sorted(t for t in tables if t.startswith("pipeline"))
        detail: dict[str, Any] = {}
        for t in names:
            cols = {r["name"] for r in store.query(f'PRAGMA table_info("{t}")')}
            entry: dict[str, Any] = {"rows": int(store.query(f'SELECT COUNT(*) AS n FROM "{t}"')[0]["n"])}
            for col in ("state", "status", "verdict"):
                if col in cols:
                    entry[f"by_{col}"] = _by(store, t, col)
            detail[t] = entry
        out["pipeline"] = (
            {"available": bool(names), "tables": detail}
            if names
            else {"available": False, "note": "no pipeline tables in this store yet"}
        )
    if "patterns" in sections:
        rows = store.query(
            "SELECT pattern, COUNT(*) AS runs, SUM(ok) AS ok, SUM(dry_run) AS dry FROM pattern_runs GROUP BY pattern ORDER BY pattern"
        )
        out["patterns"] = [
            {"pattern": r["pattern"], "runs": r["runs"], "ok": r["ok"] or 0, "dry_runs": r["dry"] or 0} for r in rows
        ]
    if "patches" in sections:
        by_state = _by(store, "patches", "state")
        out["patches"] = {"total": sum(by_state.values()), **by_state}
    if "fix" in sections:
        runs = _by(store, "fix_runs", "state")
        attempts = _by(store, "fix_attempts", "outcome")
        total = sum(runs.values())
        out["fix"] = {
            "runs": total,
            "green": runs.get("green", 0),
            "success_rate": round(runs.get("green", 0) / total, 3) if total else None,
            "attempts": sum(attempts.values()),
            "kept": attempts.get("kept", 0),
            "runs_by_state": runs,
            "attempts_by_outcome": attempts,
        }
    if "agents" in sections:
        rows = store.query(
            "SELECT agent, COUNT(*) AS runs, SUM(ok = 1) AS ok, SUM(ok = 0) AS failed, SUM(COALESCE(cost_usd, 0)) AS cost FROM agent_runs GROUP BY agent ORDER BY agent"
        )
        out["agents"] = [
            {
                "agent": r["agent"],
                "runs": r["runs"],
                "ok": r["ok"] or 0,
                "failed": r["failed"] or 0,
                "cost_usd": round(r["cost"] or 0.0, 4),
            }
            for r in rows
        ]
    return out


class ImplementationStatus(Pattern):
    name = "implementation_status"
    description = "Report pipeline, pattern, patch, fix-loop and agent progress from the store (what exists of it)."

    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        if ctx.ex is None:
            raise ServerError("implementation_status needs the running daemon", code=ErrorCode.UNAVAILABLE)
        sections = instance.get("sections") or list(SECTIONS)
        report = {"generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        report.update(await ctx.ex.store.call(collect, sections))
        plan = Plan(report=report)
        if instance.get("output"):
            plan.files.append(
                PlannedFile(
                    instance["output"], render("Implementation status", report, instance.get("format", "markdown"))
                )
            )
        return plan
