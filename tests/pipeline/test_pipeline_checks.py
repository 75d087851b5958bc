"""Every check kind scores a real project; agent steps run with and without the agents layer; steps pause."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from executive.api.client import Client
from executive.pipeline.agent_steps import AgentsLayerLauncher, default_launcher
from executive.pipeline.model import AgentRef
from executive.service import Executive

CHECKS = """
    name: kinds
    phases:
      - name: all
        steps:
          - {name: s, command: [true]}
        checks:
          - {name: cov_text, kind: coverage, command: [sh, -c, "echo 'TOTAL   10   2   80%'"], target: 80, owners: [s]}
          - {name: cov_report, kind: coverage, report: coverage.json, owners: [s]}
          - name: unittest
            kind: test_ratio
            command: [sh, -c, "echo 'Ran 4 tests in 0.1s' >&2; echo 'FAILED (failures=1)' >&2; exit 1"]
            owners: [s]
          - {name: no_summary, kind: test_ratio, command: [echo, hello], owners: [s]}
          - {name: json_ok, kind: json_score, command: [echo, '{"q": {"v": 0.5}}'], key: q.v, scale: 1, owners: [s]}
          - {name: json_missing, kind: json_score, command: [echo, '{"q": {}}'], key: q.v, owners: [s]}
          - name: rubric
            kind: rubric
            rubric: Is it friendly?
            agent: {cli: custom, argv: [sh, rubric.sh, "{prompt}"]}
            owners: [s]
          - {name: cmd_fails, kind: command, command: [sh, -c, "echo broken >&2; exit 3"], owners: [s]}
          - {name: glob, kind: files_exist, paths: ["src/*.txt", missing.txt], owners: [s]}
    """

EXPECTED = {
    "cov_text": (100, "coverage 80% (target 80%)"),
    "cov_report": (71.5, "coverage 71.5% (target 100%)"),
    "unittest": (75, "3 passed, 1 failed"),
    "no_summary": (
        0,
        'no test summary found (auto); print e.g. \'3 passed, 1 failed\' or JSON {"passed": 3, "failed": 1}',
    ),
    "json_ok": (50, "q.v = 0.5 (of 1)"),
    "json_missing": (0, "key 'q.v' not found in the command's JSON output"),
    "rubric": (70, "agent scored 70"),
    "cmd_fails": (0, "exit 3: broken"),
    "glob": (50, "missing: missing.txt"),
}


async def test_every_check_kind_scores(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(work / "pipeline.yaml", CHECKS)
    (work / "coverage.json").write_text(json.dumps({"totals": {"percent_covered": 71.5}}))
    (work / "src").mkdir()
    (work / "src" / "a.txt").write_text("x")
    pl.write(
        work / "rubric.sh",
        """
        case "$1" in
          *"Is it friendly?"*) echo '{"score": 70, "reason": "friendly enough"}';;
          *) echo '{"score": 0}';;
        esac
        """,
    )
    run = await client.call("pipeline.validate", dir=str(work))
    await pl.finish(client, run["id"])
    status = await client.call("pipeline.status", run=run["id"])
    checks = status["phases"][0]["iterations"][0]["checks"]
    assert {c["name"]: (c["score"], c["detail"]) for c in checks} == EXPECTED
    rubric = next(c for c in checks if c["name"] == "rubric")
    assert (await client.call("task.info", task=rubric["tasks"][0]))["kind"] == "agent"


async def test_pipeline_agent_steps_go_through_the_adapters_with_edit_permissions(tmp_path: Path) -> None:
    """One launcher path: the adapters build the argv (codex 0.171 refuses the old `--full-auto`)."""
    from executive.agents.adapters import AgentRequest, get_adapter

    ex = await Executive.open(tmp_path / "home")
    try:
        assert isinstance(default_launcher(ex), AgentsLayerLauncher)
    finally:
        await ex.aclose()
    assert AgentRef(cli="codex").permissions == "edit"
    argv = get_adapter("codex").build_argv(
        AgentRequest(agent="codex", prompt="-x", cwd=".", permissions="edit"), "codex"
    )
    assert "--full-auto" not in argv and "--sandbox=workspace-write" in argv and argv[-2:] == ["--", "-x"]
    argv = get_adapter("claude").build_argv(
        AgentRequest(agent="claude", prompt="p", cwd=".", permissions="edit"), "claude"
    )
    assert "--permission-mode=acceptEdits" in argv


async def test_custom_agent_step_runs_as_an_agent_task(pl: SimpleNamespace, tmp_path: Path, work: Path) -> None:
    """A custom agent step runs through the agents layer's command adapter as an agent task."""
    pl.write(
        work / "pipeline.yaml",
        """
        name: builtin
        phases:
          - name: build
            steps:
              - name: writer
                agent:
                  cli: custom
                  argv: [sh, -c, 'echo "$1" > prompt.txt', agent, "{prompt}"]
                  prompt: "write {requirement}"
            checks:
              - {name: prompt, kind: files_exist, paths: [prompt.txt], owners: [writer]}
        """,
    )
    ex = await Executive.open(tmp_path / "home")
    try:
        run = await ex.pipelines.run(path=str(work / "pipeline.yaml"), requirement="a poem")
        assert (await ex.pipelines.wait(run["id"], timeout=60))["state"] == "passed"
        assert (work / "prompt.txt").read_text() == "write a poem\n"
        status = await ex.pipelines.status(run["id"])
        task = ex.task_info(status["phases"][0]["iterations"][0]["steps"][0]["tasks"][0])
        assert task["kind"] == "agent" and task["meta"]["pipeline"]["step"] == "writer"
    finally:
        await ex.aclose()


