"""The embedded SQLite store: :class:`SqliteStore`, the implementation of ``interface.Store``.

The daemon's durable state lives in ``$EXECUTIVE_HOME/executive.db``.  The
store is synchronous and owns one connection; the service calls it through
:class:`~executive.store.writer.StoreWriter`, which runs every call on one
background thread so the event loop never waits for the disk.

The class is assembled from one mixin per concern, each in its own file over
the shared connection of ``_sqlite_base.py`` (pragmas, migrations,
transactions, column conversions):

* ``_sqlite_tasks.py`` — task history, log sizes, ``meta`` settings;
* ``_sqlite_agents.py`` — worktrees, agent runs, pattern runs, the status report;
* ``_sqlite_patches.py`` — the patch ledger;
* ``_sqlite_fixes.py`` — fix runs and attempts;
* ``_sqlite_pipelines.py`` — pipeline runs, checkpoints, approvals;
* ``_sqlite_programs.py`` — programs (restart policies, the programs file).

Every table is defined in ``schema.py``; no other module holds SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executive.store._sqlite_agents import SqliteAgents
from executive.store._sqlite_base import split_sql
from executive.store._sqlite_fixes import SqliteFixes
from executive.store._sqlite_patches import SqlitePatches
from executive.store._sqlite_pipelines import SqlitePipelines
from executive.store._sqlite_programs import SqlitePrograms
from executive.store._sqlite_tasks import SqliteTasks

if TYPE_CHECKING:
    from executive.store.interface import Store

__all__ = ["SqliteStore", "split_sql"]


class SqliteStore(SqliteTasks, SqliteAgents, SqlitePatches, SqliteFixes, SqlitePipelines, SqlitePrograms):
    """Synchronous access to ``executive.db``; use from one thread at a time (the writer thread)."""


if TYPE_CHECKING:

    def _sqlite_store_is_a_store(s: SqliteStore) -> Store:
        return s  # mypy reports this line if SqliteStore stops satisfying the Store protocol
