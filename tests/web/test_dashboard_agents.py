"""The agents page in a real browser: a run's conversation, cost, diff; a patch rolled back after confirming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
pytestmark = pytest.mark.timeout(180)


def _git(repo: Path, *args: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


async def test_agent_run_conversation_diff_and_patch_rollback(
    daemon: Any, client: Any, open_dashboard: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    fake = tmp_path / "claude"
    fake.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FIXTURES / 'fake_claude.py')!r}, run_name='__main__')\n"
    )
    fake.chmod(0o755)
    edits = [{"path": "calc.py", "find": "def add", "replace": '"""Add two numbers."""\ndef add'}]
    task = await client.call(
        "agent.run",
        agent="claude",
        bin=str(fake),
        cwd=str(repo),
        prompt="document add",
        env={"FAKE_SCENARIO": "edit", "FAKE_EDITS": json.dumps(edits)},
    )
    done = await client.call("agent.wait", task=task["id"], timeout=60)
    assert done["run"]["ok"] is True
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    await dash.go("#/agents")
    await dash.page.locator("#agent-runs a", has_text=str(task["id"])).click()
    conv = dash.page.locator("#agent-conv")
    await conv.locator(".msg.tool", has_text="tool call").first.wait_for()
    assert "document add" in await dash.page.inner_text("#agent-facts")
    assert "$0.0123" in await dash.page.inner_text("#agent-facts")
    await dash.page.locator("#agent-diff .sbs .add", has_text="Add two numbers.").wait_for()
    await dash.shot("agent-run")

    _git(repo, "checkout", "--", ".")
    diff = '--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n+"""calc"""\n def add(a, b):\n     return a + b\n'
    patch = await client.call("patch.apply", diff=diff, cwd=str(repo))
    assert patch["state"] == "applied"
    await dash.go(f"#/patch/{patch['id']}")
    await dash.page.locator("#patch-diff .sbs .add", has_text='"""calc"""').wait_for()
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await (dialog.dismiss() if len(questions) == 1 else dialog.accept())

    dash.page.on("dialog", answer)
    await dash.page.click("#patch-rollback")  # dismissed: nothing happens
    assert (await client.call("patch.show", patch=patch["id"], text=False))["state"] == "applied"
    await dash.page.click("#patch-rollback")  # accepted
    await dash.page.locator("#patch-state", has_text="rolled").wait_for(timeout=15000)
    assert len(questions) == 2 and "Roll this patch back" in questions[0]
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    await dash.shot("patch-rolled-back")
    assert not dash.errors, dash.errors
