"""Every table of ``executive.db``, as name-keyed migrations in one ordered list.

Why one list: the migrations used to be registered by import side effects from
three layers (the store, the agents layer, the pipeline engine), so which
tables a database got depended on what had been imported.  Now this module is
the only place a table is defined, and :class:`~executive.store.sqlite.SqliteStore`
applies the list in order when it opens.

Semantics (unchanged since the first release, so every existing database opens
as it is): a migration is keyed by its *name* in ``schema_migrations``;
opening runs each name not yet recorded, in list order, each in its own
IMMEDIATE transaction with its ``schema_migrations`` row; ``PRAGMA
user_version`` counts the applied names.  Released migrations are never
edited or reordered by meaning; a change is a new entry appended at the end.
Table and column names are the on-disk contract (tests/store/test_old_database.py
opens a database made by e7ac8b1).

``JSON_COLUMNS`` names the columns that hold JSON text: the store encodes
Python values into them on write and decodes them on read, so no caller above
the store sees the encoding (a PostgreSQL store would use ``jsonb`` instead).
"""

from __future__ import annotations

__all__ = ["BOOL_COLUMNS", "JSON_COLUMNS", "MIGRATIONS", "register_migration"]

_TASKS = """
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
"""

_META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"

# worktrees, agent_runs, patches / patch_transitions / patch_files, fix_runs / fix_attempts, pattern_runs
_AGENTS_V1 = """
CREATE TABLE worktrees (
    id            INTEGER PRIMARY KEY,
    repo          TEXT NOT NULL,           -- top level of the source repository
    path          TEXT NOT NULL,
    branch        TEXT,                    -- NULL for detached (throw-away) worktrees
    purpose       TEXT NOT NULL,           -- agent | validate | fix
    state         TEXT NOT NULL,           -- creating | ready | removed
    task_id       INTEGER,                 -- the task that works in it, if any
    base_commit   TEXT,                    -- HEAD of the repository when it was made
    baseline      TEXT,                    -- commit in the worktree mirroring the repository's dirty state
    created       REAL NOT NULL,
    removed       REAL,
    detail        TEXT
);
CREATE INDEX worktrees_state ON worktrees(state);
CREATE TABLE agent_runs (
    task_id       INTEGER PRIMARY KEY,
    agent         TEXT NOT NULL,
    cwd           TEXT NOT NULL,
    prompt        TEXT,                    -- clipped
    worktree_id   INTEGER,
    resume_id     TEXT,                    -- the session id we passed (Claude may echo another, #58760)
    session_id    TEXT,                    -- the session id the agent reported
    state         TEXT NOT NULL,           -- running | done | lost
    ok            INTEGER,
    errors        TEXT,                    -- JSON list
    text          TEXT,
    cost_usd      REAL,
    tokens        TEXT,                    -- JSON object
    turns         INTEGER,
    result        TEXT,                    -- JSON: the whole agent.result data
    pre_tree      TEXT,
    post_tree     TEXT,
    diff          TEXT,                    -- what the run changed in its cwd (NULL: not a repository or too big)
    diff_bytes    INTEGER,
    files         TEXT,                    -- JSON list of changed paths
    commit_id     TEXT,                    -- worktree runs: the commit on the worktree's branch
    started       REAL NOT NULL,
    ended         REAL
);
CREATE TABLE patches (
    id            INTEGER PRIMARY KEY,
    created       REAL NOT NULL,
    updated       REAL NOT NULL,
    workspace     TEXT NOT NULL,
    source        TEXT NOT NULL,           -- cli | fix | agent | api
    title         TEXT,
    state         TEXT NOT NULL,
    reason        TEXT,                    -- reason of the last transition
    text          TEXT NOT NULL,
    files         TEXT NOT NULL,           -- JSON list of {old_path, new_path, status, binary, added, removed}
    strip         INTEGER NOT NULL DEFAULT 1,
    binary        INTEGER NOT NULL DEFAULT 0,
    verify_argv   TEXT,                    -- JSON list
    verify_task   INTEGER,
    verify_exit   INTEGER,
    commit_id     TEXT,
    agent_task    INTEGER,                 -- the agent run that produced it
    fix_run       INTEGER
);
CREATE INDEX patches_state ON patches(state);
CREATE TABLE patch_transitions (
    id            INTEGER PRIMARY KEY,
    patch_id      INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    event         TEXT NOT NULL,
    at            REAL NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX patch_transitions_patch ON patch_transitions(patch_id);
CREATE TABLE patch_files (
    patch_id      INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    pre_exists    INTEGER NOT NULL,
    pre_mode      INTEGER,
    pre_content   BLOB,                    -- file bytes, or the link target of a symlink
    pre_sha       TEXT,
    post_exists   INTEGER,
    post_mode     INTEGER,
    post_sha      TEXT,
    created_dirs  TEXT,                    -- JSON list of directories the apply created for this path
    PRIMARY KEY (patch_id, path)
);
CREATE TABLE fix_runs (
    id            INTEGER PRIMARY KEY,
    cwd           TEXT NOT NULL,
    test_argv     TEXT NOT NULL,           -- JSON list
    agent         TEXT NOT NULL,
    max_iterations INTEGER NOT NULL,
    regression    INTEGER NOT NULL,
    state         TEXT NOT NULL,           -- running | green | improved | unchanged | failed | cancelled
    failures_before INTEGER,
    failures_after  INTEGER,
    iterations    INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    regression_patch INTEGER,
    detail        TEXT,
    started       REAL NOT NULL,
    ended         REAL
);
CREATE TABLE fix_attempts (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES fix_runs(id) ON DELETE CASCADE,
    iteration     INTEGER NOT NULL,
    kind          TEXT NOT NULL,           -- regression | fix
    agent_task    INTEGER,
    patch_id      INTEGER,
    outcome       TEXT NOT NULL, -- kept | rolled_back | no_patch | agent_failed | apply_failed | not_reproduced
    failures_before INTEGER,
    failures_after  INTEGER,
    test_task     INTEGER,
    test_exit     INTEGER,
    duration_s    REAL NOT NULL,
    cost_usd      REAL,
    detail        TEXT,
    at            REAL NOT NULL
);
CREATE INDEX fix_attempts_run ON fix_attempts(run_id);
CREATE TABLE pattern_runs (
    id            INTEGER PRIMARY KEY,
    pattern       TEXT NOT NULL,
    root          TEXT,
    dry_run       INTEGER NOT NULL,
    ok            INTEGER NOT NULL,
    files         TEXT,                    -- JSON list of {path, action}
    error         TEXT,
    at            REAL NOT NULL
);
"""

