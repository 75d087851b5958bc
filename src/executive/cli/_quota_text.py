"""Log quota sizes and the line ``executive run`` prints when its task stops on its quota.

Light (the standard library only): the quick ``run`` path (cli/quick_run.py) uses it as well as
cli/quota.py, which re-exports it with the ``set-quota`` command.
"""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = ["format_size", "parse_size", "print_notice", "quota_notice"]

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes from ``1073741824``, ``512M``, ``4G``, ``1.5GiB`` (binary units).

    Raises:
        ValueError: not a size.
    """
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size; write bytes or a number with K, M, G or T (e.g. 4G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n: int) -> str:
    """``1.0 GiB`` style, for messages."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = 1024 ** ("KMGT".index(unit[0]) + 1)
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def quota_notice(task: int, data: dict[str, Any]) -> str:
    """What ``executive run`` prints (to stderr) when its task pauses on its quota."""
    quota = int(data.get("quota") or 0)
    detail = str(data.get("detail") or "")
    if detail.startswith("log write failed"):
        return f"[executive] task {task} is paused: {detail}; free disk space, then cancel it (Ctrl-C) and rerun\n"
    bigger = format_size(max(quota * 4, 1024**3)).replace(" ", "").replace("iB", "")
    return (
        f"[executive] task {task} is paused: its output reached its log quota of {format_size(quota)}.\n"
        f"[executive] let it run on with `executive set-quota {task} {bigger}` from another shell, "
        f"or Ctrl-C to cancel; next time, `executive run --quota {bigger} -- …`\n"
    )


def print_notice(task: int, data: dict[str, Any]) -> None:
    sys.stderr.write(quota_notice(task, data))
    sys.stderr.flush()
