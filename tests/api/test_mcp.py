"""The MCP server through the SDK's own client, over stdio (`executive mcp`) and streamable HTTP (`/mcp`)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
TRANSPORTS = ["stdio", "http"]

EXPECTED_TOOLS = {
    "run_command", "list_tasks", "task_status", "read_output", "wait_task", "send_input", "pause_task",
    "resume_task", "cancel_task", "kill_task", "run_agent", "agent_result", "agent_diff", "apply_patch",
    "rollback_patch", "run_fix_loop", "fix_loop_status", "run_pipeline", "pipeline_status", "approve_gate",
    "resume_pipeline", "hsx_load", "hsx_set_breakpoint", "hsx_clear_breakpoint", "hsx_continue", "hsx_step",
    "hsx_registers", "hsx_memory", "hsx_disassemble", "hsx_stack",
}  # fmt: skip


class Notes:
    """Server notifications the client received (resource updates), by kind."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self.changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            self.updated.append(str(root.params.uri))
            self.changed.set()
            self.changed = anyio.Event()


@contextlib.asynccontextmanager
async def open_session(kind: str, daemon: Any, notes: Notes | None = None) -> AsyncIterator[ClientSession]:
    handler = notes.handler if notes is not None else None
    if kind == "stdio":
        env = dict(os.environ, EXECUTIVE_HOME=str(daemon.home), PYTHONPATH=str(REPO / "src"))
        params = StdioServerParameters(command=sys.executable, args=["-m", "executive", "mcp"], env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write, message_handler=handler) as s:
            await s.initialize()
            yield s
    else:
        url = f"http://{daemon.info['host']}:{daemon.info['port']}/mcp"
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {daemon.token}"}, timeout=60)
        async with (
            http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, message_handler=handler) as s,
        ):
            await s.initialize()
            yield s


