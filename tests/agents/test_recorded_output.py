"""The adapters on output recorded from the real CLIs (the fakes replay it): retries, refusals, truthful results.

tests/agents_real runs the real programs; these replay their exact lines in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from executive.api.client import Client, RpcError

FIX = json.dumps([{"path": "calc.py", "find": "a + b", "replace": "b + a  # swapped"}])


def retries(events: list[dict]) -> list[tuple]:
    return [
        (e["data"]["attempt"], e["data"]["limit"], e["data"]["status"], e["data"]["delay_s"])
        for e in events
        if e["type"] == "agent.warning" and e["data"]["reason"] == "retry"
    ]


async def test_claude_api_retries_are_live_warnings_and_a_401_fails_in_claudes_words(
    client: Client, agents, fake_bin, repo: Path
) -> None:
    _, events = await agents.run(
        client, agent="claude", bin=fake_bin["claude"], cwd=str(repo), prompt="x", env={"FAKE_SCENARIO": "auth_401"}
    )
    assert retries(events) == [(1, 2, 401, 0.577), (2, 2, 401, 1.161)]
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"] == ["exit_code_1", "is_error"] and r["api_error_status"] == 401
    assert r["error"] == "Invalid API key · Fix external API key"
    _, events = await agents.run(
        client, agent="claude", bin=fake_bin["claude"], cwd=str(repo), prompt="x", env={"FAKE_SCENARIO": "retry_ok"}
    )
    assert retries(events) == [(1, 2, 500, 0.508)] and events[-1]["data"]["ok"] is True


async def test_codex_recovered_reconnect_is_not_a_failure(client: Client, agents, fake_bin, repo: Path) -> None:
    _, events = await agents.run(
        client,
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="x",
        permissions="edit",
        env={"FAKE_SCENARIO": "reconnect_ok", "FAKE_EDITS": FIX},
    )
    r = events[-1]["data"]
    assert r["ok"] is True and r["errors"] == [] and r["files_changed"] == ["calc.py"], r
    assert retries(events) == [(1, 2, None, None)]
    call = next(e for e in events if e["type"] == "agent.tool_call")  # from item.started, before the change lands
    assert call["data"]["name"] == "file_change" and call["data"]["input"]["changes"][0]["kind"] == "update"


async def test_codex_401_unreadable_sandbox_and_item_errors(client: Client, agents, fake_bin, repo: Path) -> None:
    _, events = await agents.run(
        client, agent="codex", bin=fake_bin["codex"], cwd=str(repo), prompt="x", env={"FAKE_SCENARIO": "auth_401"}
    )
    r = events[-1]["data"]
    assert retries(events) == [(1, 2, 401, None), (2, 2, 401, None)]
    assert r["ok"] is False and r["errors"] == ["exit_code_1", "error", "turn_failed"]
    assert r["error"].startswith("unexpected status 401 Unauthorized: invalid x-api-key")
    _, events = await agents.run(
        client,
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="x",
        permissions="read-only",
        env={"FAKE_SCENARIO": "readonly"},
    )
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"] == ["permission_denied"], r
    assert r["error"] == "patch rejected: writing is blocked by read-only sandbox; rejected by user approval settings"
    _, events = await agents.run(
        client,
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="x",
        permissions="edit",
        env={"FAKE_SCENARIO": "model_metadata", "FAKE_EDITS": FIX},
    )
    warn = [e["data"] for e in events if e["type"] == "agent.warning"]
    assert (
        events[-1]["data"]["ok"] is True and warn[0]["reason"] == "item_error" and "Model metadata" in warn[0]["detail"]
    )


async def test_a_cli_that_only_reconnects_ends_as_idle_timeout(client: Client, agents, fake_bin, repo: Path) -> None:
    task, events = await agents.run(
        client,
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="x",
        idle_timeout=1.5,
        env={"FAKE_SCENARIO": "unreachable", "FAKE_RECONNECT_S": "0.2"},
    )
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"][0] == "idle_timeout" and r["end_reason"] == "idle_timeout", r
    assert r["idle_detail"].startswith("no progress for 1.5s; last error: waiting for network")
    assert len(retries(events)) >= 2  # output kept coming: only the lack of progress ended it
    assert (await client.call("task.info", task=task["id"]))["end_reason"] == "idle_timeout"
    replay = await client.call("agent.replay", task=task["id"])
    assert replay["events"][-1]["data"]["errors"] == r["errors"]


@pytest.mark.parametrize(
    "scenario, words, n_retries",
    [
        (
            "server_error",
            "litellm.InternalServerError: InternalServerError: OpenAIException - Internal server error",
            8,
        ),
        ("unreachable", "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.", 8),
        ("auth_401", "litellm.AuthenticationError: AuthenticationError: OpenAIException - invalid x-api-key", 0),
    ],
)
async def test_aider_model_errors_are_failures_although_it_exits_0(
    client: Client, agents, fake_bin, repo: Path, scenario: str, words: str, n_retries: int
) -> None:
    _, events = await agents.run(
        client,
        agent="aider",
        bin=fake_bin["aider"],
        cwd=str(repo),
        prompt="x",
        files=["calc.py"],
        env={"FAKE_SCENARIO": scenario},
    )
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"] == ["error", "no_changes"] and r["error"] == words, r
    assert r["files_changed"] == [] and not (repo / ".gitignore").exists()  # --no-gitignore
    got = retries(events)
    assert len(got) == n_retries and [d for *_, d in got] == [0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0][:n_retries]
    assert all(status == {"server_error": 500, "auth_401": 401}.get(scenario) for _, _, status, _ in got)
    texts = " ".join(e["data"]["text"] for e in events if e["type"] == "agent.message")
    assert "Analytics" not in texts and "HTTPSConnectionPool" not in texts and "litellm" not in texts


async def test_aider_recovered_request_is_ok_and_the_session_names_the_model(
    client: Client, agents, fake_bin, repo: Path
) -> None:
    _, events = await agents.run(
        client,
        agent="aider",
        bin=fake_bin["aider"],
        cwd=str(repo),
        prompt="x",
        files=["calc.py"],
        model="openai/test-model",
        env={"FAKE_SCENARIO": "recovered", "FAKE_EDITS": FIX},
    )
    r = events[-1]["data"]
    assert r["ok"] is True and r["errors"] == [] and r["files_changed"] == ["calc.py"], r
    assert retries(events) == [(1, None, 500, 0.2)]
    assert events[0]["type"] == "agent.session" and events[0]["data"]["model"] == "openai/test-model"


async def test_permissions_map_per_cli_and_bad_values_name_the_cli(
    client: Client, agents, fake_bin, repo: Path, tmp_path: Path
) -> None:
    argv_file = tmp_path / "argv.jsonl"
    env = {"FAKE_ARGV_FILE": str(argv_file)}
    for agent in ("claude", "codex", "aider"):
        await agents.run(
            client, agent=agent, bin=fake_bin[agent], cwd=str(repo), prompt="p", permissions="read-only", env=env
        )
    claude, codex, aider = (json.loads(line) for line in argv_file.read_text().splitlines())
    assert "--permission-mode=plan" in claude and "--sandbox=read-only" in codex and "--dry-run" in aider
    assert "--no-gitignore" in aider
    with pytest.raises(RpcError) as exc:
        await client.call(
            "agent.run", agent="codex", bin=fake_bin["codex"], cwd=str(repo), prompt="p", permissions="all"
        )
    assert "unknown permissions 'all' for codex" in exc.value.message and "read-only, edit, full" in exc.value.message
    with pytest.raises(RpcError) as exc:
        await client.call(
            "agent.run",
            agent="claude",
            bin=fake_bin["claude"],
            cwd=str(repo),
            prompt="p",
            permissions="edit",
            permission_mode="plan",
        )
    assert "give one of them" in exc.value.message
    with pytest.raises(RpcError) as exc:
        await client.call("agent.run", agent="claude", bin=fake_bin["claude"], cwd=str(repo), prompt="x" * 200_000)
    assert "prompt for claude" in exc.value.message and "argv" in exc.value.message
    with pytest.raises(RpcError) as exc:
        await client.call(
            "agent.fix", cwd=str(repo), test_cmd="false", agent="aider", bin=fake_bin["aider"], permissions="root"
        )
    assert "unknown permissions 'root' for aider" in exc.value.message
    assert (await client.call("agent.fix_stats"))["runs"] == 0  # refused before any state changed


async def test_garbage_output_is_a_failed_result(client: Client, agents, repo: Path, tmp_path: Path) -> None:
    exe = tmp_path / "claude"
    exe.write_text("#!/bin/sh\necho 'this is not JSON'\necho '<html>502 Bad Gateway</html>'\n")
    exe.chmod(0o755)
    _, events = await agents.run(client, agent="claude", bin=str(exe), cwd=str(repo), prompt="x")
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"] == ["no_result"]
    assert [e["data"]["reason"] for e in events if e["type"] == "agent.warning"] == ["non_json", "non_json"]


async def test_check_flags_a_cli_older_than_tested(client: Client, tmp_path: Path) -> None:
    exe = tmp_path / "codex"
    exe.write_text("#!/bin/sh\necho 'codex-cli 0.46.0'\n")
    exe.chmod(0o755)
    row = (await client.call("agent.check", agent="codex", bin=str(exe)))[0]
    assert row["version_status"] == "older" and row["tested_range"] == "0.171.0"
    assert any("older than the oldest tested version 0.171.0" in p and "make agents" in p for p in row["problems"])


async def test_agent_check_table_fits_80_columns(daemon, agents, fake_bin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.path.dirname(fake_bin["claude"]) + ":" + os.environ["PATH"])  # the daemon's PATH
    code, out, _ = await agents.cli(daemon.home, "agent", "check", env={"COLUMNS": "80"})
    lines = out.splitlines()
    assert code == 0 and max(len(line) for line in lines) <= 80 and len(lines) <= 12, out
    assert re.search(r"claude\s+(yes|no)\s+2\.1\.197\s+yes \(2\.1\.0-2\.1\.197\)", out), out


async def test_agent_run_shows_retries_live_and_the_error(daemon, agents, fake_bin, repo: Path) -> None:
    code, out, err = await agents.cli(
        daemon.home,
        "agent",
        "run",
        "--agent",
        "claude",
        "--bin",
        fake_bin["claude"],
        "--cwd",
        str(repo),
        "--env",
        "FAKE_SCENARIO=auth_401",
        "x",
    )
    assert code == 1 and "↻ retry 1/2, HTTP 401, next in 0.577s: authentication_failed (HTTP 401)" in err
    assert "✗ failed: exit_code_1, is_error" in out and "Invalid API key · Fix external API key" in out


async def test_a_cli_that_refuses_to_start_fails_with_its_stderr_words(
    client: Client, agents, repo: Path, tmp_path: Path
) -> None:
    exe = tmp_path / "claude"  # what Claude Code 2.1.197 prints for bypassPermissions as root
    exe.write_text(
        "#!/bin/sh\necho '--dangerously-skip-permissions cannot be used with root/sudo privileges "
        "for security reasons' >&2\nexit 1\n"
    )
    exe.chmod(0o755)
    _, events = await agents.run(client, agent="claude", bin=str(exe), cwd=str(repo), prompt="x", permissions="full")
    r = events[-1]["data"]
    assert r["ok"] is False and r["errors"] == ["exit_code_1", "no_result"]
    assert r["error"] == "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"


async def test_paused_time_is_not_silence(client: Client, fake_bin, repo: Path, tmp_path: Path) -> None:
    task = await client.call(
        "agent.run",
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="x",
        idle_timeout=1.0,
        env={"FAKE_SCENARIO": "sleep", "FAKE_PID_FILE": str(tmp_path / "pids.json")},
    )
    tid = task["id"]
    for _ in range(200):
        if (tmp_path / "pids.json").exists() and (await client.call("task.info", task=tid))["state"] == "running":
            break
        await asyncio.sleep(0.02)
    await client.call("task.pause", task=tid)
    await asyncio.sleep(2.5)  # paused longer than the idle timeout
    assert (await client.call("task.info", task=tid))["state"] == "paused"
    await client.call("task.resume", task=tid)
    out = await client.call("agent.wait", task=tid, timeout=30)
    assert out["result"]["errors"][0] == "idle_timeout" and out["task"]["end_reason"] == "idle_timeout"
