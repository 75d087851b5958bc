"""A database written by e7ac8b1 (before the store moved behind its interface) opens unchanged.

``fixtures/executive_e7ac8b1.db`` was made by ``fixtures/make_executive_e7ac8b1.py``
running against e7ac8b1's own code: every table of that release with rows
written by its own functions.  Opening it must run only the migrations added
since (``ADDED_SINCE``: each creates new tables or indexes), change no table it had, and
read every row back through the interface; the daemon must start on it and keep
writing.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from executive.service import Executive
from executive.store.schema import MIGRATIONS
from executive.store.sqlite import SqliteStore
from executive.task_records import task_from_row

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "executive_e7ac8b1.db"
# Migrations appended after e7ac8b1, with the schema objects (tables, indexes) each creates (and nothing else).
ADDED_SINCE = {
    "task_specs": ("task_specs",),
    "programs": ("programs",),
    "task_list_indexes": ("tasks_kind", "tasks_name", "tasks_created"),
}
ADDED_OBJECTS = {name for names in ADDED_SINCE.values() for name in names}


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as c:
        return sorted(c.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


def _migrations(path: Path) -> tuple[list[tuple[str, float]], int]:
    with sqlite3.connect(path) as c:
        rows = sorted(c.execute("SELECT name, applied FROM schema_migrations"))
        return rows, c.execute("PRAGMA user_version").fetchone()[0]


def test_the_old_database_opens_without_any_migration_and_reads_back(tmp_path: Path) -> None:
    db = tmp_path / "executive.db"
    shutil.copy(FIXTURE, db)
    schema_before, migrations_before = _schema(db), _migrations(db)
    assert sorted(n for n, _ in migrations_before[0]) == sorted(n for n, _ in MIGRATIONS if n not in ADDED_SINCE)

    s = SqliteStore(db)
    try:
        assert s.migrate() == len(MIGRATIONS)
        assert s.programs() == []
        [row] = s.load_tasks(10)
        task = task_from_row(row)
        assert (task.id, task.name, task.argv, task.cwd, task.exit_code, task.pid) == (
            1,
            "build",
            ["make", "all"],
            "/src",
            0,
            4242,
        )
        assert (task.state.value, task.end_reason and task.end_reason.value) == ("ended", "exited")
        assert task.meta == {"owner_note": "fixture"} and row["pid_start"] == 999.5
        assert s.log_sizes(1) == {"stdout": 12}
        assert s.get_meta("event_seq_lease") == "4096"
        assert s.next_task_id() == 2

        [wt] = s.worktrees(include_removed=True, removed_state="removed")
        assert (wt["path"], wt["branch"], wt["state"], wt["task_id"], wt["baseline"]) == (
            "/home/worktrees/1",
            "agent/1",
            "ready",
            1,
            "def",
        )
        run = s.agent_run_get(1)
        assert run is not None and run["ok"] is True and run["tokens"] == {"in": 3} and run["files"] == ["a.py"]
        assert run["result"] == {"ok": True} and run["errors"] == []

        patch = s.patch_get(1, with_text=True)
        assert patch is not None and patch["state"] == "validated" and patch["files"] == [{"new_path": "x"}]
        assert patch["binary"] is False and patch["text"].startswith("--- a/x")
        assert [t["event"] for t in s.patch_transitions(1)] == ["created", "validated"]
        [pf] = s.patch_files(1)
        assert (pf["path"], pf["pre_exists"], pf["pre_content"], pf["created_dirs"]) == (
            "x",
            True,
            b"old\n",
            ["newdir"],
        )

        fix = s.fix_run_get(1)
        assert (
            fix is not None
            and fix["test_argv"] == ["pytest", "-q"]
            and fix["regression"] is False
            and fix["state"] == "green"
        )
        assert [a["outcome"] for a in s.fix_attempts(1)] == ["kept"]
        assert s.status_report(["patterns"])["patterns"] == [{"pattern": "readme", "runs": 1, "ok": 1, "dry_runs": 1}]

        prun = s.pipeline_run_get(1, content=True)
        assert prun is not None and prun["thresholds"] == {"build": [0.5]} and prun["content"] == "name: demo\n"
        [op] = s.checkpoint_ops(1)
        assert (op["name"], op["status"], op["tasks"], op["output"]) == (
            "build/compile",
            "ok",
            [1],
            {"status": "ok", "score": 1.0},
        )
        approvals = s.pipeline_approvals(1)
        assert list(approvals) == ["build"] and approvals["build"]["note"] == "looks good"
        assert isinstance(approvals["build"]["approved"], float)
    finally:
        s.close()
    schema_after, (applied, version) = _schema(db), _migrations(db)
    # Every table, index and trigger of the old database is exactly as it was; the only additions are the
    # tables and indexes of the migrations added since, recorded under their names.
    assert [e for e in schema_after if e[1] not in ADDED_OBJECTS] == schema_before
    assert sorted(e[1] for e in schema_after if e not in schema_before) == sorted(ADDED_OBJECTS)
    assert [n for n, _ in applied if n not in ADDED_SINCE] == [n for n, _ in migrations_before[0]]
    assert sorted(n for n, _ in applied if n in ADDED_SINCE) == sorted(ADDED_SINCE)
    assert version == migrations_before[1] + len(ADDED_SINCE)


async def test_the_daemon_starts_on_the_old_database_and_keeps_its_history(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(FIXTURE, home / "executive.db")
    ex = await Executive.open(home)
    try:
        [old] = (await ex.task_list())["tasks"]
        assert old["id"] == 1 and old["name"] == "build" and old["exit_code"] == 0
        new = await ex.task_run(["true"])
        assert new["id"] == 2
        await ex.task_wait(new["id"], timeout=10)
        runs = await ex.pipelines.list_runs()
        assert [r["name"] for r in runs] == ["demo"]
    finally:
        await ex.aclose()
    s = SqliteStore(home / "executive.db")
    try:
        assert [r["id"] for r in s.load_tasks(10)] == [1, 2]
        assert int(s.get_meta("event_seq_lease") or 0) > 4096  # the bus leased seqs past the old lease
    finally:
        s.close()
