"""The engine through the wire: real command steps in a temp dir, rework, thresholds, approval, cancel, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode


def _step(name: str, extra: str = "") -> str:
    """A step that appends its name to side.txt (the side-effect counter), then runs ``extra``."""
    return f'      - {{name: {name}, command: [sh, -c, "echo {name} >> side.txt{"; " + extra if extra else ""}"]}}\n'


def _iterations(status: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return next(p for p in status["phases"] if p["name"] == phase)["iterations"]


async def test_only_the_step_owning_the_failed_check_reruns(pl: SimpleNamespace, client: Client, work: Path) -> None:
    # b creates b.ok only on its second run; c's check always passes.
    b_second_time = "n=$(grep -c ^b$ side.txt); [ $n -ge 2 ] && touch b.ok; true"
    pl.write(
        work / "p.yaml",
        f"""
        name: rework
        phases:
          - name: build
            thresholds: [80, 90]
            steps:
        {_step("a", "touch a.ok")}{_step("b", b_second_time)}{_step("c", "touch c.ok")}
            checks:
              - {{name: a_ok, kind: files_exist, paths: [a.ok], owners: [a]}}
              - {{name: b_ok, kind: files_exist, paths: [b.ok], owners: [b]}}
              - {{name: c_ok, kind: command, command: [test, -e, c.ok], owners: [c]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    done = await pl.finish(client, run["id"])
    assert done["state"] == "passed", done["detail"]
    assert pl.lines(work / "side.txt") == ["a", "b", "c", "b"]
    its = _iterations(await client.call("pipeline.status", run=run["id"]), "build")
    assert [(it["iteration"], [s["step"] for s in it["steps"]]) for it in its] == [(1, ["a", "b", "c"]), (2, ["b"])]
    assert [(it["score"], it["threshold"], it["verdict"]) for it in its] == [(66.67, 80, "rework"), (100, 90, "passed")]
    assert [c["name"] for c in its[0]["checks"] if c["failed"]] == ["b_ok"]


def _climbing(step: int, start: int, max_iterations: int = 4) -> str:
    """A phase whose score starts at ``start`` and gains ``step`` points per run of its one step."""
    return f"""
        name: climb
        defaults: {{max_iterations: {max_iterations}}}
        phases:
          - name: improve
            steps:
              - {{name: work, command: [sh, -c, "echo work >> side.txt"]}}
            checks:
              - name: score
                kind: json_score
                command: [sh, -c, 'n=$(wc -l < side.txt); echo "{{\\"score\\": $(({start - step} + {step} * n))}}"']
                key: score
                owners: [work]
        """


async def test_threshold_table_rises_per_iteration_until_exhausted(
    pl: SimpleNamespace, client: Client, work: Path
) -> None:
    pl.write(work / "p.yaml", _climbing(10, 55))  # 55, 65, 75, 85 against 60, 75, 85, 90
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    done = await pl.finish(client, run["id"])
    its = _iterations(await client.call("pipeline.status", run=run["id"]), "improve")
    assert [(it["score"], it["threshold"], it["verdict"]) for it in its] == [
        (55, 60, "rework"),
        (65, 75, "rework"),
        (75, 85, "rework"),
        (85, 90, "exhausted"),
    ]
    assert done["state"] == "failed" and "exhausted" in done["detail"]
    assert pl.lines(work / "side.txt") == ["work"] * 4


async def test_a_phase_that_stops_improving_stops(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(work / "p.yaml", _climbing(3, 50))  # +3 < the default +5
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    done = await pl.finish(client, run["id"])
    its = _iterations(await client.call("pipeline.status", run=run["id"]), "improve")
    assert [(it["score"], it["verdict"]) for it in its] == [(50, "rework"), (53, "not_improving")]
    assert done["state"] == "failed" and "not_improving" in done["detail"]


async def test_optional_steps_join_from_iteration_two_and_retries_back_off(
    pl: SimpleNamespace, client: Client, work: Path
) -> None:
    flaky = "echo try >> tries.txt; [ $(wc -l < tries.txt) -ge 2 ]"
    pl.write(
        work / "p.yaml",
        f"""
        name: optional
        phases:
          - name: build
            steps:
              - {{name: flaky, retries: 2, backoff_s: 0, command: [sh, -c, "{flaky}"]}}
              - {{name: extra, required: false, command: [sh, -c, "echo extra >> side.txt; touch extra.ok"]}}
            checks:
              - {{name: extra_done, kind: files_exist, paths: [extra.ok], owners: [flaky]}}
        """,
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    its = _iterations(await client.call("pipeline.status", run=run["id"]), "build")
    assert [[s["step"] for s in it["steps"]] for it in its] == [["flaky"], ["flaky", "extra"]]
    first = its[0]["steps"][0]
    assert first["status"] == "ok" and first["attempts"] == 2 and len(first["tasks"]) == 2
    failed_try = await client.call("task.info", task=first["tasks"][0])
    assert failed_try["exit_code"] == 1 and failed_try["meta"]["pipeline"]["attempt"] == 1


async def test_steps_are_tasks_and_the_run_publishes_events(pl: SimpleNamespace, client: Client, work: Path) -> None:
    await client.call("events.subscribe", types=["pipeline.run", "pipeline.phase", "pipeline.step", "pipeline.gate"])
    pl.write(
        work / "p.yaml",
        f"""
        name: events
        phases:
          - name: only
            steps:
        {_step("a")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [a]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="count to one")
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    seen: list[dict[str, Any]] = []
    while not any(e["type"] == "pipeline.run" and e["data"]["to"] == "passed" for e in seen):
        seen.append(await client.next_event(timeout=10))
    kinds = [(e["type"], e["data"].get("state") or e["data"].get("to") or e["data"].get("verdict")) for e in seen]
    assert kinds == [
        ("pipeline.run", "running"),
        ("pipeline.phase", "started"),
        ("pipeline.step", "started"),
        ("pipeline.step", "ended"),
        ("pipeline.gate", "passed"),
        ("pipeline.phase", "passed"),
        ("pipeline.run", "passed"),
    ]
    step_end = seen[3]
    task = await client.call("task.info", task=step_end["pid"])
    assert task["name"] == f"{run['id']}.only.a" and task["meta"]["pipeline"]["step"] == "a"
    assert task["exit_code"] == 0 and task["cwd"] == str(work)


async def test_entry_gate_blocks_a_phase(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(
        work / "p.yaml",
        f"""
        name: gated
        phases:
          - name: first
            steps:
        {_step("a")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [a]}}
          - name: second
            entry:
              files: [spec.md]
              commands: [[test, -e, side.txt]]
            steps:
        {_step("b")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [b]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    done = await pl.finish(client, run["id"])
    assert done["state"] == "failed" and "required file spec.md is missing" in done["detail"]
    status = await client.call("pipeline.status", run=run["id"])
    assert [p["state"] for p in status["phases"]] == ["passed", "blocked"]
    assert pl.lines(work / "side.txt") == ["a"]


async def test_agent_rework_prompt_carries_failed_checks_and_the_diff(
    pl: SimpleNamespace, client: Client, work: Path
) -> None:
    # A custom agent: records each prompt, and does the job on its second run.
    pl.write(
        work / "agent.sh",
        """
        printf '%s\\n=====\\n' "$1" >> prompts.txt
        [ "$(grep -c ===== prompts.txt)" -ge 2 ] && touch done.txt
        true
        """,
    )
    pl.write(
        work / "p.yaml",
        """
        name: agents
        phases:
          - name: build
            steps:
              - name: writer
                agent:
                  cli: custom
                  argv: [sh, agent.sh, "{prompt}"]
                  prompt: "Build it for: {requirement} (iteration {iteration})"
            checks:
              - {name: done_file, kind: files_exist, paths: [done.txt], owners: [writer]}
        """,
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="a greeter")
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    first, second = (work / "prompts.txt").read_text().split("=====\n")[:2]
    assert first.strip() == "Build it for: a greeter (iteration 1)"
    assert second.startswith("Build it for: a greeter (iteration 2)")
    assert "done_file (files_exist): score 0 < 60 - missing: done.txt" in second
    assert "prompts.txt" in second  # the diff so far: files changed since the run started
    status = await client.call("pipeline.status", run=run["id"])
    tid = _iterations(status, "build")[1]["steps"][0]["tasks"][0]
    assert (await client.call("task.info", task=tid))["kind"] == "agent"


async def test_approval_gate_waits_then_continues(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(
        work / "p.yaml",
        f"""
        name: approval
        phases:
          - name: build
            steps:
        {_step("a")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [a]}}
          - name: deploy
            entry: {{approval: true}}
            steps:
        {_step("b")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [b]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    waiting = await pl.finish(client, run["id"])
    assert waiting["state"] == "waiting_approval" and pl.lines(work / "side.txt") == ["a"]
    with pytest.raises(RpcError, match="has no approval gate"):
        await client.call("pipeline.approve", run=run["id"], phase="build")
    with pytest.raises(RpcError, match="no phase 'deplyo'"):
        await client.call("pipeline.approve", run=run["id"], phase="deplyo")
    out = await client.call("pipeline.approve", run=run["id"], phase="deploy", note="ship it")
    assert out["phase"] == "deploy" and out["note"] == "ship it"
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    assert pl.lines(work / "side.txt") == ["a", "b"]
    status = await client.call("pipeline.status", run=run["id"])
    assert status["phases"][1]["approved"]["note"] == "ship it"


async def test_cancel_then_resume_reruns_the_cut_step_once(pl: SimpleNamespace, client: Client, work: Path) -> None:
    wait_go = "while [ ! -e go ]; do sleep 0.05; done"
    pl.write(
        work / "p.yaml",
        f"""
        name: cancel
        phases:
          - name: build
            steps:
        {_step("a")}      - {{name: b, command: [sh, -c, "{wait_go}; echo b >> side.txt"]}}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [b]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")

    async def b_running() -> int | None:
        its = _iterations(await client.call("pipeline.status", run=run["id"]), "build")
        steps = its[0]["steps"] if its else []
        return steps[1]["tasks"][0] if len(steps) == 2 and steps[1]["tasks"] else None

    tid = None
    for _ in range(400):
        tid = await b_running()
        if tid:
            break
        await asyncio.sleep(0.025)
    assert tid is not None
    cancelled = await client.call("pipeline.cancel", run=run["id"])
    assert cancelled["state"] == "cancelled"
    assert (await client.call("task.wait", task=tid, timeout=20))["end_reason"] == "cancelled"
    with pytest.raises(RpcError) as err:
        await client.call("pipeline.approve", run=run["id"], phase="build")
    assert err.value.code == ErrorCode.INVALID_PARAMS
    (work / "go").touch()
    await client.call("pipeline.resume", run=run["id"])
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    assert pl.lines(work / "side.txt") == ["a", "b"]
    assert pl.step_starts(await client.call("pipeline.status", run=run["id"])) == {"build/a@1": 1, "build/b@1": 2}


async def test_rework_from_a_step_redoes_it_and_what_follows(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(
        work / "p.yaml",
        f"""
        name: redo
        phases:
          - name: build
            steps:
        {_step("a")}{_step("b")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [a]}}
          - name: ship
            steps:
        {_step("c")}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [c]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    with pytest.raises(RpcError, match="a finished run resumes only with --rework-from"):
        await client.call("pipeline.resume", run=run["id"])
    with pytest.raises(RpcError, match="steps that ran: build/a, build/b, ship/c"):
        await client.call("pipeline.resume", run=run["id"], rework_from="nope")
    await client.call("pipeline.resume", run=run["id"], rework_from="build/b")
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    assert pl.lines(work / "side.txt") == ["a", "b", "c", "b", "c"]


async def test_report_has_a_chart_of_score_against_threshold(pl: SimpleNamespace, client: Client, work: Path) -> None:
    pl.write(work / "p.yaml", _climbing(10, 55, max_iterations=2))
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="<script>alert(1)</script>")
    await pl.finish(client, run["id"])
    html = (await client.call("pipeline.report", run=run["id"]))["html"]
    assert html.count("<svg") == 1 and html.count("<rect") == 2  # one bar per iteration
    assert "improve iteration 2: score 65 / threshold 75" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    rows = await client.call("pipeline.list")
    assert [(r["id"], r["state"]) for r in rows] == [(run["id"], "failed")]


async def test_cancel_while_the_step_task_spawns_cancels_it(
    pl: SimpleNamespace, client: Client, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cancel lands while task_run still awaits the spawn of b's task (before its id reaches the runner).
    from executive.pipeline.engine import PipelineEngine
    from executive.service.tasks import TaskService

    spawning: asyncio.Queue[int] = asyncio.Queue()
    cancel_asked = asyncio.Event()
    orig_wait_started, orig_cancel = TaskService._wait_started, PipelineEngine.cancel

    async def wait_started(self: TaskService, task: Any) -> None:
        if task.name.endswith(".build.b") and spawning.empty():
            spawning.put_nowait(task.id)
            await cancel_asked.wait()
        await orig_wait_started(self, task)

    async def cancel(self: PipelineEngine, run_id: int) -> dict[str, Any]:
        cancel_asked.set()  # orig_cancel cancels the run before this wakes anyone
        return await orig_cancel(self, run_id)

    monkeypatch.setattr(TaskService, "_wait_started", wait_started)
    monkeypatch.setattr(PipelineEngine, "cancel", cancel)
    wait_go = "while [ ! -e go ]; do sleep 0.05; done"
    pl.write(
        work / "p.yaml",
        f"""
        name: cancel
        phases:
          - name: build
            steps:
        {_step("a")}      - {{name: b, command: [sh, -c, "{wait_go}; echo b >> side.txt"]}}
            checks:
              - {{name: side, kind: files_exist, paths: [side.txt], owners: [b]}}
        """.replace("\n        ", "\n"),
    )
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="test")
    tid = await asyncio.wait_for(spawning.get(), 20)
    cancelled = await client.call("pipeline.cancel", run=run["id"])
    assert cancelled["state"] == "cancelled"
    assert (await client.call("task.wait", task=tid, timeout=10))["end_reason"] == "cancelled"
    (work / "go").touch()
    await client.call("pipeline.resume", run=run["id"])
    assert (await pl.finish(client, run["id"]))["state"] == "passed"
    assert pl.lines(work / "side.txt") == ["a", "b"]
    status = await client.call("pipeline.status", run=run["id"])
    assert pl.step_starts(status) == {"build/a@1": 1, "build/b@1": 2}
