"""kill -9 of a real daemon (`executive serve`) at every step boundary, restart, resume.

Each step appends its name to side.txt, so a step that runs twice shows.  The
crash seam (``EXECUTIVE_PIPELINE_CRASH_AT=KIND:N``) makes the daemon SIGKILL
itself right after the N-th durable checkpoint of that kind; one more test
kills it from outside while a step is mid-flight.  After the restart and
``pipeline resume`` no finished step runs again, the step that was in flight
runs exactly once more, and the final state equals an uninterrupted run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from executive.api.client import Client
from executive.pipeline.checkpoints import CRASH_ENV

PIPELINE = """
    name: crash
    phases:
      - name: build
        steps:
          - {name: a, command: [sh, -c, "echo a >> side.txt"]}
          - {name: b, command: [sh, -c, "%(b)s"]}
        checks:
          - {name: has_b, kind: command, command: [grep, -q, "^b$", side.txt], owners: [b]}
      - name: ship
        entry:
          commands: [[test, -e, side.txt]]
          approval: %(approval)s
        steps:
          - {name: c, command: [sh, -c, "echo c >> side.txt"]}
        checks:
          - {name: has_c, kind: command, command: [grep, -q, "^c$", side.txt], owners: [c]}
    """

# The checkpoint after which the daemon dies, and the step that was then in flight (it must start twice).
BOUNDARIES = [
    ("run:1", None),  # the run row is written, nothing started
    ("step_start:1", "build/a@1"),
    ("step_end:1", None),
    ("step_start:2", "build/b@1"),
    ("step_end:2", None),
    ("gate_end:1", None),
    ("entry_end:1", None),
    ("step_start:3", "ship/c@1"),
    ("step_end:3", None),
    ("gate_end:2", None),  # the last verdict is durable, the run's `passed` is not yet
]


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _project(root: Path, *, b: str = "echo b >> side.txt", approval: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return _write(root / "pipeline.yaml", PIPELINE % {"b": b, "approval": "true" if approval else "false"})


async def _close(c: Client) -> None:
    with contextlib.suppress(Exception):
        await c.close()


async def _reference(pl: SimpleNamespace, c: Client, root: Path) -> tuple[dict[str, Any], list[str]]:
    """The same pipeline, uninterrupted, on the same daemon."""
    run = await c.call("pipeline.run", path=str(_project(root)), requirement="test")
    assert (await pl.finish(c, run["id"]))["state"] == "passed"
    return pl.summary(await c.call("pipeline.status", run=run["id"])), pl.lines(root / "side.txt")


@pytest.mark.parametrize("point,in_flight", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
async def test_kill9_at_a_step_boundary_then_resume(
    pl: SimpleNamespace,
    point: str,
    in_flight: str | None,
    daemon_process: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = _project(tmp_path / "work")
    d = daemon_process()
    monkeypatch.setenv(CRASH_ENV, point)
    d.start()
    monkeypatch.delenv(CRASH_ENV)
    c = await d.client()
    with contextlib.suppress(ConnectionError):  # "run:1" dies before the reply
        await c.call("pipeline.run", path=str(pipeline), requirement="test")
    assert await asyncio.to_thread(d.proc.wait, 30) == -9
    await _close(c)

    d.start()
    c = await d.client()
    try:
        [run] = await c.call("pipeline.list")
        assert run["state"] == "interrupted" and "pipeline resume" in run["detail"]
        await c.call("pipeline.resume", run=run["id"])
        assert (await pl.finish(c, run["id"]))["state"] == "passed"
        status = await c.call("pipeline.status", run=run["id"])
        expected, expected_side = await _reference(pl, c, tmp_path / "ref")
        assert pl.summary(status) == expected
        assert pl.lines(tmp_path / "work" / "side.txt") == expected_side == ["a", "b", "c"]
        starts = pl.step_starts(status)
        assert {k: n for k, n in starts.items() if n != 1} == ({in_flight: 2} if in_flight else {})
    finally:
        await _close(c)


@pytest.mark.parametrize("how", ["kill9", "stop"])
async def test_daemon_dies_mid_step_then_that_step_reruns_once(
    pl: SimpleNamespace, how: str, daemon_process: Callable[..., Any], tmp_path: Path
) -> None:
    """Killed (or stopped with SIGTERM) while step b runs, before its side effect: b runs once more, a never."""
    work = tmp_path / "work"
    pipeline = _project(work, b="while [ ! -e go ]; do sleep 0.05; done; echo b >> side.txt")
    d = daemon_process()
    d.start()
    c = await d.client()
    run = await c.call("pipeline.run", path=str(pipeline), requirement="test")

    async def b_task() -> int | None:
        status = await c.call("pipeline.status", run=run["id"])
        its = status["phases"][0]["iterations"]
        steps = its[0]["steps"] if its else []
        return steps[1]["tasks"][0] if len(steps) == 2 and steps[1]["tasks"] else None

    for _ in range(600):
        if await b_task():
            break
        await asyncio.sleep(0.025)
    assert await b_task()
    if how == "kill9":
        d.kill9()
    else:
        await asyncio.to_thread(d.stop)
    await _close(c)

    d.start()
    c = await d.client()
    try:
        assert (await c.call("pipeline.info", run=run["id"]))["state"] == "interrupted"
        await c.call("pipeline.resume", run=run["id"])
        (work / "go").touch()
        assert (await pl.finish(c, run["id"]))["state"] == "passed"
        await asyncio.sleep(0.3)  # an orphan of the killed daemon, had it survived, would append now
        assert pl.lines(work / "side.txt") == ["a", "b", "c"]
        status = await c.call("pipeline.status", run=run["id"])
        assert pl.step_starts(status) == {"build/a@1": 1, "build/b@1": 2, "ship/c@1": 1}
        first_b = await c.call("task.info", task=status["phases"][0]["iterations"][0]["steps"][1]["tasks"][0])
        assert first_b["end_reason"] == ("lost" if how == "kill9" else "cancelled")
    finally:
        await _close(c)


async def test_approval_gate_waits_across_a_restart(
    pl: SimpleNamespace, daemon_process: Callable[..., Any], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    pipeline = _project(work, approval=True)
    d = daemon_process()
    d.start()
    c = await d.client()
    run = await c.call("pipeline.run", path=str(pipeline), requirement="test")
    assert (await pl.finish(c, run["id"]))["state"] == "waiting_approval"
    d.kill9()
    await _close(c)

    d.start()
    c = await d.client()
    try:
        info = await c.call("pipeline.info", run=run["id"])
        assert info["state"] == "waiting_approval" and info["active"]
        assert pl.lines(work / "side.txt") == ["a", "b"]
        await c.call("pipeline.approve", run=run["id"], phase="ship")
        assert (await pl.finish(c, run["id"]))["state"] == "passed"
        assert pl.lines(work / "side.txt") == ["a", "b", "c"]
        assert set(pl.step_starts(await c.call("pipeline.status", run=run["id"])).values()) == {1}
    finally:
        await _close(c)
