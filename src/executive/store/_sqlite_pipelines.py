"""Pipeline runs, their checkpoints (``pipeline_ops``) and approvals (SQLite).

Every write here except :meth:`SqlitePipelines.checkpoint_attach_task` is one
IMMEDIATE transaction committed with ``synchronous=FULL`` (``durable=True``):
a checkpoint survives power loss, not only a daemon crash.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import ApprovalRow, PipelineDurationRow, PipelineOpRow, PipelineRunRow

__all__ = ["SqlitePipelines"]


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _run_state(c: sqlite3.Connection, run_id: int, state: str | None, detail: str | None, ended: bool) -> None:
    if state is None:
        c.execute("UPDATE pipeline_runs SET updated=? WHERE id=?", (time.time(), run_id))
        return
    now = time.time()
    c.execute(
        "UPDATE pipeline_runs SET state=?, detail=?, updated=?, ended=CASE WHEN ? THEN ? ELSE NULL END WHERE id=?",
        (state, detail, now, 1 if ended else 0, now, run_id),
    )


class SqlitePipelines(SqliteBase):
    def pipeline_run_create(self, row: PipelineRunRow) -> int:
        now = time.time()
        with self.transaction(durable=True) as c:
            cur = c.execute(
                """INSERT INTO pipeline_runs (name, mode, source, content, content_sha, requirement, workdir,
                                              thresholds, options, state, created, updated)
                   VALUES (:name, :mode, :source, :content, :content_sha, :requirement, :workdir,
                           :thresholds, :options, :state, :now, :now)""",
                {**row, "thresholds": _j(row["thresholds"]), "options": _j(row.get("options", {})), "now": now},
            )
            return int(cur.lastrowid or 0)

    def pipeline_run_set_state(self, run_id: int, state: str, detail: str | None, ended: bool) -> None:
        with self.transaction(durable=True) as c:
            _run_state(c, run_id, state, detail, ended)

    def pipeline_run_get(self, run_id: int, *, content: bool) -> PipelineRunRow | None:
        rows = self.query("SELECT * FROM pipeline_runs WHERE id=?", (run_id,))
        if not rows:
            return None
        d = self.decode("pipeline_runs", rows[0])
        if not content:
            d.pop("content", None)
        return cast(PipelineRunRow, d)

    def pipeline_runs(self, limit: int, state: str | None) -> list[PipelineRunRow]:
        cols = (
            "id, name, json_extract(options, '$.session') AS session, mode, source, requirement, workdir, state, "
            "detail, created, updated, ended"
        )
        if state:
            rows = self.query(
                f"SELECT {cols} FROM pipeline_runs WHERE state=? ORDER BY id DESC LIMIT ?", (state, limit)
            )
        else:
            rows = self.query(f"SELECT {cols} FROM pipeline_runs ORDER BY id DESC LIMIT ?", (limit,))
        return [cast(PipelineRunRow, dict(r)) for r in reversed(rows)]

    def pipeline_run_by_session(self, session: str) -> int | None:
        # In options, not a column: a schema change would migrate every existing database for one name.
        rows = self.query("SELECT id FROM pipeline_runs WHERE json_extract(options, '$.session')=?", (session,))
        return int(rows[0][0]) if rows else None

    def pipeline_step_durations(self, name: str, before_run: int, runs: int) -> list[PipelineDurationRow]:
        rows = self.query(
            """SELECT o.run_id, o.kind, o.phase, o.step, o.ended - o.started AS duration
               FROM pipeline_ops o
               WHERE o.run_id IN (SELECT id FROM pipeline_runs WHERE name=? AND id<? ORDER BY id DESC LIMIT ?)
                 AND o.kind IN ('step', 'gate', 'entry') AND o.ended IS NOT NULL
               ORDER BY o.run_id, o.seq""",
            (name, before_run, runs),
        )
        return [cast(PipelineDurationRow, dict(r)) for r in rows]

    def pipeline_runs_in_states(self, states: Sequence[str]) -> list[int]:
        marks = ",".join("?" * len(states))
        return [
            int(r[0])
            for r in self.query(f"SELECT id FROM pipeline_runs WHERE state IN ({marks}) ORDER BY id", tuple(states))
        ]

    def checkpoint_step_start(self, run_id: int, seq: int, op: Mapping[str, Any], run_state: str | None) -> int:
        now = time.time()
        with self.transaction(durable=True) as c:
            c.execute(
                """INSERT INTO pipeline_ops (run_id, seq, kind, name, phase, iteration, step, status, started)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)
                   ON CONFLICT(run_id, seq) DO UPDATE SET status='running', starts=starts+1,
                                                         started=excluded.started, ended=NULL, output=NULL""",
                (run_id, seq, op["kind"], op["name"], op["phase"], op["iteration"], op.get("step"), now),
            )
            starts = int(
                c.execute("SELECT starts FROM pipeline_ops WHERE run_id=? AND seq=?", (run_id, seq)).fetchone()[0]
            )
            _run_state(c, run_id, run_state, None, False)
        return starts

    def checkpoint_attach_task(self, run_id: int, seq: int, task_id: int) -> None:
        with self.transaction() as c:
            row = c.execute("SELECT tasks FROM pipeline_ops WHERE run_id=? AND seq=?", (run_id, seq)).fetchone()
            if row is not None:
                tasks = [*json.loads(row[0]), task_id]
                c.execute("UPDATE pipeline_ops SET tasks=? WHERE run_id=? AND seq=?", (_j(tasks), run_id, seq))

    def checkpoint_step_end(
        self, run_id: int, seq: int, status: str, output: Mapping[str, Any], run_state: str | None
    ) -> None:
        with self.transaction(durable=True) as c:
            c.execute(
                "UPDATE pipeline_ops SET status=?, ended=?, output=? WHERE run_id=? AND seq=?",
                (status, time.time(), _j(output), run_id, seq),
            )
            _run_state(c, run_id, run_state, None, False)

    def checkpoint_ops(self, run_id: int) -> list[PipelineOpRow]:
        rows = self.query("SELECT * FROM pipeline_ops WHERE run_id=? ORDER BY seq", (run_id,))
        return [cast(PipelineOpRow, self.decode("pipeline_ops", r)) for r in rows]

    def checkpoint_truncate(self, run_id: int, from_seq: int) -> int:
        with self.transaction(durable=True) as c:
            phases = [
                r[0]
                for r in c.execute(
                    "SELECT phase FROM pipeline_ops WHERE run_id=? AND seq>=? AND kind='approval'", (run_id, from_seq)
                )
            ]
            for phase in phases:
                c.execute("DELETE FROM pipeline_approvals WHERE run_id=? AND phase=?", (run_id, phase))
            cur = c.execute("DELETE FROM pipeline_ops WHERE run_id=? AND seq>=?", (run_id, from_seq))
            return int(cur.rowcount)

    def pipeline_approve(self, run_id: int, phase: str, note: str, at: float) -> ApprovalRow:
        with self.transaction(durable=True) as c:
            c.execute(
                "INSERT INTO pipeline_approvals (run_id, phase, approved, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (run_id, phase, at, note),
            )
            row = c.execute(
                "SELECT approved, note FROM pipeline_approvals WHERE run_id=? AND phase=?", (run_id, phase)
            ).fetchone()
        return {"approved": row[0], "note": row[1]}

    def pipeline_approvals(self, run_id: int) -> dict[str, ApprovalRow]:
        rows = self.query("SELECT phase, approved, note FROM pipeline_approvals WHERE run_id=?", (run_id,))
        return {r["phase"]: {"approved": r["approved"], "note": r["note"]} for r in rows}
