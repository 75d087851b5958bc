"""Restart policies and task.restart over the wire, with real processes and a real daemon.

Backoff delays are tiny (``backoff_base`` 0.02 s) so a test waits for states, never for time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.limits import DEFAULT_LIMITS

FAST = {"backoff_base": 0.02, "backoff_max": 0.1}


async def _program(client: Client, name: str) -> dict[str, Any]:
    [p] = [p for p in await client.call("programs.list") if p["name"] == name]
    return p


async def _until(client: Client, e2e: Any, name: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        p = await _program(client, name)
        return p if p["state"] == state else None

    return await e2e.wait_for(reached, timeout=timeout, interval=0.05)


async def _program_events(client: Client, name: str, until: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """``program_state`` events of ``name`` up to the first that enters ``until``."""
    seen: list[dict[str, Any]] = []
    while True:
        ev = await client.next_event(timeout=timeout)
        if ev["type"] == "program_state" and ev["data"]["name"] == name:
            seen.append(ev["data"])
            if ev["data"]["to"] == until:
                return seen


async def test_restart_keeps_argv_env_and_cwd_and_links_the_runs(client: Client, e2e: Any, tmp_path: Path) -> None:
    script = 'echo "$GREETING"; pwd; echo "$@"'
    first = await client.call(
        "task.run", argv=["sh", "-c", script, "sh", "a b", "c"], env={"GREETING": "hi there"}, cwd=str(tmp_path)
    )
    await client.call("task.wait", task=first["id"], timeout=30)
    again = await client.call("task.restart", task=first["id"])
    assert again["id"] != first["id"] and again["restart_of"] == first["id"] and again["name"] == first["name"]
    await client.call("task.wait", task=again["id"], timeout=30)
    expected = f"hi there\n{tmp_path}\na b c\n".encode()
    assert await e2e.read_log(client, first["id"]) == expected
    assert await e2e.read_log(client, again["id"]) == expected
    assert (await client.call("task.info", task=again["id"]))["meta"]["restart_of"] == first["id"]
    assert (await client.call("task.info", task=first["id"]))["meta"]["restarted_as"] == again["id"]


async def test_restart_of_a_live_task_cancels_it_first(client: Client) -> None:
    live = await client.call("task.run", argv=["sleep", "1000"], name="sleeper")
    again = await client.call("task.restart", task="sleeper")
    old = await client.call("task.info", task=live["id"])
    assert old["state"] == "ended" and old["end_reason"] == "cancelled"
    assert again["state"] in ("starting", "running") and again["name"] == "sleeper"
    await client.call("task.kill", task=again["id"])
    with pytest.raises(RpcError) as err:
        await client.call("task.restart", task="no-such-task")
    assert err.value.code == 1010


async def test_restart_keeps_the_timeouts_it_was_started_with(client: Client) -> None:
    first = await client.call("task.run", argv=["sleep", "1000"], timeout=0.2)
    assert (await client.call("task.wait", task=first["id"], timeout=30))["end_reason"] == "timed_out"
    again = await client.call("task.restart", task=first["id"])
    assert (await client.call("task.wait", task=again["id"], timeout=30))["end_reason"] == "timed_out"


async def test_on_failure_backs_off_to_fatal_and_says_why(client: Client, e2e: Any) -> None:
    await client.call("events.subscribe", types=["program_state"])
    first = await client.call(
        "task.run", argv=["sh", "-c", "exit 3"], name="crasher", restart="on-failure", max_restarts=2, **FAST
    )
    assert first["program"]["restart"] == "on-failure" and first["meta"]["program_run"] == 1
    events = await _program_events(client, "crasher", "fatal")
    assert [(e["from"], e["to"]) for e in events] == [
        ("stopped", "running"),
        ("running", "backoff"),
        ("backoff", "running"),
        ("running", "backoff"),
        ("backoff", "running"),
        ("running", "fatal"),
    ]
    assert [e["failures"] for e in events if e["to"] == "backoff"] == [1, 2]
    assert all(e["delay_s"] > 0 for e in events if e["to"] == "backoff")
    p = await _program(client, "crasher")
    assert p["state"] == "fatal" and p["runs"] == 3 and p["failures"] == 3
    assert "failed 3 times in a row (last: exited with status 3)" in p["reason"] and "max_restarts=2" in p["reason"]
    runs = [t for t in (await client.call("task.list", after_id=0))["tasks"] if t["name"] == "crasher"]
    assert [t["exit_code"] for t in runs] == [3, 3, 3]
    assert [t["meta"].get("restart_of") for t in runs] == [None, runs[0]["id"], runs[1]["id"]]
    assert "program" not in runs[0] and runs[-1]["program"]["state"] == "fatal"  # the latest run carries it
    # A restart by a client revives a fatal program with a fresh count.
    revived = await client.call("task.restart", task="crasher")
    assert revived["restart_of"] == runs[-1]["id"] and revived["program"]["name"] == "crasher"
    events = await _program_events(client, "crasher", "fatal")
    assert events[0]["to"] == "running" and events[0]["failures"] == 0
    assert [e["failures"] for e in events if e["to"] == "backoff"] == [1, 2]
    assert (await _program(client, "crasher"))["runs"] == 6


async def test_on_failure_recovers_on_success(client: Client, e2e: Any, tmp_path: Path) -> None:
    count = tmp_path / "count"
    script = f'echo x >> {count}; [ "$(wc -l < {count})" -ge 3 ]'  # fails twice, then succeeds
    await client.call("task.run", argv=["sh", "-c", script], name="flaky", restart="on-failure", max_restarts=5, **FAST)
    p = await _until(client, e2e, "flaky", "exited")
    assert p["runs"] == 3 and p["failures"] == 0 and "on-failure" in p["reason"]


async def test_a_success_resets_the_failure_count(client: Client, e2e: Any, tmp_path: Path) -> None:
    count = tmp_path / "count"
    # Runs 1 and 2 fail, run 3 succeeds, every later run fails: with max_restarts=2 the program gives up
    # at run 6; without the reset it would have given up at run 3.
    script = f'echo x >> {count}; [ "$(wc -l < {count})" -eq 3 ]'
    await client.call("task.run", argv=["sh", "-c", script], name="reset", restart="always", max_restarts=2, **FAST)
    p = await _until(client, e2e, "reset", "fatal")
    assert p["runs"] == 6 and p["failures"] == 3


async def test_always_restarts_after_exit_0_until_stopped(client: Client, e2e: Any, tmp_path: Path) -> None:
    count = tmp_path / "count"
    await client.call("task.run", argv=["sh", "-c", f"echo x >> {count}"], name="loop", restart="always", **FAST)
    await e2e.wait_for(lambda: count.exists() and len(count.read_text().splitlines()) >= 3, timeout=30)
    p = await _program(client, "loop")
    assert p["failures"] == 0 and p["runs"] >= 3
    stopped = await client.call("programs.stop", name="loop")
    assert stopped["state"] == "stopped"
    runs = [t for t in (await client.call("task.list", after_id=0))["tasks"] if t["name"] == "loop"]
    assert all(t["state"] == "ended" for t in runs) and all(t["exit_code"] == 0 for t in runs)
    assert (await _program(client, "loop"))["runs"] == len(runs)  # no run was started after the stop


async def test_cancelling_a_run_stops_its_program(client: Client, e2e: Any) -> None:
    run = await client.call("task.run", argv=["sleep", "1000"], name="svc", restart="always", **FAST)
    await client.call("task.cancel", task=run["id"])
    p = await _until(client, e2e, "svc", "stopped")
    assert p["runs"] == 1 and "stopped by a client" in p["reason"]
    started = await client.call("programs.start", name="svc")
    assert started["state"] == "running" and started["runs"] == 2
    await client.call("programs.stop", name="svc")


async def test_bad_restart_requests_change_nothing(client: Client) -> None:
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["true"], max_restarts=3)
    assert err.value.code == -32602 or "restart" in err.value.message
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["true"], restart="always", stdin=True)
    assert "stdin" in err.value.message
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["true"], restart="always", backoff_base=5, backoff_max=1)
    assert "backoff_max" in err.value.message
    with pytest.raises(RpcError):
        await client.call("task.run", argv=["no-such-program-anywhere"], restart="always", name="ghost")
    await client.call("task.run", argv=["sleep", "1000"], name="one", restart="always")
    with pytest.raises(RpcError) as err:
        await client.call("task.run", argv=["sleep", "1000"], name="one", restart="on-failure")
    assert "already exists" in err.value.message
    assert [p["name"] for p in await client.call("programs.list")] == ["one"]
    assert len((await client.call("task.list"))["tasks"]) == 1
    with pytest.raises(RpcError) as err:
        await client.call("programs.stop", name="ghost")
    assert err.value.code == 1081
    await client.call("programs.stop", name="one")


async def test_a_plain_run_with_restart_never_is_a_plain_task(client: Client) -> None:
    row = await client.call("task.run", argv=["true"], restart="never")
    assert "program" not in row and await client.call("programs.list") == []
    await asyncio.wait_for(client.call("task.wait", task=row["id"], timeout=30), 40)


async def test_max_programs_is_a_limit_and_finished_programs_give_way(daemon_factory: Any, e2e: Any) -> None:
    d = await daemon_factory(limits=dataclasses.replace(DEFAULT_LIMITS, max_programs=2))
    client = await d.client()
    try:
        await client.call("task.run", argv=["sleep", "1000"], name="a", restart="always")
        await client.call("task.run", argv=["true"], name="b", restart="on-failure")
        await _until(client, e2e, "b", "exited")
        await client.call("task.run", argv=["sleep", "1000"], name="c", restart="always")  # b gives way
        assert [p["name"] for p in await client.call("programs.list")] == ["a", "c"]
        with pytest.raises(RpcError) as err:
            await client.call("task.run", argv=["sleep", "1000"], name="d", restart="always")
        assert err.value.code == 1030 and "max_programs=2" in err.value.message
        assert [p["name"] for p in await client.call("programs.list")] == ["a", "c"]
        for name in ("a", "c"):
            await client.call("programs.stop", name=name)
    finally:
        await client.close()


async def test_a_reload_that_clashes_with_a_run_program_changes_nothing(client: Client, tmp_path: Path) -> None:
    await client.call("task.run", argv=["sleep", "1000"], name="web", restart="always")
    before = await client.call("programs.list")
    f = tmp_path / "programs.yaml"
    f.write_text("programs:\n  web:\n    argv: [sleep, '1000']\n  api:\n    argv: [sleep, '1000']\n")
    with pytest.raises(RpcError) as err:
        await client.call("programs.reload", path=str(f))
    assert err.value.code == 1080
    assert err.value.data["problems"][0]["path"] == "programs.web"
    assert "run --restart" in err.value.data["problems"][0]["message"]
    assert await client.call("programs.list") == before  # api was not added either
    await client.call("programs.stop", name="web")
    out = await client.call("programs.reload", path=str(f))  # a stopped run program gives way to the file
    assert out["added"] == ["api", "web"] and out["errors"] == []
    assert {p["name"]: p["source"] for p in await client.call("programs.list")} == {"api": "file", "web": "file"}
    for name in ("api", "web"):
        await client.call("programs.stop", name=name)
