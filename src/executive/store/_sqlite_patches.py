"""The patch ledger's tables: patches, patch_transitions, patch_files (SQLite)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from executive.store._sqlite_base import SqliteBase
from executive.store.records import PatchFileRow, PatchRow, PatchTransitionRow

__all__ = ["SqlitePatches"]

_TRANSITION = (
    "INSERT INTO patch_transitions (patch_id, from_state, to_state, event, at, reason) VALUES (?, ?, ?, ?, ?, ?)"
)


class SqlitePatches(SqliteBase):
    def patch_create(self, row: PatchRow, *, event: str, reason: str) -> int:
        now = time.time()
        fields = {**row, "created": now, "updated": now, "reason": reason}
        with self.transaction() as c:
            pid = self.insert(c, "patches", fields)
            c.execute(_TRANSITION, (pid, None, row["state"], event, now, reason))
        return pid

    def patch_move(
        self,
        patch_id: int,
        *,
        from_state: str,
        to_state: str,
        event: str,
        reason: str,
        at: float,
        fields: Mapping[str, Any],
    ) -> bool:
        sets = {**fields, "state": to_state, "updated": at, "reason": reason}
        cols = self.columns("patches", sets)
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE patches SET {', '.join(f'{k}=?' for k in cols)} WHERE id=? AND state=?",
                (*self.encode("patches", sets).values(), patch_id, from_state),
            )
            if cur.rowcount != 1:
                return False
            c.execute(_TRANSITION, (patch_id, from_state, to_state, event, at, reason))
        return True

    def patch_update(self, patch_id: int, fields: Mapping[str, Any]) -> None:
        self.update("patches", "id", patch_id, fields)

    def patch_get(self, patch_id: int, *, with_text: bool) -> PatchRow | None:
        rows = self.query("SELECT * FROM patches WHERE id=?", (patch_id,))
        return self._patch(rows[0], with_text) if rows else None

    def patch_transitions(self, patch_id: int) -> list[PatchTransitionRow]:
        rows = self.query(
            "SELECT from_state, to_state, event, at, reason FROM patch_transitions WHERE patch_id=? ORDER BY id",
            (patch_id,),
        )
        return [cast(PatchTransitionRow, dict(r)) for r in rows]

    def patches(self, *, state: str | None, workspace: str | None, limit: int) -> list[PatchRow]:
        where, params = [], []
        if state:
            where.append("state=?")
            params.append(state)
        if workspace:
            where.append("workspace=?")
            params.append(workspace)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self.query(
            f"SELECT * FROM (SELECT * FROM patches {clause} ORDER BY id DESC LIMIT ?) ORDER BY id", (*params, limit)
        )
        return [self._patch(r, False) for r in rows]

    def patch_counts(self) -> dict[str, int]:
        return {r["state"]: int(r["n"]) for r in self.query("SELECT state, COUNT(*) AS n FROM patches GROUP BY state")}

    def patch_files_save_pre(self, patch_id: int, files: Sequence[PatchFileRow]) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM patch_files WHERE patch_id=?", (patch_id,))
            for f in files:
                c.execute(
                    "INSERT INTO patch_files (patch_id, path, pre_exists, pre_mode, pre_content, pre_sha, "
                    "created_dirs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        patch_id,
                        f["path"],
                        int(f["pre_exists"]),
                        f.get("pre_mode"),
                        f.get("pre_content"),
                        f.get("pre_sha"),
                        "\n".join(f.get("created_dirs", ())),  # one directory per line (not JSON: e7ac8b1's format)
                    ),
                )

    def patch_files_save_post(self, patch_id: int, files: Sequence[PatchFileRow]) -> None:
        with self.transaction() as c:
            for f in files:
                post_exists = f.get("post_exists")
                c.execute(
                    "UPDATE patch_files SET post_exists=?, post_mode=?, post_sha=? WHERE patch_id=? AND path=?",
                    (
                        None if post_exists is None else int(post_exists),
                        f.get("post_mode"),
                        f.get("post_sha"),
                        patch_id,
                        f["path"],
                    ),
                )

    def patch_files(self, patch_id: int) -> list[PatchFileRow]:
        out = []
        for r in self.query("SELECT * FROM patch_files WHERE patch_id=? ORDER BY path", (patch_id,)):
            d = dict(r)
            d.pop("patch_id")
            d["pre_exists"] = bool(d["pre_exists"])
            d["post_exists"] = None if d["post_exists"] is None else bool(d["post_exists"])
            d["created_dirs"] = [p for p in (d["created_dirs"] or "").split("\n") if p]
            out.append(cast(PatchFileRow, d))
        return out

    def _patch(self, r: Any, with_text: bool) -> PatchRow:
        d = self.decode("patches", r)
        if not with_text:
            d.pop("text", None)
        return cast(PatchRow, d)
