"""Where the daemon keeps its state: ``$EXECUTIVE_HOME`` and the files in it.

Layout (DESIGN.md §6)::

    $EXECUTIVE_HOME/            default ~/.local/state/executive
        executive.db            SQLite store (WAL)
        token                   auth token, mode 0600, created at first start
        daemon.json             address of the running daemon (written by `serve`)
        tasks/<id>/stdout.log   task logs
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_home", "resolve_home"]


def default_home() -> Path:
    env = os.environ.get("EXECUTIVE_HOME")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state).expanduser() if state else Path.home() / ".local" / "state"
    return base / "executive"


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser() if home else default_home()
