"""Claude Code 2.1.197, the real CLI, through `executive agent run` against the scripted model server."""

from __future__ import annotations

import socket
from pathlib import Path

import model_server as ms
from realcli import agent_run


def _result(events: list[dict]) -> dict:
    assert events and events[-1]["type"] == "agent.result", [e["type"] for e in events]
    return events[-1]["data"]


def _retries(events: list[dict]) -> list[dict]:
    return [e["data"] for e in events if e["type"] == "agent.warning" and e["data"]["reason"] == "retry"]


FIX = [ms.read("hello.py"), ms.edit("hello.py", "print('helo')\n", "print('hello')\n"), ms.text("Fixed the typo.")]


async def test_an_edit_succeeds_and_is_the_run_diff(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(FIX), cwd=repo)
    code, events, err = await agent_run(daemon.home, "claude", repo, srv.url, "fix the typo", "--permissions", "edit")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [], (r, err)
    assert r["files_changed"] == ["hello.py"] and r["text"] == "Fixed the typo." and r["turns"] == 3
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    calls = [e["data"]["name"] for e in events if e["type"] == "agent.tool_call"]
    assert calls == ["Read", "Edit"]
    session = next(e["data"] for e in events if e["type"] == "agent.session")
    assert session["permission_mode"] == "acceptEdits" and session["model"]


async def test_no_edit_is_ok_and_changes_nothing(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([ms.text("Nothing needs changing.")]), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "look only")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["files_changed"] == [] and r["text"] == "Nothing needs changing."


async def test_read_only_permissions_deny_the_edit(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(FIX), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it", "--permissions", "read-only")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "permission_denied" in r["errors"], r
    assert r["permission_denials"] and r["permission_denials"][0]["tool_name"] == "Edit"
    assert (repo / "hello.py").read_text() == "print('helo')\n"


async def test_max_turns_ends_the_run_as_failed(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(FIX), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it", "--max-turns", "1")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "error_max_turns" in r["errors"], r


async def test_a_persisting_401_fails_with_the_retries_shown(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.status(401)), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "is_error" in r["errors"], r
    retries = _retries(events)
    assert [(x["attempt"], x["limit"], x["status"]) for x in retries] == [(1, 2, 401), (2, 2, 401)]
    assert all(x["delay_s"] > 0 and "authentication_failed" in x["detail"] for x in retries)
    assert r["api_error_status"] == 401 and "Invalid API key" in r["error"], r  # Claude's own words


async def test_transient_500s_recover_and_are_not_failures(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([ms.status(500), *FIX]), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it", "--permissions", "edit")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [] and r["files_changed"] == ["hello.py"], r
    assert [(x["attempt"], x["status"]) for x in _retries(events)] == [(1, 500)]


async def test_a_persisting_500_fails(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.status(500)), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and len(_retries(events)) == 2 and "500" in r["error"], r


async def test_an_unreachable_endpoint_fails(daemon, repo: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, events, _ = await agent_run(daemon.home, "claude", repo, dead, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and r["error"], r
    assert _retries(events), "connection failures are retried and shown"


async def test_long_silence_ends_as_idle_timeout(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.hang()), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it", "--idle-timeout", "3")
    r = _result(events)
    assert code == 1 and r["ok"] is False and r["errors"][0] == "idle_timeout" and r["end_reason"] == "idle_timeout"
    assert "no progress for 3s" in r["idle_detail"]


async def test_a_malformed_stream_is_a_failure_not_a_hang(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.malformed()), cwd=repo)
    code, events, _ = await agent_run(daemon.home, "claude", repo, srv.url, "fix it", "--idle-timeout", "20")
    r = _result(events)
    assert code == 1 and r["ok"] is False, r
