"""Where the daemon keeps its state: ``$EXECUTIVE_HOME`` and the files in it.

Layout (DESIGN.md §6)::

    $EXECUTIVE_HOME/            default ~/.local/state/executive
        executive.db            SQLite store (WAL)
        token                   auth token, mode 0600, created at first start
        daemon.json             address of the running daemon (written by `serve`)
        tasks/<id>/stdout.log   task logs

Everything in it is private to the daemon's user, whatever the umask: directories
0700, files 0600 (task output and the store hold whatever the tasks printed).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "default_home", "make_private_dir", "private_file", "resolve_home"]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def default_home() -> Path:
    env = os.environ.get("EXECUTIVE_HOME")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state).expanduser() if state else Path.home() / ".local" / "state"
    return base / "executive"


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser() if home else default_home()


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; a directory it creates ignores the umask.

    An existing directory keeps its mode: the home may be one the user chose and shares on purpose.
    """
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not existed:
        os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, and make it (new or old) readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path
