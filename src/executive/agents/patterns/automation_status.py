"""``automation_status``: which agent adapters are configured and usable, the limits, and the allow-list.

The report comes from the running daemon (``agent check`` for the adapters,
its :class:`~executive.kernel.limits.Limits`, its allow-list and live
worktrees), so it describes what the daemon can do right now, not what a
config file claims.  With ``output`` the report is also written as Markdown or
JSON under the root.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from executive.agents.patterns._report import render
from executive.agents.patterns.base import Pattern, PatternContext, Plan, PlannedFile
from executive.kernel.errors import ErrorCode, ServerError

__all__ = ["AutomationStatus"]


class AutomationStatus(Pattern):
    name = "automation_status"
    description = "Report which agent adapters are configured and usable, the daemon's limits and its allow-list."

    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        ex, agents = ctx.ex, ctx.agents
        if ex is None or agents is None:
            raise ServerError("automation_status needs the running daemon", code=ErrorCode.UNAVAILABLE)
        bins = instance.get("bins", {})
        names = instance.get("agents") or ["claude", "codex", "aider", "command"]
        adapters = []
        for name in names:
            row = (await agents.runs.check(agent=name, bin=bins.get(name)))[0]
            adapters.append(
                {
                    "agent": name,
                    "usable": row["usable"],
                    "version": row["version"],
                    "binary": row["binary"],
                    "auth": row["auth"],
                    "capabilities": ", ".join(k for k, v in row["capabilities"].items() if v is True),
                    "problems": "; ".join(row["problems"]) or "-",
                }
            )
        allow = ex.allow_list
        report = {
            "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "summary": {
                "usable_adapters": ", ".join(a["agent"] for a in adapters if a["usable"]) or "none",
                "allow_list": "everything is allowed (no allow-list)"
                if allow is None
                else f"{len(allow.rules)} rule(s)",
                "live_worktrees": len(await agents.worktrees.list()),
            },
            "adapters": adapters,
            "allow_list": []
            if allow is None
            else [{"exe": r["exe"], "resolved": r["resolved"], "args": r["args"]} for r in allow.to_list()],
            "limits": dataclasses.asdict(ex.limits),
        }
        plan = Plan(report=report)
        if instance.get("output"):
            plan.files.append(
                PlannedFile(instance["output"], render("Automation status", report, instance.get("format", "markdown")))
            )
        return plan
