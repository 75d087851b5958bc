"""Supervised process control through the wire: pause, resume, cancel, kill, timeouts, quota.

Real process trees, observed from outside with psutil: a paused tree is in
state T, a cancelled tree is gone (a zombie counts as gone — PID 1 in this
sandbox may not reap orphans), including a grandchild that called setsid().
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from executive.api.client import Client
from executive.kernel.limits import DEFAULT_LIMITS, Limits

PY = sys.executable
# A counter, one line every 10 ms, flushed: the output shows exactly where the process was.
COUNTER = [PY, "-u", "-c", "import time\ni = 0\nwhile True:\n    print(i)\n    i += 1\n    time.sleep(0.01)"]


@pytest.fixture
def limits() -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, kill_grace_s=1.0)


def _stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return False


async def _size(client: Client, tid: int) -> int:
    return (await client.call("task.info", task=tid))["output_bytes"]["stdout"]


async def test_pause_stops_output_and_resume_continues_it(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["output", "task_state"])
    t = await client.call("task.run", argv=COUNTER)
    tid = t["id"]
    await e2e.wait_for(lambda: _size(client, tid), timeout=20)  # it is producing

    paused = await client.call("task.pause", task=tid)
    assert paused["state"] == "paused" and paused["pause_reason"] == "user"
    await e2e.wait_for(lambda: _stopped(t["pid"]), timeout=10)  # SIGSTOP reached the process (it lands asynchronously)
    # Bytes already in the pipe may still arrive; wait until the log stops growing, then watch a window.
    last = -1
    while (size := await _size(client, tid)) != last:
        last = size
        await asyncio.sleep(0.2)
    client.take_events()
    await asyncio.sleep(1.0)  # the observation window
    assert await _size(client, tid) == last
    assert [e for e in client.take_events() if e["type"] == "output"] == []
    assert (await client.call("task.info", task=tid))["state"] == "paused"

    resumed = await client.call("task.resume", task=tid)
    assert resumed["state"] == "running"
    await e2e.wait_for(lambda: not _stopped(t["pid"]), timeout=10)
    await e2e.wait_for(lambda: _grew(client, tid, last), timeout=20)
    await client.call("task.cancel", task=tid)
    await e2e.until_ended(client, tid)

    log = await e2e.read_log(client, tid)
    numbers = [int(x) for x in log.decode().split()]
    assert numbers == list(range(len(numbers)))  # no gap, no repeat across the pause
    assert len(log) > last + 20  # and it went on after the resume


async def _grew(client: Client, tid: int, size: int) -> bool:
    return await _size(client, tid) > size + 20


async def test_cancel_a_paused_tree(client: Client, e2e: Any) -> None:
    t = await client.call("task.run", argv=["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    leader = psutil.Process(t["pid"])
    kids = await e2e.wait_for(lambda: len(leader.children()) == 2 and leader.children(), timeout=20)
    await client.call("task.pause", task=t["id"])
    # SIGSTOP lands asynchronously
    await e2e.wait_for(lambda: all(_stopped(p.pid) for p in [leader, *kids]), timeout=10)
    await client.call("task.cancel", task=t["id"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["state"] == "ended" and done["end_reason"] == "cancelled" and done["signal"] == 15
    for p in [leader, *kids]:
        await e2e.wait_for(functools.partial(e2e.gone, p.pid), timeout=10)


@pytest.mark.parametrize("parent_exits", [False, True], ids=["parent-alive", "parent-exited"])
async def test_cancel_kills_a_setsid_grandchild(client: Client, e2e: Any, tmp_path: Path, parent_exits: bool) -> None:
    """The grandchild left the process group and session; with parent-exited it is not even a descendant."""
    pidfile = tmp_path / "grandchild.pid"
    grandchild = f'setsid sh -c "echo \\$\\$ > {pidfile}; exec sleep 1000" >/dev/null 2>&1'
    if parent_exits:
        script = f"( {grandchild} & ); exec sleep 1000"  # the subshell exits at once: the grandchild is orphaned
    else:
        script = f"{grandchild} & wait"
    t = await client.call("task.run", argv=["sh", "-c", script])
    gpid = await e2e.wait_for(lambda: e2e.read_pid_file(pidfile), timeout=20)
    assert not e2e.gone(gpid)
    assert os.getsid(gpid) != os.getsid(t["pid"])  # it left the task's session (and so its group)
    descendants = [c.pid for c in psutil.Process(t["pid"]).children(recursive=True)]
    assert (gpid not in descendants) == parent_exits
    await client.call("task.cancel", task=t["id"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["end_reason"] == "cancelled"
    await e2e.wait_for(lambda: e2e.gone(gpid), timeout=10)
    assert e2e.gone(t["pid"])


async def test_grace_then_sigkill_for_a_tree_that_ignores_sigterm(client: Client) -> None:
    t = await client.call("task.run", argv=["sh", "-c", "trap '' TERM; echo ready; sleep 1000"])
    await client.call("task.cancel", task=t["id"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["end_reason"] == "cancelled" and done["signal"] == 9  # SIGTERM ignored; SIGKILL after the grace


async def test_kill_is_immediate_sigkill(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["task_state"])
    t = await client.call("task.run", argv=["sh", "-c", "trap '' TERM; sleep 1000"])
    await client.call("task.kill", task=t["id"])
    events = await e2e.until_ended(client, t["id"])
    assert [e["data"]["to"] for e in events if e["pid"] == t["id"]][-2:] == ["stopping", "ended"]
    end = events[-1]["data"]
    assert end["reason"] == "killed" and end["signal"] == 9 and end["exit_code"] is None


async def test_timeout_ends_the_task_truthfully(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["task_state"])
    t = await client.call("task.run", argv=["sleep", "1000"], timeout=0.5)
    events = await e2e.until_ended(client, t["id"])
    stop = next(e for e in events if e["data"]["to"] == "stopping")
    assert stop["data"]["reason"] == "timed_out"
    end = events[-1]["data"]
    assert end["reason"] == "timed_out" and end["signal"] == 15 and end["exit_code"] is None
    info = await client.call("task.info", task=t["id"])
    assert info["end_reason"] == "timed_out" and info["signal"] == 15


async def test_idle_timeout_ends_a_silent_task(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["task_state"])
    t = await client.call("task.run", argv=["sh", "-c", "echo once; exec sleep 1000"], idle_timeout=0.5)
    events = await e2e.until_ended(client, t["id"])
    end = events[-1]["data"]
    assert end["reason"] == "idle_timeout" and end["signal"] == 15
    assert await e2e.read_log(client, t["id"]) == b"once\n"


async def test_regular_output_keeps_idle_timeout_away(client: Client) -> None:
    # Prints every 50 ms for ~2 s with a 1 s idle timeout: it must run to its own end.
    script = "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.05)"
    t = await client.call("task.run", argv=[PY, "-c", script], idle_timeout=1.0)
    done = await client.call("task.wait", task=t["id"], timeout=30)
    assert done["end_reason"] == "exited" and done["exit_code"] == 0


async def test_paused_time_does_not_count_as_idle(client: Client, e2e: Any) -> None:
    idle = 1.0
    await client.call("events.subscribe", types=["task_state"])
    t = await client.call("task.run", argv=["sh", "-c", "echo once; exec sleep 1000"], idle_timeout=idle)
    await client.call("task.pause", task=t["id"])
    await asyncio.sleep(2.5 * idle)  # well past the idle timeout, paused
    assert (await client.call("task.info", task=t["id"]))["state"] == "paused"
    await client.call("task.resume", task=t["id"])
    events = await e2e.until_ended(client, t["id"], timeout=30)
    resumed = next(e for e in events if e["data"]["to"] == "running" and e["data"]["from"] == "paused")
    stopping = next(e for e in events if e["data"]["to"] == "stopping")
    assert stopping["data"]["reason"] == "idle_timeout"
    # After the resume the task gets a whole idle period again (the daemon's own timestamps).
    assert stopping["ts"] - resumed["ts"] >= idle - 0.05


async def test_quota_pauses_the_producer_and_says_so(client: Client, e2e: Any) -> None:
    quota = 256 * 1024
    await client.call("events.subscribe", types=["quota", "task_state"])
    t = await client.call("task.run", argv=["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' q"], quota=quota)
    q = None
    while q is None:
        ev = await client.next_event(timeout=20)
        if ev["type"] == "quota":
            q = ev
    assert q["pid"] == t["id"] and q["data"]["quota"] == quota and q["data"]["used"] >= quota
    info = await client.call("task.info", task=t["id"])
    assert info["state"] == "paused" and info["pause_reason"] == "quota"
    with pytest.raises(Exception) as exc:
        await client.call("task.resume", task=t["id"])
    assert getattr(exc.value, "code", None) == 1050
    await client.call("task.cancel", task=t["id"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["end_reason"] == "cancelled"
    log = await e2e.read_log(client, t["id"])
    assert quota <= len(log) < 5000000 and set(log) == {ord("q")}


async def test_a_background_child_holding_the_pipes_does_not_keep_the_task_alive(client: Client, e2e: Any) -> None:
    """The leader exits; its child still holds stdout. The task ends (after a short linger) with the
    leader's exit code, and the child — part of the task's tree — is killed."""
    t = await client.call("task.run", argv=["sh", "-c", "sleep 1000 & echo $!; exit 4"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["end_reason"] == "exited" and done["exit_code"] == 4
    child = int((await e2e.read_log(client, t["id"])).decode())
    await e2e.wait_for(lambda: e2e.gone(child), timeout=10)


async def test_cancel_during_spawn_sends_sigterm_not_a_late_sigkill(tmp_path: Path) -> None:
    # A cancel that arrives while the process is being spawned found the supervisor registered but
    # with no pid: it signalled nobody, waited out the whole grace, then SIGKILLed (no SIGTERM ever).
    import signal as _signal

    from executive.runtimes.process_os import ProcessOS
    from executive.service import Executive

    gate = asyncio.Event()
    sent: list[int] = []

    class SlowSpawn(ProcessOS):
        async def spawn(self, *a: Any, **kw: Any) -> Any:
            await gate.wait()
            return await super().spawn(*a, **kw)

        def signal_all(self, pids: Any, sig: Any) -> int:
            pids = list(pids)
            if pids:
                sent.append(sig)
            return super().signal_all(pids, sig)

    ex = await Executive.open(
        tmp_path / "home", limits=dataclasses.replace(DEFAULT_LIMITS, kill_grace_s=30.0), os_api=SlowSpawn()
    )
    try:
        run = asyncio.ensure_future(ex.task_run([PY, "-c", "import time; time.sleep(60)"]))
        for _ in range(2000):  # until the spawn is under way (the supervisor exists, the process does not)
            await asyncio.sleep(0.005)  # (the task's row is committed first: a store round trip)
            if ex.processes._live:
                break
        [tid] = list(ex.processes._live)
        assert ex.tasks.get(tid).state.value == "starting"
        ex.task_cancel(tid)
        gate.set()
        await run
        done = await ex.task_wait(tid, timeout=20)  # well inside the 30 s grace: SIGTERM ended it
        assert not done["timed_out"] and done["end_reason"] == "cancelled"
        assert done["signal"] == _signal.SIGTERM and _signal.SIGTERM in sent
    finally:
        await ex.aclose()


async def test_quota_reached_while_stopping_does_not_stop_the_tree(tmp_path: Path) -> None:
    # A task that flushes output on SIGTERM and reaches its quota while being cancelled was
    # SIGSTOPped by the quota pause: it sat out the whole grace and died by SIGKILL.
    from executive.service import Executive

    prog = (
        "import os, signal, sys, time\n"
        "def bye(*_):\n"  # os.write: a SIGTERM that lands inside print('ready') must not re-enter stdout
        "    os.write(1, b'x' * 4096); time.sleep(0.5); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    ex = await Executive.open(tmp_path / "home", limits=dataclasses.replace(DEFAULT_LIMITS, kill_grace_s=30.0))
    try:
        t = await ex.task_run([PY, "-c", prog], quota=1024)
        for _ in range(1000):
            if ex.task_info(t["id"])["output_bytes"]["stdout"]:
                break
            await asyncio.sleep(0.01)
        ex.task_cancel(t["id"])
        done = await ex.task_wait(t["id"], timeout=20)  # well inside the 30 s grace
        assert not done["timed_out"] and done["end_reason"] == "cancelled"
        assert done["exit_code"] == 0 and done["signal"] is None
    finally:
        await ex.aclose()
