"""Chaos: kill -9 a real daemon at random moments under a mixed workload, restart it, check what survived.

Each round starts process tasks that write known bytes, a small pipeline and HSX programs
(examples/*.mvasm assembled with ``executive hsx asm``), waits a random moment, SIGKILLs the
daemon and starts it again.  After every restart:

* ``PRAGMA integrity_check`` of executive.db is ``ok``;
* no process of the workload runs untracked: each one carrying the round's marker variable is
  gone or belongs to a task the daemon still reports live;
* every pipeline step that a status read before the kill showed finished is still finished, with
  the same status;
* every task log is a prefix of what its process wrote (the whole of it when the task ended
  normally before the kill), byte for byte.

Bounded: ROUNDS rounds, each a kill delay of at most MAX_DELAY_S.  The seed is printed and is in
every failure message; ``CHAOS_SEED=N`` replays a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from executive.api.client import Client

ROUNDS = 5
MAX_DELAY_S = 1.5
MARKER = "EXECUTIVE_CHAOS_ROUND"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PIPELINE = """\
name: chaos
phases:
  - name: build
    steps:
      - {name: a, command: [sh, -c, "sleep 0.2; echo a >> side.txt"], env: {%(marker)s: "%(tag)s"}}
      - {name: b, command: [sh, -c, "sleep 0.3; echo b >> side.txt"], env: {%(marker)s: "%(tag)s"}}
    checks:
      - {name: has_b, kind: command, command: [grep, -q, "^b$", side.txt], owners: [b]}
  - name: ship
    steps:
      - {name: c, command: [sh, -c, "sleep 0.2; echo c >> side.txt"], env: {%(marker)s: "%(tag)s"}}
    checks:
      - {name: has_c, kind: command, command: [grep, -q, "^c$", side.txt], owners: [c]}
