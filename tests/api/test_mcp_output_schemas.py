"""Every MCP tool, called once for real, answers inside the output schema it lists.

The output schemas are derived from the typed service results (api/mcp_schemas.py).  This module
calls each of the 30 tools through the SDK's client over streamable HTTP, validates each structured
answer against the tool's listed ``outputSchema`` with jsonschema (the SDK's client checks too, but
silently skips tools it has not listed), and fails if a tool was never called successfully.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jsonschema
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]

PATCH = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return b + a\n"
PIPELINE = textwrap.dedent(
    """
    name: schemas
    phases:
      - name: build
        steps:
          - {name: a, command: [sh, -c, 'echo a >> side.txt']}
        checks:
          - {name: side, kind: files_exist, paths: [side.txt], owners: [a]}
      - name: deploy
        entry: {approval: true}
        steps:
          - {name: b, command: [sh, -c, 'echo b >> side.txt']}
        checks:
          - {name: side, kind: files_exist, paths: [side.txt], owners: [b]}
    """
).lstrip()


@contextlib.asynccontextmanager
async def http_session(daemon: Any) -> AsyncIterator[ClientSession]:
    url = f"http://{daemon.info['host']}:{daemon.info['port']}/mcp"
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {daemon.token}"}, timeout=60)
    async with http, streamable_http_client(url, http_client=http) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


class Checked:
    """Calls tools and validates every structured answer against the tool's listed output schema."""

    def __init__(self, session: ClientSession) -> None:
        self.s = session
        self.validators: dict[str, jsonschema.Draft202012Validator] = {}
        self.called: set[str] = set()

    async def start(self) -> None:
        for tool in (await self.s.list_tools()).tools:
            assert tool.output_schema is not None, tool.name
            assert "$ref" not in json.dumps(tool.output_schema), f"{tool.name}: output schema is not self-contained"
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)
            self.validators[tool.name] = jsonschema.Draft202012Validator(tool.output_schema)

    async def __call__(self, name: str, **args: Any) -> dict[str, Any]:
        r = await self.s.call_tool(name, args)
        assert not r.is_error, f"{name}: {r.content[0].text}"
        out = r.structured_content
        assert isinstance(out, dict), name
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in self.validators[name].iter_errors(out)
        ]
        assert not errors, f"{name} answered outside its output schema:\n" + "\n".join(errors)
        self.called.add(name)
        return out


def _git(repo: Path, *args: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def _repo(path: Path) -> Path:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path


def _fake_claude(tmp_path: Path) -> str:
    fake = tmp_path / "claude"
    fixture = REPO / "tests/fixtures/agents/fake_claude.py"
    fake.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(fixture)!r}, run_name='__main__')\n")
    fake.chmod(0o755)
    return str(fake)


async def _processes(call: Checked) -> None:
    echo = "import sys\nfor line in sys.stdin: print(line.strip().upper())"
    run = await call("run_command", argv=[sys.executable, "-c", echo], stdin=True, wait=False)
    assert run["waited"] is False
    await call("send_input", task=run["id"], data="hello\n", eof=True)
    waited = await call("wait_task", task=run["id"], timeout=60)
    assert waited["timed_out"] is False and waited["exit_code"] == 0
    piece = await call("read_output", task=run["id"], offset=0, limit=3)
    assert piece["data"] == "HEL" and piece["remaining"] == 3
    tail = await call("read_output", task=run["id"], last_lines=1)
    assert tail["data"] == "HELLO\n" and tail["lines"] == 1
    assert (await call("task_status", task=run["id"]))["output_bytes"]["stdout"] == 6
    assert (await call("run_command", argv=["echo", "done"], wait=True))["stdout_tail"] == "done\n"
    assert (await call("list_tasks"))["count"] == 2

    sleeper = await call("run_command", argv=["sleep", "60"], wait=False)
    assert (await call("pause_task", task=sleeper["id"]))["state"] in ("running", "paused")
    await call("resume_task", task=sleeper["id"])
    await call("cancel_task", task=sleeper["id"])
    other = await call("run_command", argv=["sleep", "60"], wait=False)
    await call("kill_task", task=other["id"])


async def _agents_and_patches(call: Checked, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    claude = _fake_claude(tmp_path)
    edits = json.dumps([{"path": "notes.txt", "content": "hi\n"}])
    run = await call(
        "run_agent", agent="claude", bin=claude, cwd=str(repo), prompt="add notes", env={"FAKE_EDITS": edits}, wait=60
    )
    assert run["result"] is not None and run["waited"] is True
    assert (await call("agent_result", task=run["id"], timeout=60))["timed_out"] is False
    assert "notes.txt" in (await call("agent_diff", task=run["id"]))["files"]

    repo2 = _repo(tmp_path / "repo2")
    applied = await call("apply_patch", diff=PATCH, cwd=str(repo2))
    assert applied["state"] == "applied"
    assert (await call("rollback_patch", patch=applied["id"]))["state"] == "rolled_back"

    fix = await call("run_fix_loop", cwd=str(repo2), test_cmd=f"{sys.executable} -c pass", agent="claude", bin=claude)
    done = await call("fix_loop_status", run=fix["id"], timeout=60)
    assert done.get("timed_out") is False, done
    assert (await call("fix_loop_status", run=fix["id"]))["id"] == fix["id"]


async def _pipeline(call: Checked, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "pipeline.yaml").write_text(PIPELINE)
    run = await call("run_pipeline", path=str(work / "pipeline.yaml"), requirement="a file that exists")

    async def until(states: tuple[str, ...]) -> dict[str, Any]:
        with anyio.fail_after(60):
            while (status := await call("pipeline_status", run=run["id"]))["run"]["state"] not in states:
                await anyio.sleep(0.1)
        return status

    await until(("waiting_approval",))
    await call("approve_gate", run=run["id"], phase="deploy", note="ok")
    assert (await until(("passed", "failed")))["run"]["state"] == "passed"
    again = await call("resume_pipeline", run=run["id"], rework_from="build/a")
    assert again["id"] == run["id"]
    await until(("passed", "failed", "waiting_approval"))


async def _hsx(call: Checked, tmp_path: Path) -> None:
    image = tmp_path / "fact.hxe"
    subprocess.run(
        [sys.executable, "-m", "executive", "hsx", "asm", str(REPO / "examples/fact.mvasm"), "-o", str(image)],
        check=True,
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    )
    tid = (await call("hsx_load", path=str(image), paused=True))["task"]
    await call("hsx_set_breakpoint", task=tid, where="fact_done")
    assert (await call("hsx_continue", task=tid, timeout=30))["reason"] == "debug_break"
    await call("hsx_registers", task=tid)
    await call("hsx_stack", task=tid)
    await call("hsx_disassemble", task=tid, count=2)
    await call("hsx_step", task=tid)
    await call("hsx_memory", task=tid, addr="0x0", length=4)
    await call("hsx_clear_breakpoint", task=tid)
    assert (await call("hsx_continue", task=tid, timeout=30))["reason"] == "ended"


async def test_every_tool_answers_in_its_output_schema(daemon: Any, tmp_path: Path) -> None:
    async with http_session(daemon) as s:
        call = Checked(s)
        await call.start()
        await _processes(call)
        await _agents_and_patches(call, tmp_path)
        await _pipeline(call, tmp_path)
        await _hsx(call, tmp_path)
        assert call.called == set(call.validators), f"never called: {sorted(set(call.validators) - call.called)}"
