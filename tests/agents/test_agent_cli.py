"""The agent and patch commands of the CLI, against a running daemon."""

from __future__ import annotations

import json
import sys
from pathlib import Path


async def test_agent_run_streams_and_sets_the_exit_code(daemon, agents, fake_bin, repo: Path) -> None:
    edits = json.dumps([{"path": "calc.py", "find": "a + b", "replace": "a + b  # ok"}])
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
        f"FAKE_EDITS={edits}",
        "tidy calc.py",
    )
    assert code == 0, err
    assert "● session" in out and "→ Write" in out and "Done: 1 edit(s)." in out
    assert "✓ done" in out and "$0.0123" in out and "1 file(s) changed" in out
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
        "FAKE_SCENARIO=rate_limit",
        "x",
    )
    assert code == 1 and "✗ failed: is_error, rate_limited" in out and "rate_limit" in err
    code, out, _ = await agents.cli(
        daemon.home, "agent", "run", "--json", "--agent", "codex", "--bin", fake_bin["codex"], "--cwd", str(repo), "x"
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[0]["type"] == "agent.session" and lines[-1]["type"] == "agent.result"
    code, out, _ = await agents.cli(daemon.home, "agent", "runs")
    assert code == 0 and "claude" in out and "codex" in out and "rate_limited" in out
    first = json.loads((await agents.cli(daemon.home, "agent", "runs", "--json"))[1])[0]["task_id"]
    code, out, _ = await agents.cli(daemon.home, "agent", "diff", str(first))
    assert code == 0 and "+    return a + b  # ok" in out
    code, out, _ = await agents.cli(daemon.home, "agent", "replay", "--json", str(first))
    assert code == 0 and json.loads(out.splitlines()[-1])["data"]["ok"] is True


async def test_agent_check_command(daemon, agents, fake_bin) -> None:
    code, out, _ = await agents.cli(
        daemon.home, "agent", "check", "--agent", "aider", "--bin", fake_bin["aider"], "--json"
    )
    row = json.loads(out)[0]
    assert (
        code == 0
        and row["version"] == "0.86.2"
        and row["version_status"] == "tested"
        and row["capabilities"]["result_from_git"] is True
    )
    code, out, _ = await agents.cli(daemon.home, "agent", "check")
    assert code == 0 and "claude" in out and "aider" in out and "--bin" in out


async def test_patch_commands(daemon, agents, repo: Path, tmp_path: Path) -> None:
    diff = tmp_path / "fix.diff"
    diff.write_text("--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n")
    code, out, err = await agents.cli(
        daemon.home, "patch", "apply", str(diff), "--cwd", str(repo), "--verify", f"{sys.executable} -c 'import calc'"
    )
    assert code == 0, err
    assert "patch 1: verified" in out and "calc.py" in out and "verification: task" in out
    code, out, _ = await agents.cli(daemon.home, "patch", "list")
    assert code == 0 and "verified" in out and "fix.diff" in out
    code, out, _ = await agents.cli(daemon.home, "patch", "show", "1")
    assert code == 0 and "→ created" in out and "→ validated" in out and "→ applied" in out and "→ verified" in out
    code, out, _ = await agents.cli(daemon.home, "patch", "rollback", "1")
    assert code == 0 and "rolled_back" in out and "# reviewed" not in (repo / "calc.py").read_text()
    bad = tmp_path / "bad.diff"
    bad.write_text("--- a/../x\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n")
    code, _, err = await agents.cli(daemon.home, "patch", "apply", str(bad), "--cwd", str(repo))
    assert code == 1 and "refused" in err and "climbs out" in err
    code, out, _ = await agents.cli(
        daemon.home,
        "patch",
        "apply",
        "-",
        "--cwd",
        str(repo),
        stdin=b"--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-nothing like this\n+x\n",
    )
    assert code == 1 and "apply_failed" in out


async def test_patch_commit_refuses_later_edits_unless_forced(daemon, agents, repo: Path, tmp_path: Path) -> None:
    diff = tmp_path / "fix.diff"
    diff.write_text("--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n")
    code, out, err = await agents.cli(daemon.home, "patch", "apply", str(diff), "--cwd", str(repo))
    assert code == 0 and "patch 1: applied" in out, err
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n# reviewed\n# hand edit\n")
    code, out, err = await agents.cli(daemon.home, "patch", "commit", "1")
    assert code != 0 and "calc.py" in err and "--force" in err
    code, out, err = await agents.cli(daemon.home, "patch", "commit", "1", "--force")
    assert code == 0 and "committed" in out, err


async def test_patch_apply_of_a_non_utf8_diff_is_a_clear_error(daemon, agents, repo: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.diff"
    latin.write_bytes(
        b"--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# caf\xe9\n"
    )
    before = (repo / "calc.py").read_text()
    for args, stdin in (([str(latin)], None), (["-"], latin.read_bytes())):
        code, out, err = await agents.cli(daemon.home, "patch", "apply", *args, "--cwd", str(repo), stdin=stdin)
        assert code == 2 and "not UTF-8" in err and "line 6" in err and "Traceback" not in err + out
    assert (repo / "calc.py").read_text() == before
    code, out, _ = await agents.cli(daemon.home, "patch", "list")
    assert "latin1" not in out
