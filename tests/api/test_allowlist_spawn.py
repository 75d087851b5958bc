"""The allow-list is checked again at spawn, and the process executes exactly the file that was checked.

A queued task names a symlink that points at ``echo`` when it is submitted; re-pointed at
``/usr/bin/id`` while the task waits for a slot, it must be refused when its turn comes (the task
ends with the refusal and ``id`` never runs).  And a swap *after* the spawn-time check (between the
open and the exec) changes nothing: the child executes the opened file, not the path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import psutil
import pytest

from executive.kernel.limits import DEFAULT_LIMITS
from executive.kernel.tasks import TaskState
from executive.runtimes.allowlist import AllowList
from executive.runtimes.process_os import ProcessOS
from executive.service.executive import Executive

ECHO = shutil.which("echo")
ID = shutil.which("id")
pytestmark = pytest.mark.skipif(ECHO is None or ID is None, reason="needs echo and id on PATH")


def _allow(tmp_path: Path) -> Path:
    path = tmp_path / "allow.json"
    path.write_text(json.dumps({"rules": [{"exe": "echo"}, {"exe": "sleep"}]}))
    return path


async def _stdout(c: Any, tid: int) -> str:
    return str((await c.call("task.output", task=tid, stream="stdout"))["data"])


async def test_a_symlink_repointed_while_queued_is_refused_at_spawn(daemon_factory: Any, tmp_path: Path) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_running=1)
    d = await daemon_factory("swap", allow_list=_allow(tmp_path), limits=limits)
    c = await d.client()
    link = tmp_path / "prog"
    link.symlink_to(ECHO)  # type: ignore[arg-type]
    blocker = await c.call("task.run", argv=["sleep", "1000"])
    queued = await c.call("task.run", argv=[str(link), "hi"])
    fine = await c.call("task.run", argv=[str(link), "still echo"])
    assert queued["state"] == "queued" and fine["state"] == "queued"  # passed the check at submit: it is echo
    link.unlink()
    link.symlink_to(ID)  # type: ignore[arg-type]
    await c.call("task.cancel", task=blocker["id"])
    ended = await c.call("task.wait", task=queued["id"], timeout=20)
    assert ended["state"] == "ended" and ended["end_reason"] == "failed"
    assert "refused at spawn" in ended["end_detail"] and ID in ended["end_detail"]  # type: ignore[operator]
    assert ended["pid"] is None and await _stdout(c, queued["id"]) == ""  # id never ran
    # The next one in the queue is refused the same way (the link still points at id) ...
    assert (await c.call("task.wait", task=fine["id"], timeout=20))["end_reason"] == "failed"
    # ... and once the link points at echo again, the same command runs (through the opened file).
    link.unlink()
    link.symlink_to(ECHO)  # type: ignore[arg-type]
    again = await c.call("task.run", argv=[str(link), "hi"])
    done = await c.call("task.wait", task=again["id"], timeout=20)
    assert done["exit_code"] == 0 and await _stdout(c, again["id"]) == "hi\n"
    await c.close()


class _SwapAfterOpen(ProcessOS):
    """Re-points the link right after the daemon opened (and so before it checks and executes) the file."""

    def __init__(self, link: Path) -> None:
        self.link = link

    def open_executable(self, path: str) -> tuple[int, str]:
        opened = super().open_executable(path)
        if not self.link.exists() or os.readlink(self.link) == ID:
            return opened
        self.link.unlink()
        self.link.symlink_to(ID)  # type: ignore[arg-type]
        return opened


async def test_the_child_executes_the_opened_file_not_the_path(tmp_path: Path) -> None:
    link = tmp_path / "prog"
    link.symlink_to(ECHO)  # type: ignore[arg-type]
    os_api = _SwapAfterOpen(link)
    ex = await Executive.open(tmp_path / "home", allow_list=AllowList.load(_allow(tmp_path)), os_api=os_api)
    try:
        row = await ex.task_run([str(link), "exact"])
        task = ex.tasks.get(row["id"])
        await ex.task_wait(row["id"], timeout=20)
        assert task.state is TaskState.ENDED and task.exit_code == 0
        out = await ex.task_output(row["id"])
        assert out["data"] == "exact\n"  # echo ran although the link pointed at id before the exec
        assert os.readlink(link) == ID
        # The program keeps its name (what ps shows), not the number of the descriptor it ran from.
        sleeper = await ex.task_run(["sleep", "1000"])
        assert sleeper["pid"] is not None and psutil.Process(sleeper["pid"]).name() == "sleep"
        ex.task_cancel(sleeper["id"])
        await ex.task_wait(sleeper["id"], timeout=20)
    finally:
        await ex.aclose()


async def test_without_an_allow_list_nothing_is_opened(tmp_path: Path) -> None:
    class Counting(ProcessOS):
        opened = 0

        def open_executable(self, path: str) -> tuple[int, str]:
            Counting.opened += 1
            return super().open_executable(path)

    ex = await Executive.open(tmp_path / "home", os_api=Counting())
    try:
        row = await ex.task_run(["echo", "plain"])
        await ex.task_wait(row["id"], timeout=20)
        assert (await ex.task_output(row["id"]))["data"] == "plain\n" and Counting.opened == 0
    finally:
        await ex.aclose()
    await asyncio.sleep(0)


async def test_an_allowed_script_runs_through_the_opened_file(tmp_path: Path) -> None:
    """A ``#!`` script executed from its descriptor: the interpreter reads the same file."""
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho script ran as "$0"\n')
    script.chmod(0o755)
    allow = AllowList.from_obj({"rules": [{"exe": str(script)}]})
    ex = await Executive.open(tmp_path / "home", allow_list=allow)
    try:
        row = await ex.task_run([str(script)])
        done = await ex.task_wait(row["id"], timeout=20)
        out = (await ex.task_output(row["id"]))["data"]
        assert done["exit_code"] == 0 and out.startswith("script ran as ") and out.endswith("/hello.sh\n")
    finally:
        await ex.aclose()
