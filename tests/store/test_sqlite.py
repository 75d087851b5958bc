"""The SQLite store on real files: migrations, transactions, crashes mid-write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from executive.kernel.tasks import EndReason, Task, TaskKind, TaskState
from executive.store import schema as store_mod
from executive.store.schema import register_migration
from executive.store.sqlite import SqliteStore as Store
from executive.task_records import task_from_row, task_to_row


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A private copy of the migration list, so a test may register its own."""
    copy = list(store_mod.MIGRATIONS)
    monkeypatch.setattr(store_mod, "MIGRATIONS", copy)
    return copy


def _version(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return c.execute("PRAGMA user_version").fetchone()[0]


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as c:
        return sorted(
            r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')")
        )


def _task(tid: int, **kw: object) -> Task:
    return Task(id=tid, name=f"t{tid}", kind=TaskKind.PROCESS, argv=["echo", str(tid)], cwd="/", **kw)  # type: ignore[arg-type]


def test_migrations_are_idempotent(tmp_path: Path, migrations: list[tuple[str, str]]) -> None:
    db = tmp_path / "x.db"
    s = Store(db)
    v = s.migrate()
    assert v == len(migrations) and s.migrate() == v  # a second run changes nothing
    s.close()
    before = _tables(db)
    Store(db).close()  # reopening runs nothing again
    assert _tables(db) == before and _version(db) == v

    register_migration("e2e_extra", "CREATE TABLE e2e_extra (k TEXT PRIMARY KEY, v TEXT);")
    register_migration("e2e_extra", "CREATE TABLE never (x);")  # same name: ignored
    assert [n for n, _ in migrations].count("e2e_extra") == 1
    s = Store(db)
    assert s.migrate() == v + 1 and "e2e_extra" in _tables(db) and "never" not in _tables(db)
    s.close()
    Store(db).close()
    assert _version(db) == v + 1


def test_migration_sql_may_hold_semicolons_in_comments_strings_and_triggers(
    tmp_path: Path, migrations: list[tuple[str, str]]
) -> None:
    register_migration(
        "e2e_semicolons",
        """
        CREATE TABLE notes (
            id   INTEGER PRIMARY KEY,
            body TEXT NOT NULL DEFAULT 'a; b',   -- the default has a ';' in it; so does this comment
            n    INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE note_log (id INTEGER, body TEXT);
        CREATE TRIGGER notes_logged AFTER INSERT ON notes BEGIN
            INSERT INTO note_log VALUES (new.id, new.body);
            UPDATE notes SET n = n + 1 WHERE id = new.id;
        END;
        -- a trailing comment; with a semicolon
        """,
    )
    s = Store(tmp_path / "x.db")
    with s.transaction() as c:
        c.execute("INSERT INTO notes (id) VALUES (1)")
    assert [tuple(r) for r in s.query("SELECT id, body, n FROM notes")] == [(1, "a; b", 1)]
    assert [tuple(r) for r in s.query("SELECT * FROM note_log")] == [(1, "a; b")]
    s.close()


def test_a_failing_migration_changes_nothing(tmp_path: Path, migrations: list[tuple[str, str]]) -> None:
    db = tmp_path / "x.db"
    Store(db).close()
    v = _version(db)
    before = _tables(db)
    register_migration("e2e_broken", "CREATE TABLE half_made (x); CREATE TABLE tasks (clash);")
    with pytest.raises(sqlite3.OperationalError):
        Store(db)
    assert _version(db) == v and _tables(db) == before  # the first statement was rolled back too


def test_task_rows_round_trip(tmp_path: Path) -> None:
    s = Store(tmp_path / "x.db")
    t = _task(1, state=TaskState.ENDED, exit_code=3, end_reason=EndReason.EXITED, pid=42, meta={"k": [1, "x"]})
    s.save_task(task_to_row(t, pid_start=123.5))
    t.state, t.exit_code = TaskState.ENDED, 4  # an update keeps pid_start when none is given
    s.save_task(task_to_row(t))
    s.save_log(1, "stdout", "/x/stdout.log", 10)
    s.save_log(1, "stdout", "/x/stdout.log", 25)
    [(back, pid_start)] = [(task_from_row(r), r["pid_start"]) for r in s.load_tasks()]
    assert back == t and pid_start == 123.5
    assert s.log_sizes(1) == {"stdout": 25}
    assert s.next_task_id() == 2
    s.close()


def test_a_crash_mid_transaction_leaves_the_previous_state_readable(tmp_path: Path) -> None:
    """A writer killed (SIGKILL) inside a transaction: the last committed state survives intact."""
    db = tmp_path / "x.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from executive.kernel.tasks import Task, TaskKind, TaskState, EndReason
        from executive.store.sqlite import SqliteStore
        from executive.task_records import task_to_row
        s = SqliteStore({str(db)!r})
        for i in (1, 2):
            t = Task(id=i, name=f"t{{i}}", kind=TaskKind.PROCESS, argv=["x"], state=TaskState.RUNNING, pid=100 + i)
            s.save_task(task_to_row(t))
        with s.transaction() as c:
            c.execute("UPDATE tasks SET state='ended', exit_code=9")
            c.execute("INSERT INTO tasks (id, name, kind, state, created) VALUES (3, 'ghost', 'process', 'queued', 0)")
            c.execute("DELETE FROM tasks WHERE id = 1")
            for i in range(2000):  # enough to spill pages out of the cache into the WAL
                c.execute("INSERT INTO task_logs VALUES (2, ?, 'p', ?)", (f"s{{i}}" + "x" * 200, i))
            sys.stdout.write("in-transaction\\n"); sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == b"in-transaction\n", proc.stderr
    assert (tmp_path / "x.db-wal").exists()

    s = Store(db)
    rows = {t.id: (t.state, t.exit_code, t.pid) for t in map(task_from_row, s.load_tasks())}
    assert rows == {1: (TaskState.RUNNING, None, 101), 2: (TaskState.RUNNING, None, 102)}
    assert s.query("SELECT COUNT(*) FROM task_logs")[0][0] == 0
    assert s.query("PRAGMA integrity_check")[0][0] == "ok"
    s.save_task(task_to_row(_task(3)))  # and it is writable again
    assert s.next_task_id() == 4
    s.close()
