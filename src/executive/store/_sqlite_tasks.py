"""Task history, log sizes and the ``meta`` settings table (SQLite).

Reading history without loading it: :meth:`SqliteTasks.load_tasks` returns what the
daemon keeps in memory at start (every task in a given state, such as the live ones,
and the newest N); :meth:`SqliteTasks.task_page` and :meth:`SqliteTasks.load_task` /
:meth:`SqliteTasks.find_task` serve the older ones on demand.  Each is one indexed
query (``id`` is the rowid; ``state``, ``kind``, ``name`` and ``created`` have indexes,
schema.py), so its cost follows the rows returned, not the rows stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import LogSize, TaskRow

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
_UPSERT_LOG = (
    "INSERT INTO task_logs (task_id, stream, path, size) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(task_id, stream) DO UPDATE SET size=excluded.size, path=excluded.path"
)


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

    def save_tasks(self, rows: list[TaskRow], logs: Sequence[LogSize] = ()) -> None:
        """Insert or update many task rows, and the sizes of ended tasks' logs, in one transaction."""
        with self.transaction() as c:
            if rows:
                c.executemany(_UPSERT_TASK, [self.encode("tasks", row) for row in rows])
            if logs:
                c.executemany(_UPSERT_LOG, logs)

    def load_tasks(self, limit: int = 10000, *, states: Sequence[str] = ()) -> list[TaskRow]:
        """The newest ``limit`` tasks and every task in one of ``states``, oldest first, with their specs."""
        newest = "SELECT * FROM tasks ORDER BY id DESC LIMIT ?"
        params: list[Any] = [limit]
        if states:
            marks = ", ".join("?" * len(states))
            newest = f"SELECT * FROM ({newest}) UNION SELECT * FROM tasks WHERE state IN ({marks})"
            params += list(states)
        rows = self.query(
            f"SELECT t.*, s.spec FROM ({newest}) AS t LEFT JOIN task_specs AS s ON s.task_id = t.id ORDER BY t.id",
            tuple(params),
        )
        return [self._task_row(r, spec=True) for r in rows]

    def load_task(self, task_id: int) -> TaskRow | None:
        """One task by id, with its spec (None: no such task)."""
        rows = self.query(
            "SELECT t.*, s.spec FROM tasks AS t LEFT JOIN task_specs AS s ON s.task_id = t.id WHERE t.id = ?",
            (task_id,),
        )
        return self._task_row(rows[0], spec=True) if rows else None

    def find_task(self, name: str) -> TaskRow | None:
        """The newest task called ``name``, with its spec (None: none is)."""
        rows = self.query(
            "SELECT t.*, s.spec FROM (SELECT * FROM tasks WHERE name = ? ORDER BY id DESC LIMIT 1) AS t "
            "LEFT JOIN task_specs AS s ON s.task_id = t.id",
            (name,),
        )
        return self._task_row(rows[0], spec=True) if rows else None

    def task_page(
        self,
        *,
        after_id: int = 0,
        before_id: int | None = None,
        states: Sequence[str] = (),
        kinds: Sequence[str] = (),
        name_glob: str | None = None,
        since: float | None = None,
        limit: int,
        newest_first: bool = True,
    ) -> list[TaskRow]:
        """Up to ``limit`` tasks with ``after_id < id < before_id`` matching every filter given, by id.

        ``name_glob`` is a shell-style pattern as :func:`fnmatch.fnmatchcase` reads it
        (``*``, ``?``, ``[abc]``, ``[!abc]``); ``since`` keeps tasks created at or after it.
        Rows come without ``spec``.
        """
        where = ["id > ?"]
        params: list[Any] = [after_id]
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        for column, values in (("state", states), ("kind", kinds)):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += list(values)
        if name_glob is not None:
            where.append("name GLOB ?")
            params.append(_sqlite_glob(name_glob))
        if since is not None:
            where.append("created >= ?")
            params.append(since)
        order = "DESC" if newest_first else "ASC"
        rows = self.query(
            f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?", (*params, limit)
        )
        return [self._task_row(r, spec=False) for r in rows]

    def _task_row(self, r: sqlite3.Row, *, spec: bool) -> TaskRow:
        d = self.decode("tasks", r)
        if spec:
            d["spec"] = json.loads(r["spec"]) if r["spec"] is not None else {}  # the joined task_specs column
        if d["meta"] is None:
            d["meta"] = {}
        return cast(TaskRow, d)

    def save_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        self.save_tasks([], [(task_id, stream, path, size)])

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


def _sqlite_glob(pattern: str) -> str:
    """An fnmatch pattern in SQLite's GLOB dialect.

    The two agree on ``*``, ``?`` and ``[abc]`` and differ in sets that start with a
    negation: fnmatch's ``[!x]`` is GLOB's ``[^x]``, and fnmatch's ``[^x]`` (a literal
    caret) becomes ``[x^]`` (a caret not first is literal in GLOB too); an unclosed
    ``[`` is a literal, ``[[]`` in GLOB.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        end = pattern.find("]", i + 2) if pattern[i] == "[" else -1
        if end == -1:
            out.append("[[]" if pattern[i] == "[" else pattern[i])  # an unclosed [ is a literal in fnmatch
            i += 1
            continue
        body = pattern[i + 1 : end]
        if body.startswith("!"):
            body = "^" + body[1:]
        elif body.startswith("^"):
            body = body[1:] + "^"
        out.append(f"[{body}]")
        i = end + 1
    return "".join(out)
