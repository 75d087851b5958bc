"""Output schemas of the MCP tools (JSON Schema, ``type: object`` at the root).

The JSON-RPC method table publishes params schemas only (``rpc.discover``);
result types are not yet published by the service, so the shapes the tools
return are declared here, from the results the methods give today.  Each
schema names the fields a model relies on and their types, requires the ones
always present, and leaves ``additionalProperties`` open: a field the service
adds later must not turn a good answer into a client-side validation error.
When the service publishes result schemas, these constants should be derived
from them instead.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AGENT_RESULT",
    "AGENT_RUN",
    "APPROVAL",
    "DIFF",
    "FIX_RUN",
    "HSX_BREAKPOINTS",
    "HSX_DISASM",
    "HSX_LOAD",
    "HSX_MEMORY",
    "HSX_STACK",
    "HSX_STATE",
    "HSX_STEP",
    "HSX_STOP",
    "INPUT_WRITTEN",
    "OUTPUT_SLICE",
    "PATCH",
    "PIPELINE_RUN",
    "PIPELINE_STATUS",
    "RUN_RESULT",
    "TASK",
    "TASK_LIST",
    "TASK_WAIT",
]

Schema = dict[str, Any]


def obj(props: Schema, required: list[str] | None = None, description: str | None = None) -> Schema:
    out: Schema = {"type": "object", "properties": props, "additionalProperties": True}
    if required:
        out["required"] = required
    if description:
        out["description"] = description
    return out


def opt(kind: str | list[str]) -> Schema:
    """A JSON type that may also be null."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"]}


INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJ: Schema = {"type": "object"}

TASK = obj(
    {
        "id": INT,
        "name": STR,
        "kind": {"type": "string", "enum": ["process", "agent", "vm"]},
        "argv": {"type": ["array", "null"], "items": STR},
        "image": opt("string"),
        "cwd": opt("string"),
        "state": {
            "type": "string",
            "description": "queued, starting, running, paused, stopping or ended",
        },
        "created": NUM,
        "started": opt("number"),
        "ended": opt("number"),
        "exit_code": opt("integer"),
        "signal": opt("integer"),
        "end_reason": {**opt("string"), "description": "exited, cancelled, killed, timed_out, idle_timeout, lost …"},
        "end_detail": opt("string"),
        "pause_reason": opt("string"),
        "pid": opt("integer"),
        "locked_by": opt("string"),
        "output_bytes": obj({"stdout": INT, "stderr": INT}, description="log sizes in bytes"),
    },
    ["id", "name", "kind", "state"],
    "one task row",
)

TASK_LIST = obj({"tasks": {"type": "array", "items": TASK}, "count": INT}, ["tasks", "count"])

TASK_WAIT = obj(
    {**TASK["properties"], "timed_out": BOOL, "waited_s": NUM},
    ["id", "state", "timed_out"],
    "the task row after the wait; timed_out says whether it is still running",
)

RUN_RESULT = obj(
    {
        **TASK["properties"],
        "waited": BOOL,
        "timed_out": BOOL,
        "stdout_tail": STR,
        "stderr_tail": STR,
    },
    ["id", "state", "waited"],
    "the started task; with wait, its end state and the tails of its output",
)

OUTPUT_SLICE = obj(
    {
        "task": INT,
        "stream": {"type": "string", "enum": ["stdout", "stderr"]},
        "offset": INT,
        "next_offset": INT,
        "size": INT,
        "remaining": {"type": "integer", "description": "bytes after next_offset in the log now"},
        "eof": {"type": "boolean", "description": "the task ended and everything was read"},
        "encoding": {"type": "string", "enum": ["utf-8", "base64"]},
        "data": STR,
        "lines": {"type": "integer", "description": "with last_lines: how many lines the slice holds"},
    },
    ["task", "stream", "offset", "next_offset", "size", "remaining", "eof", "encoding", "data"],
)

INPUT_WRITTEN = obj({"task": INT, "written": INT, "eof": BOOL}, ["task", "written"])

AGENT_RUN = obj(
    {**TASK["properties"], "agent": STR, "worktree": {"type": ["object", "null"]}},
    ["id", "state"],
    "the agent task as started",
)

