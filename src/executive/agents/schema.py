"""The agents layer's tables, in one place (registered as one store migration).

Imported by ``executive.agents`` (and so by the service) before the store
opens, which is when migrations run.  Never edit this migration once released;
append a new ``register_migration`` below it instead.

Tables:

* ``worktrees`` — git worktrees the daemon made: where, for what, which task uses it.
* ``agent_runs`` — one row per agent task: adapter, session ids, the normalized result, the diff it left.
* ``patches`` / ``patch_transitions`` / ``patch_files`` — the patch ledger: the patch, its state, every
  state change with time and reason, and the exact pre-apply content of each touched path (for rollback).
* ``fix_runs`` / ``fix_attempts`` — the fix loop: one row per loop, one per attempt.
* ``pattern_runs`` — every pattern execution (dry or not) and the files it touched.
"""

from __future__ import annotations

from executive.store.sqlite import register_migration

__all__ = ["MIGRATION_NAME"]

MIGRATION_NAME = "agents_v1"

register_migration(
    MIGRATION_NAME,
    """
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
        outcome       TEXT NOT NULL,           -- kept | rolled_back | no_patch | agent_failed | apply_failed | not_reproduced
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
    """,
)
