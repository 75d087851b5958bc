"""The real Claude Code and Codex CLIs as MCP clients of the executive: `executive mcp` (stdio) and /mcp (HTTP).

A scripted model turn calls the executive's tools through the CLI's own MCP client.  Each test checks
that the command ran as a task of the test daemon (``task.list`` and its log) and that the model's next
request carried the tool result with the command's output.  The host configurations are the README's,
word for word: the templates below are rendered with a test home and port to run, and with the README's
home and port to check that the README shows exactly them (``test_the_readme_shows_these_configurations``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import model_server as ms
from realcli import CLI_PATHS, ROOT, cli_env

MARKER = "hello from the executive"
PRINT = [sys.executable, "-c", f"print({MARKER!r})"]

# --- the README's configurations, as templates ({home}: EXECUTIVE_HOME, {url}: the daemon's /mcp) -------------
README_HOME = "~/.local/state/executive"
README_ABS_HOME = "/home/me/.local/state/executive"
README_URL = "http://127.0.0.1:8765/mcp"

CLAUDE_ADD_STDIO = "claude mcp add executive -- executive mcp"
CLAUDE_ADD_HTTP = 'claude mcp add --transport http executive {url} --header "Authorization: Bearer $(cat {home}/token)"'
CLAUDE_PRINT = "MCP_CONNECTION_NONBLOCKING=false claude -p --allowedTools=mcp__executive"
CLAUDE_MCP_CONFIG = """\
{{
  "mcpServers": {{
    "executive": {{ "command": "executive", "args": ["mcp"], "env": {{ "EXECUTIVE_HOME": "{home}" }} }}
  }}
}}
"""
CODEX_STDIO = """\
[mcp_servers.executive]
command = "executive"                    # the venv's bin/executive, or an absolute path to it
args = ["mcp"]
env = {{ EXECUTIVE_HOME = "{home}" }}    # Codex passes a server only HOME, PATH and a few more
required = true                          # start it before the first turn (else `codex exec` may not wait)
default_tools_approval_mode = "approve"  # `codex exec` cannot ask; interactive codex may use "prompt"
"""
CODEX_HTTP = """\
[mcp_servers.executive]                  # export EXECUTIVE_TOKEN="$(cat {home}/token)"
url = "{url}"
bearer_token_env_var = "EXECUTIVE_TOKEN"
required = true
default_tools_approval_mode = "approve"
"""


def _readme_text() -> str:
    """The README with shell line continuations joined, as a reader pastes it."""
    return re.sub(r"\\\n\s*", "", (ROOT / "README.md").read_text())


def test_the_readme_shows_these_configurations() -> None:
    readme = _readme_text()
    for snippet in (
        CLAUDE_ADD_STDIO,
        CLAUDE_ADD_HTTP.format(url=README_URL, home=README_HOME),
        CLAUDE_PRINT,
        CLAUDE_MCP_CONFIG.format(home=README_ABS_HOME),
        CODEX_STDIO.format(home=README_ABS_HOME),
        CODEX_HTTP.format(url=README_URL, home=README_HOME),
    ):
        assert snippet in readme, f"README.md no longer shows the tested configuration:\n{snippet}"


# --- running the CLIs --------------------------------------------------------------------------------------------
def _env(agent: str, srv: ms.ModelServer, cli_home: Path, daemon: Any) -> dict[str, str]:
    """The CLI's environment: the scripted model, `executive` and the CLI on PATH, the test daemon's home.

    PYTHONPATH makes `executive` run this checkout's sources (CI installs the checkout itself, where it is moot).
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), str(CLI_PATHS[agent].parent), os.environ["PATH"]])
    return dict(
        os.environ,
        **cli_env(agent, srv.url, cli_home),
        PATH=path,
        PYTHONPATH=str(ROOT / "src"),
        EXECUTIVE_HOME=str(daemon.home),
        EXECUTIVE_TOKEN=daemon.token,
    )


async def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 150) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


async def _sh(command: str, env: dict[str, str], cwd: Path) -> None:
    """A README command line, through a shell as a user types it."""
    code, out, err = await _run(["sh", "-c", command], env, cwd)
    assert code == 0, (command, out, err)


