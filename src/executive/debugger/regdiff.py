"""Register-change tracking: which of R0..R15 and PSW changed since the last look.

Spec hsx-executive §8.10: ``changed_regs`` lists ``R<n>`` and ``PSW`` whose value differs
from the previous snapshot of the same task; ``PC`` is never listed (it changes on every
instruction, so listing it says nothing).  The first snapshot of a task has no baseline
and lists every register.  Tracking can be switched off: the field is then omitted, but
the baseline still follows every look, so the first result after switching it back on
lists what changed since the previous look, not every register.  (The reference clears
the baseline when tracking goes off, §8.10, which makes that first result claim all 17
registers changed; no client depends on that.)

Two users keep separate baselines: the debugger's stops (step results and
``debug_break``: "what changed since you last looked") and the trace buffer ("what this
instruction changed").  Each holds its own :class:`RegDiff`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["REG_NAMES", "RegDiff", "changed", "snapshot"]

REG_NAMES: tuple[str, ...] = (*(f"R{i}" for i in range(16)), "PSW")

Snapshot = tuple[int, ...]  # R0..R15, PSW


def snapshot(regs: Sequence[int], psw: int) -> Snapshot:
    """The values compared: the 16 registers and the PSW."""
    return (*regs, psw)


def changed(before: Snapshot | None, after: Snapshot) -> list[str]:
    """Names whose value differs; every name when there is no ``before``."""
    if before is None:
        return list(REG_NAMES)
    return [name for name, a, b in zip(REG_NAMES, before, after, strict=False) if a != b]


class RegDiff:
    """Per-task baselines for one consumer of ``changed_regs``."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._base: dict[int, Snapshot] = {}  # pid -> snapshot at the last look

    def set_enabled(self, on: bool) -> None:
        """Switch tracking (the baselines are kept and keep moving: see the module docstring)."""
        self.enabled = on

    def baseline(self, pid: int) -> Snapshot | None:
        return self._base.get(pid)

    def update(
        self, pid: int, regs: Sequence[int], psw: int, *, since: Snapshot | None = None, use_since: bool = False
    ) -> list[str] | None:
        """Diff the current registers against the baseline (or ``since``) and make them the baseline.

        Returns None when tracking is off (callers then omit the field); the baseline moves anyway.
        """
        now = snapshot(regs, psw)
        before = since if use_since else self._base.get(pid)
        self._base[pid] = now
        return changed(before, now) if self.enabled else None

    def forget(self, pid: int) -> None:
        self._base.pop(pid, None)
