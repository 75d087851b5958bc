"""The embedded SQLite store: schema, numbered migrations, task history.

The daemon's durable state lives in ``$EXECUTIVE_HOME/executive.db``.  The
store is synchronous and owns one connection; the service calls it through
:class:`~executive.store.writer.StoreWriter`, which runs every call on one
background thread so the event loop never waits for the disk.

Connection settings, each for a reason:

* ``journal_mode=WAL`` — readers never block the writer; a crash mid-write
  leaves the last committed state readable.
* ``synchronous=NORMAL`` — durable across process crashes (the daemon dying),
  one fsync per checkpoint instead of per commit; checkpoint-grade writes that
  must survive power loss use :meth:`Store.transaction` with ``durable=True``.
* ``busy_timeout`` — a second process (a CLI reading history) waits briefly
  instead of failing with SQLITE_BUSY.
* ``foreign_keys=ON`` — SQLite leaves them off by default.
* ``BEGIN IMMEDIATE`` for writes — take the write lock up front so a
  transaction never fails half-way on lock upgrade.

Migrations are an ordered list of SQL scripts; ``PRAGMA user_version`` holds
how many have run.  New migrations are appended, never edited.  Other layers
(patch ledger, pipeline checkpoints) register their own numbered migrations
through :func:`register_migration` before the store opens.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState
from executive.paths import make_private_dir, private_file

__all__ = ["MIGRATIONS", "Store", "register_migration"]

MIGRATIONS: list[tuple[str, str]] = [
    (
        "tasks",
        """
        CREATE TABLE tasks (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL,
            argv        TEXT,            -- JSON list
            image       TEXT,
            cwd         TEXT,
            state       TEXT NOT NULL,
            created     REAL NOT NULL,
            started     REAL,
            ended       REAL,
            exit_code   INTEGER,
            signal      INTEGER,
            end_reason  TEXT,
            end_detail  TEXT,
            owner       TEXT,
            pid         INTEGER,
            pid_start   REAL,            -- OS create_time of the leader, to recognise it after a restart
            meta        TEXT             -- JSON object
        );
        CREATE INDEX tasks_state ON tasks(state);
        CREATE TABLE task_logs (
            task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            stream      TEXT NOT NULL,
            path        TEXT NOT NULL,
            size        INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (task_id, stream)
        );
        """,
    ),
]


MIGRATIONS.append(("meta", "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))


def register_migration(name: str, sql: str) -> None:
    """Append a migration (idempotent by name); call at import time of the owning module."""
    if any(n == name for n, _ in MIGRATIONS):
        return
    MIGRATIONS.append((name, sql))


class Store:
    """Synchronous access to the database; use from one thread at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        make_private_dir(self.path.parent)
        # SQLite creates the -wal and -shm files with the database file's mode: make that 0600 first.
        private_file(self.path)
        for suffix in ("-wal", "-shm"):  # left by an older daemon with the umask's mode
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                private_file(side)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()  # guards the connection if two threads ever share the store
        c = self._conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA busy_timeout=5000")
        c.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- schema ------------------------------------------------------------------
    def migrate(self) -> int:
        """Run the migrations not yet applied, in registration order; returns how many are applied.

        Migrations are keyed by *name* in ``schema_migrations``, not by position:
        modules register theirs at import time, and import order may differ
        between runs, so a positional counter could skip one.
        """
        with self._lock:
            c = self._conn
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
            done = {r[0] for r in c.execute("SELECT name FROM schema_migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                c.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(sql):
                        c.execute(statement)
                    c.execute("INSERT INTO schema_migrations (name, applied) VALUES (?, ?)", (name, time.time()))
                    c.execute(f"PRAGMA user_version={len(done) + 1}")
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                done.add(name)
            return len(done)

    # --- small durable settings ------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str, *, durable: bool = False) -> None:
        with self.transaction(durable=durable) as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction; ``durable`` makes this commit fsync (synchronous=FULL)."""
        with self._lock:
            c = self._conn
            if durable:
                c.execute("PRAGMA synchronous=FULL")
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            finally:
                if durable:
                    c.execute("PRAGMA synchronous=NORMAL")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # --- tasks -------------------------------------------------------------------
    def next_task_id(self) -> int:
        row = self.query("SELECT COALESCE(MAX(id), 0) + 1 FROM tasks")
        return int(row[0][0])

    def save_task(self, task: Task, *, pid_start: float | None = None) -> None:
        """Insert or update a task row (the whole row; tasks are small)."""
        with self.transaction() as c:
            c.execute(
                """
                INSERT INTO tasks (id, name, kind, argv, image, cwd, state, created, started, ended,
                                   exit_code, signal, end_reason, end_detail, owner, pid, pid_start, meta)
                VALUES (:id, :name, :kind, :argv, :image, :cwd, :state, :created, :started, :ended,
                        :exit_code, :signal, :end_reason, :end_detail, :owner, :pid, :pid_start, :meta)
                ON CONFLICT(id) DO UPDATE SET
                    name=excluded.name, state=excluded.state, started=excluded.started,
                    ended=excluded.ended, exit_code=excluded.exit_code, signal=excluded.signal,
                    end_reason=excluded.end_reason, end_detail=excluded.end_detail, pid=excluded.pid,
                    pid_start=COALESCE(excluded.pid_start, tasks.pid_start), meta=excluded.meta
                """,
                {
                    "id": task.id,
                    "name": task.name,
                    "kind": task.kind.value,
                    "argv": json.dumps(task.argv) if task.argv is not None else None,
                    "image": task.image,
                    "cwd": task.cwd,
                    "state": task.state.value,
                    "created": task.created,
                    "started": task.started,
                    "ended": task.ended,
                    "exit_code": task.exit_code,
                    "signal": task.signal,
                    "end_reason": task.end_reason.value if task.end_reason else None,
                    "end_detail": task.end_detail,
                    "owner": task.owner,
                    "pid": task.pid,
                    "pid_start": pid_start,
                    "meta": json.dumps(task.meta, default=str),
                },
            )

    def save_log(self, task_id: int, stream: str, path: str, size: int) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO task_logs (task_id, stream, path, size) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(task_id, stream) DO UPDATE SET size=excluded.size, path=excluded.path",
                (task_id, stream, path, size),
            )

    def load_tasks(self, limit: int = 10000) -> list[tuple[Task, float | None]]:
        """The newest ``limit`` tasks (oldest first) with their leader's recorded start time."""
        rows = self.query("SELECT * FROM (SELECT * FROM tasks ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,))
        return [(_row_to_task(r), r["pid_start"]) for r in rows]

    def log_sizes(self, task_id: int) -> dict[str, int]:
        return {
            r["stream"]: int(r["size"])
            for r in self.query("SELECT stream, size FROM task_logs WHERE task_id=?", (task_id,))
        }


def _row_to_task(r: sqlite3.Row) -> Task:
    return Task(
        id=r["id"],
        name=r["name"],
        kind=TaskKind(r["kind"]),
        argv=json.loads(r["argv"]) if r["argv"] else None,
        image=r["image"],
        cwd=r["cwd"],
        state=TaskState(r["state"]),
        created=r["created"],
        started=r["started"],
        ended=r["ended"],
        exit_code=r["exit_code"],
        signal=r["signal"],
        end_reason=EndReason(r["end_reason"]) if r["end_reason"] else None,
        end_detail=r["end_detail"],
        owner=r["owner"],
        pid=r["pid"],
        meta=json.loads(r["meta"]) if r["meta"] else {},
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements.

    A piece ends at a ``;`` only where SQLite agrees the statement is complete
    (``sqlite3.complete_statement``), so semicolons inside comments, string
    literals and trigger bodies do not cut a statement in two.  (Not
    ``executescript``: it commits first, which would break the migration's
    transaction.)
    """
    out: list[str] = []
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    out.append(buf[:-1])  # what follows the last ';' (the ';' added above was not in the script)
    return [
        s.strip()
        for s in out
        if not all(line.strip().startswith("--") or not line.strip() for line in s.rstrip(";").splitlines())
    ]