async def _claude_print(env: dict[str, str], cwd: Path, *extra: str) -> dict[str, Any]:
    """`CLAUDE_PRINT` plus the stream-json output options: the final ``result`` line."""
    words = CLAUDE_PRINT.split()
    env = dict(env, **dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-")))
    argv = [str(CLI_PATHS["claude"]), *[w for w in words[1:] if w.startswith("-")]]
    code, out, err = await _run([*argv, "--output-format", "stream-json", "--verbose", *extra, "run it"], env, cwd)
    lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    assert code == 0 and lines and lines[-1]["type"] == "result", (code, out[-3000:], err[-3000:])
    return lines[-1]


async def _codex_exec(env: dict[str, str], cwd: Path, *extra: str) -> list[dict[str, Any]]:
    argv = [str(CLI_PATHS["codex"]), "exec", "--json", "--skip-git-repo-check", *extra, "run it"]
    code, out, err = await _run(argv, env, cwd)
    events = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    assert code == 0 and events and events[-1]["type"] == "turn.completed", (code, out[-3000:], err[-3000:])
    return events


def _append(config: Path, text: str) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    with config.open("a") as f:
        f.write("\n" + text)


# --- what the daemon and the model saw -----------------------------------------------------------------------------
async def _the_command_ran_once(daemon: Any, argv: list[str] = PRINT) -> dict[str, Any]:
    client = await daemon.client()
    try:
        tasks = (await client.call("task.list", after_id=0))["tasks"]
        assert [(t["kind"], t["argv"]) for t in tasks] == [("process", argv)], tasks
        task = tasks[0]
        assert task["state"] == "ended" and task["exit_code"] == 0, task
        log = await client.call("task.output", task=task["id"], stream="stdout")
        assert log["data"] == MARKER + "\n" and log["eof"] is True, log
        return dict(task)
    finally:
        await client.close()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def _claude_tool_results(srv: ms.ModelServer) -> list[tuple[str, bool]]:
    """(text, is_error) of every tool result in the last model request (its history holds them all)."""
    last = [r.body for r in srv.requests if isinstance(r.body, dict) and r.body.get("tools")][-1]
    return [
        (_text_of(block.get("content")), bool(block.get("is_error")))
        for msg in last["messages"]
        if isinstance(msg.get("content"), list)
        for block in msg["content"]
        if block.get("type") == "tool_result"
    ]


def _codex_tool_results(srv: ms.ModelServer) -> list[str]:
    last = [r.body for r in srv.requests if isinstance(r.body, dict) and r.body.get("tools")][-1]
    return [_text_of(item.get("output")) for item in last["input"] if item.get("type") == "function_call_output"]


def _offered(srv: ms.ModelServer) -> set[str]:
    """The tool names Claude offered the model in its first scripted request."""
    first = next(r.body for r in srv.requests if isinstance(r.body, dict) and r.body.get("tools"))
    return {t["name"] for t in first["tools"]}


# --- Claude Code ---------------------------------------------------------------------------------------------------
async def test_claude_code_runs_a_command_through_executive_mcp_over_stdio(daemon, tmp_path, server_factory) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = ms.Script(
        [ms.tool("mcp__executive__run_command", {"argv": PRINT, "wait": True}), ms.text("It printed the greeting.")]
    )
    srv = server_factory(script, cwd=work)
    env = _env("claude", srv, tmp_path / "home-claude", daemon)
    await _sh(CLAUDE_ADD_STDIO, env, work)  # EXECUTIVE_HOME reaches `executive mcp` from Claude's environment

    result = await _claude_print(env, work)

    assert result["is_error"] is False and result["result"] == "It printed the greeting.", result
    assert {"mcp__executive__run_command", "mcp__executive__read_output"} <= _offered(srv)
    task = await _the_command_ran_once(daemon)
    [(text, is_error)] = _claude_tool_results(srv)
    assert not is_error and MARKER in text, text
    assert json.loads(text)["id"] == task["id"]  # Claude hands the model the structured result


async def test_claude_code_over_http_with_the_bearer_token_waits_then_reads(daemon, tmp_path, server_factory) -> None:
    """run_command returns at once, wait_task waits for the end, read_output reads the log: three MCP calls."""
    work = tmp_path / "work"
    work.mkdir()
    script = ms.Script(
        [
            ms.tool("mcp__executive__run_command", {"argv": PRINT, "name": "greeter", "wait": False}),
            ms.tool("mcp__executive__wait_task", {"task": "greeter", "timeout": 60}),
            ms.tool("mcp__executive__read_output", {"task": "greeter", "last_lines": 5}),
            ms.text("The greeter said hello."),
        ]
    )
    srv = server_factory(script, cwd=work)
    env = _env("claude", srv, tmp_path / "home-claude", daemon)
    url = f"http://{daemon.info['host']}:{daemon.info['port']}/mcp"
    await _sh(CLAUDE_ADD_HTTP.format(url=url, home=daemon.home), env, work)

    result = await _claude_print(env, work)

    assert result["is_error"] is False and result["result"] == "The greeter said hello.", result
    task = await _the_command_ran_once(daemon)
    assert task["name"] == "greeter"
    results = _claude_tool_results(srv)
    assert [e for _, e in results] == [False, False, False], results
    started, waited, read = (json.loads(text) for text, _ in results)
    assert started["id"] == task["id"] and started["waited"] is False
    assert waited["state"] == "ended" and waited["timed_out"] is False and waited["exit_code"] == 0
    assert read["data"] == MARKER + "\n" and read["remaining"] == 0 and read["eof"] is True


async def test_claude_code_with_an_mcp_config_file_and_a_refused_command(e2e, tmp_path, server_factory) -> None:
    """--mcp-config (the README's JSON) on a daemon with an allow-list: the refusal reaches the model as a tool
    error that names the rule, no task is made, and the allowed command that follows runs."""
    rules = tmp_path / "allow.json"
    rules.write_text(json.dumps({"rules": [{"exe": sys.executable}]}))
    daemon = await e2e.start_daemon(tmp_path / "daemon-home", allow_list=rules)
    try:
        work = tmp_path / "work"
        work.mkdir()
        script = ms.Script(
            [
                ms.tool("mcp__executive__run_command", {"argv": ["sleep", "1"]}),
                ms.tool("mcp__executive__run_command", {"argv": PRINT}),
                ms.text("sleep is not allowed; the greeting ran."),
            ]
        )
        srv = server_factory(script, cwd=work)
        env = _env("claude", srv, tmp_path / "home-claude", daemon)
        del env["EXECUTIVE_HOME"]  # the config file names the home
        config = tmp_path / "executive-mcp.json"
        config.write_text(CLAUDE_MCP_CONFIG.format(home=daemon.home))

        result = await _claude_print(env, work, f"--mcp-config={config}", "--strict-mcp-config")

        assert result["is_error"] is False, result
        await _the_command_ran_once(daemon)
        (refused, refused_err), (ran, ran_err) = _claude_tool_results(srv)
        assert refused_err and "command_not_allowed" in refused and "allow-list" in refused, refused
        assert "Traceback" not in refused
        assert not ran_err and MARKER in ran
    finally:
        await daemon.close()


# --- Codex ---------------------------------------------------------------------------------------------------------
def _codex_script() -> ms.Script:
    """Codex offers MCP tools only through its tool_search: the model searches, then calls what it found."""
    return ms.Script(
        [
            ms.tool_search("executive run a command"),
            ms.tool("run_command", {"argv": PRINT, "wait": True}, namespace="mcp__executive"),
            ms.text("It printed the greeting."),
        ]
    )


def _codex_saw_the_output(events: list[dict[str, Any]], srv: ms.ModelServer, task: dict[str, Any]) -> None:
    calls = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"]
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [("executive", "run_command", "completed")]
    assert calls[0]["result"]["structured_content"]["stdout_tail"] == MARKER + "\n"
    [output] = _codex_tool_results(srv)
    assert MARKER in output and f'"id":{task["id"]}' in output, output
    assert events[-2]["item"]["text"] == "It printed the greeting."


async def test_codex_runs_a_command_through_executive_mcp_over_stdio(daemon, tmp_path, server_factory) -> None:
    work = tmp_path / "work"
    work.mkdir()
    srv = server_factory(_codex_script())
    env = _env("codex", srv, tmp_path / "home-codex", daemon)
    _append(Path(env["CODEX_HOME"]) / "config.toml", CODEX_STDIO.format(home=daemon.home))

    # Codex starts the server with only the variables it names: this checkout's sources go in like EXECUTIVE_HOME.
    events = await _codex_exec(env, work, "-c", f'mcp_servers.executive.env.PYTHONPATH="{ROOT / "src"}"')

    task = await _the_command_ran_once(daemon)
    _codex_saw_the_output(events, srv, task)
    found = [r.body for r in srv.requests if isinstance(r.body, dict) and r.body.get("tools")][1]["input"]
    searched = [i for i in found if i.get("type") == "tool_search_output"]
    names = {t["name"] for ns in searched[0]["tools"] for t in ns.get("tools", [])}
    assert "run_command" in names and searched[0]["tools"][0]["name"] == "mcp__executive"


async def test_codex_over_http_with_the_bearer_token(daemon, tmp_path, server_factory) -> None:
    work = tmp_path / "work"
    work.mkdir()
    srv = server_factory(_codex_script())
    env = _env("codex", srv, tmp_path / "home-codex", daemon)
    url = f"http://{daemon.info['host']}:{daemon.info['port']}/mcp"
    _append(Path(env["CODEX_HOME"]) / "config.toml", CODEX_HTTP.format(url=url, home=daemon.home))

    events = await _codex_exec(env, work)

    task = await _the_command_ran_once(daemon)
    _codex_saw_the_output(events, srv, task)
