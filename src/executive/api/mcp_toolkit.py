"""The pieces every MCP tool is made of: its spec, its call context, its answer.

A tool is a :class:`ToolSpec`: a name, a description written for a model, a
pydantic input model (derived from the JSON-RPC params model of the method it
calls, see :func:`derive`), an output schema (api/mcp_schemas.py), truthful
annotations, and an async ``run`` that calls daemon methods through the
:class:`ToolCall`'s backend and returns a :class:`ToolAnswer`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict

from executive.api.mcp_backend import BackendError, McpBackend

__all__ = [
    "Hints",
    "McpArgs",
    "ToolAnswer",
    "ToolCall",
    "ToolSpec",
    "as_json_text",
    "derive",
    "invalid",
    "rpc_params",
    "wait_in_slices",
]

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]


class McpArgs(BaseModel):
    """Tool arguments: unknown fields are an error, as on /rpc."""

    model_config = ConfigDict(extra="forbid")


@dataclasses.dataclass(frozen=True, slots=True)
class Hints:
    """The MCP tool annotations, all stated explicitly (the spec's defaults are the unsafe ones)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False


@dataclasses.dataclass(slots=True)
class ToolAnswer:
    structured: dict[str, Any]
    text: str | None = None  # what the model reads; defaults to the structured content as JSON


@dataclasses.dataclass(slots=True)
class ToolCall:
    """What a running tool may use: the backend, and progress toward the caller."""

    backend: McpBackend
    progress: ProgressFn
    poll_interval: float = 0.5  # seconds between progress notifications while waiting

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        return await self.backend.call(method, params)


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    params: type[BaseModel]
    output: dict[str, Any]
    hints: Hints
    run: Callable[[ToolCall, Any], Awaitable[ToolAnswer]]

    def input_schema(self) -> dict[str, Any]:
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        return schema


def derive(
    name: str,
    base: type[BaseModel],
    *,
    drop: tuple[str, ...] = (),
    describe: dict[str, str] | None = None,
    doc: str = "",
    **extra: Any,
) -> type[BaseModel]:
    """A tool input model built from a JSON-RPC params model.

    The method's fields (types, bounds, defaults) carry over unchanged, so the
    tool validates what the method validates; ``drop`` removes fields a tool
    does not offer, ``describe`` adds descriptions for a model to read, and
    ``extra`` adds tool-only fields as ``(type, Field(...))`` pairs.
    """
    fields: dict[str, Any] = {}
    for key, info in base.model_fields.items():
        if key in drop:
            continue
        info = copy.copy(info)
        if describe and key in describe:
            info.description = describe[key]
        fields[key] = (info.annotation, info)
    fields.update(extra)
    model: type[BaseModel] = pydantic.create_model(name, __base__=McpArgs, __doc__=doc or None, **fields)
    return model


def rpc_params(args: BaseModel, base: type[BaseModel]) -> dict[str, Any]:
    """The JSON-RPC params for ``base``'s method: the fields the caller set, minus tool-only ones."""
    keep = set(base.model_fields)
    return {k: v for k, v in args.model_dump(mode="json", exclude_unset=True).items() if k in keep}


async def wait_in_slices(
    call: ToolCall,
    method: str,
    params: dict[str, Any],
    timeout: float,
    done: Callable[[Any], bool],
    describe: Callable[[Any], str],
) -> tuple[Any, float]:
    """Call a ``*.wait`` method in short slices until ``done`` or ``timeout``, reporting progress between slices.

    A client that cancels the tool call cancels the slice in flight; what it
    waited on keeps running.  Returns the last answer and the seconds waited.
    """
    start = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - start)
        answer = await call.call(method, {**params, "timeout": max(0.0, min(call.poll_interval, left))})
        waited = time.monotonic() - start
        if done(answer) or waited >= timeout:
            return answer, waited
        await call.progress(round(waited, 3), timeout, describe(answer))


def as_json_text(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def invalid(message: str) -> BackendError:
    """A tool-side argument error, reported like the daemon's own −32602."""
    return BackendError(-32602, message)