"""


def _paced_lines(tag: str, n: int) -> tuple[list[str], bytes]:
    """argv writing ``n`` numbered lines with pauses, and the exact bytes it writes."""
    script = (
        f'i=0; while [ $i -lt {n} ]; do echo "{tag} line $i"; i=$((i+1)); [ $((i % 20)) -eq 0 ] && sleep 0.05; done'
    )
    return ["sh", "-c", script], "".join(f"{tag} line {i}\n" for i in range(n)).encode()


def _bulk(tag: str, n: int) -> tuple[list[str], bytes]:
    """argv writing ``n`` lines as fast as the pipe takes them."""
    return ["sh", "-c", f"yes {tag} | head -n {n}"], f"{tag}\n".encode() * n


def _marked_processes(tag_prefix: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment carries this run's marker."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get(MARKER, "").startswith(tag_prefix) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _finished_steps(status: dict[str, Any]) -> dict[tuple[str, int, str], str]:
    return {
        (ph["name"], it["iteration"], s["step"]): s["status"]
        for ph in status["phases"]
        for it in ph["iterations"]
        for s in it["steps"]
        if s["status"] not in (None, "running", "pending")
    }


async def _close(c: Client) -> None:
    with contextlib.suppress(Exception):
        await c.close()


async def _assemble(tmp: Path) -> list[Path]:
    images = []
    for name in ("hello", "fact"):
        out = tmp / f"{name}.hxe"
        exe = str(Path(sys.executable).with_name("executive"))
        proc = await asyncio.create_subprocess_exec(
            exe,
            "hsx",
            "asm",
            str(EXAMPLES / f"{name}.mvasm"),
            "-o",
            str(out),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        images.append(out)
    return images


async def _read_log(c: Client, task_id: int, e2e: Any) -> bytes:
    return bytes(await e2e.read_log(c, task_id))


async def test_kill9_under_a_mixed_workload(daemon_process: Any, tmp_path: Path, e2e: Any) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    print(f"chaos seed {seed} (replay with CHAOS_SEED={seed})")
    why = f"[chaos seed {seed}]"
    prefix = f"chaos-{seed}-"
    images = await _assemble(tmp_path)
    d = daemon_process()
    d.start()
    c = await d.client()

    # The bytes each VM program writes, from one undisturbed run.
    vm_expected: dict[str, bytes] = {}
    for image in images:
        t = await c.call("vm.load", path=str(image))
        await c.call("task.wait", task=t["pid"], timeout=30)
        vm_expected[str(image)] = await _read_log(c, t["pid"], e2e)

    expected: dict[int, bytes] = {}  # task id -> every byte its process writes
    pipeline_finished: dict[tuple[int, str, int, str], str] = {}
    try:
        for round_no in range(ROUNDS):
            tag = f"{prefix}{round_no}"
            env = {MARKER: tag}
            work = tmp_path / f"work{round_no}"
            work.mkdir()
            (work / "pipeline.yaml").write_text(PIPELINE % {"marker": MARKER, "tag": tag})
            for k in range(3):
                argv, data = (
                    _paced_lines(f"{tag}-{k}", rng.choice([400, 2000, 4000])) if k < 2 else _bulk(f"{tag}-{k}", 100_000)
                )
                task = await c.call("task.run", argv=argv, env=env)
                expected[task["id"]] = data
            run = await c.call("pipeline.run", path=str(work / "pipeline.yaml"), requirement="test")
            for image in images:
                t = await c.call("vm.load", path=str(image))
                vm_expected[f"task:{t['pid']}"] = vm_expected[str(image)]

            await asyncio.sleep(rng.uniform(0.05, MAX_DELAY_S))
            for r in await c.call("pipeline.list"):
                status = await c.call("pipeline.status", run=r["id"])
                for key, value in _finished_steps(status).items():
                    pipeline_finished[(r["id"], *key)] = value
            d.kill9()
            await _close(c)

            d.start()
            c = await d.client()
            assert await asyncio.to_thread(_integrity, d.home / "executive.db") == "ok", why

            with contextlib.suppress(AssertionError):
                await e2e.wait_for(functools.partial(_none_untracked, c, prefix), timeout=10)
            assert await _untracked(c, prefix) == [], (
                f"{why} round {round_no}: processes run untracked after the restart"
            )

            for r in await c.call("pipeline.list"):
                now = _finished_steps(await c.call("pipeline.status", run=r["id"]))
                for (run_id, *key), value in pipeline_finished.items():
                    if run_id == r["id"]:
                        assert now.get(tuple(key)) == value, (
                            f"{why} run {run_id} step {key}: was {value}, now {now.get(tuple(key))}"
                        )

            tasks = {t["id"]: t for t in (await c.call("task.list", after_id=0, limit=1000))["tasks"]}
            for task_id, data in expected.items():
                log = await _read_log(c, task_id, e2e)
                info = tasks[task_id]
                assert data.startswith(log), f"{why} task {task_id}: its log is not a prefix of what it wrote"
                if info["state"] == "ended" and info["exit_code"] == 0:
                    assert log == data, f"{why} task {task_id} exited 0 but its log has {len(log)} of {len(data)} bytes"
            for key, data in vm_expected.items():
                if key.startswith("task:"):
                    log = await _read_log(c, int(key[5:]), e2e)
                    assert data.startswith(log), f"{why} VM {key}: its log is not a prefix of the program's output"
            cut = sum(1 for t in expected if tasks[t]["end_reason"] != "exited")
            print(f"round {round_no}: {cut} of {len(expected)} process tasks cut by a kill", end=", ")
            print(f"{len(pipeline_finished)} pipeline steps finished")
            if run["id"] in {r["id"] for r in await c.call("pipeline.list", state="interrupted")}:
                await c.call("pipeline.resume", run=run["id"])  # the next round kills it again, mid-resume
    finally:
        await _close(c)
        for proc in _marked_processes(prefix):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


async def _untracked(c: Client, prefix: str) -> list[str]:
    """Marked processes that are neither a live task's process nor one of its descendants."""
    live = {
        t["pid"]
        for t in (await c.call("task.list", after_id=0, limit=1000))["tasks"]
        if t["state"] != "ended" and t["pid"]
    }
    stray = []
    for proc in _marked_processes(prefix):
        with contextlib.suppress(psutil.NoSuchProcess):
            if not {proc.pid, *(p.pid for p in proc.parents())} & live:
                stray.append(f"{proc.pid} {proc.cmdline()}")
    return stray


async def _none_untracked(c: Client, prefix: str) -> bool:
    return not await _untracked(c, prefix)


pytestmark = pytest.mark.timeout(240)
