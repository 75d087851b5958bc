"""`executive run CMD | consumer` delivers every byte, even when the CLI is stopped and continued.

A raw (unbuffered) stdout returns short writes when a signal interrupts a large pipe write;
ignoring the count lost megabytes silently (issue 20).  The CLI is SIGSTOPped and SIGCONTed
many times while it streams, with and without PYTHONUNBUFFERED, and the bytes are compared.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

LINE = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
TOTAL = 512 * 1024 * 1024


def _expected() -> tuple[int, str]:
    block = LINE * (1024 * 1024 // len(LINE) + 1)
    block = block[: len(LINE) * (len(block) // len(LINE))]
    h = hashlib.sha256()
    left = TOTAL
    while left:
        piece = block[: min(left, len(block))]
        h.update(piece)
        left -= len(piece)
    return TOTAL, h.hexdigest()


async def _stop_and_continue(pid: int, stop: asyncio.Event) -> int:
    rounds = 0
    while not stop.is_set():
        await asyncio.sleep(0.01)
        try:
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0.005)
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            break
        rounds += 1
    return rounds


@pytest.mark.slow
@pytest.mark.parametrize("unbuffered", [True, False], ids=["PYTHONUNBUFFERED", "buffered"])
async def test_run_into_a_pipe_loses_no_byte_when_stopped_and_continued(
    daemon: Any, e2e: Any, unbuffered: bool, tmp_path: Path
) -> None:
    line = LINE.decode().strip()
    env = {"PYTHONUNBUFFERED": "1"} if unbuffered else {}
    if not unbuffered:
        env["PYTHONUNBUFFERED"] = ""
    proc = await e2e.start_cli(daemon.home, "run", "--", "sh", "-c", f"yes {line} | head -c {TOTAL}", env=env)
    assert proc.stdout is not None and proc.stderr is not None
    stop = asyncio.Event()
    stopper = asyncio.create_task(_stop_and_continue(proc.pid, stop))
    h = hashlib.sha256()
    got = 0
    while chunk := await proc.stdout.read(1 << 20):
        h.update(chunk)
        got += len(chunk)
    stop.set()
    rounds = await stopper
    os.kill(proc.pid, signal.SIGCONT) if proc.returncode is None else None
    rc = await asyncio.wait_for(proc.wait(), 60)
    err = (await proc.stderr.read()).decode()
    size, digest = _expected()
    assert rounds > 10, "the CLI was not stopped often enough to test anything"
    assert rc == 0, err
    assert got == size, f"{size - got} bytes lost"
    assert h.hexdigest() == digest
