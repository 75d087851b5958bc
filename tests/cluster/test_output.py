"""Output and input of remote tasks: byte-identical logs with correct offsets, stdin round trip."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from executive.kernel.errors import InvalidTransitionError

from .conftest import Cluster
from .helpers import ON_B, daemon, log_bytes, until

# 50 MB that is not all one byte: every 64 KiB block is sha256-derived from its index (plus some non-UTF-8).
GEN = r"""
import hashlib, sys
out = sys.stdout.buffer
for i in range(800):
    seed = hashlib.sha256(str(i).encode()).digest()
    out.write(seed * 2048)
    if i % 100 == 0:
        sys.stderr.write(f"block {i}\n"); sys.stderr.flush()
"""


def expected() -> bytes:
    return b"".join(hashlib.sha256(str(i).encode()).digest() * 2048 for i in range(800))


async def test_50mb_arrive_byte_identical_with_correct_offsets(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        t = await ex.task_run([sys.executable, "-c", GEN], placement=ON_B)
        end = await ex.task_wait(t["id"], timeout=120)
        assert end["end_reason"] == "exited" and end["exit_code"] == 0
        want = expected()
        assert len(want) == 800 * 65536
        got = log_bytes(tmp_path, t["id"])
        assert len(got) == len(want) and got == want
        err = b"".join(f"block {i}\n".encode() for i in range(0, 800, 100))
        assert log_bytes(tmp_path, t["id"], "stderr") == err
        for off in (0, 65536 * 3 + 17, len(want) - 100):
            part = await ex.task_output_bytes(t["id"], offset=off, limit=100)
            assert part["data"] == want[off : off + 100] and part["next_offset"] == off + 100
        info = ex.task_info(t["id"])
        assert info["output_bytes"] == {"stdout": len(want), "stderr": len(err)}


async def test_live_output_events_are_contiguous_by_offset(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        sub = ex.subscribe(types=["output"])
        t = await ex.task_run(["sh", "-c", "for i in $(seq 1 300); do echo line $i; done"], placement=ON_B)
        await ex.task_wait(t["id"], timeout=60)
        events = [e for e in sub.drain(100000, 10**8) if e.pid == t["id"]]
        pos = 0
        text = ""
        for e in events:
            assert e.data["offset"] == pos
            pos += len(e.data["data"].encode())
            text += e.data["data"]
        assert text == "".join(f"line {i}\n" for i in range(1, 301))


async def test_stdin_round_trip(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        t = await ex.task_run(["cat"], placement=ON_B, stdin=True)
        ex.task_input(t["id"], data="ping\n")
        ex.task_input(t["id"], data_b64="/wA=", eof=True)  # bytes that are not UTF-8 pass exactly
        end = await ex.task_wait(t["id"], timeout=60)
        assert end["exit_code"] == 0
        assert log_bytes(tmp_path, t["id"]) == b"ping\n\xff\x00"


async def test_input_to_a_remote_task_still_waiting_for_its_node_is_delivered_in_order(
    node_b: Cluster, tmp_path: Path
) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        holder = await ex.task_run(["sleep", "300"], placement=ON_B)  # takes node_b's only node_b unit
        await until(lambda: ex.task_info(holder["id"])["state"] == "running", what="the holder running")
        t = await ex.task_run(["cat"], placement=ON_B, stdin=True)
        assert ex.task_info(t["id"])["state"] == "starting"  # waits for node_b
        ex.task_input(t["id"], data="first\n")
        ex.task_input(t["id"], data_b64="/wA=")
        ex.task_input(t["id"], data="last\n", eof=True)
        assert ex.task_info(t["id"])["state"] == "starting"  # accepted while still waiting
        ex.task_cancel(holder["id"])
        end = await ex.task_wait(t["id"], timeout=90)
        assert end["end_reason"] == "exited" and end["exit_code"] == 0
        assert log_bytes(tmp_path, t["id"]) == b"first\n\xff\x00last\n"


async def test_input_to_a_remote_task_without_stdin_is_refused_while_it_waits(node_b: Cluster, tmp_path: Path) -> None:
    async with daemon(tmp_path, node_b.address) as ex:
        holder = await ex.task_run(["sleep", "300"], placement=ON_B)
        await until(lambda: ex.task_info(holder["id"])["state"] == "running", what="the holder running")
        t = await ex.task_run(["cat"], placement=ON_B)
        with pytest.raises(InvalidTransitionError, match="stdin=true"):
            ex.task_input(t["id"], data="x")
