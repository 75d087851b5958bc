"""Agent tasks are ordinary tasks: cancel kills the whole tree, pause/resume, worktrees, resume by session id."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import psutil
import pytest

from executive.api.client import Client, RpcError


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_file(path: Path, timeout: float = 20) -> str:
    for _ in range(int(timeout / 0.02)):
        if path.exists() and path.read_text():
            return path.read_text()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


async def test_cancel_kills_the_whole_agent_tree(client: Client, fake_bin, repo: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.json"
    cursor = (await client.call("daemon.health"))["last_seq"]
    task = await client.call(
        "agent.run",
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="work",
        env={"FAKE_SCENARIO": "sleep", "FAKE_PID_FILE": str(pid_file)},
    )
    pids = json.loads(await wait_file(pid_file))
    assert not any(gone(p) for p in pids)
    paused = await client.call("task.pause", task=task["id"])
    assert paused["state"] == "paused"
    for _ in range(500):  # SIGSTOP reaches the whole tree; the kernel reports it a moment later
        if psutil.Process(pids[1]).status() == psutil.STATUS_STOPPED:
            break
        await asyncio.sleep(0.01)
    assert psutil.Process(pids[1]).status() == psutil.STATUS_STOPPED
    assert (await client.call("task.resume", task=task["id"]))["state"] == "running"
    await client.call("task.cancel", task=task["id"])
    done = await client.call("agent.wait", task=task["id"], timeout=30)
    assert done["task"]["end_reason"] == "cancelled"
    assert done["result"]["ok"] is False and done["result"]["errors"][0] == "cancelled"
    for p in pids:  # the CLI, its child and the child that left the process group with setsid()
        for _ in range(200):
            if gone(p):
                break
            await asyncio.sleep(0.02)
        assert gone(p), p
    # Normalized events streamed before the cancel and the result after it.
    await client.call("events.subscribe", tasks=[task["id"]], since_seq=cursor, types=["agent.session", "agent.result"])
    seen = []
    while "agent.result" not in seen:
        seen.append((await client.next_event(timeout=10))["type"])
    assert seen[0] == "agent.session"


async def test_worktree_run_keeps_its_work_on_a_branch_and_prunes(client: Client, agents, fake_bin, repo: Path) -> None:
    (repo / "calc.py").write_text(
        "def add(a, b):\n    return a + b  # dirty\n"
    )  # uncommitted: the mirror must carry it
    edits = json.dumps([{"path": "calc.py", "find": "# dirty", "replace": "# dirty, then agent"}])
    task, events = await agents.run(
        client,
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="edit",
        worktree=True,
        env={"FAKE_EDITS": edits},
    )
    wt = task["worktree"]
    res = events[-1]["data"]
    assert res["ok"] and res["files_changed"] == ["calc.py"] and res["worktree"]["commit"]
    assert Path(wt["path"]).resolve() != repo.resolve()
    assert (repo / "calc.py").read_text().endswith("# dirty\n")  # the real tree is untouched
    assert "then agent" in agents.git(repo, "show", f"{wt['branch']}:calc.py")
    log = agents.git(repo, "log", "--format=%s", wt["branch"]).splitlines()
    assert log[0].startswith("executive: agent run") and log[1].startswith("executive: baseline")
    diff = await client.call("agent.diff", task=task["id"])
    assert "-    return a + b  # dirty" in diff["diff"] and "then agent" in diff["diff"]
    rows = await client.call("agent.worktrees")
    assert [r["id"] for r in rows] == [wt["id"]] and rows[0]["in_use"] is None
    stale = await client.call("agent.worktrees", stale=True)
    assert stale[0]["stale_reason"] == f"task {task['id']} has ended"
    pruned = await client.call("agent.worktree_prune")
    assert [r["id"] for r in pruned] == [wt["id"]] and not Path(wt["path"]).exists()
    assert "then agent" in agents.git(repo, "show", f"{wt['branch']}:calc.py")  # the branch keeps the work
    assert await client.call("agent.worktrees") == []


async def test_worktree_in_use_is_not_removed(client: Client, fake_bin, repo: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.json"
    task = await client.call(
        "agent.run",
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="work",
        worktree=True,
        env={"FAKE_SCENARIO": "sleep", "FAKE_PID_FILE": str(pid_file)},
    )
    await wait_file(pid_file)
    wt = task["worktree"]["id"]
    with pytest.raises(RpcError) as e:
        await client.call("agent.worktree_remove", worktree=wt)
    assert e.value.code == 1206 and f"task {task['id']}" in e.value.message
    assert await client.call("agent.worktree_prune") == []
    await client.call("task.kill", task=task["id"])
    await client.call("agent.wait", task=task["id"], timeout=30)
    removed = await client.call("agent.worktree_remove", worktree=wt)
    assert removed["state"] == "removed" and not Path(removed["path"]).exists()


async def test_resume_passes_the_session_id(client: Client, agents, fake_bin, repo: Path, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv.jsonl"
    _, first = await agents.run(
        client,
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="start",
        env={"FAKE_ARGV_FILE": str(argv_file)},
    )
    sid = first[-1]["data"]["session_id"]
    _, second = await agents.run(
        client,
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="continue",
        resume=sid,
        env={"FAKE_ARGV_FILE": str(argv_file)},
    )
    assert second[-1]["data"]["resumed_from"] == sid and second[0]["data"]["resumed_from"] == sid
    assert f"--resume={sid}" in json.loads(argv_file.read_text().splitlines()[1])
    runs = await client.call("agent.runs")
    assert runs[-1]["resume_id"] == sid and runs[-1]["session_id"] == sid


async def test_agent_not_in_a_repository_has_no_diff(client: Client, agents, fake_bin, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    _, events = await agents.run(client, agent="claude", bin=fake_bin["claude"], cwd=str(plain), prompt="hi")
    assert events[-1]["data"]["ok"] is True and events[-1]["data"]["diff_bytes"] is None
    assert os.listdir(plain) == []
