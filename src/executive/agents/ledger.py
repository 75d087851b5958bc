"""The patch ledger: every patch, its state machine, and each transition with time and reason.

Theory of operation
-------------------
A patch enters the ledger ``created`` and moves only along the edges of
``TRANSITIONS``, each named by a :class:`PatchEvent`::

    created ──validated──▶ validated ──applied──▶ applied ──verified──▶ verified ──committed──▶ committed
       │                      │                     │  └──committed──▶ committed       │
       │                      │                     └──rolled_back──▶ rolled_back ◀───┘
       ├──check_failed──▶ apply_failed ◀──apply_failed──┤
       └──refused──▶ quarantined ◀──verify_failed───────┘

``apply_failed``, ``rolled_back``, ``quarantined`` and ``committed`` are final.
A lookup miss raises :class:`PatchTransitionError` naming the patch, its state
and the event — nothing changes.  The check and the change happen in one
IMMEDIATE transaction on the store's writer thread, so two callers can never
both move a patch out of the same state.

The ledger also keeps, per touched path, the exact pre-apply bytes and mode
(``patch_files``) so a rollback can restore the tree after a daemon restart.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from typing import Any

from executive.agents.errors import PatchNotFoundError, PatchTransitionError
from executive.kernel.transitions import next_state
from executive.store.sqlite import Store

__all__ = ["FINAL", "TRANSITIONS", "PatchEvent", "PatchState", "counts", "create", "get", "list_patches", "transition"]


class PatchState(enum.Enum):
    CREATED = "created"  # parsed and recorded; nothing checked yet
    VALIDATED = "validated"  # paths allowed and `git apply --check` passed in a throw-away mirror
    APPLIED = "applied"  # written to the real tree (pre-apply content kept for rollback)
    VERIFIED = "verified"  # the verification command (or the fix loop's tests) passed on it
    COMMITTED = "committed"  # committed with only the paths it touches (final)
    APPLY_FAILED = "apply_failed"  # does not apply to the tree (final)
    ROLLED_BACK = "rolled_back"  # the real tree is back to its exact pre-apply state (final)
    QUARANTINED = "quarantined"  # refused: unsafe paths, binary, or failed verification before apply (final)


class PatchEvent(enum.Enum):
    VALIDATED = "validated"
    CHECK_FAILED = "check_failed"
    REFUSED = "refused"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    VERIFIED = "verified"
    VERIFY_FAILED = "verify_failed"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"


_S, _E = PatchState, PatchEvent

# {state: {event: new_state}} — the only legal moves.
TRANSITIONS: dict[PatchState, dict[PatchEvent, PatchState]] = {
    _S.CREATED: {_E.VALIDATED: _S.VALIDATED, _E.CHECK_FAILED: _S.APPLY_FAILED, _E.REFUSED: _S.QUARANTINED},
    _S.VALIDATED: {_E.APPLIED: _S.APPLIED, _E.APPLY_FAILED: _S.APPLY_FAILED, _E.VERIFY_FAILED: _S.QUARANTINED},
    _S.APPLIED: {_E.VERIFIED: _S.VERIFIED, _E.COMMITTED: _S.COMMITTED, _E.ROLLED_BACK: _S.ROLLED_BACK},
    _S.VERIFIED: {_E.COMMITTED: _S.COMMITTED, _E.ROLLED_BACK: _S.ROLLED_BACK},
    _S.COMMITTED: {},
    _S.APPLY_FAILED: {},
    _S.ROLLED_BACK: {},
    _S.QUARANTINED: {},
}
FINAL = frozenset(s for s, edges in TRANSITIONS.items() if not edges)

_HINTS = {
    PatchEvent.ROLLED_BACK: "only applied or verified patches can be rolled back",
    PatchEvent.COMMITTED: "only applied or verified patches can be committed",
    PatchEvent.APPLIED: "only validated patches are applied; submit the patch again",
}


# --- store functions (run on the writer thread) ------------------------------------------
def create(store: Store, fields: dict[str, Any], reason: str) -> int:
    """Insert a patch in state ``created`` with its first transition; returns its id."""
    now = time.time()
    row = dict(fields, created=now, updated=now, state=PatchState.CREATED.value, reason=reason)
    for k in ("files", "verify_argv"):
        if k in row and not isinstance(row[k], str) and row[k] is not None:
            row[k] = json.dumps(row[k])
    with store.transaction() as c:
        cur = c.execute(
            f"INSERT INTO patches ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
        )
        pid = int(cur.lastrowid or 0)
        c.execute(
            "INSERT INTO patch_transitions (patch_id, from_state, to_state, event, at, reason) VALUES (?, NULL, ?, 'created', ?, ?)",
            (pid, PatchState.CREATED.value, now, reason),
        )
    return pid


def transition(
    store: Store, patch_id: int, event: PatchEvent, reason: str, fields: dict[str, Any] | None = None
) -> PatchState:
    """Move the patch along one edge, record it, and update ``fields``; returns the new state.

    Raises:
        PatchNotFoundError: no such patch.
        PatchTransitionError: the edge does not exist from the patch's state; nothing changes.
    """
    now = time.time()
    with store.transaction() as c:
        row = c.execute("SELECT state FROM patches WHERE id=?", (patch_id,)).fetchone()
        if row is None:
            raise PatchNotFoundError(patch_id)
        state = PatchState(row["state"])
        new = next_state(
            TRANSITIONS,
            state,
            event,
            machine="patch",
            subject=f"patch {patch_id}",
            data={"patch": patch_id, "state": state.value, "event": event.value},
            error=PatchTransitionError,
            message="{subject} is {state}: it cannot be {event}; from {state} it can only be {allowed}",
            hint=_HINTS.get(event, ""),
        )
        sets = {"state": new.value, "updated": now, "reason": reason}
        for k, v in (fields or {}).items():
            sets[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
        c.execute(f"UPDATE patches SET {', '.join(f'{k}=?' for k in sets)} WHERE id=?", (*sets.values(), patch_id))
        c.execute(
            "INSERT INTO patch_transitions (patch_id, from_state, to_state, event, at, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (patch_id, state.value, new.value, event.value, now, reason),
        )
    return new


def get(store: Store, patch_id: int, *, with_text: bool = True) -> dict[str, Any]:
    """One patch with its transitions (oldest first).

    Raises:
        PatchNotFoundError: no such patch.
    """
    rows = store.query("SELECT * FROM patches WHERE id=?", (patch_id,))
    if not rows:
        raise PatchNotFoundError(patch_id)
    d = _patch_dict(rows[0], with_text)
    d["transitions"] = [
        {"from": r["from_state"], "to": r["to_state"], "event": r["event"], "at": r["at"], "reason": r["reason"]}
        for r in store.query("SELECT * FROM patch_transitions WHERE patch_id=? ORDER BY id", (patch_id,))
    ]
    return d


def list_patches(
    store: Store, *, state: str | None = None, workspace: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Recent patches (oldest first), without their text."""
    where, params = [], []
    if state:
        where.append("state=?")
        params.append(state)
    if workspace:
        where.append("workspace=?")
        params.append(workspace)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = store.query(
        f"SELECT * FROM (SELECT * FROM patches {clause} ORDER BY id DESC LIMIT ?) ORDER BY id", (*params, limit)
    )
    return [_patch_dict(r, False) for r in rows]


def counts(store: Store) -> dict[str, int]:
    """Number of patches per state (every state present, zeros included)."""
    out = {s.value: 0 for s in PatchState}
    for r in store.query("SELECT state, COUNT(*) AS n FROM patches GROUP BY state"):
        out[r["state"]] = int(r["n"])
    return out


def _patch_dict(r: sqlite3.Row, with_text: bool) -> dict[str, Any]:
    d = dict(r)
    for k in ("files", "verify_argv"):
        if d.get(k) is not None:
            d[k] = json.loads(d[k])
    d["binary"] = bool(d["binary"])
    if not with_text:
        d.pop("text", None)
    return d
