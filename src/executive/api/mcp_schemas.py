"""Output schemas of the MCP tools, derived from the typed service results.

A tool that hands back what one daemon method returned publishes that method's
declared result type (``Method.result``, a TypedDict of
``executive.service.results``) through :func:`method_output`; a tool that
composes its answer (a row plus how long it waited, a slice of a log with what
remains) declares the composition here as a TypedDict built on the service
types.  Either way the JSON Schema comes from pydantic's ``TypeAdapter``, as
``rpc.discover`` publishes it, so a field the service adds or retypes reaches
the MCP schema with no edit here.

MCP wants an object at the root of an output schema, and hosts differ in how
well they follow ``$ref``: :func:`output_schema` inlines every definition and
states ``type: object`` at the root (a union of objects keeps its ``anyOf``
under it).  TypedDicts publish no ``additionalProperties: false``, so a field
added later never turns a good answer into a client-side validation error.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any, Literal, NotRequired

import pydantic
from pydantic import Field
from typing_extensions import TypedDict

from executive.api.agent_methods import agent_methods
from executive.api.debug_methods import debug_methods
from executive.api.methods import core_methods
from executive.api.pipeline_methods import pipeline_methods
from executive.api.vm_methods import vm_methods
from executive.service.results import (
    AgentStarted,
    DebugState,
    FixRun,
    OutputBytes,
    TaskRow,
    TaskSummary,
    TaskWaitResult,
)
from executive.service.results.core import TaskStateName

__all__ = [
    "AgentRunOutput",
    "FixStatusOutput",
    "HsxStopOutput",
    "OutputRead",
    "RunCommandOutput",
    "TaskListOutput",
    "TaskWaitOutput",
    "method_output",
    "output_schema",
]

Schema = dict[str, Any]


class RunCommandOutput(TaskRow):
    """The started task; when it waited, the task's row at the end with its lock holder, log sizes and tails."""

    waited: bool
    locked_by: NotRequired[str | None]
    output_bytes: NotRequired[OutputBytes]
    timed_out: NotRequired[Annotated[bool, Field(description="still running when wait_timeout passed")]]
    waited_s: NotRequired[float]
    stdout_tail: NotRequired[Annotated[str, Field(description="the last bytes of stdout (read_output has all)")]]
    stderr_tail: NotRequired[Annotated[str, Field(description="the last bytes of stderr (read_output has all)")]]


class TaskListOutput(TypedDict):
    """One page of tasks (newest first unless after_id was given) and where the next page starts."""

    tasks: list[TaskSummary]
    count: int
    next: Annotated[
        int | None, Field(description="the next page: call again with before_id (or after_id) = this; null: no more")
    ]


class TaskWaitOutput(TaskWaitResult):
    """The task's row after the wait; ``timed_out`` says whether it still runs."""

    waited_s: float


class OutputRead(TypedDict):
    """A slice of a task's log, with where to continue and how much is left."""

    task: int
    stream: Literal["stdout", "stderr"]
    offset: int
    next_offset: Annotated[int, Field(description="where the next read_output continues")]
    size: Annotated[int, Field(description="the log's size in bytes now")]
    remaining: Annotated[int, Field(description="bytes after next_offset in the log now")]
    eof: Annotated[bool, Field(description="the task ended and everything was read")]
    encoding: Literal["utf-8", "base64"]
    data: str
    lines: NotRequired[Annotated[int, Field(description="with last_lines: how many lines the slice holds")]]


class AgentRunOutput(AgentStarted):
    """The agent task as started; with ``wait``, its normalized result (null while it works)."""

    result: dict[str, Any] | None
    waited: bool
    timed_out: NotRequired[bool]


class FixStatusOutput(FixRun):
    """The fix run with its attempts; ``timed_out`` when the call waited and the run goes on."""

    timed_out: NotRequired[bool]


class HsxStopOutput(TypedDict):
    """Where an HSX program stopped after hsx_continue (or that it still runs)."""

    task: int
    stopped: Annotated[bool, Field(description="false: still running when the timeout passed")]
    reason: Annotated[str, Field(description="debug_break (breakpoint), paused, ended, or running (timeout)")]
    task_state: TaskStateName
    exit_code: NotRequired[int | None]
    state: Annotated[DebugState | None, Field(description="registers and position at the stop (not when ended)")]


def output_schema(tp: Any) -> Schema:
    """The self-contained JSON Schema of ``tp`` (no ``$ref``), an object at the root."""
    raw = pydantic.TypeAdapter(tp).json_schema()
    defs = raw.pop("$defs", {})
    schema: Schema = _inline(raw, defs, ())
    if schema.get("type") != "object":
        branches = schema.get("anyOf") or schema.get("oneOf") or []
        if not branches or any(b.get("type") != "object" for b in branches):
            raise TypeError(f"an MCP output schema must describe an object, not {schema}")
        schema = {"type": "object", **schema}
    return schema


def _inline(node: Any, defs: Schema, seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(x, defs, seen) for x in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:
            raise TypeError(f"recursive type {name} cannot be inlined into an MCP output schema")
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**copy.deepcopy(defs[name]), **rest}, defs, (*seen, name))
    return {k: _inline(v, defs, seen) for k, v in node.items()}


@functools.cache
def _method_results() -> dict[str, Any]:
    tables = (core_methods, agent_methods, pipeline_methods, vm_methods, debug_methods)
    return {m.name: m.result for table in tables for m in table()}


def method_output(method: str) -> Schema:
    """The output schema of a tool that returns what the JSON-RPC ``method`` returns, from its declared result."""
    return output_schema(_method_results()[method])
