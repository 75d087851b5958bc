"""Aider 0.86.2, the real CLI, through `executive agent run` against the scripted Chat Completions server.

Aider's own retry backoff adds up to about a minute before it gives up on a failing endpoint, so the
persisting-500 and unreachable cases run against the recorded output in the fake (tests/agents), not here.
"""

from __future__ import annotations

from pathlib import Path

import model_server as ms
from realcli import agent_run, git

EDIT = ms.edit("hello.py", "print('helo')\n", "print('hello')\n", "I fixed the typo.")


def _result(events: list[dict]) -> dict:
    assert events and events[-1]["type"] == "agent.result", [e["type"] for e in events]
    return events[-1]["data"]


async def test_an_edit_succeeds_and_nothing_else_enters_the_diff(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([EDIT]))
    code, events, err = await agent_run(daemon.home, "aider", repo, srv.url, "fix the typo", "--permissions", "edit")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [], (r, err)
    assert r["files_changed"] == ["hello.py"] and r["edits_applied"] == ["hello.py"]
    assert git(repo, "status", "--porcelain") == " M hello.py\n"  # no .gitignore line, no .aider* files
    session = next(e["data"] for e in events if e["type"] == "agent.session")
    assert session["model"] == "openai/test-model"
    texts = [e["data"]["text"] for e in events if e["type"] == "agent.message"]
    assert texts and texts[0].startswith("I fixed the typo.")
    assert not any("Analytics" in t or "HTTPSConnectionPool" in t or "Update git" in t for t in texts)


async def test_no_edit_is_a_failure_named_no_changes(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([ms.text("Nothing to change.")]))
    code, events, _ = await agent_run(daemon.home, "aider", repo, srv.url, "look")
    r = _result(events)
    assert code == 1 and r["errors"] == ["no_changes"] and r["files_changed"] == [], r


async def test_read_only_is_a_dry_run(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([EDIT]))
    code, events, _ = await agent_run(daemon.home, "aider", repo, srv.url, "fix it", "--permissions", "read-only")
    r = _result(events)
    assert code == 1 and "no_changes" in r["errors"] and r["edits_not_applied"] == ["hello.py"], r
    assert (repo / "hello.py").read_text() == "print('helo')\n"


async def test_a_401_fails_in_litellm_words(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.status(401)))
    code, events, _ = await agent_run(daemon.home, "aider", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 1 and r["ok"] is False and "error" in r["errors"], r
    assert r["error"] == "litellm.AuthenticationError: AuthenticationError: OpenAIException - invalid x-api-key"


async def test_transient_500s_are_retries_then_success(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([ms.status(500)] * 3 + [EDIT]))  # the first litellm call fails after 3 requests
    code, events, _ = await agent_run(daemon.home, "aider", repo, srv.url, "fix it")
    r = _result(events)
    assert code == 0 and r["ok"] is True and r["errors"] == [], r
    retries = [e["data"] for e in events if e["type"] == "agent.warning" and e["data"]["reason"] == "retry"]
    assert [(x["attempt"], x["status"], x["delay_s"]) for x in retries] == [(1, 500, 0.2)]
    assert retries[0]["detail"].startswith("litellm.InternalServerError: InternalServerError: OpenAIException")


async def test_long_silence_ends_as_idle_timeout(daemon, repo: Path, server_factory) -> None:
    srv = server_factory(ms.Script([], then=ms.hang()))
    code, events, _ = await agent_run(daemon.home, "aider", repo, srv.url, "fix it", "--idle-timeout", "6")
    r = _result(events)
    assert code == 1 and r["errors"][0] == "idle_timeout" and r["end_reason"] == "idle_timeout", r
