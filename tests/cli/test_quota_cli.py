"""A task that reaches its log quota: `executive run` says so and how to go on; `set-quota` lets it run on.

Issue 20: a 3 GB stream paused at the default 1 GiB quota and `executive run` waited forever in
silence.  Scaled down here with `--quota`; every byte must still arrive once the quota is raised.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from executive.cli.quota import parse_size

TOTAL = 3 * 1024 * 1024  # 3 MiB of output against a 1 MiB quota


async def _until(predicate: Any, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_run_says_the_quota_stopped_it_and_set_quota_lets_it_finish(daemon: Any, client: Any, e2e: Any) -> None:
    proc = await e2e.start_cli(
        daemon.home, "run", "--name", "big", "--quota", "1M", "--", "sh", "-c", f"yes abc | head -c {TOTAL}"
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    reader = asyncio.ensure_future(_read_all(proc.stdout, out))
    line = await asyncio.wait_for(proc.stderr.readline(), 60)
    assert b"task" in line and b"paused" in line and b"log quota of 1.0 MiB" in line, line
    advice = (await asyncio.wait_for(proc.stderr.readline(), 10)).decode()
    assert "executive set-quota" in advice and "--quota" in advice

    info = await client.call("task.info", task="big")
    assert info["state"] == "paused" and info["pause_reason"] == "quota"
    refused = await e2e.run_cli(daemon.home, "set-quota", "big", "1K")  # below what it already wrote
    assert refused.rc != 0 and "already written" in refused.err
    raised = await e2e.run_cli(daemon.home, "set-quota", "big", "4M")
    assert raised.rc == 0, raised.err
    assert "quota 4.0 MiB" in raised.out

    rc = await asyncio.wait_for(proc.wait(), 60)
    await reader
    assert rc == 0
    assert len(out) == TOTAL
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256((b"abc\n" * TOTAL)[:TOTAL]).hexdigest()
    ended = await client.call("task.info", task="big")
    assert ended["end_reason"] == "exited" and ended["exit_code"] == 0


async def _read_all(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(1 << 16):
        into.extend(chunk)


async def test_set_quota_checks_its_input(daemon: Any, client: Any, e2e: Any) -> None:
    task = await client.call("task.run", argv=["sleep", "30"])
    try:
        bad = await e2e.run_cli(daemon.home, "set-quota", str(task["id"]), "lots")
        assert bad.rc == 2 and "not a size" in bad.err
        over = await e2e.run_cli(daemon.home, "set-quota", str(task["id"]), "100T")
        assert over.rc != 0 and "max_output_quota_bytes" in over.err
        ok = await client.call("task.set_quota", task=task["id"], quota=parse_size("2G"))
        assert ok["state"] == "running"  # a running task just gets the new quota
    finally:
        await client.call("task.kill", task=task["id"])
    ended = await client.call("task.wait", task=task["id"], timeout=30)
    gone = await e2e.run_cli(daemon.home, "set-quota", str(task["id"]), "2G")
    assert ended["state"] == "ended" and gone.rc != 0 and "not a running process task" in gone.err


def test_sizes() -> None:
    assert parse_size("1024") == 1024
    assert parse_size("512K") == 512 * 1024
    assert parse_size("4g") == 4 * 1024**3
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
