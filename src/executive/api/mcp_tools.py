"""MCP tools for supervised processes: run, list, status, read output, wait, input, pause/resume/cancel/kill.

Each tool calls ``task.*`` methods of the JSON-RPC table (api/methods.py)
through the backend; input models derive from those methods' params models.
Output is read by byte offset exactly as ``task.output`` serves it, at most
:data:`MAX_READ` bytes per call; the "last N lines" mode reads backwards in
bounded pieces, so a tail of a huge log costs what the tail weighs, not what
the log weighs.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, Field

from executive.api.mcp_schemas import (
    OutputRead,
    RunCommandOutput,
    TaskListOutput,
    TaskWaitOutput,
    method_output,
    output_schema,
)
from executive.api.mcp_toolkit import Hints, ToolAnswer, ToolCall, ToolSpec, derive, invalid, rpc_params, wait_in_slices
from executive.api.methods import TaskInput, TaskList, TaskOne, TaskRun, TaskWait

__all__ = ["task_tools"]

TAIL_BYTES = 4096  # output tail returned by run_command when it waited
DEFAULT_READ = 64 * 1024  # read_output's default slice: big enough to be useful, small enough for a context
# One read_output answer carries its data twice (text and structured content), JSON-escaped; 256 KiB keeps it
# under the 1 MiB an SSE event may hold in the SDK's HTTP client. The daemon's own cap (4 MiB) is larger.
MAX_READ = 256 * 1024
BACKWARD_STEP = 64 * 1024  # last_lines reads the log backwards in pieces of this size

_TASK_DESC = "task id (integer) or task name"

RunCommand = derive(
    "RunCommand",
    TaskRun,
    drop=("lock",),
    describe={
        "argv": (
            "the command as an argv list, e.g. ['pytest', '-q']; no shell runs it (use ['sh', '-c', '...'] for pipes)"
        ),
        "name": "a name to refer to the task later (unique among live tasks)",
        "cwd": "working directory (absolute path on the daemon's machine); default: the daemon's",
        "env": "extra environment variables for the command",
        "stdin": "keep stdin open so send_input can write to it",
        "timeout": "seconds after which the task is cancelled (end_reason timed_out)",
        "idle_timeout": "seconds without output after which the task is cancelled (end_reason idle_timeout)",
        "quota": "most bytes of output kept; the task is stopped beyond it",
    },
    wait=(bool, Field(True, description="true: wait for the end (up to wait_timeout); false: return at once")),
    wait_timeout=(
        float,
        Field(60.0, gt=0, le=3600, description="longest wait in seconds; the task keeps running after it"),
    ),
)

ListTasks = derive(
    "ListTasks",
    TaskList,
    describe={"limit": "tasks in one page, 1..1000 (the newest first; page on with before_id = the answer's next)"},
)
TaskRefArgs = derive("TaskRefArgs", TaskOne, describe={"task": _TASK_DESC})


class ReadOutput(BaseModel):
    model_config = {"extra": "forbid"}
    task: int | str = Field(description=_TASK_DESC)
    stream: Literal["stdout", "stderr"] = "stdout"
    offset: int | None = Field(None, ge=0, description="byte offset to read from (use next_offset of the last read)")
    limit: int = Field(
        DEFAULT_READ,
        ge=1,
        le=MAX_READ,
        description=f"most bytes to return (at most {MAX_READ} per call; read big logs in pieces by offset)",
    )
    last_lines: int | None = Field(
        None, ge=1, le=100_000, description="instead of offset: the last N lines (at most `limit` bytes)"
    )


WaitTask = derive(
    "WaitTask",
    TaskWait,
    describe={"task": _TASK_DESC},
    timeout=(float, Field(60.0, ge=0, le=3600, description="longest wait in seconds; the task keeps running")),
)

SendInput = derive(
    "SendInput",
    TaskInput,
    describe={
        "task": _TASK_DESC,
        "data": "text to write to the task's stdin (include '\\n' to end a line)",
        "data_b64": "bytes to write, base64-encoded",
        "eof": "close stdin after writing",
    },
)


def _row_text(row: dict[str, Any]) -> str:
    state = row.get("state")
    head = f"task {row.get('id')} ({row.get('name')}) is {state}"
    if state == "ended":
        head += f": {row.get('end_reason')}, exit code {row.get('exit_code')}"
        if row.get("signal"):
            head += f", signal {row.get('signal')}"
    out = row.get("output_bytes")
    if isinstance(out, dict):
        head += f"; output: {out.get('stdout', 0)} bytes stdout, {out.get('stderr', 0)} bytes stderr"
    return head


def _bytes_of(slice_: dict[str, Any]) -> bytes:
    if "data_b64" in slice_:
        return base64.b64decode(slice_["data_b64"])
    return str(slice_.get("data", "")).encode("utf-8")


def _text_or_b64(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


async def _sizes(call: ToolCall, task: int | str) -> tuple[dict[str, Any], dict[str, int]]:
    info = await call.call("task.info", {"task": task})
    sizes = info.get("output_bytes") or {}
    return info, {"stdout": int(sizes.get("stdout", 0)), "stderr": int(sizes.get("stderr", 0))}


async def _tail(call: ToolCall, task: int, stream: str, size: int, nbytes: int) -> bytes:
    start = max(0, size - nbytes)
    if size <= start:
        return b""
    r = await call.call("task.output", {"task": task, "stream": stream, "offset": start, "limit": size - start})
    return _bytes_of(r)


async def _run_command(call: ToolCall, args: Any) -> ToolAnswer:
    row = await call.call("task.run", rpc_params(args, TaskRun))
    tid = row["id"]
    if not args.wait:
        out = {**row, "waited": False}
        text = f"{_row_text(row)}. It runs on: call wait_task or read_output with task={tid}."
        return ToolAnswer(out, text)
    row, waited = await _wait_task(call, tid, args.wait_timeout)
    info, sizes = await _sizes(call, tid)
    out = {**info, "waited": True, "timed_out": row["timed_out"], "waited_s": round(waited, 3)}
    parts = [_row_text(info) + ("" if not row["timed_out"] else " (still running after the wait)")]
    for stream in ("stdout", "stderr"):
        raw = await _tail(call, tid, stream, sizes[stream], TAIL_BYTES)
        text = raw.decode("utf-8", "replace")  # a tail may start inside a character; read_output gives exact bytes
        out[f"{stream}_tail"] = text
        if raw:
            cut = " (last bytes; read_output has the rest)" if sizes[stream] > len(raw) else ""
            parts.append(f"--- {stream}{cut} ---\n{text}")
    return ToolAnswer(out, "\n".join(parts))


async def _wait_task(call: ToolCall, task: int | str, timeout: float) -> tuple[dict[str, Any], float]:
    def describe(row: dict[str, Any]) -> str:
        out = row.get("output_bytes") or {}
        return f"task {row.get('id')} is {row.get('state')}; {out.get('stdout', 0)} bytes of stdout so far"

    row, waited = await wait_in_slices(
        call, "task.wait", {"task": task}, timeout, lambda r: not r["timed_out"], describe
    )
    return row, waited


async def _wait(call: ToolCall, args: Any) -> ToolAnswer:
    row, waited = await _wait_task(call, args.task, args.timeout)
    out = {**row, "waited_s": round(waited, 3)}
    text = _row_text(row)
    if row["timed_out"]:
        text += f"; still running after {waited:.1f}s — wait again, or read_output to see what it does"
    return ToolAnswer(out, text)


async def _read_output(call: ToolCall, args: Any) -> ToolAnswer:
    if args.last_lines is not None:
        if args.offset is not None:
            raise invalid("give either offset or last_lines, not both")
        return await _read_last_lines(call, args)
    offset = args.offset or 0
    r = await call.call(
        "task.output", {"task": args.task, "stream": args.stream, "offset": offset, "limit": args.limit}
    )
    size = int(r["size"])
    if offset > size:
        raise invalid(
            f"offset {offset} is past the end of task {r['task']}'s {args.stream} ({size} bytes); "
            f"read from an offset up to {size}, or call wait_task first if you expect more output"
        )
    return _slice_answer(r["task"], args.stream, offset, _bytes_of(r), size, bool(r["eof"]))


async def _read_last_lines(call: ToolCall, args: Any) -> ToolAnswer:
    info, sizes = await _sizes(call, args.task)
    tid = int(info["id"])
    size = sizes[args.stream]
    buf = b""
    pos = size
    want = args.last_lines
    while pos > 0 and len(buf) < args.limit and buf.count(b"\n") <= want:
        start = max(0, pos - min(BACKWARD_STEP, args.limit))
        r = await call.call("task.output", {"task": tid, "stream": args.stream, "offset": start, "limit": pos - start})
        buf = _bytes_of(r) + buf
        pos = start
    body = buf[:-1] if buf.endswith(b"\n") else buf
    lines = body.split(b"\n")[-want:] if body else []
    kept = b"\n".join(lines) + (b"\n" if buf.endswith(b"\n") and lines else b"")
    kept = kept[-args.limit :]
    eof = info.get("state") == "ended"
    answer = _slice_answer(tid, args.stream, size - len(kept), kept, size, eof)
    answer.structured["lines"] = len(lines)
    return answer


def _slice_answer(task: int, stream: str, offset: int, raw: bytes, size: int, eof: bool) -> ToolAnswer:
    data, encoding = _text_or_b64(raw)
    nxt = offset + len(raw)
    remaining = max(0, size - nxt)
    out = {
        "task": task,
        "stream": stream,
        "offset": offset,
        "next_offset": nxt,
        "size": size,
        "remaining": remaining,
        "eof": eof and remaining == 0,
        "encoding": encoding,
        "data": data,
    }
    if remaining:
        tail = f"{remaining} bytes remain: call read_output with offset={nxt} to continue"
    elif eof:
        tail = "end of the log (the task has ended)"
    else:
        tail = f"no more output yet (the task is live): read again from offset={nxt} later"
    note = (
        f"[task {task} {stream}: bytes {offset}..{nxt} of {size}{', base64' if encoding == 'base64' else ''}; {tail}]"
    )
    return ToolAnswer(out, f"{data}\n{note}" if data else note)


def _simple(method: str, verb: str) -> Any:
    async def run(call: ToolCall, args: Any) -> ToolAnswer:
        row = await call.call(method, {"task": args.task})
        return ToolAnswer(row, f"{verb}: {_row_text(row)}")

    return run


async def _list(call: ToolCall, args: Any) -> ToolAnswer:
    params = rpc_params(args, TaskList)
    page = await call.call("task.list", params)
    rows = page["tasks"]
    text = "\n".join(_row_text(r) for r in rows) or "no tasks"
    if page["next"] is not None:
        again = "after_id" if "after_id" in params else "before_id"
        text += f"\n[more tasks: call list_tasks again with {again}={page['next']} and the same filters]"
    return ToolAnswer({"tasks": rows, "count": len(rows), "next": page["next"]}, text)


async def _status(call: ToolCall, args: Any) -> ToolAnswer:
    row = await call.call("task.info", {"task": args.task})
    return ToolAnswer(row, _row_text(row))


async def _send_input(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("task.input", rpc_params(args, TaskInput))
    return ToolAnswer(
        out, f"wrote {out.get('written')} bytes to task {out.get('task')}" + (" and closed stdin" if args.eof else "")
    )


_RO = Hints(read_only=True, destructive=False, idempotent=True)


def task_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "run_command",
            "Run a command",
            "Run a command as a supervised task of the executive daemon: its own process group, every byte of "
            "stdout and stderr kept on disk, optional timeout and idle timeout. With wait=true (the default) the "
            "call returns when the task ends or wait_timeout passes, with the exit code and the last bytes of its "
            "output; with wait=false it returns at once with the task id. Long or chatty commands (test suites, "
            "builds, servers): use wait=false, then wait_task and read_output. The daemon's allow-list may refuse "
            "a command; the error says which rule.",
            RunCommand,
            output_schema(RunCommandOutput),
            Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
            _run_command,
        ),
        ToolSpec(
            "list_tasks",
            "List tasks",
            "List the daemon's tasks (processes, coding agents, HSX programs), one page at a time, newest first "
            "(oldest first with after_id), with state and exit code (output sizes of live ones). Filter by state "
            '(or "live"), kind, name glob and creation time (since). Long commands are cut: task_status has all.',
            ListTasks,
            output_schema(TaskListOutput),
            _RO,
            _list,
        ),
        ToolSpec(
            "task_status",
            "Task status",
            "One task's state, exit code, end reason, timestamps and output sizes in bytes (output_bytes tells "
            "read_output how much there is).",
            TaskRefArgs,
            method_output("task.info"),
            _RO,
            _status,
        ),
        ToolSpec(
            "read_output",
            "Read task output",
            "Read a task's stdout or stderr from its log on disk, live or after it ended: a slice from a byte "
            "offset (continue with next_offset until remaining is 0), or the last N lines. The answer says how "
            "many bytes remain. Binary output comes back base64-encoded.",
            ReadOutput,
            output_schema(OutputRead),
            _RO,
            _read_output,
        ),
        ToolSpec(
            "wait_task",
            "Wait for a task",
            "Wait until a task ends or the timeout passes, with progress notifications meanwhile. Cancelling the "
            "call ends the wait, never the task. timed_out=true means it is still running.",
            WaitTask,
            output_schema(TaskWaitOutput),
            _RO,
            _wait,
        ),
        ToolSpec(
            "send_input",
            "Send input to a task",
            "Write text (or base64 bytes) to the stdin of a task started with stdin=true, optionally closing it.",
            SendInput,
            method_output("task.input"),
            Hints(read_only=False, destructive=False, idempotent=False),
            _send_input,
        ),
        ToolSpec(
            "pause_task",
            "Pause a task",
            "Stop (SIGSTOP) every process of a running task's tree, or pause an HSX program; resume_task continues it.",
            TaskRefArgs,
            method_output("task.pause"),
            Hints(read_only=False, destructive=False, idempotent=True),
            _simple("task.pause", "paused"),
        ),
        ToolSpec(
            "resume_task",
            "Resume a task",
            "Continue (SIGCONT) a paused task's whole process tree, or resume a paused HSX program.",
            TaskRefArgs,
            method_output("task.resume"),
            Hints(read_only=False, destructive=False, idempotent=True),
            _simple("task.resume", "resumed"),
        ),
        ToolSpec(
            "cancel_task",
            "Cancel a task",
            "End a task gracefully: SIGTERM to every process of its tree, a grace period, then SIGKILL. The task "
            "ends as cancelled; its output stays readable.",
            TaskRefArgs,
            method_output("task.cancel"),
            Hints(read_only=False, destructive=True, idempotent=True),
            _simple("task.cancel", "cancelling"),
        ),
        ToolSpec(
            "kill_task",
            "Kill a task",
            "End a task now: SIGKILL to every process of its tree. Prefer cancel_task unless it does not stop.",
            TaskRefArgs,
            method_output("task.kill"),
            Hints(read_only=False, destructive=True, idempotent=True),
            _simple("task.kill", "killed"),
        ),
    ]
