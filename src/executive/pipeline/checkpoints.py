"""Durable checkpoints of pipeline runs: the writes that carry the crash seam.

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

The tables and their SQL live in the store (``store/schema.py``,
``store/_sqlite_pipelines.py``, behind ``store.interface.PipelineStore``):
WAL, ``busy_timeout``, ``foreign_keys=ON`` (ops vanish with their run),
``BEGIN IMMEDIATE``, and ``synchronous=FULL`` on every checkpoint commit so it
survives power loss, not only a daemon crash.

Every function here runs on the store's single writer thread
(``StoreWriter.call``), so writes keep their order without locks, and the
crash seam fires on that thread right after the commit, before any later
write can start.

Test seam: ``EXECUTIVE_PIPELINE_CRASH_AT=KIND:N`` (e.g. ``step_end:2``) makes the
daemon SIGKILL itself right after the N-th durable checkpoint of that kind is
committed.  The crash tests use it to kill -9 at every step boundary exactly;
it is read once when the engine starts and does nothing when unset.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from executive.pipeline.errors import SessionExistsError
from executive.store.interface import PipelineStore
from executive.store.records import PipelineRunRow

__all__ = ["CRASH_ENV", "CrashSeam", "create_run", "op_end", "op_start", "set_run_state"]

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


def create_run(store: PipelineStore, row: PipelineRunRow, seam: CrashSeam = _NO_SEAM) -> int:
    """Insert a run (requirement, file content, thresholds) in one durable transaction; returns its id.

    Raises:
        SessionExistsError: ``options.session`` names a run already.  Checked here, on the
            store's one writer thread, so two requests for one name cannot both pass.
    """
    session = row.get("options", {}).get("session")
    if session is not None:
        existing = store.pipeline_run_by_session(session)
        if existing is not None:
            raise SessionExistsError(session, existing)
    run_id = store.pipeline_run_create(row)
    seam.after("run")
    return run_id


def set_run_state(
    store: PipelineStore, run_id: int, state: str, detail: str | None, ended: bool, seam: CrashSeam = _NO_SEAM
) -> None:
    store.pipeline_run_set_state(run_id, state, detail, ended)
    seam.after("state")


def op_start(
    store: PipelineStore,
    run_id: int,
    seq: int,
    op: dict[str, Any],
    run_state: str | None = None,
    seam: CrashSeam = _NO_SEAM,
) -> int:
    """Checkpoint the start of operation ``seq`` (insert, or re-start an in-flight one); returns ``starts``."""
    starts = store.checkpoint_step_start(run_id, seq, op, run_state)
    seam.after(f"{op['kind']}_start")
    return starts


def op_end(
    store: PipelineStore,
    run_id: int,
    seq: int,
    kind: str,
    status: str,
    output: dict[str, Any],
    run_state: str | None = None,
    seam: CrashSeam = _NO_SEAM,
) -> None:
    """Checkpoint the end of operation ``seq`` with its result (what replay returns)."""
    store.checkpoint_step_end(run_id, seq, status, output, run_state)
    seam.after(f"{kind}_end")
