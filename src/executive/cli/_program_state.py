"""How ``ps`` shows a program beside its latest run: a short suffix to the STATE cell.

Kept apart from cli/programs.py so ``ps`` imports nothing but this (it stays fast).
"""

from __future__ import annotations

from typing import Any

__all__ = ["program_suffix"]


def program_suffix(row: dict[str, Any]) -> str:
    """Plain text: `` ↻ always`` for a running program, `` ↻ backoff 2/5 in 1.5s``, `` ↻ FATAL``...;
    empty for a plain task."""
    p = row.get("program")
    if not p:
        return ""
    state = p["state"]
    if state == "running":
        return f" ↻ {p['restart']}"
    if state == "backoff":
        when = f" in {p['next_in_s']:.1f}s" if p.get("next_in_s") is not None else ""
        return f" ↻ backoff {p['failures']}/{p['max_restarts']}{when}"
    if state == "fatal":
        return " ↻ FATAL"
    return f" ↻ {state}"
