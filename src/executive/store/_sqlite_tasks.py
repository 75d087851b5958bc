"""Task history, log sizes and the ``meta`` settings table (SQLite)."""

from __future__ import annotations

import json
from typing import cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import TaskRow

__all__ = ["SqliteTasks"]

_UPSERT_TASK = """
INSERT INTO tasks (id, name, kind, argv, image, cwd, state, created, started, ended,
                   exit_code, signal, end_reason, end_detail, owner, pid, pid_start, meta)
VALUES (:id, :name, :kind, :argv, :image, :cwd, :state, :created, :started, :ended,
        :exit_code, :signal, :end_reason, :end_detail, :owner, :pid, :pid_start, :meta)
ON CONFLICT(id) DO UPDATE SET
    name=excluded.name, state=excluded.state, started=excluded.started,
    ended=excluded.ended, exit_code=excluded.exit_code, signal=excluded.signal,
    end_reason=excluded.end_reason, end_detail=excluded.end_detail, pid=excluded.pid,
    pid_start=COALESCE(excluded.pid_start, tasks.pid_start), meta=excluded.meta
"""


class SqliteTasks(SqliteBase):
    def next_task_id(self) -> int:
        row = self.query("SELECT COALESCE(MAX(id), 0) + 1 FROM tasks")
        return int(row[0][0])

    def save_task(self, row: TaskRow) -> None:
        """Insert or update a task row (the whole row; tasks are small)."""
        with self.transaction() as c:
            fields = dict(row)
            spec = fields.pop("spec", None)
            c.execute(_UPSERT_TASK, self.encode("tasks", fields))
            if spec:  # written once: what a task was started with does not change
                c.execute(
                    "INSERT OR IGNORE INTO task_specs (task_id, spec) VALUES (?, ?)",
                    (row["id"], self.encode("task_specs", {"spec": spec})["spec"]),
                )

    def save_tasks(self, rows: list[TaskRow]) -> None:
        """Insert or update many task rows in one transaction."""
        with self.transaction() as c:
            c.executemany(_UPSERT_TASK, [self.encode("tasks", row) for row in rows])

    def load_tasks(self, limit: int = 10000) -> list[TaskRow]:
        rows = self.query(
            "SELECT t.*, s.spec FROM (SELECT * FROM tasks ORDER BY id DESC LIMIT ?) AS t "
            "LEFT JOIN task_specs AS s ON s.task_id = t.id ORDER BY t.id",
            (limit,),
        )
        out = []
        for r in rows:
            d = self.decode("tasks", r)
            d["spec"] = json.loads(r["spec"]) if r["spec"] is not None else {}  # the joined task_specs column
            if d["meta"] is None:
                d["meta"] = {}
            out.append(cast(TaskRow, d))
        return out

    def save_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO task_logs (task_id, stream, path, size) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(task_id, stream) DO UPDATE SET size=excluded.size, path=excluded.path",
                (task_id, stream, path, size),
            )

    def log_sizes(self, task_id: int) -> dict[str, int]:
        return {
            r["stream"]: int(r["size"])
            for r in self.query("SELECT stream, size FROM task_logs WHERE task_id=?", (task_id,))
        }

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: str, *, durable: bool = False) -> None:
        with self.transaction(durable=durable) as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