async def call_ok(s: ClientSession, name: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
    r = await s.call_tool(name, args, **kw)
    assert not r.is_error, r.content[0].text
    assert isinstance(r.structured_content, dict)
    return r.structured_content


async def call_err(s: ClientSession, name: str, args: dict[str, Any]) -> str:
    r = await s.call_tool(name, args)
    assert r.is_error, f"{name} should have failed: {r.structured_content}"
    text = r.content[0].text
    assert "Traceback" not in text
    return text


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_list_tools_with_schemas_and_annotations(daemon: Any, kind: str) -> None:
    async with open_session(kind, daemon) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == EXPECTED_TOOLS
        for t in tools.values():
            assert t.description and len(t.description) > 40, t.name
            assert t.input_schema["type"] == "object" and t.input_schema["additionalProperties"] is False
            assert t.output_schema is not None and t.output_schema["type"] == "object"
            a = t.annotations
            assert a is not None and None not in (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
        run = tools["run_command"]
        assert run.input_schema["required"] == ["argv"]
        assert run.input_schema["properties"]["argv"]["type"] == "array"
        assert "lock" not in run.input_schema["properties"]  # locks need a session; MCP calls have none
        assert run.annotations.destructive_hint and not run.annotations.read_only_hint
        read = tools["read_output"]
        assert read.annotations.read_only_hint and read.annotations.idempotent_hint
        assert {"offset", "limit", "last_lines"} <= set(read.input_schema["properties"])
        assert "remaining" in read.output_schema["required"]
        assert tools["cancel_task"].annotations.destructive_hint
        assert tools["hsx_registers"].annotations.read_only_hint
        prompts = {p.name for p in (await s.list_prompts()).prompts}
        assert "fix_failing_tests" in prompts
        got = await s.get_prompt("fix_failing_tests", {"cwd": "/src/x", "test_cmd": "pytest -q"})
        assert "run_fix_loop" in got.messages[0].content.text
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert templates == {"task://{id}/stdout", "task://{id}/stderr", "pipeline://{run}/report"}


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_run_command_then_read_output_in_pieces(daemon: Any, kind: str) -> None:
    expected = "".join(f"line {i:05d} {'x' * 40}\n" for i in range(600)).encode()
    async with open_session(kind, daemon) as s:
        code = (
            "import sys\nfor i in range(600): sys.stdout.write(f'line {i:05d} ' + 'x' * 40 + '\\n')\n"
            "print('oops', file=sys.stderr)"
        )
        run = await call_ok(s, "run_command", {"argv": py(code), "wait": True, "wait_timeout": 60})
        assert run["state"] == "ended" and run["exit_code"] == 0 and run["waited"] is True
        assert run["stdout_tail"].endswith("line 00599 " + "x" * 40 + "\n")
        assert run["stderr_tail"] == "oops\n"
        tid = run["id"]
        got = b""
        offset = 0
        while True:
            piece = await call_ok(s, "read_output", {"task": tid, "offset": offset, "limit": 5000})
            assert piece["offset"] == offset and piece["size"] == len(expected)
            got += piece["data"].encode()
            assert piece["remaining"] == len(expected) - len(got)
            offset = piece["next_offset"]
            if piece["remaining"] == 0:
                assert piece["eof"] is True
                break
            assert piece["eof"] is False
        assert got == expected
        tail = await call_ok(s, "read_output", {"task": tid, "last_lines": 3})
        assert tail["data"] == "".join(f"line {i:05d} {'x' * 40}\n" for i in (597, 598, 599))
        assert tail["lines"] == 3 and tail["next_offset"] == len(expected) and tail["remaining"] == 0
        err = await call_ok(s, "read_output", {"task": tid, "stream": "stderr"})
        assert err["data"] == "oops\n"
        listed = await call_ok(s, "list_tasks", {})
        assert [t["id"] for t in listed["tasks"]] == [tid] and listed["count"] == 1


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_wait_reports_progress_and_cancelling_it_leaves_the_task_running(daemon: Any, kind: str) -> None:
    async with open_session(kind, daemon) as s:
        run = await call_ok(s, "run_command", {"argv": ["sleep", "120"], "wait": False})
        assert run["waited"] is False and run["state"] in ("starting", "running")
        tid = run["id"]
        progress: list[tuple[float, float | None, str | None]] = []
        enough = anyio.Event()

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message))
            if len(progress) >= 2:
                enough.set()

        async with anyio.create_task_group() as tg:

            async def wait_call() -> None:
                await s.call_tool("wait_task", {"task": tid, "timeout": 600}, progress_callback=on_progress)
                raise AssertionError("the wait should have been cancelled")

            tg.start_soon(wait_call)
            with anyio.fail_after(30):
                await enough.wait()
            tg.cancel_scope.cancel()
        assert progress[0][1] == 600 and progress[1][0] > progress[0][0]
        assert f"task {tid}" in (progress[0][2] or "")
        status = await call_ok(s, "task_status", {"task": tid})
        assert status["state"] == "running"  # the wait ended, not the task
        await call_ok(s, "cancel_task", {"task": tid})
        ended = await call_ok(s, "wait_task", {"task": tid, "timeout": 30})
        assert ended["state"] == "ended" and ended["end_reason"] == "cancelled" and ended["timed_out"] is False


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_cancel_ends_the_whole_process_tree(daemon: Any, kind: str, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}.tmp; sleep 300 & echo $! >> {pids}.tmp; mv {pids}.tmp {pids}; wait"
    async with open_session(kind, daemon) as s:
        run = await call_ok(s, "run_command", {"argv": ["sh", "-c", script], "wait": False})
        deadline = time.monotonic() + 20
        while not pids.exists():
            assert time.monotonic() < deadline, "the children never started"
            await anyio.sleep(0.05)
        children = [int(p) for p in pids.read_text().split()]
        assert all(psutil.pid_exists(p) for p in children)
        await call_ok(s, "cancel_task", {"task": run["id"]})
        ended = await call_ok(s, "wait_task", {"task": run["id"], "timeout": 30})
        assert ended["end_reason"] == "cancelled"
        for pid in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