async def test_a_paused_step_holds_the_run(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(
        work / "pipeline.yaml",
        """
        name: pause
        phases:
          - name: build
            steps:
              - {name: slow, command: [sh, -c, "while [ ! -e go ]; do sleep 0.05; done; touch done"]}
            checks:
              - {name: done, kind: files_exist, paths: [done], owners: [slow]}
        """,
    )
    run = await client.call("pipeline.run", path=str(work / "pipeline.yaml"), requirement="test")
    tid = None
    for _ in range(400):
        info = await client.call("pipeline.info", run=run["id"])
        tid = (info.get("live") or {}).get("task")
        if tid:
            break
        await asyncio.sleep(0.025)
    assert tid is not None
    assert (await client.call("task.pause", task=tid))["state"] == "paused"
    (work / "go").touch()
    still = await client.call("pipeline.wait", run=run["id"], timeout=0.3)
    assert still["timed_out"] and still["state"] == "running"
    assert (await client.call("task.info", task=tid))["state"] == "paused"
    await client.call("task.resume", task=tid)
    assert (await pl.finish(client, run["id"]))["state"] == "passed"


async def test_check_output_that_is_not_utf8_still_scores(pl: SimpleNamespace, client: Client, work: Path) -> None:
    # One Latin-1 byte in a test runner's output made the whole tail arrive as data_b64, read as "":
    # the summary line was lost and the check scored 0 ("no test summary found").
    pl.write(
        work / "pipeline.yaml",
        r"""
        name: bytes
        phases:
          - name: t
            steps:
              - {name: s, command: [true]}
            checks:
              - name: tests
                kind: test_ratio
                command: [sh, -c, "printf 'caf\\351 \\342\\234\\223 ok\\n3 passed, 1 failed\\n'"]
                owners: [s]
        """,
    )
    run = await client.call("pipeline.validate", dir=str(work))
    await pl.finish(client, run["id"])
    status = await client.call("pipeline.status", run=run["id"])
    [check] = status["phases"][0]["iterations"][0]["checks"]
    assert (check["score"], check["detail"]) == (75, "3 passed, 1 failed")


async def test_diff_so_far_reads_at_most_the_limit_from_git(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake git whose diff is 8 MiB in 4 KiB chunks (a dot in `count` per chunk); the reader stops at limit+1.
    from executive.pipeline.workspace import diff_so_far

    bin_dir, count = tmp_path / "bin", tmp_path / "written"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(f"""#!{sys.executable}
import sys
if "rev-parse" in sys.argv:
    print("true")
elif "diff" in sys.argv:
    for _ in range(2048):
        with open({str(count)!r}, "a") as f:
            f.write(".")
        sys.stdout.buffer.write(b"+" * 4095 + b"\\n")
        sys.stdout.buffer.flush()
""")
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    text = await diff_so_far(str(work), 0.0, 1000)
    assert text.endswith("[... diff cut at the pipeline_diff_bytes limit ...]")
    assert text.startswith("+" * 1000) and len(text.encode()) <= 1000 + 60
    assert len(count.read_text()) < 512  # git was stopped after about a pipe's worth, not drained (2048 chunks)


async def test_exit_gate_reads_files_off_the_event_loop(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Globs walk the tree and the coverage report may be big: neither may run on the daemon's loop thread.
    import threading

    from executive.kernel.limits import DEFAULT_LIMITS
    from executive.pipeline import gates
    from executive.pipeline.model import parse_pipeline

    (work / "coverage.json").write_text(json.dumps({"totals": {"percent_covered": 90}}))
    (work / "a.txt").write_text("x")
    phase = parse_pipeline(
        """
name: io
phases:
  - name: p
    steps:
      - {name: s, command: [true]}
    checks:
      - {name: cov, kind: coverage, report: coverage.json, target: 90, owners: [s]}
      - {name: glob, kind: files_exist, paths: ["*.txt"], owners: [s]}
""",
        DEFAULT_LIMITS,
        source="test",
    ).phases[0]
    threads: list[tuple[str, int]] = []
    real_matches, real_read_text = gates.matches, Path.read_text

    def matches(*a: Any, **kw: Any) -> Any:
        threads.append(("glob", threading.get_ident()))
        return real_matches(*a, **kw)

    def read_text(self: Path, *a: Any, **kw: Any) -> str:
        threads.append(("report", threading.get_ident()))
        return real_read_text(self, *a, **kw)

    monkeypatch.setattr(gates, "matches", matches)
    monkeypatch.setattr(Path, "read_text", read_text)
    ctx = gates.GateContext(str(work), {}, 10_000, 1_000_000)
    results = await gates.evaluate_exit_gate(phase, None, ctx)  # type: ignore[arg-type]  # no check runs a command
    assert [(r["name"], r["score"]) for r in results] == [("cov", 100), ("glob", 100)]
    assert sorted(kind for kind, _ in threads) == ["glob", "report"]
    assert threading.get_ident() not in {tid for _, tid in threads}
