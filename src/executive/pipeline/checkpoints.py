"""Durable checkpoints of pipeline runs: the schema and every write, in one file.

Theory of operation (STYLE.md §10, after dbos ``invoke_step``)
----------------------------------------------------------------
A run is a workflow whose control flow is a pure function of the pipeline
file's text (kept in the run row, never re-read from disk) and of the results
of its operations.  Each operation — an entry gate, an approval wait, a step,
an exit-gate verdict — gets a position ``seq`` from a deterministic counter,
and is checkpointed under the key ``(run_id, seq)`` with its ``name``:

* **start**: one IMMEDIATE transaction with ``synchronous=FULL`` writes the row
  with ``status='running'`` (and bumps ``starts`` if the row is already there);
* **end**: one such transaction stores ``status`` and the JSON ``output``.

Resuming replays the workflow from the top: an operation whose row has ended
returns its stored output without running; one whose row says ``running`` was
in flight when the daemon died, so it runs again (``starts`` becomes 2) — the
only operation that does; a row whose name differs from what the workflow now
does at that ``seq`` is a :class:`~executive.pipeline.errors.NondeterminismError`.

Connection settings come from ``store/sqlite.py``: WAL, ``busy_timeout`` (a CLI
reading history waits instead of failing), ``foreign_keys=ON`` (ops vanish with
their run), ``BEGIN IMMEDIATE`` (no lock upgrade half-way through), and
``Store.transaction(durable=True)`` switches that commit to ``synchronous=FULL``
so a checkpoint survives power loss, not only a daemon crash.

Every function here runs on the store's single writer thread
(``StoreWriter.call``), so writes keep their order without locks.

Test seam: ``EXECUTIVE_PIPELINE_CRASH_AT=KIND:N`` (e.g. ``step_end:2``) makes the
daemon SIGKILL itself right after the N-th durable checkpoint of that kind is
committed.  The crash tests use it to kill -9 at every step boundary exactly;
it is read once when the engine starts and does nothing when unset.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from typing import Any

from executive.store.sqlite import Store, register_migration

__all__ = [
    "CrashSeam",
    "create_run",
    "list_runs",
    "load_approvals",
    "load_ops",
    "load_run",
    "op_attach_task",
    "op_end",
    "op_start",
    "record_approval",
    "runs_in_states",
    "set_run_state",
    "truncate_ops",
]

register_migration(
    "pipeline_checkpoints",
    """
    CREATE TABLE pipeline_runs (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,             -- the pipeline's name
        mode         TEXT NOT NULL,             -- run | validate | remediate
        source       TEXT,                      -- path of the pipeline file (display only)
        content      TEXT NOT NULL,             -- the file's exact text (replay uses this, never the disk)
        content_sha  TEXT NOT NULL,
        requirement  TEXT NOT NULL DEFAULT '',
        workdir      TEXT NOT NULL,
        thresholds   TEXT NOT NULL,             -- JSON {phase: [threshold per iteration]}
        options      TEXT NOT NULL DEFAULT '{}',-- JSON: validate iteration, ...
        state        TEXT NOT NULL,             -- states.RunState
        detail       TEXT,                      -- why it failed / was interrupted
        created      REAL NOT NULL,
        updated      REAL NOT NULL,
        ended        REAL
    );
    CREATE INDEX pipeline_runs_state ON pipeline_runs(state);
    CREATE TABLE pipeline_ops (
        run_id     INTEGER NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,            -- deterministic counter: position in the run's control flow
        kind       TEXT NOT NULL,               -- entry | approval | step | gate
        name       TEXT NOT NULL,               -- must match on replay, else nondeterminism
        phase      TEXT NOT NULL,
        iteration  INTEGER NOT NULL,
        step       TEXT,
        status     TEXT NOT NULL,               -- running | ok | failed | cancelled | passed | ...
        starts     INTEGER NOT NULL DEFAULT 1,  -- 2+ means it was in flight when a daemon died
        tasks      TEXT NOT NULL DEFAULT '[]',  -- JSON list of the task ids it ran
        started    REAL NOT NULL,
        ended      REAL,
        output     TEXT,                        -- JSON result, returned on replay
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE pipeline_approvals (
        run_id     INTEGER NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
        phase      TEXT NOT NULL,
        approved   REAL NOT NULL,
        note       TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, phase)
    );
    """,
)

CRASH_ENV = "EXECUTIVE_PIPELINE_CRASH_AT"


class CrashSeam:
    """Kill this process (SIGKILL) right after the N-th durable checkpoint of one kind (tests only)."""

    def __init__(self, spec: str | None) -> None:
        self.kind: str | None = None
        self.n = 0
        self._count = 0
        if spec:
            kind, _, n = spec.partition(":")
            self.kind, self.n = kind, int(n or "1")

    @classmethod
    def from_env(cls) -> CrashSeam:
        return cls(os.environ.get(CRASH_ENV))

    def after(self, kind: str) -> None:
        if self.kind is None or kind != self.kind:
            return
        self._count += 1
        if self._count == self.n:
            os.kill(os.getpid(), signal.SIGKILL)


_NO_SEAM = CrashSeam(None)


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


def create_run(store: Store, row: dict[str, Any], seam: CrashSeam = _NO_SEAM) -> int:
    """Insert a run (requirement, file content, thresholds) in one durable transaction; returns its id."""
    now = time.time()
    with store.transaction(durable=True) as c:
        cur = c.execute(
            """INSERT INTO pipeline_runs (name, mode, source, content, content_sha, requirement, workdir,
                                          thresholds, options, state, created, updated)
               VALUES (:name, :mode, :source, :content, :content_sha, :requirement, :workdir,
                       :thresholds, :options, :state, :now, :now)""",
            {**row, "thresholds": _j(row["thresholds"]), "options": _j(row.get("options", {})), "now": now},
        )
        run_id = int(cur.lastrowid or 0)
    seam.after("run")
    return run_id


def set_run_state(
    store: Store, run_id: int, state: str, detail: str | None, ended: bool, seam: CrashSeam = _NO_SEAM
) -> None:
    with store.transaction(durable=True) as c:
        _run_state(c, run_id, state, detail, ended)
    seam.after("state")


def op_start(
    store: Store,
    run_id: int,
    seq: int,
    op: dict[str, Any],
    run_state: str | None = None,
    seam: CrashSeam = _NO_SEAM,
) -> int:
    """Checkpoint the start of operation ``seq`` (insert, or re-start an in-flight one); returns ``starts``."""
    now = time.time()
    with store.transaction(durable=True) as c:
        c.execute(
            """INSERT INTO pipeline_ops (run_id, seq, kind, name, phase, iteration, step, status, started)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)
               ON CONFLICT(run_id, seq) DO UPDATE SET status='running', starts=starts+1, started=excluded.started,
                                                     ended=NULL, output=NULL""",
            (run_id, seq, op["kind"], op["name"], op["phase"], op["iteration"], op.get("step"), now),
        )
        starts = int(c.execute("SELECT starts FROM pipeline_ops WHERE run_id=? AND seq=?", (run_id, seq)).fetchone()[0])
        _run_state(c, run_id, run_state, None, False)
    seam.after(f"{op['kind']}_start")
    return starts


def op_attach_task(store: Store, run_id: int, seq: int, task_id: int) -> None:
    """Record a task the operation started (not a checkpoint: losing it only loses a display detail)."""
    with store.transaction() as c:
        row = c.execute("SELECT tasks FROM pipeline_ops WHERE run_id=? AND seq=?", (run_id, seq)).fetchone()
        if row is not None:
            tasks = json.loads(row[0]) + [task_id]
            c.execute("UPDATE pipeline_ops SET tasks=? WHERE run_id=? AND seq=?", (_j(tasks), run_id, seq))


def op_end(
    store: Store,
    run_id: int,
    seq: int,
    kind: str,
    status: str,
    output: dict[str, Any],
    run_state: str | None = None,
    seam: CrashSeam = _NO_SEAM,
) -> None:
    """Checkpoint the end of operation ``seq`` with its result (what replay returns)."""
    with store.transaction(durable=True) as c:
        c.execute(
            "UPDATE pipeline_ops SET status=?, ended=?, output=? WHERE run_id=? AND seq=?",
            (status, time.time(), _j(output), run_id, seq),
        )
        _run_state(c, run_id, run_state, None, False)
    seam.after(f"{kind}_end")


def _run_dict(r: sqlite3.Row) -> dict[str, Any]:
    d = dict(r)
    d["thresholds"] = json.loads(d["thresholds"])
    d["options"] = json.loads(d["options"])
    return d


def load_run(store: Store, run_id: int, *, content: bool = True) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM pipeline_runs WHERE id=?", (run_id,))
    if not rows:
        return None
    d = _run_dict(rows[0])
    if not content:
        d.pop("content", None)
    return d


def load_ops(store: Store, run_id: int) -> list[dict[str, Any]]:
    out = []
    for r in store.query("SELECT * FROM pipeline_ops WHERE run_id=? ORDER BY seq", (run_id,)):
        d = dict(r)
        d["tasks"] = json.loads(d["tasks"])
        d["output"] = json.loads(d["output"]) if d["output"] is not None else None
        out.append(d)
    return out


def list_runs(store: Store, limit: int, state: str | None) -> list[dict[str, Any]]:
    cols = "id, name, mode, source, requirement, workdir, state, detail, created, updated, ended"
    if state:
        rows = store.query(f"SELECT {cols} FROM pipeline_runs WHERE state=? ORDER BY id DESC LIMIT ?", (state, limit))
    else:
        rows = store.query(f"SELECT {cols} FROM pipeline_runs ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in reversed(rows)]


def runs_in_states(store: Store, states: list[str]) -> list[int]:
    marks = ",".join("?" * len(states))
    return [
        int(r[0])
        for r in store.query(f"SELECT id FROM pipeline_runs WHERE state IN ({marks}) ORDER BY id", tuple(states))
    ]


def record_approval(store: Store, run_id: int, phase: str, note: str) -> dict[str, Any]:
    """Durably approve ``phase`` (idempotent: a second approval keeps the first)."""
    with store.transaction(durable=True) as c:
        c.execute(
            "INSERT INTO pipeline_approvals (run_id, phase, approved, note) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (run_id, phase, time.time(), note),
        )
        row = c.execute(
            "SELECT approved, note FROM pipeline_approvals WHERE run_id=? AND phase=?", (run_id, phase)
        ).fetchone()
    return {"run": run_id, "phase": phase, "approved": row[0], "note": row[1]}


def load_approvals(store: Store, run_id: int) -> dict[str, dict[str, Any]]:
    rows = store.query("SELECT phase, approved, note FROM pipeline_approvals WHERE run_id=?", (run_id,))
    return {r["phase"]: {"approved": r["approved"], "note": r["note"]} for r in rows}


def truncate_ops(store: Store, run_id: int, from_seq: int) -> int:
    """Forget operations from ``from_seq`` on (``--rework-from``), and approvals those ops consumed; returns rows removed."""
    with store.transaction(durable=True) as c:
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
