"""Helpers of the real-CLI scenarios: where the pinned CLIs are, their environment, `executive` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TOOLS = ROOT / ".tools"

CLI_PATHS = {
    "claude": TOOLS / "npm" / "node_modules" / ".bin" / "claude",
    "codex": TOOLS / "npm" / "node_modules" / ".bin" / "codex",
    "aider": TOOLS / "aider-venv" / "bin" / "aider",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_clis() -> list[str]:
    return [name for name, p in CLI_PATHS.items() if not os.access(p, os.X_OK)]


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def cli_env(agent: str, url: str, home: Path) -> dict[str, str]:
    """Environment that points ``agent`` at the scripted server ``url`` (no real key anywhere)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home)}
    if agent == "claude":
        env.update(
            ANTHROPIC_BASE_URL=url,
            ANTHROPIC_API_KEY="sk-test-not-a-key",
            CLAUDE_CODE_MAX_RETRIES="2",
            API_TIMEOUT_MS="8000",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
        )
    elif agent == "codex":
        codex_home = home / ".codex"
        codex_home.mkdir(exist_ok=True)
        (codex_home / "config.toml").write_text(codex_config(url))
        env.update(CODEX_HOME=str(codex_home), OPENAI_API_KEY="sk-test-not-a-key")
    else:
        # Aider fetches litellm's model price list from GitHub on start unless its cache is fresh; offline that
        # costs a DNS timeout per run.  An empty cache is what aider itself writes after a failed fetch.
        caches = home / ".aider" / "caches"
        caches.mkdir(parents=True, exist_ok=True)
        (caches / "model_prices_and_context_window.json").write_text("{}")
        env.update(OPENAI_API_BASE=f"{url}/v1", OPENAI_API_KEY="sk-test-not-a-key")
    return env


def codex_config(url: str) -> str:
    """A custom provider: codex 0.171 ignores OPENAI_BASE_URL, so the endpoint lives in config.toml."""
    return (
        'model = "gpt-5.5"\n'
        'model_provider = "scripted"\n'
        "[model_providers.scripted]\n"
        'name = "scripted"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 1\n"
        "stream_max_retries = 2\n"
        "stream_idle_timeout_ms = 8000\n"
    )


AIDER_MODEL = "openai/test-model"


async def cli(home: Path, *args: str, timeout: float = 150) -> tuple[int, str, str]:
    """`executive ARGS` as a subprocess against the daemon of ``home``: (exit code, stdout, stderr)."""
    env = dict(os.environ, EXECUTIVE_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "executive",
        *args,
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


async def agent_run(
    home: Path, agent: str, repo: Path, srv_url: str, prompt: str, *extra: str
) -> tuple[int, list[dict[str, Any]], str]:
    """`executive agent run --json` with the real CLI: (exit code, normalized events, stderr)."""
    env = cli_env(agent, srv_url, repo.parent / f"home-{agent}")
    argv = ["agent", "run", "--json", "--agent", agent, "--bin", str(CLI_PATHS[agent]), "--cwd", str(repo)]
    for k, v in env.items():
        argv += ["--env", f"{k}={v}"]
    if agent == "aider":
        # An unknown model gets aider's "whole" edit format; the scripted model answers in SEARCH/REPLACE blocks.
        argv += ["--model", AIDER_MODEL, "--file", "hello.py", "--arg=--edit-format=diff"]
    code, out, err = await cli(home, *argv, *extra, prompt)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, events, err