# Hosts on MCP protocol versions before 2026-07-28 subscribe this way; the SDK warns that newer
# versions use subscriptions/listen (tested too), but these hosts still exist and must keep working.
@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_subscribed_stdout_resource_sends_updates_as_output_arrives(daemon: Any, kind: str) -> None:
    notes = Notes()
    async with open_session(kind, daemon, notes) as s:
        go = daemon.home.parent / f"go-{kind}"
        code = (
            "import os, sys, time\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
            "for i in range(5):\n    print(f'tick {i}', flush=True); time.sleep(0.3)\n"
        )
        run = await call_ok(s, "run_command", {"argv": py(code), "wait": False, "name": f"ticker-{kind}"})
        uri = f"task://{run['id']}/stdout"
        await s.subscribe_resource(uri)
        go.touch()
        with anyio.fail_after(30):
            while notes.updated.count(uri) < 2:
                await notes.changed.wait()
        first = await s.read_resource(uri)
        assert first.contents[0].text.startswith("tick 0\n")
        await call_ok(s, "wait_task", {"task": run["id"], "timeout": 30})
        with anyio.fail_after(10):  # the watcher's last look sees the final size
            while True:
                full = await s.read_resource(uri)
                if full.contents[0].text == "".join(f"tick {i}\n" for i in range(5)):
                    break
                await anyio.sleep(0.05)
        by_name = await s.read_resource(f"task://ticker-{kind}/stdout")
        assert by_name.contents[0].text == full.contents[0].text
        listed = {str(r.uri) for r in (await s.list_resources()).resources}
        assert {uri, f"task://{run['id']}/stderr"} <= listed
        await s.unsubscribe_resource(uri)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_hsx_debug_session(daemon: Any, kind: str, tmp_path: Path) -> None:
    image = tmp_path / "fact.hxe"
    subprocess.run(
        [sys.executable, "-m", "executive", "hsx", "asm", str(REPO / "examples/fact.mvasm"), "-o", str(image)],
        check=True,
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    )
    async with open_session(kind, daemon) as s:
        loaded = await call_ok(s, "hsx_load", {"path": str(image), "paused": True})
        tid = loaded["task"]
        assert loaded["state"] == "paused" and loaded["symbols"]["loaded"] is True
        bp = await call_ok(s, "hsx_set_breakpoint", {"task": tid, "where": "fact_done"})
        assert bp["breakpoints"] == [0x58]
        stop = await call_ok(s, "hsx_continue", {"task": tid, "timeout": 30})
        assert stop["stopped"] is True and stop["reason"] == "debug_break"
        assert stop["state"]["pc"] == 0x58 and stop["state"]["symbol"] == "fact_done"
        regs = await call_ok(s, "hsx_registers", {"task": tid})
        assert regs["pc"] == 0x58 and len(regs["regs"]) == 16
        stack = await call_ok(s, "hsx_stack", {"task": tid})
        assert stack["frames"][0]["func_name"] == "fact" and stack["frames"][-1]["func_name"] == "main"
        code = await call_ok(s, "hsx_disassemble", {"task": tid, "count": 2})
        assert code["instructions"][0]["is_pc"] is True and code["instructions"][0]["mnemonic"] == "POP"
        step = await call_ok(s, "hsx_step", {"task": tid})
        assert step["pc"] == 0x5C and step["prev_pc"] == 0x58
        mem = await call_ok(s, "hsx_memory", {"task": tid, "addr": "0x0", "length": 4})
        assert len(mem["data"]) == 8
        cleared = await call_ok(s, "hsx_clear_breakpoint", {"task": tid})
        assert cleared["breakpoints"] == []
        end = await call_ok(s, "hsx_continue", {"task": tid, "timeout": 30})
        assert end["reason"] == "ended" and end["exit_code"] == 120


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_bad_input_is_a_tool_error_that_says_what_to_do(daemon: Any, kind: str) -> None:
    async with open_session(kind, daemon) as s:
        text = await call_err(s, "no_such_tool", {})
        assert "unknown tool" in text and "run_command" in text
        text = await call_err(s, "run_command", {"argv": "ls -l"})
        assert "argv" in text and "inputSchema" in text
        text = await call_err(s, "run_command", {"argv": ["ls"], "bogus": 1})
        assert "bogus" in text
        text = await call_err(s, "task_status", {"task": 9999})
        assert "9999" in text and "list_tasks" in text
        run = await call_ok(s, "run_command", {"argv": ["echo", "hello"]})
        text = await call_err(s, "read_output", {"task": run["id"], "offset": 500})
        assert "past the end" in text and "6 bytes" in text
        text = await call_err(s, "read_output", {"task": run["id"], "limit": 10**12})
        assert "limit" in text and "262144" in text
        text = await call_err(s, "read_output", {"task": run["id"], "last_lines": 5, "limit": 10**12})
        assert "limit" in text and "262144" in text
        text = await call_err(s, "read_output", {"task": run["id"], "offset": 0, "last_lines": 5})
        assert "either offset or last_lines" in text
        text = await call_err(s, "run_command", {"argv": ["/no/such/binary"]})
        assert "invalid_argv" in text or "not found" in text
        text = await call_err(s, "hsx_registers", {"task": run["id"]})
        assert "hsx_load" in text
        with pytest.raises(Exception, match="unknown resource"):
            await s.read_resource("file:///etc/passwd")
        # The session survived every one of them.
        assert (await call_ok(s, "task_status", {"task": run["id"]}))["exit_code"] == 0


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_command_refused_by_the_allow_list(tmp_path: Path, kind: str, e2e: Any) -> None:
    rules = tmp_path / "allow.json"
    rules.write_text(json.dumps({"rules": [{"exe": "echo"}]}))
    d = await e2e.start_daemon(tmp_path / "home", allow_list=rules)
    try:
        async with open_session(kind, d) as s:
            text = await call_err(s, "run_command", {"argv": ["sleep", "1"]})
            assert "command_not_allowed" in text and "allow-list" in text
            ok = await call_ok(s, "run_command", {"argv": ["echo", "allowed"]})
            assert ok["exit_code"] == 0 and ok["stdout_tail"] == "allowed\n"
            assert [t["argv"] for t in (await call_ok(s, "list_tasks", {}))["tasks"]] == [["echo", "allowed"]]
    finally:
        await d.close()


