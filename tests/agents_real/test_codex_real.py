"""Codex 0.171.0, the real CLI, through `executive agent run` against the scripted model server."""

from __future__ import annotations

import socket
from pathlib import Path

import model_server as ms
from realcli import agent_run

EDIT = [ms.edit("hello.py", "print('helo')\n", "print('hello')\n"), ms.text("Fixed the typo.")]


def _result(events: list[dict]) -> dict:
    assert events and events[-1]["type"] == "agent.result", [e["type"] for e in events]
    return events[-1]["data"]


def _retries(events: list[dict]) -> list[dict]:
    return [e["data"] for e in events if e["type"] == "agent.warning" and e["data"]["reason"] == "retry"]


async def test_an_edit_succeeds_with_edit_permissions(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(EDIT))
    code, events, err = await agent_run(daemon.home, "codex", repo, srv.url, "fix the typo", "--permissions", "edit")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [], (r, err)
    assert r["files_changed"] == ["hello.py"] and r["text"] == "Fixed the typo."
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    started = [e for e in events if e["type"] == "agent.tool_call"]
    assert [e["data"]["name"] for e in started] == ["file_change"]
    assert r["tokens"]["input"] == 40 and r["tokens"]["cache_read"] == 8  # two model requests, usage summed by codex
    assert any(t.get("name") == "apply_patch" for t in srv.requests[0].body["tools"])


async def test_no_edit_is_ok(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([ms.text("Nothing to do.")]))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "look only")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["files_changed"] == [] and r["text"] == "Nothing to do."


async def test_read_only_sandbox_refuses_the_patch_and_the_run_says_so(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(EDIT))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it", "--permissions", "read-only")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "permission_denied" in r["errors"], r
    assert "read-only sandbox" in r["error"] and (repo / "hello.py").read_text() == "print('helo')\n"


async def test_max_turns_is_refused_up_front(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script(EDIT))
    code, events, err = await agent_run(daemon.home, "codex", repo, srv.url, "fix it", "--max-turns", "1")
    assert code != 0 and events == [] and "codex adapter does not support max_turns" in err
    assert srv.model_requests == 0


async def test_a_persisting_401_fails_in_codex_words(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.status(401)))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "turn_failed" in r["errors"], r
    assert [(x["attempt"], x["limit"], x["status"]) for x in _retries(events)] == [(1, 2, 401), (2, 2, 401)]
    assert r["error"].startswith("unexpected status 401 Unauthorized")


async def test_a_recovered_retry_does_not_fail_a_completed_turn(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(
        ms.Script([ms.status(500), ms.status(500), *EDIT])
    )  # one is retried silently by the request layer
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it", "--permissions", "edit")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [] and r["files_changed"] == ["hello.py"], r
    assert [(x["attempt"], x["limit"]) for x in _retries(events)] == [(1, 2)]


async def test_a_persisting_500_fails(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.status(500)))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "turn_failed" in r["errors"] and len(_retries(events)) == 2, r


async def test_an_unreachable_endpoint_ends_as_idle_timeout_with_its_last_error(daemon, repo: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, events, _ = await agent_run(daemon.home, "codex", repo, dead, "fix it", "--idle-timeout", "4")
    r = _result(events)
    assert code == 1 and r["ok"] is False and r["errors"][0] == "idle_timeout", r
    assert "waiting for network" in r["idle_detail"] and _retries(events)


async def test_long_silence_ends_as_idle_timeout(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.hang()))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it", "--idle-timeout", "3")
    r = _result(events)
    assert code == 1 and r["errors"][0] == "idle_timeout" and r["end_reason"] == "idle_timeout", r


async def test_a_malformed_stream_is_a_failure(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.malformed()))
    code, events, _ = await agent_run(daemon.home, "codex", repo, srv.url, "fix it", "--idle-timeout", "20")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "stream disconnected" in r["error"], r