# pipeline_runs, pipeline_ops (the checkpoints), pipeline_approvals
_PIPELINE_CHECKPOINTS = """
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
"""

# What a task was started with beyond argv and cwd, so `restart` repeats it exactly.  A table of its own
# rather than a column of tasks: it is written once per task, and databases of earlier releases keep
# their tasks table as it is.
_TASK_SPECS = """
CREATE TABLE task_specs (
    task_id     INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    spec        TEXT NOT NULL            -- JSON object: env, stdin, timeout, idle_timeout, quota (those given)
);
"""

# Programs: named commands kept running under a restart policy (kernel/programs.py), from `run --restart`
# and from the programs file.  One row per program; its runs are ordinary tasks (meta.program names it).
_PROGRAMS = """
CREATE TABLE programs (
    name         TEXT PRIMARY KEY,
    source       TEXT NOT NULL,             -- run | file
    spec         TEXT NOT NULL,             -- JSON: argv, cwd, env, timeout, idle_timeout, quota, autostart
    settings     TEXT NOT NULL,             -- JSON: restart, max_restarts, backoff_base, backoff_max, reset_after
    state        TEXT NOT NULL,             -- kernel.programs.ProgramState
    failures     INTEGER NOT NULL DEFAULT 0,-- consecutive failed runs
    runs         INTEGER NOT NULL DEFAULT 0,-- runs started so far
    task_id      INTEGER,                   -- the latest run
    next_at      REAL,                      -- BACKOFF: when the next run is due (wall clock)
    reason       TEXT,                      -- why it is in its state
    created      REAL NOT NULL,
    updated      REAL NOT NULL
);
"""

# Listing history a page at a time (task.list filters by kind, name and creation time, newest first) and
# finding an old task by name: each filter gets an index, so a page costs the rows it returns, not the rows
# stored.  (state already has one; ``id`` is the rowid, and each index carries it for the ORDER BY.)
_TASK_LIST_INDEXES = """
CREATE INDEX tasks_kind ON tasks(kind);
CREATE INDEX tasks_name ON tasks(name);
CREATE INDEX tasks_created ON tasks(created);
"""

# (name, SQL script) in the order a new database gets them.  Append only.
MIGRATIONS: list[tuple[str, str]] = [
    ("tasks", _TASKS),
    ("meta", _META),
    ("agents_v1", _AGENTS_V1),
    ("pipeline_checkpoints", _PIPELINE_CHECKPOINTS),
    ("task_specs", _TASK_SPECS),
    ("programs", _PROGRAMS),
    ("task_list_indexes", _TASK_LIST_INDEXES),
]

# Columns holding JSON text, per table: encoded on write, decoded on read (never seen as text above the store).
JSON_COLUMNS: dict[str, frozenset[str]] = {
    "tasks": frozenset({"argv", "meta"}),
    "task_specs": frozenset({"spec"}),
    "programs": frozenset({"spec", "settings"}),
    "agent_runs": frozenset({"errors", "tokens", "result", "files"}),
    "patches": frozenset({"files", "verify_argv"}),
    "fix_runs": frozenset({"test_argv"}),
    "pattern_runs": frozenset({"files"}),
    "pipeline_runs": frozenset({"thresholds", "options"}),
    "pipeline_ops": frozenset({"tasks", "output"}),
}

# Columns holding a boolean as INTEGER 0/1 (SQLite has no boolean type): written as ints, read back as bools.
BOOL_COLUMNS: dict[str, frozenset[str]] = {
    "agent_runs": frozenset({"ok"}),
    "patches": frozenset({"binary"}),
    "fix_runs": frozenset({"regression"}),
    "pattern_runs": frozenset({"dry_run", "ok"}),
}


def register_migration(name: str, sql: str) -> None:
    """Append a migration to :data:`MIGRATIONS` unless one of that name is there.

    No module of executive calls this (every table is above); it is the hook for
    tests of the migration machinery and for out-of-tree extensions, which must
    call it before the store opens.
    """
    if any(n == name for n, _ in MIGRATIONS):
        return
    MIGRATIONS.append((name, sql))