AGENT_RESULT = obj(
    {
        "task": {"type": ["object", "null"], "properties": TASK["properties"]},
        "run": ANY_OBJ,
        "result": {"type": ["object", "null"], "description": "the agent's normalized result; null while it runs"},
        "timed_out": BOOL,
    },
    ["run", "result", "timed_out"],
)

DIFF = obj(
    {"task": INT, "diff": opt("string"), "diff_bytes": opt("integer"), "files": {"type": "array"}},
    ["task", "diff", "files"],
)

PATCH = obj({"id": INT, "state": STR, "cwd": STR}, ["id", "state"], "the patch's ledger row")

FIX_RUN = obj({"id": INT, "state": STR}, ["id"], "the fix run with its attempts")

PIPELINE_RUN = obj({"id": INT, "state": STR}, ["id", "state"], "the pipeline run row")

APPROVAL = obj(
    {"run": INT, "phase": STR, "approved": NUM, "note": STR, "state": STR},
    ["run", "phase", "state"],
    "the recorded approval and the run's state after it",
)

PIPELINE_STATUS = obj({"run": ANY_OBJ, "phases": {"type": "array"}}, ["run"], "steps, verdicts and scores by phase")

HSX_LOAD = obj(
    {
        "task": INT,
        "name": STR,
        "state": STR,
        "entry": INT,
        "symbols": {"type": ["object", "null"]},
        "warnings": {"type": "array", "items": STR},
    },
    ["task", "name", "state"],
)

_REGS = {"type": "array", "items": INT, "description": "R0..R15"}
_LINE = {"type": ["object", "null"], "properties": {"file": STR, "line": INT}}

HSX_STATE = obj(
    {
        "pid": INT,
        "state": STR,
        "pause_reason": opt("string"),
        "pc": INT,
        "sp": INT,
        "psw": INT,
        "regs": _REGS,
        "changed_regs": {"type": "array", "items": STR},
        "symbol": opt("string"),
        "line": _LINE,
        "instruction": {"type": ["object", "null"]},
        "breakpoints": {"type": "array", "items": INT},
        "exit_status": opt("integer"),
        "fault": {"type": ["object", "string", "null"]},
    },
    ["pid", "state", "pc", "regs"],
)

HSX_STOP = obj(
    {
        "task": INT,
        "stopped": {"type": "boolean", "description": "false: still running when the timeout passed"},
        "reason": {
            "type": "string",
            "description": "debug_break (breakpoint), paused, ended, or running (timeout)",
        },
        "task_state": STR,
        "exit_code": opt("integer"),
        "state": {"type": ["object", "null"], "description": "registers and position at the stop (not when ended)"},
    },
    ["task", "stopped", "reason", "task_state"],
)

HSX_STEP = obj(
    {
        "pid": INT,
        "executed": INT,
        "pc": INT,
        "prev_pc": INT,
        "state": STR,
        "regs": _REGS,
        "changed_regs": {"type": "array", "items": STR},
        "symbol": opt("string"),
        "line": _LINE,
    },
    ["pid", "pc", "state"],
)

HSX_BREAKPOINTS = obj(
    {
        "pid": INT,
        "breakpoints": {"type": "array", "items": INT},
        "details": {
            "type": "array",
            "items": obj(
                {"address": INT, "where": {"type": ["string", "integer"]}, "hits": INT, "symbol": opt("string")}
            ),
        },
    },
    ["pid", "breakpoints"],
)

HSX_MEMORY = obj(
    {"pid": INT, "addr": INT, "length": INT, "data": {"type": "string", "description": "hex"}, "truncated": BOOL},
    ["pid", "addr", "data"],
)

HSX_DISASM = obj(
    {
        "pid": INT,
        "address": INT,
        "count": INT,
        "pc": opt("integer"),
        "instructions": {
            "type": "array",
            "items": obj({"pc": INT, "text": STR, "mnemonic": STR, "symbol": opt("string"), "is_pc": BOOL}),
        },
    },
    ["pid", "instructions"],
)

HSX_STACK = obj(
    {
        "pid": INT,
        "frames": {
            "type": "array",
            "items": obj({"index": INT, "pc": INT, "sp": INT, "func_name": opt("string"), "return_pc": opt("integer")}),
        },
        "truncated": BOOL,
        "depth": INT,
    },
    ["pid", "frames"],
)