async def test_http_mcp_requires_the_token(daemon: Any) -> None:
    url = f"http://{daemon.info['host']}:{daemon.info['port']}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await http.post(url, json=body, headers={"Accept": "application/json, text/event-stream", **headers})
            assert r.status_code == 401 and "token" in r.json()["error"]


async def test_stdio_starts_an_embedded_daemon_when_none_runs(tmp_path: Path) -> None:
    class NoDaemon:
        home = tmp_path / "fresh-home"

    NoDaemon.home.mkdir()
    async with open_session("stdio", NoDaemon) as s:
        run = await call_ok(s, "run_command", {"argv": ["echo", "embedded"]})
        assert run["stdout_tail"] == "embedded\n"
        assert (NoDaemon.home / "daemon.json").exists()  # other CLI commands can reach it meanwhile
    assert not (NoDaemon.home / "daemon.json").exists()
    refused = subprocess.run(
        [sys.executable, "-m", "executive", "mcp", "--no-start"],
        env=dict(os.environ, EXECUTIVE_HOME=str(NoDaemon.home), PYTHONPATH=str(REPO / "src")),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 3 and "executive serve" in refused.stderr and refused.stdout == ""


def _git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


async def test_agent_patch_and_pipeline_tools_answer_in_their_declared_schemas(daemon: Any, tmp_path: Path) -> None:
    """The SDK client validates every structured answer against the tool's output schema; these must pass."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    fake = tmp_path / "claude"
    fixture = REPO / "tests/fixtures/agents/fake_claude.py"
    fake.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(fixture)!r}, run_name='__main__')\n")
    fake.chmod(0o755)
    edits = [{"path": "calc.py", "find": "a + b", "replace": "a + b  # checked"}]
    async with open_session("http", daemon) as s:
        run = await call_ok(
            s,
            "run_agent",
            {
                "agent": "claude",
                "bin": str(fake),
                "cwd": str(repo),
                "prompt": "check add",
                "env": {"FAKE_EDITS": json.dumps(edits)},
                "wait": 60,
            },
        )
        assert run["kind"] == "agent" and run["result"]["ok"] is True and run["waited"] is True
        result = await s.call_tool("agent_result", {"task": run["id"]})
        assert not result.is_error and "succeeded" in result.content[0].text
        diff = await call_ok(s, "agent_diff", {"task": run["id"]})
        assert diff["files"] and "# checked" in diff["diff"]

        patch_text = (
            "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b  # checked\n"
            "+    return b + a\n"
        )
        applied = await call_ok(s, "apply_patch", {"diff": patch_text, "cwd": str(repo)})
        assert applied["state"] == "applied" and "b + a" in (repo / "calc.py").read_text()
        rolled = await call_ok(s, "rollback_patch", {"patch": applied["id"]})
        assert rolled["state"] == "rolled_back" and "# checked" in (repo / "calc.py").read_text()
        text = await call_err(s, "rollback_patch", {"patch": 999})
        assert "999" in text

        work = tmp_path / "work"
        work.mkdir()
        pipeline = (
            "name: mcp\nphases:\n"
            "  - name: build\n    steps:\n      - {name: a, command: [sh, -c, 'echo a >> side.txt']}\n"
            "    checks:\n      - {name: side, kind: files_exist, paths: [side.txt], owners: [a]}\n"
            "  - name: deploy\n    entry: {approval: true}\n"
            "    steps:\n      - {name: b, command: [sh, -c, 'echo b >> side.txt']}\n"
            "    checks:\n      - {name: side, kind: files_exist, paths: [side.txt], owners: [b]}\n"
        )
        (work / "p.yaml").write_text(pipeline)
        started = await call_ok(s, "run_pipeline", {"path": str(work / "p.yaml"), "requirement": "test"})
        rid = started["id"]
        deadline = time.monotonic() + 60
        while (status := await call_ok(s, "pipeline_status", {"run": rid}))["run"]["state"] != "waiting_approval":
            assert time.monotonic() < deadline, status["run"]
            await anyio.sleep(0.1)
        text = await call_err(s, "approve_gate", {"run": rid, "phase": "build"})
        assert "no approval gate" in text
        approved = await call_ok(s, "approve_gate", {"run": rid, "phase": "deploy", "note": "ship it"})
        assert approved["phase"] == "deploy" and approved["note"] == "ship it"
        while (status := await call_ok(s, "pipeline_status", {"run": rid}))["run"]["state"] not in ("passed", "failed"):
            assert time.monotonic() < deadline, status["run"]
            await anyio.sleep(0.1)
        assert status["run"]["state"] == "passed" and (work / "side.txt").read_text() == "a\nb\n"
        report = await s.read_resource(f"pipeline://{rid}/report")
        assert "<html" in report.contents[0].text.lower()
        text = await call_err(s, "resume_pipeline", {"run": rid})
        assert str(rid) in text


async def test_listen_stream_of_the_2026_protocol_gets_stdout_updates(daemon: Any) -> None:
    """`subscriptions/listen` (the protocol that replaced resources/subscribe) carries the same updates."""
    from mcp import Client

    env = dict(os.environ, EXECUTIVE_HOME=str(daemon.home), PYTHONPATH=str(REPO / "src"))
    params = StdioServerParameters(command=sys.executable, args=["-m", "executive", "mcp"], env=env)
    go = daemon.home.parent / "go-listen"
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "for i in range(5):\n    print(f'tick {i}', flush=True); time.sleep(0.3)\n"
    )
    async with Client(params) as client:
        assert client.session.protocol_version >= "2026"
        run = await client.call_tool("run_command", {"argv": py(code), "wait": False})
        uri = f"task://{run.structured_content['id']}/stdout"
        seen = 0
        async with client.listen(resource_subscriptions=[uri]) as sub:
            go.touch()
            with anyio.fail_after(30):
                async for event in sub:
                    assert event.uri == uri
                    seen += 1
                    if seen == 2:
                        break
        text = (await client.read_resource(uri)).contents[0].text
        assert text.startswith("tick 0\n")
        with pytest.raises(Exception, match="list_tasks"):
            async with client.listen(resource_subscriptions=["task://9999/stdout"]):
                pass
