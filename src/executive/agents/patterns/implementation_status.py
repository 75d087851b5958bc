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

__all__ = ["SECTIONS", "ImplementationStatus"]

SECTIONS = ("pipeline", "patterns", "patches", "fix", "agents")


class ImplementationStatus(Pattern):
    name = "implementation_status"
    description = "Report pipeline, pattern, patch, fix-loop and agent progress from the store (what exists of it)."

    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        if ctx.ex is None:
            raise ServerError("implementation_status needs the running daemon", code=ErrorCode.UNAVAILABLE)
        sections = instance.get("sections") or list(SECTIONS)
        report = {"generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        report.update(await ctx.ex.store.call(lambda s: s.status_report(sections)))
        plan = Plan(report=report)
        if instance.get("output"):
            plan.files.append(
                PlannedFile(
                    instance["output"], render("Implementation status", report, instance.get("format", "markdown"))
                )
            )
        return plan
