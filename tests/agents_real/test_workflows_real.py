"""The real CLIs inside the workflows: `executive fix` (patch kept, then rolled back exactly) and a pipeline step."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import model_server as ms
import pytest
from realcli import AIDER_MODEL, CLI_PATHS, cli, cli_env, git

CHECK = "import sys\nsys.exit(0 if open('hello.py').read() == \"print('hello')\\n\" else 1)\n"
EDIT = ms.edit("hello.py", "print('helo')\n", "print('hello')\n")
SCRIPTS = {
    "claude": [ms.read("hello.py"), EDIT, ms.text("Fixed the typo.")],
    "codex": [EDIT, ms.text("Fixed the typo.")],
    # The fix loop names no files for aider: its first edit only makes aider add hello.py to the chat and ask again.
    "aider": [ms.edit("hello.py", "print('helo')\n", "print('hello')\n", "Fixed the typo.")] * 2,
}


@pytest.fixture
def checked_repo(repo: Path) -> Path:
    (repo / "check.py").write_text(CHECK)
    git(repo, "add", "check.py")
    git(repo, "commit", "-q", "-m", "a check that fails until the typo is fixed")
    return repo


@pytest.mark.parametrize("agent", ["claude", "codex", "aider"])
async def test_fix_keeps_the_agents_patch_and_rollback_restores_the_bytes(
    agent: str, daemon, checked_repo: Path, server_factory
) -> None:
    repo = checked_repo
    before = (repo / "hello.py").read_bytes()
    srv = server_factory(ms.Script(SCRIPTS[agent]))
    argv = [
        "fix",
        "--json",
        "--test-cmd",
        f"{sys.executable} check.py",
        "--agent",
        agent,
        "--bin",
        str(CLI_PATHS[agent]),
    ]
    argv += ["--cwd", str(repo), "--max-iterations", "1"]
    if agent == "aider":
        argv += ["--model", AIDER_MODEL, "--arg=--edit-format=diff"]
    for k, v in cli_env(agent, srv.url, repo.parent / f"home-{agent}").items():
        argv += ["--env", f"{k}={v}"]
    code, out, err = await cli(daemon.home, *argv)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    attempts = [e for e in events if e["phase"] == "attempt"]
    assert code == 0 and events[-1]["state"] == "green", [a.get("detail") for a in attempts]
    assert [a["outcome"] for a in attempts] == ["kept"] and attempts[0]["patch_id"]
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    code, out, err = await cli(daemon.home, "patch", "show", "--json", str(attempts[0]["patch_id"]))
    patch = json.loads(out)
    assert [f["new_path"] for f in patch["files"]] == ["hello.py"], patch["files"]  # nothing else entered the patch
    code, out, err = await cli(daemon.home, "patch", "rollback", str(attempts[0]["patch_id"]))
    assert code == 0, err
    assert (repo / "hello.py").read_bytes() == before and git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("agent", ["claude", "codex"])
async def test_a_pipeline_agent_step_edits_with_the_default_permissions(
    agent: str, daemon, repo: Path, server_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = server_factory(ms.Script(SCRIPTS[agent]))
    env = cli_env(agent, srv.url, repo.parent / f"home-{agent}")
    step = {"name": "agent", "agent": {"cli": agent, "prompt": "fix the typo in hello.py"}, "env": env}
    check = {"name": "fixed", "kind": "command", "command": [sys.executable, "-c", CHECK], "owners": ["agent"]}
    pipeline = {"name": "typo", "workdir": str(repo), "phases": [{"name": "fix", "steps": [step], "checks": [check]}]}
    (repo.parent / "pipeline.yaml").write_text(json.dumps(pipeline))
    # A pipeline step names its CLI, not a path: the in-process daemon finds the pinned one on PATH.
    monkeypatch.setenv("PATH", f"{CLI_PATHS[agent].parent}:{os.environ['PATH']}")
    code, out, err = await cli(daemon.home, "pipeline", "run", str(repo.parent / "pipeline.yaml"), "-r", "greet")
    assert code == 0 and "passed" in out, (out, err)
    assert (repo / "hello.py").read_text() == "print('hello')\n"
