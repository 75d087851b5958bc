"""The pure parts of multi-task sessions (threads, tagged output, memory references) and the
checks of ``launch``/``attach`` against a fake daemon: bad input is refused before the
daemon is asked anything, and a failure half-way is undone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import RpcError
from executive.dap import DapSession
from executive.dap.build import Builder
from executive.dap.output import MAX_PARTIAL, TaggedLines
from executive.dap.protocol import DapError, memory_reference, parse_memory_reference
from executive.dap.threads import FRAME_STRIDE, MAX_THREADS, TaskThread, ThreadTable
from executive.dap.variables import Inspector, VariableHandles


def _table(*pids: int) -> ThreadTable:
    table = ThreadTable()
    for slot, pid in enumerate(pids):
        table.add(TaskThread(pid, f"t{pid}", slot, True, Inspector(None, pid)))  # type: ignore[arg-type]
    return table


@pytest.mark.parametrize(
    ("codes", "expected"),
    [([0], 0), ([42], 42), ([None], -1), ([0, 0], 0), ([0, 3, 5], 3), ([7, 0], 7), ([0, None, 2], -1)],
)
def test_the_session_exit_code_is_the_first_nonzero_in_end_order(codes: list[int | None], expected: int) -> None:
    table = _table(*range(1, len(codes) + 1))
    for thread, code in zip(table, codes, strict=True):
        table.record_end(thread, {"exit_code": code})
    assert table.exit_code() == expected


def test_frame_ids_are_unique_across_threads_and_name_their_thread() -> None:
    table = _table(3, 4)
    t3, t4 = table.get(3), table.get(4)
    assert [table.frame_id(t3, 0), table.frame_id(t3, 1), table.frame_id(t4, 0)] == [1, 2, FRAME_STRIDE + 1]
    assert table.frame(FRAME_STRIDE + 3) == (t4, 2) and table.focus == 4
    assert table.frame(None) == (t4, 0)  # no frame: the focused thread's innermost
    for bad in (-1, 2 * FRAME_STRIDE + 1, "1"):
        with pytest.raises(DapError, match="not a frame of this debug session"):
            table.frame(bad)
    with pytest.raises(DapError, match=r"thread 9 is not a task of this debug session \(its threads: t3 \(task 3\)"):
        table.get(9)
    with pytest.raises(DapError, match="launch or attach first"):
        ThreadTable().get(1)


def test_stopped_and_continued_tell_about_the_other_threads() -> None:
    table = _table(3, 4)
    t3, t4 = table.get(3), table.get(4)
    t3.stopped = True
    assert not table.all_stopped() and not table.others_stopped(t3) and table.others_stopped(t4)
    t4.stopped = True
    assert table.all_stopped()
    t4.exited = True  # a thread that has gone counts no more
    t4.stopped = False
    assert table.all_stopped() and table.live() == [t3]


def test_variable_references_are_unique_across_tasks_and_die_with_their_task_running() -> None:
    handles = VariableHandles()
    a, b = handles.new(3, "locals", 0), handles.new(4, "locals", 0)
    assert a != b and handles.new(3, "locals", 0) == a and handles.get(b) == (4, "locals", 0)
    handles.forget(3)
    assert handles.get(b) == (4, "locals", 0)
    with pytest.raises(DapError, match="not valid"):
        handles.get(a)
    assert handles.new(3, "locals", 0) not in (a, b)  # numbers are never reused


def test_tagged_lines_keep_unfinished_lines_until_their_end_a_stop_or_the_limit() -> None:
    t = TaggedLines()
    assert t.feed(1, "stdout", "pi", "[a 1] ") == ""
    assert t.feed(2, "stdout", "x\r\ny", "[b 2] ") == "[b 2] x\r\n"  # another task's line does not interleave
    assert t.feed(1, "stdout", "ng\npo", "[a 1] ") == "[a 1] ping\n"
    assert t.flush(1, "[a 1] ") == [("stdout", "[a 1] po\n")] and t.flush(1, "[a 1] ") == []
    long = "z" * (MAX_PARTIAL + 1)
    assert t.feed(1, "stderr", long, "[a 1] ") == f"[a 1] {long}\n"
    assert t.flush(2, "[b 2] ") == [("stdout", "[b 2] y\n")]


def test_memory_references_name_their_task_when_there_are_several() -> None:
    assert memory_reference(0x4000) == "0x4000" and memory_reference(0x4000, 3) == "0x4000@3"
    assert parse_memory_reference("0x4000@3") == (0x4000, 3) and parse_memory_reference("16") == (16, None)
    with pytest.raises(DapError, match="not an address"):
        parse_memory_reference("0x40@x")


class FakeDaemon:
    """Loads, attaches and answers what a launch needs; fails the method in ``fail`` on its Nth call."""

    def __init__(self, fail: tuple[str, int] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail
        self._pids = iter(range(10, 100))

    async def call(self, method: str, **params: Any) -> Any:
        self.calls.append((method, params))
        if self.fail and method == self.fail[0] and self.count(method) == self.fail[1]:
            raise RpcError(1012, f"{method} refused by the test")
        if method == "vm.load":
            pid = next(self._pids)
            return {"pid": pid, "name": f"p{pid}", "warnings": []}
        if method == "vm.info":
            ref = params["task"]
            pid = ref if isinstance(ref, int) else 10 + int(ref[-1])
            return {"pid": pid, "vm_state": "paused" if pid == 11 else "running", "task": {"name": f"t{pid}"}}
        if method == "debug.attach":
            return {"pid": params["task"]}
        if method == "debug.sym.lines":
            return {"files": [], "generated": []}
        return {}

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)


async def _request(s: DapSession, sent: list[dict[str, Any]], command: str, **args: Any) -> dict[str, Any]:
    await s.handle({"seq": len(sent) + 1, "type": "request", "command": command, "arguments": args})
    [reply] = [m for m in sent if m["type"] == "response" and m["command"] == command][-1:]
    return reply


def _programs(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"p{i}.hxe"
        p.write_bytes(b"")  # the fake daemon never reads it
        paths.append(str(p))
    return paths


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"program": "a.hxe", "programs": ["b.hxe"]}, '"program" .* or "programs" .*, not both'),
        ({"programs": []}, '"programs" is a non-empty list'),
        ({"programs": "a.hxe"}, '"programs" is a non-empty list'),
        ({"programs": ["x"] * (MAX_THREADS + 1)}, f"names {MAX_THREADS + 1} programs; .* at most {MAX_THREADS}"),
        ({"programs": ["a.hxe"], "args": ["1"]}, '"args" belongs to one program'),
        ({"programs": ["a.hxe"], "stdin": "x"}, '"stdin" belongs to one program'),
        ({"programs": [7]}, r"programs\[0\] is a path or an object"),
        ({"programs": [{"program": "a.hxe", "arg": []}]}, r"programs\[0\] has unknown keys \['arg'\]"),
        ({"programs": [{"args": []}]}, r'programs\[0\] needs "program"'),
        ({"programs": ["p0.hxe", "missing.hxe"]}, r"programs\[1\]: cannot read .*missing.hxe: no such file"),
        ({"programs": [{"program": "p0.hxe", "stdin": 5}]}, r'programs\[0\]: "stdin" is text'),
        ({"programs": [{"program": "p0.hxe", "name": ""}]}, r'programs\[0\]: "name" is a non-empty string'),
        ({}, 'launch needs "program"'),
    ],
)
async def test_a_bad_launch_is_refused_before_the_daemon_is_asked(
    tmp_path: Path, args: dict[str, Any], match: str
) -> None:
    _programs(tmp_path, 1)
    daemon = FakeDaemon()
    sent: list[dict[str, Any]] = []
    s = DapSession(daemon, sent.append, cwd=str(tmp_path))
    reply = await _request(s, sent, "launch", **args)
    assert reply["success"] is False
    assert re.search(match, reply["message"]), reply["message"]
    assert daemon.calls == [] and (await _request(s, sent, "threads"))["body"] == {"threads": []}


async def test_a_launch_the_daemon_refuses_half_way_kills_what_it_loaded(tmp_path: Path) -> None:
    daemon = FakeDaemon(fail=("vm.load", 3))
    sent: list[dict[str, Any]] = []
    s = DapSession(daemon, sent.append, cwd=str(tmp_path))
    reply = await _request(s, sent, "launch", programs=_programs(tmp_path, 3))
    assert reply["success"] is False and "vm.load refused" in reply["message"]
    assert [p["task"] for m, p in daemon.calls if m == "vm.kill"] == [10, 11]
    assert (await _request(s, sent, "threads"))["body"] == {"threads": []} and s.orphans() == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"task": 1, "tasks": [2]}, '"task" .* or "tasks" .*, not both'),
        ({"tasks": []}, '"tasks" is a non-empty list'),
        ({"tasks": list(range(MAX_THREADS + 1))}, f"names {MAX_THREADS + 1} tasks; .* at most {MAX_THREADS}"),
        ({"tasks": [1, True]}, r"tasks\[1\] is True"),
        ({}, 'attach needs "task"'),
    ],
)
async def test_a_bad_attach_is_refused_before_the_daemon_is_asked(args: dict[str, Any], match: str) -> None:
    daemon = FakeDaemon()
    sent: list[dict[str, Any]] = []
    s = DapSession(daemon, sent.append)
    reply = await _request(s, sent, "attach", **args)
    assert reply["success"] is False and re.search(match, reply["message"]), reply["message"]
    assert daemon.calls == []


async def test_an_attach_refused_half_way_leaves_the_tasks_as_they_were() -> None:
    daemon = FakeDaemon(fail=("debug.attach", 3))
    sent: list[dict[str, Any]] = []
    s = DapSession(daemon, sent.append)
    reply = await _request(s, sent, "attach", tasks=["t0", "t1", "t2"])
    assert reply["success"] is False and "debug.attach refused" in reply["message"]
    # t0 was running (resumed again), t1 was paused (left paused)
    assert [(p["task"], p["resume"]) for m, p in daemon.calls if m == "debug.detach"] == [(10, True), (11, False)]
    assert (await _request(s, sent, "threads"))["body"] == {"threads": []}


def test_two_sources_of_one_name_build_to_two_images(tmp_path: Path) -> None:
    builder = Builder()
    try:
        images = []
        for folder, value in (("a", 1), ("b", 2)):
            (tmp_path / folder).mkdir()
            src = tmp_path / folder / "main.mvasm"
            src.write_text(f".entry main\nmain:\n    LDI R0, {value}\n    RET\n")
            images.append(builder(src).image)
        assert images[0] != images[1] and images[0].name == images[1].name == "main.hxe"
        assert images[0].read_bytes() != images[1].read_bytes()
    finally:
        builder.close()
