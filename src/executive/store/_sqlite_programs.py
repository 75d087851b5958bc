"""Programs: named commands kept running under a restart policy (SQLite).

One row per program, replaced whole on every change (a program is small and
changes a few times a minute at most); its runs are rows of ``tasks``.
"""

from __future__ import annotations

from typing import cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import ProgramRow

__all__ = ["SqlitePrograms"]


class SqlitePrograms(SqliteBase):
    def program_save(self, row: ProgramRow) -> None:
        """Insert or replace the program named ``row['name']``."""
        with self.transaction() as c:
            self.insert(c, "programs", row, verb="INSERT OR REPLACE")

    def program_delete(self, name: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM programs WHERE name=?", (name,))

    def programs(self) -> list[ProgramRow]:
        """Every program, by name."""
        rows = self.query("SELECT * FROM programs ORDER BY name")
        return [cast(ProgramRow, self.decode("programs", r)) for r in rows]
