"""``$EXECUTIVE_HOME/daemon.json``: how every command finds the running daemon."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from executive.paths import PRIVATE_FILE_MODE

__all__ = ["DaemonNotRunning", "read_daemon_file", "remove_daemon_file", "write_daemon_file"]

_NAME = "daemon.json"


class DaemonNotRunning(Exception):
    """No daemon answers for this home; the message says how to start one."""


def write_daemon_file(home: Path, info: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    tmp = home / f".{_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), PRIVATE_FILE_MODE)  # also when a stale temp file of ours was left behind
        f.write(json.dumps(info, indent=2))
    os.replace(tmp, home / _NAME)


def read_daemon_file(home: Path) -> dict[str, Any]:
    path = home / _NAME
    hint = f"no daemon is running for {home}; start one with `executive serve` (or `make run`)"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise DaemonNotRunning(hint) from None
    except ValueError as exc:
        raise DaemonNotRunning(f"{path} is damaged ({exc}); {hint}") from None
    if not isinstance(info, dict):
        raise DaemonNotRunning(f"{path} is damaged (not a JSON object); {hint}")
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise DaemonNotRunning(f"the daemon recorded in {path} (pid {pid}) is gone; {hint}") from None
        except PermissionError:
            pass
    return info


def remove_daemon_file(home: Path, pid: int) -> None:
    path = home / _NAME
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass
