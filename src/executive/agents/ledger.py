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
and the event — nothing changes.  The change is a compare-and-set on the
store (``PatchStore.patch_move`` moves the patch only if it is still in the
state the table was read for), so two callers can never both move a patch out
of the same state.

The ledger also keeps, per touched path, the exact pre-apply bytes and mode
(``patch_files``) so a rollback can restore the tree after a daemon restart.
"""

from __future__ import annotations

import enum
import time
from typing import Any, cast

from executive.agents.errors import PatchNotFoundError, PatchTransitionError
from executive.kernel.transitions import next_state
from executive.store.interface import PatchStore
from executive.store.records import PatchRow

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


# --- ledger functions (run on the store's writer thread) ------------------------------------
def create(store: PatchStore, fields: dict[str, Any], reason: str) -> int:
    """Insert a patch in state ``created`` with its first transition; returns its id."""
    row = cast(PatchRow, {**fields, "state": PatchState.CREATED.value})
    return store.patch_create(row, event="created", reason=reason)


def transition(
    store: PatchStore, patch_id: int, event: PatchEvent, reason: str, fields: dict[str, Any] | None = None
) -> PatchState:
    """Move the patch along one edge, record it, and update ``fields``; returns the new state.

    Raises:
        PatchNotFoundError: no such patch.
        PatchTransitionError: the edge does not exist from the patch's state; nothing changes.
    """
    while True:
        row = store.patch_get(patch_id, with_text=False)
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
        moved = store.patch_move(
            patch_id,
            from_state=state.value,
            to_state=new.value,
            event=event.value,
            reason=reason,
            at=time.time(),
            fields=fields or {},
        )
        if moved:
            return new
        # another writer moved it between the read and the compare-and-set: decide again from its new state


def get(store: PatchStore, patch_id: int, *, with_text: bool = True) -> dict[str, Any]:
    """One patch with its transitions (oldest first).

    Raises:
        PatchNotFoundError: no such patch.
    """
    row = store.patch_get(patch_id, with_text=with_text)
    if row is None:
        raise PatchNotFoundError(patch_id)
    d: dict[str, Any] = dict(row)
    d["transitions"] = [
        {"from": t["from_state"], "to": t["to_state"], "event": t["event"], "at": t["at"], "reason": t["reason"]}
        for t in store.patch_transitions(patch_id)
    ]
    return d


def list_patches(
    store: PatchStore, *, state: str | None = None, workspace: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Recent patches (oldest first), without their text."""
    return [dict(r) for r in store.patches(state=state, workspace=workspace, limit=limit)]


def counts(store: PatchStore) -> dict[str, int]:
    """Number of patches per state (every state present, zeros included)."""
    return {s.value: 0 for s in PatchState} | store.patch_counts()
