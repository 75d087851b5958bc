"""Worktrees, agent runs, pattern runs and the progress report over the agents' tables (SQLite)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import AgentRunRow, PatternRunRow, WorktreeRow

__all__ = ["SqliteAgents"]


class SqliteAgents(SqliteBase):
    # --- worktrees -------------------------------------------------------------------
    def worktree_insert(self, repo: str, purpose: str, state: str, base_commit: str, created: float) -> int:
        with self.transaction() as c:
            return self.insert(
                c,
                "worktrees",
                {
                    "repo": repo,
                    "path": "",
                    "purpose": purpose,
                    "state": state,
                    "base_commit": base_commit,
                    "created": created,
                },
            )

    def worktree_update(self, wt_id: int, fields: Mapping[str, Any]) -> None:
        self.update("worktrees", "id", wt_id, fields)

    def worktree_get(self, wt_id: int) -> WorktreeRow | None:
        rows = self.query("SELECT * FROM worktrees WHERE id=?", (wt_id,))
        return cast(WorktreeRow, dict(rows[0])) if rows else None

    def worktrees(self, *, include_removed: bool, removed_state: str) -> list[WorktreeRow]:
        if include_removed:
            rows = self.query("SELECT * FROM worktrees ORDER BY id")
        else:
            rows = self.query("SELECT * FROM worktrees WHERE state != ? ORDER BY id", (removed_state,))
        return [cast(WorktreeRow, dict(r)) for r in rows]

    # --- agent runs ------------------------------------------------------------------
    def agent_run_insert(self, row: AgentRunRow) -> None:
        with self.transaction() as c:
            self.insert(c, "agent_runs", row, verb="INSERT OR REPLACE")

    def agent_run_update(self, task_id: int, fields: Mapping[str, Any]) -> None:
        self.update("agent_runs", "task_id", task_id, fields)

    def agent_run_get(self, task_id: int) -> AgentRunRow | None:
        rows = self.query("SELECT * FROM agent_runs WHERE task_id=?", (task_id,))
        return cast(AgentRunRow, self.decode("agent_runs", rows[0])) if rows else None

    def agent_runs(self, limit: int) -> list[AgentRunRow]:
        rows = self.query(
            "SELECT * FROM (SELECT * FROM agent_runs ORDER BY task_id DESC LIMIT ?) ORDER BY task_id", (limit,)
        )
        return [cast(AgentRunRow, self.decode("agent_runs", r)) for r in rows]

    def agent_runs_end_running(self, fields: Mapping[str, Any], running_state: str) -> int:
        cols = self.columns("agent_runs", fields)
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE agent_runs SET {', '.join(f'{k}=?' for k in cols)} WHERE state=?",
                (*self.encode("agent_runs", fields).values(), running_state),
            )
            return int(cur.rowcount)

    # --- pattern runs ----------------------------------------------------------------
    def pattern_run_insert(self, row: PatternRunRow) -> int:
        with self.transaction() as c:
            return self.insert(c, "pattern_runs", row)

    # --- progress report -------------------------------------------------------------
    def _count_by(self, table: str, column: str) -> dict[str, int]:
        return {
            str(r["k"]): int(r["n"])
            for r in self.query(f'SELECT "{column}" AS k, COUNT(*) AS n FROM "{table}" GROUP BY "{column}" ORDER BY k')
        }

    def status_report(self, sections: Sequence[str]) -> dict[str, Any]:
        """The status sections, read in one go (tables that do not exist are reported as unavailable)."""
        tables = {r["name"] for r in self.query("SELECT name FROM sqlite_master WHERE type='table'")}
        out: dict[str, Any] = {}
        if "pipeline" in sections:
            names = sorted(t for t in tables if t.startswith("pipeline"))
            detail: dict[str, Any] = {}
            for t in names:
                cols = {r["name"] for r in self.query(f'PRAGMA table_info("{t}")')}
                entry: dict[str, Any] = {"rows": int(self.query(f'SELECT COUNT(*) AS n FROM "{t}"')[0]["n"])}
                for col in ("state", "status", "verdict"):
                    if col in cols:
                        entry[f"by_{col}"] = self._count_by(t, col)
                detail[t] = entry
            out["pipeline"] = (
                {"available": bool(names), "tables": detail}
                if names
                else {"available": False, "note": "no pipeline tables in this store yet"}
            )
        if "patterns" in sections:
            rows = self.query(
                "SELECT pattern, COUNT(*) AS runs, SUM(ok) AS ok, SUM(dry_run) AS dry FROM pattern_runs "
                "GROUP BY pattern ORDER BY pattern"
            )
            out["patterns"] = [
                {"pattern": r["pattern"], "runs": r["runs"], "ok": r["ok"] or 0, "dry_runs": r["dry"] or 0}
                for r in rows
            ]
        if "patches" in sections:
            by_state = self._count_by("patches", "state")
            out["patches"] = {"total": sum(by_state.values()), **by_state}
        if "fix" in sections:
            runs = self._count_by("fix_runs", "state")
            attempts = self._count_by("fix_attempts", "outcome")
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
            rows = self.query(
                "SELECT agent, COUNT(*) AS runs, SUM(ok = 1) AS ok, SUM(ok = 0) AS failed, "
                "SUM(COALESCE(cost_usd, 0)) AS cost FROM agent_runs GROUP BY agent ORDER BY agent"
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
