"""Fixtures for the agents tests: fake agent CLIs on a launcher path, real git repositories, event helpers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agents"
FAKES = {
    "claude": "fake_claude.py",
    "codex": "fake_codex.py",
    "aider": "fake_aider.py",
    "fake-command": "fake_command.py",
}


@pytest.fixture
def fake_bin(tmp_path: Path) -> dict[str, str]:
    """Executables named like the real CLIs that run the fakes with this interpreter (fast start, no PATH games)."""
    d = tmp_path / "bin"
    d.mkdir()
    out = {}
    for name, script in FAKES.items():
        exe = d / name
        exe.write_text(
            f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FIXTURES / script)!r}, run_name='__main__')\n"
        )
        exe.chmod(0o755)
        out[name] = str(exe)
    return out


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in files.items():
        p = path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"calc.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"})


def tree_state(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path under root except .git: kind, permission bits, bytes (or link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p).encode())
            else:
                out[rel] = ("file", st.st_mode & 0o7777, Path(p).read_bytes())
        for d in dirnames:
            rel = os.path.relpath(os.path.join(dirpath, d), root)
            out.setdefault(rel + "/", ("dir", 0, b""))
    return out


class AgentHelpers:
    """Run an agent over the wire and collect its normalized events."""

    git = staticmethod(git)
    tree_state = staticmethod(tree_state)
    make_repo = staticmethod(make_repo)

    async def run(self, client: Client, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """agent.run, then every agent.* event of that task up to and including agent.result."""
        cursor = (await client.call("daemon.health"))["last_seq"]
        task = await client.call("agent.run", **params)
        await client.call(
            "events.subscribe",
            tasks=[task["id"]],
            since_seq=cursor,
            types=[
                "agent.session",
                "agent.message",
                "agent.tool_call",
                "agent.tool_result",
                "agent.warning",
                "agent.result",
            ],
        )
        events = []
        while True:
            e = await client.next_event(timeout=60)
            if e["type"].startswith("agent.") and e["pid"] == task["id"]:
                events.append(e)
                if e["type"] == "agent.result":
                    return task, events


@pytest.fixture
def agents() -> AgentHelpers:
    return AgentHelpers()


async def cli(
    home: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `executive ARGS` as a subprocess against the daemon of ``home``; returns (exit code, stdout, stderr)."""
    import asyncio

    full_env = {**os.environ, "EXECUTIVE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "executive",
        *args,
        env=full_env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
    return proc.returncode or 0, out.decode(), err.decode()


AgentHelpers.cli = staticmethod(cli)  # type: ignore[attr-defined]
