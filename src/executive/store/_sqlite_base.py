"""The SQLite connection every concern of :class:`~executive.store.sqlite.SqliteStore` shares.

Connection settings, each for a reason:

* ``journal_mode=WAL`` — readers never block the writer; a crash mid-write
  leaves the last committed state readable.
* ``synchronous=NORMAL`` — durable across process crashes (the daemon dying),
  one fsync per checkpoint instead of per commit; writes that must survive
  power loss use :meth:`SqliteBase.transaction` with ``durable=True``, which
  switches that commit to ``synchronous=FULL``.
* ``busy_timeout`` — a second process (a CLI reading history) waits briefly
  instead of failing with SQLITE_BUSY.
* ``foreign_keys=ON`` — SQLite leaves them off by default.
* ``BEGIN IMMEDIATE`` for writes — take the write lock up front so a
  transaction never fails half-way on lock upgrade.

Migrations: the ordered, name-keyed list of ``schema.py``; see there.

JSON and boolean columns are converted here (``encode`` / ``decode``), so the
concern modules and the layers above see Python values only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from executive.paths import make_private_dir, private_file
from executive.store import schema

__all__ = ["SqliteBase", "split_sql"]


class SqliteBase:
    """One connection, its pragmas, migrations, transactions and column conversions."""

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
        self._columns: dict[str, frozenset[str]] = {}  # table -> its column names, read from the database
        self.migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- schema ------------------------------------------------------------------
    def migrate(self) -> int:
        """Run the migrations not yet applied, in list order; returns how many are applied.

        Migrations are keyed by *name* in ``schema_migrations``, not by position,
        so a database whose migrations ran in another order opens unchanged.
        """
        with self._lock:
            c = self._conn
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
            done = {r[0] for r in c.execute("SELECT name FROM schema_migrations")}
            for name, sql in schema.MIGRATIONS:
                if name in done:
                    continue
                c.execute("BEGIN IMMEDIATE")
                try:
                    for statement in split_sql(sql):
                        c.execute(statement)
                    c.execute("INSERT INTO schema_migrations (name, applied) VALUES (?, ?)", (name, time.time()))
                    c.execute(f"PRAGMA user_version={len(done) + 1}")
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                done.add(name)
            self._columns = {
                t: frozenset(r[1] for r in c.execute(f'PRAGMA table_info("{t}")'))
                for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
            }
            return len(done)

    # --- raw access (this implementation only; not part of the Store protocol) ----
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

    # --- column conversions ----------------------------------------------------------
    def columns(self, table: str, names: Mapping[str, Any]) -> list[str]:
        """``names`` as a column list of ``table``; an unknown column is a ValueError (SQL never takes a stray name)."""
        known = self._columns.get(table, frozenset())
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"{table} has no column {', '.join(map(repr, unknown))}; columns: {', '.join(sorted(known))}"
            )
        return list(names)

    @staticmethod
    def encode(table: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Values as stored: JSON columns to text, booleans to 0/1."""
        js = schema.JSON_COLUMNS.get(table, frozenset())
        out = {}
        for k, v in fields.items():
            if k in js and v is not None:
                v = json.dumps(v, default=str)
            elif isinstance(v, bool):
                v = int(v)
            out[k] = v
        return out

    @staticmethod
    def decode(table: str, row: sqlite3.Row) -> dict[str, Any]:
        """A row as a dict of Python values: JSON columns parsed, boolean columns as bools (NULL stays None)."""
        d = dict(row)
        for k in schema.JSON_COLUMNS.get(table, ()):
            if d.get(k) is not None:
                d[k] = json.loads(d[k])
        for k in schema.BOOL_COLUMNS.get(table, ()):
            if d.get(k) is not None:
                d[k] = bool(d[k])
        return d

    def insert(self, c: sqlite3.Connection, table: str, fields: Mapping[str, Any], *, verb: str = "INSERT") -> int:
        """Insert ``fields`` (checked column names) into ``table`` inside transaction ``c``; returns the rowid."""
        cols = self.columns(table, fields)
        cur = c.execute(
            f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            tuple(self.encode(table, fields).values()),
        )
        return int(cur.lastrowid or 0)

    def update(self, table: str, key: str, key_value: Any, fields: Mapping[str, Any]) -> None:
        """``UPDATE table SET fields WHERE key = key_value`` in its own transaction (nothing to set: no-op)."""
        if not fields:
            return
        cols = self.columns(table, fields)
        with self.transaction() as c:
            c.execute(
                f"UPDATE {table} SET {', '.join(f'{k}=?' for k in cols)} WHERE {key}=?",
                (*self.encode(table, fields).values(), key_value),
            )


def split_sql(script: str) -> list[str]:
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
