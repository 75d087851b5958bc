"""One real Claude Code run (a scripted edit) through executive, against the same run as a plain subprocess.

Against the scripted model server of tests/agents_real (127.0.0.1, no key), each round resets
``hello.py`` and runs the same three-turn edit (Read, Edit, final text) three ways:

* direct (B, the baseline): ``claude -p --output-format stream-json --verbose …`` as a plain subprocess;
* ``agent.run`` (A of the first case): over the daemon's API until ``agent.result`` (argv, task, live
  parsing, git snapshots before and after, the stored result);
* ``executive agent run`` (A of the second case): as a user types it, which adds the CLI process's own
  start-up and exit (timed alone as a trivial ``executive agent runs`` and printed in the note).

The three sides rotate their order round by round (the harness's interleaving, for three), so drift
hits each alike; both cases share the direct samples of the same rounds.  Every run must make the
edit and end ok.  Target: executive adds under 15 % or 150 ms, whichever is larger.  Needs
``make agents`` (Claude Code in .tools/); without it the benchmark prints ``skipped`` and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import _harness

from executive.api.client import Client

sys.path.insert(0, str(_harness.ROOT / "tests" / "agents_real"))
import model_server as ms

CLAUDE = _harness.ROOT / ".tools" / "npm" / "node_modules" / ".bin" / "claude"
PROMPT = "fix the typo in hello.py"
BROKEN, FIXED = "print('helo')\n", "print('hello')\n"


def _script() -> ms.Script:
    fix = [ms.read("hello.py"), ms.edit("hello.py", BROKEN, FIXED), ms.text("Fixed.")]
    return ms.Script(fix * 1000)  # every run takes the same three turns


def _git(repo: Path, *args: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b"
    )
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


class Sides:
    """The three ways of making the same edit; each returns its wall time in seconds."""

    def __init__(self, repo: Path, home: Path, client: Client, model_url: str) -> None:
        self.repo = repo
        self.client = client
        (home.parent / "claude-home").mkdir(exist_ok=True)
        self.env = {
            "HOME": str(home.parent / "claude-home"),
            "ANTHROPIC_BASE_URL": model_url,
            "ANTHROPIC_API_KEY": "sk-bench-not-a-key",
            "DISABLE_AUTOUPDATER": "1",
        }
        self.direct_argv = [str(CLAUDE), "-p", "--output-format", "stream-json", "--verbose"]
        self.direct_argv += ["--permission-mode=acceptEdits", "--", PROMPT]
        self.cli_argv = [sys.executable, "-m", "executive", "agent", "run", "--agent", "claude", "--bin", str(CLAUDE)]
        self.cli_argv += ["--cwd", str(repo), "--permissions", "edit"]
        for k, v in self.env.items():
            self.cli_argv += ["--env", f"{k}={v}"]
        self.cli_argv.append(PROMPT)
        self.cli_env = dict(os.environ, EXECUTIVE_HOME=str(home), PYTHONPATH=str(_harness.ROOT / "src"))

    def _reset(self) -> None:
        (self.repo / "hello.py").write_text(BROKEN)

    def _check(self, how: str) -> None:
        if (self.repo / "hello.py").read_text() != FIXED:
            raise SystemExit(f"agent_e2e: {how}: the scripted edit did not happen")

    async def _run(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"agent_e2e: {argv[0]} exited {proc.returncode}: {(out + err).decode()[-500:]}")

    async def direct(self) -> float:
        self._reset()
        t0 = time.perf_counter()
        await self._run(self.direct_argv, dict(os.environ, **self.env), cwd=self.repo)
        elapsed = time.perf_counter() - t0
        self._check("direct")
        return elapsed

    async def api(self) -> float:
        self._reset()
        c = self.client
        t0 = time.perf_counter()
        cursor = (await c.call("daemon.health"))["last_seq"]
        task = await c.call(
            "agent.run",
            agent="claude",
            bin=str(CLAUDE),
            cwd=str(self.repo),
            prompt=PROMPT,
            permissions="edit",
            env=self.env,
        )
        sub = await c.call("events.subscribe", tasks=[task["id"]], types=["agent.result"], since_seq=cursor)
        try:
            while True:
                e = await c.next_event(timeout=120)
                if e["type"] == "agent.result" and e["pid"] == task["id"]:
                    break
        finally:
            await c.call("events.unsubscribe", subscription=sub["subscription"])
        elapsed = time.perf_counter() - t0
        if not e["data"]["ok"]:
            raise SystemExit(f"agent_e2e: the run through the daemon failed: {e['data'].get('errors')}")
        self._check("agent.run")
        return elapsed

    async def cli(self) -> float:
        self._reset()
        t0 = time.perf_counter()
        await self._run(self.cli_argv, self.cli_env)
        elapsed = time.perf_counter() - t0
        self._check("executive agent run")
        return elapsed

    async def cli_alone(self) -> float:
        t0 = time.perf_counter()
        await self._run([sys.executable, "-m", "executive", "agent", "runs", "--limit", "1"], self.cli_env)
        return time.perf_counter() - t0


async def rotate(rounds: int, sides: list[Callable[[], Awaitable[float]]]) -> list[list[float]]:
    """One sample per side per round; round r starts with side r mod n (interleaving for n sides)."""
    samples: list[list[float]] = [[] for _ in sides]
    for r in range(rounds):
        for k in range(len(sides)):
            i = (r + k) % len(sides)
            samples[i].append(await sides[i]())
    return samples


async def run(bench: _harness.Bench, d: _harness.BenchDaemon, repo: Path, model_url: str) -> None:
    client = await d.client()
    try:
        s = Sides(repo, d.home, client, model_url)
        await s.direct()  # warm the CLI's caches and the page cache on both paths
        await s.api()
        direct, api, cli, alone = await rotate(bench.rounds, [s.direct, s.api, s.cli, s.cli_alone])
    finally:
        await client.close()
    base = statistics.median(direct)
    allowed = max(0.15 * base, 0.150)

    def verdict(xs: list[float]) -> str:
        added = statistics.median(xs) - base
        return (
            f"executive adds {added * 1000:+.0f} ms (median); target +15 % or +150 ms, whichever is larger "
            f"({allowed * 1000:.0f} ms): {'met' if added <= allowed else 'NOT met'}"
        )

    common = ("one Claude Code run", "s", "direct subprocess")
    bench.record(
        "claude edit, agent.run over the API",
        common[0],
        common[1],
        "agent.run until agent.result",
        api,
        common[2],
        direct,
        better="lower",
        note=verdict(api),
    )
    bench.record(
        "claude edit, executive agent run (CLI)",
        common[0],
        common[1],
        "executive agent run",
        cli,
        common[2],
        direct,
        better="lower",
        note=f"{verdict(cli)}; the CLI process alone (`executive agent runs`): "
        f"{statistics.median(alone) * 1000:.0f} ms",
    )


def main() -> None:
    if not os.access(CLAUDE, os.X_OK):
        print(f"agent_e2e: skipped, no Claude Code at {CLAUDE} (make agents)")
        return
    with _harness.Bench("agent_e2e", __doc__.splitlines()[0]) as bench:
        with _harness.BenchDaemon() as d, ms.ModelServer(_script()) as srv:
            repo = d.home.parent / "repo"
            repo.mkdir()
            (repo / "hello.py").write_text(BROKEN)
            _git(repo, "init", "-q", "-b", "main")
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "-m", "init")
            asyncio.run(run(bench, d, repo, srv.url))


if __name__ == "__main__":
    main()
