"""The patch ledger's state machine: every edge of the table moves and is recorded; every missing edge refuses."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from executive.agents import ledger
from executive.agents.errors import PatchNotFoundError, PatchTransitionError
from executive.agents.ledger import TRANSITIONS, PatchEvent, PatchState
from executive.store.sqlite import SqliteStore as Store

# A path through the table to each state, from created.
ROUTE = {
    PatchState.CREATED: [],
    PatchState.VALIDATED: [PatchEvent.VALIDATED],
    PatchState.APPLIED: [PatchEvent.VALIDATED, PatchEvent.APPLIED],
    PatchState.VERIFIED: [PatchEvent.VALIDATED, PatchEvent.APPLIED, PatchEvent.VERIFIED],
    PatchState.COMMITTED: [PatchEvent.VALIDATED, PatchEvent.APPLIED, PatchEvent.COMMITTED],
    PatchState.APPLY_FAILED: [PatchEvent.CHECK_FAILED],
    PatchState.ROLLED_BACK: [PatchEvent.VALIDATED, PatchEvent.APPLIED, PatchEvent.ROLLED_BACK],
    PatchState.QUARANTINED: [PatchEvent.REFUSED],
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ledger.db")
    yield s
    s.close()


def _patch_in(store: Store, state: PatchState) -> int:
    pid = ledger.create(store, {"workspace": "/w", "source": "test", "text": "x", "files": []}, "test")
    for event in ROUTE[state]:
        ledger.transition(store, pid, event, f"to reach {state.value}")
    assert ledger.get(store, pid)["state"] == state.value
    return pid


def test_every_state_is_reachable_and_final_states_have_no_edges() -> None:
    assert set(ROUTE) == set(PatchState)
    assert ledger.FINAL == {
        PatchState.COMMITTED,
        PatchState.APPLY_FAILED,
        PatchState.ROLLED_BACK,
        PatchState.QUARANTINED,
    }


@pytest.mark.parametrize("state, event", [(s, e) for s, edges in TRANSITIONS.items() for e in edges])
def test_each_edge_moves_and_is_recorded(store: Store, state: PatchState, event: PatchEvent) -> None:
    pid = _patch_in(store, state)
    new = ledger.transition(store, pid, event, "because of the test", {"verify_exit": 3})
    rec = ledger.get(store, pid)
    assert new is TRANSITIONS[state][event] and rec["state"] == new.value and rec["reason"] == "because of the test"
    assert rec["verify_exit"] == 3
    last = rec["transitions"][-1]
    assert (last["from"], last["to"], last["event"], last["reason"]) == (
        state.value,
        new.value,
        event.value,
        "because of the test",
    )
    assert last["at"] >= rec["transitions"][0]["at"]
    assert len(rec["transitions"]) == len(ROUTE[state]) + 2  # "created" + the route + this edge


@pytest.mark.parametrize(
    "state, event", [(s, e) for s, e in itertools.product(PatchState, PatchEvent) if e not in TRANSITIONS[s]]
)
def test_each_missing_edge_refuses_and_changes_nothing(store: Store, state: PatchState, event: PatchEvent) -> None:
    pid = _patch_in(store, state)
    before = ledger.get(store, pid)
    with pytest.raises(PatchTransitionError) as e:
        ledger.transition(store, pid, event, "should not happen")
    assert f"patch {pid} is {state.value}" in e.value.message and event.value in e.value.message
    assert ledger.get(store, pid) == before


def test_unknown_patch_and_counts(store: Store) -> None:
    with pytest.raises(PatchNotFoundError):
        ledger.transition(store, 42, PatchEvent.VALIDATED, "x")
    _patch_in(store, PatchState.VERIFIED)
    _patch_in(store, PatchState.QUARANTINED)
    counts = ledger.counts(store)
    assert (
        counts["verified"] == 1
        and counts["quarantined"] == 1
        and counts["created"] == 0
        and set(counts) == {s.value for s in PatchState}
    )
    assert [p["state"] for p in ledger.list_patches(store)] == ["verified", "quarantined"]
    assert ledger.list_patches(store, state="verified")[0]["state"] == "verified"
