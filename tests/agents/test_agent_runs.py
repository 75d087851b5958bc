"""Agent runs over the wire: fake CLIs in the exact formats of spec/agent-clis.md, normalized events, results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executive.api.client import Client, RpcError


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


async def test_claude_run_streams_normalized_events_and_edits_files(
    client: Client, agents, fake_bin, repo: Path, tmp_path: Path
) -> None:
    argv_file = tmp_path / "argv.jsonl"
    edits = [
        {"path": "calc.py", "find": "a + b", "replace": "a + b  # checked"},
        {"path": "new.txt", "content": "hi\n"},
    ]
    task, events = await agents.run(
        client,
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="-make a change",
        model="opus",
        max_turns=5,
        env={"FAKE_EDITS": json.dumps(edits), "FAKE_ARGV_FILE": str(argv_file)},
    )
    assert task["kind"] == "agent" and task["meta"]["agent"] == "claude"
    t = types(events)
    assert t[0] == "agent.session" and t[-1] == "agent.result" and t.count("agent.result") == 1
    assert "agent.tool_call" in t and "agent.tool_result" in t
    msgs = [e["data"] for e in events if e["type"] == "agent.message"]
    assert {"role": "reasoning", "text": "Let me look at the code.", "truncated": False} in msgs
    calls = [e["data"] for e in events if e["type"] == "agent.tool_call"]
    assert calls[0] == {"id": "toolu_0", "name": "Write", "input": {"file_path": "calc.py"}, "truncated": False}
    res = events[-1]["data"]
    assert res["ok"] is True and res["errors"] == []
    assert res["text"] == "Done: 2 edit(s)." and res["cost_usd"] == 0.0123 and res["turns"] == 4
    assert res["tokens"] == {"input": 120, "output": 55, "cache_read": 400, "cache_write": 30}
    assert res["session_id"] == events[0]["data"]["session_id"]
    assert sorted(res["files_changed"]) == ["calc.py", "new.txt"]
    # The argv the adapter built: print mode, stream-json + --verbose, `=` forms, `--` before a dash-leading prompt.
    argv = json.loads(argv_file.read_text().splitlines()[0])
    assert argv[:4] == ["-p", "--output-format", "stream-json", "--verbose"]
    assert "--model=opus" in argv and argv[-2:] == ["--", "-make a change"]
    # The run is stored with the diff it left; the files really changed.
    assert "# checked" in (repo / "calc.py").read_text()
    d = await client.call("agent.diff", task=task["id"])
    assert "+new file" not in d["diff"] and "new file mode" in d["diff"] and "+hi" in d["diff"]
    waited = await client.call("agent.wait", task=task["id"], timeout=10)
    assert waited["result"]["ok"] is True and waited["run"]["state"] == "done" and waited["task"]["state"] == "ended"


@pytest.mark.parametrize(
    "scenario, errors, exit_code",
    [
        ("is_error", ["is_error"], 0),  # API error: subtype success, is_error true, exit 0
        ("rate_limit", ["is_error", "rate_limited"], 0),
        ("max_turns", ["exit_code_1", "is_error", "error_max_turns"], 1),
        ("denied", ["permission_denied"], 0),  # a denied tool still says success and exits 0
        ("cut", ["no_result", "stream_cut"], 0),
    ],
)
async def test_claude_failures_are_not_success_even_with_exit_0(
    client: Client, agents, fake_bin, repo: Path, scenario: str, errors: list[str], exit_code: int
) -> None:
    _, events = await agents.run(
        client, agent="claude", bin=fake_bin["claude"], cwd=str(repo), prompt="go", env={"FAKE_SCENARIO": scenario}
    )
    res = events[-1]["data"]
    assert res["ok"] is False
    assert res["errors"] == errors
    assert res["exit_code"] == exit_code
    if scenario == "rate_limit":
        w = [e["data"] for e in events if e["type"] == "agent.warning"]
        assert w[0]["reason"] == "rate_limit" and w[0]["detail"]["status"] == "rejected"
    if scenario == "denied":
        assert res["permission_denials"] == [{"tool_name": "Bash", "tool_use_id": "toolu_9"}]
        assert any(e["type"] == "agent.tool_result" and e["data"]["is_error"] for e in events)
    if scenario == "cut":
        assert [e["data"]["reason"] for e in events if e["type"] == "agent.warning"] == ["stream_cut"]


async def test_claude_line_over_1mib_is_parsed_not_fatal(client: Client, agents, fake_bin, repo: Path) -> None:
    size = 1_600_000
    task, events = await agents.run(
        client,
        agent="claude",
        bin=fake_bin["claude"],
        cwd=str(repo),
        prompt="go",
        env={"FAKE_SCENARIO": "huge", "FAKE_HUGE_BYTES": str(size)},
    )
    res = events[-1]["data"]
    assert res["ok"] is True and res["text"] == "done after a long line"
    long_msg = next(e["data"] for e in events if e["type"] == "agent.message")
    # The event text is clipped to the event limit, the line itself was parsed whole.
    assert long_msg["truncated"] is True and set(long_msg["text"]) == {"x"}
    info = await client.call("task.info", task=task["id"])
    assert info["output_bytes"]["stdout"] > size


async def test_codex_events_and_result(client: Client, agents, fake_bin, repo: Path, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv.jsonl"
    _, events = await agents.run(
        client,
        agent="codex",
        bin=fake_bin["codex"],
        cwd=str(repo),
        prompt="list files",
        sandbox="workspace-write",
        resume="0199a213-81c0-7800-8aa1-bbab2a035a53",
        env={"FAKE_ARGV_FILE": str(argv_file)},
    )
    t = types(events)
    assert t == [
        "agent.session",
        "agent.tool_call",
        "agent.tool_result",
        "agent.message",
        "agent.message",
        "agent.result",
    ]
    assert events[0]["data"]["session_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert events[1]["data"]["input"] == {"command": "bash -lc ls"}
    assert "calc.py" in events[2]["data"]["output"] and events[2]["data"]["exit_code"] == 0
    assert events[3]["data"]["role"] == "reasoning"
    res = events[-1]["data"]
    assert res["ok"] is True and res["cost_usd"] is None and res["turns"] == 1
    assert res["tokens"]["input"] == 24763 and res["tokens"]["cache_read"] == 24448 and res["tokens"]["output"] == 122
    assert res["resumed_from"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    argv = json.loads(argv_file.read_text())
    assert argv[:3] == ["exec", "--json", "--skip-git-repo-check"] and "--sandbox=workspace-write" in argv
    assert argv[-4:] == ["resume", "0199a213-81c0-7800-8aa1-bbab2a035a53", "--", "list files"]


@pytest.mark.parametrize(
    "scenario, errors",
    [
        ("turn_failed", ["turn_failed"]),
        ("rate_limit", ["exit_code_1", "error", "turn_failed", "rate_limited"]),
        ("cut", ["no_turn_completed", "stream_cut"]),
    ],
)
async def test_codex_failures(client: Client, agents, fake_bin, repo: Path, scenario: str, errors: list[str]) -> None:
    _, events = await agents.run(
        client, agent="codex", bin=fake_bin["codex"], cwd=str(repo), prompt="x", env={"FAKE_SCENARIO": scenario}
    )
    assert events[-1]["data"]["ok"] is False and events[-1]["data"]["errors"] == errors


async def test_aider_result_is_read_from_git(client: Client, agents, fake_bin, repo: Path) -> None:
    edits = [{"path": "calc.py", "find": "a + b", "replace": "b + a"}]
    (repo / "dirty.txt").write_text("was here before the run\n")  # pre-existing changes are not the agent's
    _, events = await agents.run(
        client,
        agent="aider",
        bin=fake_bin["aider"],
        cwd=str(repo),
        prompt="swap",
        files=["calc.py"],
        model="gpt-4o",
        env={"FAKE_EDITS": json.dumps(edits)},
    )
    res = events[-1]["data"]
    assert res["ok"] is True and res["files_changed"] == ["calc.py"], res
    assert res["cost_usd"] == 0.0071 and res["tokens"]["input"] == 2300 and res["tokens"]["output"] == 150
    assert res["edits_applied"] == ["calc.py"] and res["model"] == "gpt-4o"
    assert events[0]["type"] == "agent.session" and events[0]["data"]["model"] == "gpt-4o"
    texts = [e["data"]["text"] for e in events if e["type"] == "agent.message"]
    assert "I will make the requested change.\nIt is small." in texts and texts[-1] == "Bye"
    # Nothing was committed by aider (--no-auto-commits).
    assert agents.git(repo, "log", "--oneline").count("\n") == 1


async def test_aider_without_changes_fails(client: Client, agents, fake_bin, repo: Path) -> None:
    _, events = await agents.run(client, agent="aider", bin=fake_bin["aider"], cwd=str(repo), prompt="explain")
    assert events[-1]["data"]["ok"] is False and events[-1]["data"]["errors"] == ["no_changes"]
    _, events = await agents.run(
        client, agent="aider", bin=fake_bin["aider"], cwd=str(repo), prompt="x", env={"FAKE_SCENARIO": "rate_limit"}
    )
    assert events[-1]["data"]["errors"] == ["rate_limited", "no_changes"]


async def test_command_adapter(client: Client, agents, fake_bin, repo: Path) -> None:
    _, events = await agents.run(
        client,
        agent="command",
        bin=fake_bin["fake-command"],
        cwd=str(repo),
        prompt="do {it}",
        args=["--x={prompt}"] if False else [],
        env={"FAKE_EDITS": json.dumps([{"path": "a.txt", "content": "A"}])},
    )
    t = types(events)
    assert t == ["agent.message", "agent.tool_call", "agent.tool_result", "agent.message", "agent.result"]
    assert events[0]["data"]["text"] == "thinking about: do {it}"
    assert events[3]["data"]["text"] == "env prompt matches: True"
    assert events[-1]["data"]["ok"] is True and events[-1]["data"]["files_changed"] == ["a.txt"]
    _, events = await agents.run(
        client, agent="command", bin=fake_bin["fake-command"], cwd=str(repo), prompt="p", args=["--fail"]
    )
    assert events[-1]["data"]["ok"] is False and events[-1]["data"]["errors"] == ["gave_up"]


async def test_bad_requests_are_refused_with_clear_errors(client: Client, fake_bin, repo: Path) -> None:
    with pytest.raises(RpcError) as e:
        await client.call("agent.run", agent="codex", bin=fake_bin["codex"], cwd=str(repo), prompt="x", max_turns=3)
    assert "does not support max_turns" in e.value.message
    with pytest.raises(RpcError) as e:
        await client.call(
            "agent.run", agent="claude", bin=fake_bin["claude"], cwd=str(repo), prompt="x", resume="--dangerous"
        )
    assert "not a plain id" in e.value.message
    with pytest.raises(RpcError) as e:
        await client.call("agent.run", agent="claude", bin=str(repo / "nope"), cwd=str(repo), prompt="x")
    assert e.value.code == 1201 and "not found" in e.value.message
    with pytest.raises(RpcError) as e:
        await client.call("agent.run", agent="command", cwd=str(repo), prompt="x")
    assert "--bin" in e.value.message
    with pytest.raises(RpcError) as e:
        await client.call("agent.wait", task=99999)
    assert e.value.code == 1202


async def test_check_reports_usable_adapters_and_why_not(client: Client, fake_bin, tmp_path: Path) -> None:
    rows = await client.call("agent.check", agent="claude", bin=fake_bin["claude"])
    assert rows[0]["binary"] and rows[0]["version"] == "2.1.197" and rows[0]["version_status"] == "tested"
    assert rows[0]["capabilities"]["resume"] is True and rows[0]["capabilities"]["cost"] is True
    rows = await client.call("agent.check", agent="codex", bin=str(tmp_path / "missing"))
    assert rows[0]["usable"] is False and "not found" in rows[0]["problems"][0]
    rows = await client.call("agent.check")
    assert [r["agent"] for r in rows] == ["claude", "codex", "aider", "command"]
    assert "--bin" in rows[3]["problems"][0]


async def test_a_parser_failure_still_ends_the_run_with_a_failed_result(
    client: Client, agents, repo: Path, tmp_path: Path
) -> None:
    # A "claude" whose result line has a token count the parser cannot read: the run must still end with
    # one failed agent.result (a client waiting for it must not hang) and its row must not stay "running".
    script = tmp_path / "odd_claude.sh"
    script.write_text(
        "#!/bin/sh\n"
        'echo \'{"type":"system","subtype":"init","session_id":"s1","tools":[]}\'\n'
        'echo \'{"type":"result","subtype":"success","is_error":false,"result":"hi",'
        '"usage":{"input_tokens":"many"}}\'\n'
    )
    script.chmod(0o755)
    task = await client.call("agent.run", agent="claude", bin=str(script), cwd=str(repo), prompt="x")
    done = await client.call("agent.wait", task=task["id"], timeout=30)
    assert done["timed_out"] is False
    assert done["result"] is not None and done["result"]["ok"] is False
    assert "internal_error" in done["result"]["errors"]
    assert done["run"]["state"] == "done" and done["run"]["ok"] is False
    replayed = await client.call("agent.runs")
    assert [r["state"] for r in replayed if r["task_id"] == task["id"]] == ["done"]
