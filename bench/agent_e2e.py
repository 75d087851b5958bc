"""Agent end-to-end benchmark: one real Claude Code run (a scripted edit), direct vs through executive.

The same run three ways, each round resetting the file first, against the scripted model server of
tests/agents_real (127.0.0.1, no key):

a. direct: ``claude -p --output-format stream-json --verbose …`` as a plain subprocess (the baseline);
b. daemon: ``agent.run`` over the daemon's API until ``agent.result`` (argv, task, live parsing, git
   snapshots before and after, the stored result);
c. cli: ``executive agent run`` as a user types it (adds the CLI process's own start-up and exit,
   printed separately as the time of a trivial ``executive agent runs``).

Prints the median of N rounds (default 5) and the ratios b/a and c/a; the target is executive adding
under 15 % or 150 ms, whichever is larger.  Needs ``make agents`` (Claude Code in .tools/).

Run: ``.venv/bin/python bench/agent_e2e.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "agents_real"))

import model_server as ms  # noqa: E402

from executive.api.client import Client  # noqa: E402

CLAUDE = ROOT / ".tools" / "npm" / "node_modules" / ".bin" / "claude"
PROMPT = "fix the typo in hello.py"


def _script() -> ms.Script:
    fix = [ms.read("hello.py"), ms.edit("hello.py", "print('helo')\n", "print('hello')\n"), ms.text("Fixed.")]
    return ms.Script(fix * 1000)  # every round takes the same three turns


def _git(repo: Path, *args: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b"
    )
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def _reset(repo: Path) -> None:
    (repo / "hello.py").write_text("print('helo')\n")


def _check(repo: Path, how: str) -> None:
    if (repo / "hello.py").read_text() != "print('hello')\n":
        raise SystemExit(f"{how}: the scripted edit did not happen")


def _start_daemon(home: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, EXECUTIVE_HOME=str(home), PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "executive", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if json.loads((home / "daemon.json").read_text()).get("pid") == proc.pid:
                return proc
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the daemon did not start")


async def _via_api(home: Path, repo: Path, env: dict[str, str]) -> float:
    info = json.loads((home / "daemon.json").read_text())
    client = await Client.connect(info["url"], (home / "token").read_text().strip())
    try:
        t0 = time.perf_counter()
        cursor = (await client.call("daemon.health"))["last_seq"]
        task = await client.call(
            "agent.run", agent="claude", bin=str(CLAUDE), cwd=str(repo), prompt=PROMPT, permissions="edit", env=env
        )
        await client.call("events.subscribe", tasks=[task["id"]], types=["agent.result"], since_seq=cursor)
        while True:
            e = await client.next_event(timeout=120)
            if e["type"] == "agent.result" and e["pid"] == task["id"]:
                if not e["data"]["ok"]:
                    raise SystemExit(f"daemon run failed: {e['data']['errors']}")
                return time.perf_counter() - t0
    finally:
        await client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not os.access(CLAUDE, os.X_OK):
        print(f"skipped: {CLAUDE} not found; run `make agents` first")
        return
    with tempfile.TemporaryDirectory() as tmp, ms.ModelServer(_script()) as srv:
        base = Path(tmp)
        repo = base / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        _reset(repo)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "init")
        env = {
            "HOME": str(base / "home"),
            "ANTHROPIC_BASE_URL": srv.url,
            "ANTHROPIC_API_KEY": "sk-bench-not-a-key",
            "DISABLE_AUTOUPDATER": "1",
        }
        (base / "home").mkdir()
        direct_argv = [
            str(CLAUDE),
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode=acceptEdits",
        ]
        direct_argv += ["--", PROMPT]
        home = base / "exec-home"
        home.mkdir()
        daemon = _start_daemon(home)
        cli_argv = [sys.executable, "-m", "executive", "agent", "run", "--agent", "claude", "--bin", str(CLAUDE)]
        cli_argv += ["--cwd", str(repo), "--permissions", "edit"]
        for k, v in env.items():
            cli_argv += ["--env", f"{k}={v}"]
        cli_argv.append(PROMPT)
        cli_env = dict(os.environ, EXECUTIVE_HOME=str(home), PYTHONPATH=str(ROOT / "src"))
        times: dict[str, list[float]] = {"direct": [], "daemon": [], "cli": [], "cli_fixed": []}
        trivial = [sys.executable, "-m", "executive", "agent", "runs", "--limit", "1"]
        try:
            for _ in range(args.rounds):
                _reset(repo)
                t0 = time.perf_counter()
                subprocess.run(direct_argv, cwd=repo, env=dict(os.environ, **env), check=True, capture_output=True)
                times["direct"].append(time.perf_counter() - t0)
                _check(repo, "direct")
                _reset(repo)
                times["daemon"].append(asyncio.run(_via_api(home, repo, env)))
                _check(repo, "daemon")
                _reset(repo)
                t0 = time.perf_counter()
                subprocess.run(cli_argv, env=cli_env, check=True, capture_output=True)
                times["cli"].append(time.perf_counter() - t0)
                _check(repo, "cli")
                t0 = time.perf_counter()
                subprocess.run(trivial, env=cli_env, check=True, capture_output=True)
                times["cli_fixed"].append(time.perf_counter() - t0)
        finally:
            daemon.terminate()
            daemon.wait(20)
    med = {k: statistics.median(v) for k, v in times.items()}
    a = med["direct"]
    print(f"one real Claude Code run (Read, Edit, final text), median of {args.rounds}:")
    for k, label in (
        ("direct", "a. direct subprocess"),
        ("daemon", "b. agent.run via daemon"),
        ("cli", "c. executive agent run"),
    ):
        extra = "" if k == "direct" else f"  ratio {med[k] / a:.2f}  (+{(med[k] - a) * 1000:.0f} ms)"
        print(f"  {label:26s} {med[k] * 1000:7.0f} ms{extra}")
    print(f"  (the CLI process alone, `executive agent runs`: {med['cli_fixed'] * 1000:.0f} ms)")
    allowed = max(0.15 * a, 0.150)
    for k in ("daemon", "cli"):
        verdict = "within" if med[k] - a <= allowed else "over"
        print(f"  {k}: {verdict} the target (+15 % or +150 ms, whichever is larger: {allowed * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
