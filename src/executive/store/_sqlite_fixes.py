"""The fix loop's tables: fix_runs and fix_attempts (SQLite)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import FixAttemptRow, FixRunRow, FixStatisticsRows

__all__ = ["SqliteFixes"]


class SqliteFixes(SqliteBase):
    def fix_run_insert(self, row: FixRunRow) -> int:
        with self.transaction() as c:
            return self.insert(c, "fix_runs", row)

    def fix_run_update(self, run_id: int, fields: Mapping[str, Any]) -> None:
        self.update("fix_runs", "id", run_id, fields)

    def fix_runs_end_running(self, fields: Mapping[str, Any], running_state: str) -> int:
        cols = self.columns("fix_runs", fields)
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE fix_runs SET {', '.join(f'{k}=?' for k in cols)} WHERE state=?",
                (*self.encode("fix_runs", fields).values(), running_state),
            )
            return int(cur.rowcount)

    def fix_run_get(self, run_id: int) -> FixRunRow | None:
        rows = self.query("SELECT * FROM fix_runs WHERE id=?", (run_id,))
        return cast(FixRunRow, self.decode("fix_runs", rows[0])) if rows else None

    def fix_runs(self, limit: int) -> list[FixRunRow]:
        rows = self.query("SELECT * FROM (SELECT * FROM fix_runs ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,))
        return [cast(FixRunRow, self.decode("fix_runs", r)) for r in rows]

    def fix_attempt_insert(self, row: FixAttemptRow) -> int:
        with self.transaction() as c:
            return self.insert(c, "fix_attempts", row)

    def fix_attempts(self, run_id: int) -> list[FixAttemptRow]:
        rows = self.query("SELECT * FROM fix_attempts WHERE run_id=? ORDER BY id", (run_id,))
        return [cast(FixAttemptRow, dict(r)) for r in rows]

    def fix_statistics(self) -> FixStatisticsRows:
        runs = [
            (str(r["state"]), str(r["agent"]), int(r["n"]))
            for r in self.query("SELECT state, agent, COUNT(*) AS n FROM fix_runs GROUP BY state, agent")
        ]
        attempts = [
            (str(r["outcome"]), str(r["kind"]), str(r["agent"]), int(r["n"]))
            for r in self.query(
                "SELECT a.outcome, a.kind, r.agent, COUNT(*) AS n FROM fix_attempts a "
                "JOIN fix_runs r ON r.id = a.run_id GROUP BY a.outcome, a.kind, r.agent"
            )
        ]
        agg = self.query(
            "SELECT COUNT(*) AS n, AVG(duration_s) AS avg_s, SUM(COALESCE(cost_usd, 0)) AS cost, "
            "SUM(kind = 'fix') AS fixes, SUM(kind = 'fix' AND outcome = 'kept') AS kept FROM fix_attempts"
        )[0]
        return {
            "runs": runs,
            "attempts": attempts,
            "attempt_count": int(agg["n"] or 0),
            "attempt_avg_s": agg["avg_s"],
            "attempt_cost_usd": float(agg["cost"] or 0.0),
            "fix_attempts": int(agg["fixes"] or 0),
            "fix_attempts_kept": int(agg["kept"] or 0),
        }
