"""Shared helpers of the cluster tests: an in-process daemon that is a Ray driver."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from executive.service import Executive


async def open_ex(home: Path, address: str, **kw: Any) -> Executive:
    return await Executive.open(home, ray_address=address, **kw)


async def until(pred: Any, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``pred()`` until true; fail after ``timeout`` seconds (a safety net, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def log_bytes(home: Path, task_id: int, stream: str = "stdout") -> bytes:
    p = home / "tasks" / str(task_id) / f"{stream}.log"
    return p.read_bytes() if p.exists() else b""


ON_B = {"on": "ray", "resources": {"node_b": 1}}
