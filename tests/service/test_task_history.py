"""task.list pages, summaries, live counts and old tasks, through the service and the wire.

The daemons here keep few tasks in memory (``max_tasks_in_memory``, ``tasks_restored``),
so pages and lookups cross from the task table into the store with a handful of tasks.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode
from executive.kernel.limits import DEFAULT_LIMITS
from executive.kernel.tasks import Task, TaskKind, TaskState
from executive.service import Executive
from executive.service.task_history import SUMMARY_ARGS, SUMMARY_CHARS
from executive.store.sqlite import SqliteStore
from executive.task_records import task_to_row

SMALL = dataclasses.replace(DEFAULT_LIMITS, max_tasks_in_memory=6, tasks_restored=4)


async def _run(c: Client, names: list[str]) -> list[int]:
    """Run ``echo NAME`` as a task called NAME, one after the other, each to its end; their ids."""
    ids = []
    for name in names:
        t = await c.call("task.run", argv=["sh", "-c", f"echo {name}"], name=name)
        await c.call("task.wait", task=t["id"], timeout=20)
        ids.append(t["id"])
    return ids


async def _walk(c: Client, between: Any = None, **params: Any) -> list[int]:
    """Every id of every page, in page order; ``between`` runs after the first page."""
    seen: list[int] = []
    cursor = "after_id" if "after_id" in params else "before_id"
    first = True
    while True:
        page = await c.call("task.list", **params)
        seen += [t["id"] for t in page["tasks"]]
        if first and between is not None:
            await between()
        first = False
        if page["next"] is None:
            return seen
        params[cursor] = page["next"]


async def test_pages_neither_repeat_nor_skip_while_tasks_are_created_between_them(daemon_factory: Any) -> None:
    d = await daemon_factory(name="home", limits=SMALL)
    c = await d.client()
    first = await _run(c, [f"a{i}" for i in range(15)])
    later: list[int] = []

    async def more() -> None:
        later.extend(await _run(c, ["b0", "b1", "b2"]))

    # Newest first, 4 a page: three new tasks between the first and second page change nothing.
    assert await _walk(c, more, limit=4) == sorted(first, reverse=True)
    # Oldest first from the start: every task once, the new ones last.
    assert await _walk(c, after_id=0, limit=5) == first + later
    await c.close()
    await d.close()

    d = await daemon_factory(name="home", limits=SMALL)  # only the newest 4 are loaded now: the rest from the store
    c = await d.client()
    assert await _walk(c, limit=4) == sorted(first + later, reverse=True)
    assert await _walk(c, after_id=first[3], before_id=later[0], limit=3) == first[4:]
    await c.close()


async def test_filters_by_state_kind_name_and_creation_time(daemon_factory: Any) -> None:
    d = await daemon_factory(name="home", limits=SMALL)
    c = await d.client()
    web, api, lint = await _run(c, ["build-web", "build-api", "lint"])
    since = time.time()
    (late,) = await _run(c, ["build-late"])
    svc = (await c.call("task.run", argv=["sleep", "1000"], name="svc"))["id"]
    fillers = await _run(c, [f"f{i}" for i in range(8)])  # web, api and lint leave memory

    async def ids(**params: Any) -> list[int]:
        return [t["id"] for t in (await c.call("task.list", limit=100, **params))["tasks"]]

    assert await ids(name="build-*") == [late, api, web]
    assert await ids(name="build-[!l]*", state="ended") == [api, web]
    assert await ids(state="live") == [svc]
    assert await ids(state=["running", "paused"], kind="process") == [svc]
    assert await ids(kind="agent") == [] and await ids(kind=["vm", "agent"]) == []
    assert await ids(since=since) == [*reversed(fillers), svc, late]
    assert await ids(state="ended", before_id=late) == [lint, api, web]
    await c.call("task.cancel", task=svc)
    await c.call("task.wait", task=svc, timeout=20)
    assert await ids(state="live") == []
    await c.close()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "before_id"),
        ({"state": "sleeping"}, "state"),
        ({"kind": []}, "kind"),
        ({"before_id": -1}, "before_id"),
        ({"name": "x" * 300}, "name"),
        ({"since": "yesterday"}, "since"),
    ],
)
async def test_bad_pages_are_refused_saying_what_is_allowed(
    client: Client, params: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(RpcError) as info:
        await client.call("task.list", **params)
    assert info.value.code == ErrorCode.INVALID_PARAMS and fragment in info.value.message


async def test_summaries_cut_long_argv_and_task_info_has_it_whole(client: Client) -> None:
    many = ["true", *(f"argument-{i:03d}-" + "x" * 20 for i in range(60))]
    huge = ["true", "y" * 5000]
    ids = []
    for argv in (many, huge, ["true", "short"]):
        t = await client.call("task.run", argv=argv)
        await client.call("task.wait", task=t["id"], timeout=20)
        ids.append(t["id"])
    rows = {t["id"]: t for t in (await client.call("task.list"))["tasks"]}
    cut = rows[ids[0]]
    assert cut["argv_cut"] == {"args": len(many), "chars": sum(map(len, many)), "see": "task.info"}
    assert len(cut["argv"]) <= SUMMARY_ARGS and sum(map(len, cut["argv"])) <= SUMMARY_CHARS
    assert cut["argv"][:-1] == many[: len(cut["argv"]) - 1]
    assert rows[ids[1]]["argv"] == ["true", "y" * (SUMMARY_CHARS - 5) + "…"]
    assert "argv_cut" not in rows[ids[2]] and rows[ids[2]]["argv"] == ["true", "short"]
    for tid, argv in zip(ids, (many, huge), strict=False):
        info = await client.call("task.info", task=tid)
        assert info["argv"] == argv and "argv_cut" not in info


def _scan(ex: Executive) -> tuple[int, int]:
    """Live and queued tasks counted the slow way (every live task is in memory)."""
    tasks = list(ex.tasks)
    return sum(1 for t in tasks if t.is_live), sum(1 for t in tasks if t.state is TaskState.QUEUED)


def _counts(ex: Executive) -> tuple[int, int]:
    h = ex.health()
    return h["tasks_live"], h["tasks_queued"]


async def test_health_counts_stay_right_across_start_end_cancel_and_restore(tmp_path: Path) -> None:
    home = tmp_path / "home"
    limits = dataclasses.replace(DEFAULT_LIMITS, max_running=2, max_tasks_in_memory=3, tasks_restored=3)
    ex = await Executive.open(home, limits=limits)
    try:
        sleepers = [(await ex.task_run(["sleep", "1000"], name=f"s{i}"))["id"] for i in range(3)]
        assert _counts(ex) == _scan(ex) == (3, 1)
        ex.task_pause(sleepers[0])
        assert _counts(ex) == _scan(ex) == (3, 1)
        ex.task_cancel(sleepers[2])  # the queued one
        assert _counts(ex) == _scan(ex) == (2, 0)
        ex.task_resume(sleepers[0])
        ex.task_cancel(sleepers[1])
        await ex.task_wait(sleepers[1], timeout=20)
        assert _counts(ex) == _scan(ex) == (1, 0)
        for _ in range(5):  # ended tasks leave memory beyond max_tasks_in_memory; the count does not care
            await ex.task_wait((await ex.task_run(["true"]))["id"], timeout=20)
        assert _counts(ex) == _scan(ex) == (1, 0) and len(ex.tasks) == 4
    finally:
        await ex.aclose()  # cancels s0
    assert (home / "executive.db").exists()

    # A crash left a task "running" that is older than the restored window: it is loaded and ends lost.
    store = SqliteStore(home / "executive.db")
    try:
        crashed = Task(id=1000, name="crashed", kind=TaskKind.PROCESS, argv=["x"], state=TaskState.RUNNING)
        old = Task(id=1001, name="other", kind=TaskKind.PROCESS, argv=["x"], state=TaskState.ENDED)
        store.save_tasks([task_to_row(crashed), task_to_row(old)])
        store.save_tasks([task_to_row(Task(id=i, name=f"n{i}", kind=TaskKind.PROCESS)) for i in range(1002, 1006)])
        store.set_meta("clean_stop", "0")
    finally:
        store.close()
    ex = await Executive.open(home, limits=limits)
    try:
        assert _counts(ex) == _scan(ex) == (0, 0)  # every task live at the crash (1002..1005 were queued) is lost
        info = await ex.task_lookup("crashed")  # loaded although older than the newest 3, and ended
        assert info["state"] == "ended" and info["end_reason"] == "lost"
        await ex.task_wait((await ex.task_run(["sleep", "1000"]))["id"], timeout=0.1)
        assert _counts(ex) == _scan(ex) == (1, 0)
    finally:
        await ex.aclose()


async def test_startup_loads_the_recent_window_yet_old_tasks_info_and_logs_are_readable(
    tmp_path: Path, daemon_factory: Any, e2e: Any
) -> None:
    limits = dataclasses.replace(DEFAULT_LIMITS, max_tasks_in_memory=5, tasks_restored=3)
    d = await daemon_factory(name="home", limits=limits)
    c = await d.client()
    ids = await _run(c, [f"t{i}" for i in range(1, 9)])
    await c.close()
    await d.close()

    ex = await Executive.open(tmp_path / "home", limits=limits)
    try:
        assert [t.id for t in ex.tasks] == ids[-3:] and ex.tasks.complete_from == ids[-3]
        assert (await ex.task_lookup(ids[0]))["output_bytes"] == {"stdout": 3, "stderr": 0}
    finally:
        await ex.aclose()

    d = await daemon_factory(name="home", limits=limits)
    c = await d.client()
    try:
        info = await c.call("task.info", task=ids[0])
        assert (info["name"], info["argv"], info["state"]) == ("t1", ["sh", "-c", "echo t1"], "ended")
        assert (await c.call("task.info", task="t2"))["id"] == ids[1]  # by name, from the store
        out = await c.call("task.output", task=ids[0])
        assert out["data"] == "t1\n" and out["eof"] is True
        assert (await c.call("task.wait", task=ids[0], timeout=5))["timed_out"] is False
        with pytest.raises(RpcError) as missing:
            await c.call("task.info", task=99999)
        assert missing.value.code == ErrorCode.TASK_NOT_FOUND
        r = await e2e.run_cli(d.home, "logs", str(ids[0]))
        assert r.rc == 0 and r.out == "t1\n"
        r = await e2e.run_cli(d.home, "status", "t2")
        assert r.rc == 0 and f"{ids[1]} (t2)" in r.out
    finally:
        await c.close()


async def test_a_clean_stop_skips_the_directory_scan_and_a_crash_does_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ex = await Executive.open(home)
    await ex.aclose()
    store = SqliteStore(home / "executive.db")
    try:
        assert store.get_meta("clean_stop") == "1"
        store.set_meta("clean_stop", "0")  # as a daemon that died leaves it
    finally:
        store.close()
    (home / "tasks" / "41").mkdir()  # a task created just before that crash, its row never written
    ex = await Executive.open(home)
    try:
        t = await ex.task_run(["true"])
        assert t["id"] == 42
        await ex.task_wait(t["id"], timeout=10)
    finally:
        await ex.aclose()


async def test_ps_shows_one_page_and_says_how_to_see_the_rest(daemon: Any, client: Client, e2e: Any) -> None:
    svc = (await client.call("task.run", argv=["sleep", "1000"], name="old-svc"))["id"]
    jobs = await _run(client, [f"j{i}" for i in range(1, 26)])

    r = await e2e.run_cli(daemon.home, "ps")
    names = [line.split()[1] for line in r.out.splitlines()[1:]]
    assert r.rc == 0 and names == ["old-svc"] + [f"j{i}" for i in range(6, 26)]  # live ones and the newest 20
    hint = f"executive ps --state ended --before {jobs[5]}"
    assert r.err.strip().endswith(hint)
    r = await e2e.run_cli(daemon.home, *shlex.split(hint)[1:])
    assert [line.split()[1] for line in r.out.splitlines()[1:]] == [f"j{i}" for i in range(1, 6)] and r.err == ""

    r = await e2e.run_cli(daemon.home, "ps", "--all", "--limit", "10")
    assert [line.split()[1] for line in r.out.splitlines()[1:]] == [f"j{i}" for i in range(16, 26)]
    assert r.err.strip().endswith(f"executive ps --all --limit 10 --before {jobs[15]}")
    r = await e2e.run_cli(daemon.home, "ps", "--all", "--before", str(jobs[0]))
    assert [line.split()[:2] for line in r.out.splitlines()[1:]] == [[str(svc), "old-svc"]] and r.err == ""
    r = await e2e.run_cli(daemon.home, "ps", "--limit", "0")
    assert r.rc == 2 and "--limit" in r.err
    await client.call("task.cancel", task=svc)
