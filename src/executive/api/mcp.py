"""The executive as an MCP server (official ``mcp`` SDK): tools, resources, prompts; stdio and streamable HTTP.

Theory of operation
-------------------
The server is the SDK's low-level :class:`mcp.server.lowlevel.Server`, not
``MCPServer``'s decorators: the tools' input schemas come from the JSON-RPC
params models (api/mcp_toolkit.py ``derive``), their output schemas from
the methods' typed results (api/mcp_schemas.py), and every call must pass through one error
boundary — a decorator-built server would re-derive the schemas from Python
signatures and turn some failures into protocol errors.

Every tool calls daemon methods by name through an :class:`McpBackend`
(api/mcp_backend.py).  In the daemon (``/mcp``) that is the ``/rpc``
dispatcher in-process, so params validation, the allow-list and every limit
apply exactly as on the wire; in ``executive mcp`` (stdio, api/mcp_stdio.py)
it is the WebSocket client of a running daemon.  The MCP layer therefore
adds no state of its own beyond resource watchers (api/mcp_resources.py).

Errors: whatever goes wrong inside ``tools/call`` — an unknown tool, arguments
that fail the input model, a daemon error (allow-list, unknown task, limits),
a bug — becomes a ``CallToolResult`` with ``isError: true`` whose text says
what was wrong and what to do next.  Nothing in a tool call becomes a
JSON-RPC error (which some hosts treat as fatal) or shows a traceback.

Resource updates reach clients of both protocol eras: ``resources/subscribe``
(up to 2025-11-25, notifications on the connection's standalone stream) and
``subscriptions/listen`` (2026-07-28, notifications on the listen stream).

Streamable HTTP: :func:`mount_mcp_http` adds ``/mcp`` to the daemon's FastAPI
app behind the same bearer token as ``/rpc``.  The SDK's session manager
needs a running task group; the daemon enters :meth:`McpHttp.run` for its
whole lifetime (api/server.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import pydantic
import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from executive import __version__
from executive.api.auth import token_matches
from executive.api.mcp_backend import BackendError, McpBackend
from executive.api.mcp_prompts import PromptError, list_prompts, render_prompt
from executive.api.mcp_resources import ResourceError, TaskResources
from executive.api.mcp_toolkit import ToolAnswer, ToolCall, ToolSpec, as_json_text
from executive.api.mcp_tools import task_tools
from executive.api.mcp_tools_hsx import hsx_tools
from executive.api.mcp_tools_work import work_tools
from executive.kernel.errors import ErrorCode

__all__ = ["ExecutiveMcp", "McpHttp", "all_tools", "mount_mcp_http"]

log = structlog.get_logger("executive.mcp")

INSTRUCTIONS = (
    "The executive supervises long-running work: commands (run_command, wait_task, read_output, cancel_task), "
    "coding agents and patches (run_agent, apply_patch, run_fix_loop), phased pipelines (run_pipeline) and HSX "
    "VM programs with a debugger (hsx_*). Output is never lost: start long commands with wait=false and read "
    "their output by offset instead of re-running them. Task logs are also resources task://{id}/stdout."
)

# What a model should do next, by daemon error code.
_NEXT_STEP: dict[int, str] = {
    ErrorCode.TASK_NOT_FOUND: "call list_tasks to see the existing task ids and names",
    ErrorCode.COMMAND_NOT_ALLOWED: (
        "the daemon's allow-list refuses this command; use a command it allows, or ask the user to add it to "
        "the allow-list ($EXECUTIVE_HOME/allowlist.json)"
    ),
    ErrorCode.INVALID_ARGV: "argv[0] must be an executable on PATH or a path; for shell syntax use ['sh', '-c', '...']",
    ErrorCode.INVALID_PARAMS: "fix the arguments (see the tool's inputSchema) and call again",
    ErrorCode.INVALID_TRANSITION: "call task_status to see the task's state first",
    ErrorCode.TASK_LOCKED: "another client holds this task's control lock; wait for it or use another task",
    ErrorCode.LIMIT_EXCEEDED: "ask for less (the limit is in the message) and continue in pieces",
    ErrorCode.NOT_A_VM_TASK: "that task is not an HSX program; hsx_load starts one",
    ErrorCode.HXE_INVALID: "the file is not a valid HXE image; build it with `executive hsx asm`",
    ErrorCode.INTERNAL_ERROR: "this is a fault in the executive, not in your request; the daemon log has details",
    ErrorCode.METHOD_NOT_FOUND: "call tools/list for the tools this server offers",
}


def all_tools() -> list[ToolSpec]:
    return task_tools() + work_tools() + hsx_tools()


def _error_text(tool: str, code: int, message: str) -> str:
    try:
        label = ErrorCode(code).name.lower()
    except ValueError:
        label = str(code)
    hint = _NEXT_STEP.get(code)
    return f"{tool} failed ({label}): {message}" + (f". Next: {hint}." if hint else "")


def _tool_error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _validation_text(tool: str, exc: pydantic.ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_context=False)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        problems.append(f"{where}: {err.get('msg')}")
    return (
        f"invalid arguments for {tool}: {'; '.join(problems)}. "
        "Next: fix them to match the tool's inputSchema and call again."
    )


def _connection_key(ctx: ServerRequestContext[Any]) -> int:
    # A ServerSession is made per request; its connection lives as long as the client's connection.
    # The SDK exposes no public handle for it in the low-level context, hence the private attribute.
    return id(getattr(ctx.session, "_connection", ctx.session))


class ExecutiveMcp:
    """The MCP server for one backend: tools, resources, prompts."""

    def __init__(self, backend: McpBackend, *, poll_interval: float = 0.5) -> None:
        self.backend = backend
        self.poll_interval = poll_interval
        self.tools = {t.name: t for t in all_tools()}
        self.resources = TaskResources(backend)
        self.server: Server[Any] = Server(
            "executive",
            version=__version__,
            title="executive",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=self._listen,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )

    # --- tools ----------------------------------------------------------------------
    def tool_list(self) -> list[types.Tool]:
        return [
            types.Tool(
                name=t.name,
                title=t.title,
                description=t.description,
                input_schema=t.input_schema(),
                output_schema=t.output,
                annotations=types.ToolAnnotations(
                    title=t.title,
                    read_only_hint=t.hints.read_only,
                    destructive_hint=t.hints.destructive,
                    idempotent_hint=t.hints.idempotent,
                    open_world_hint=t.hints.open_world,
                ),
            )
            for t in self.tools.values()
        ]

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tool_list())

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = self.tools.get(params.name)
        if spec is None:
            return _tool_error(
                f"unknown tool {params.name!r}. Next: use one of {', '.join(sorted(self.tools))} (tools/list has "
                "their schemas)."
            )

        async def progress(done: float, total: float | None, message: str) -> None:
            await ctx.session.report_progress(done, total, message)

        return await self.call_tool(spec, params.arguments or {}, progress)

    async def call_tool(self, spec: ToolSpec, arguments: dict[str, Any], progress: Any) -> types.CallToolResult:
        """Validate, run, and answer one tool call; every failure is an ``isError`` result."""
        try:
            args = spec.params.model_validate(arguments)
        except pydantic.ValidationError as exc:
            return _tool_error(_validation_text(spec.name, exc))
        try:
            answer: ToolAnswer = await spec.run(ToolCall(self.backend, progress, self.poll_interval), args)
        except BackendError as exc:
            return _tool_error(_error_text(spec.name, exc.code, exc.message))
        except Exception:
            log.exception("mcp_tool_failed", tool=spec.name)
            return _tool_error(_error_text(spec.name, ErrorCode.INTERNAL_ERROR, f"internal error in {spec.name}"))
        text = answer.text if answer.text is not None else as_json_text(answer.structured)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=answer.structured
        )

    # --- resources ------------------------------------------------------------------
    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=await self.resources.listing())

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=self.resources.templates())

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            return await self.resources.read(str(params.uri))
        except ResourceError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        session = ctx.session
        try:
            await self.resources.subscribe(_connection_key(ctx), str(params.uri), session.send_resource_updated)
        except ResourceError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.resources.unsubscribe(_connection_key(ctx), str(params.uri))
        return types.EmptyResult()

    async def _listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """``subscriptions/listen`` (protocol 2026-07-28): the same watchers, delivered on the listen stream.

        Each listen stream gets its own bus, so a watcher's updates reach only the stream that asked.
        """
        bus = InMemorySubscriptionBus()
        key = id(bus)
        uris = list(params.notifications.resource_subscriptions or ())

        async def publish(uri: str) -> None:
            await bus.publish(ResourceUpdated(uri=uri))

        try:
            for uri in uris:
                await self.resources.subscribe(key, uri, publish)
            return await ListenHandler(bus, max_subscriptions=1)(ctx, params)
        except ResourceError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        finally:
            for uri in uris:
                self.resources.unsubscribe(key, uri)

    # --- prompts --------------------------------------------------------------------
    async def _list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=list_prompts())

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        try:
            return render_prompt(params.name, params.arguments)
        except PromptError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

    def close(self) -> None:
        self.resources.close()


class McpHttp:
    """Streamable HTTP for one :class:`ExecutiveMcp`, behind the daemon's bearer token."""

    def __init__(self, mcp: ExecutiveMcp, token: str | None) -> None:
        self.mcp = mcp
        self._token = token
        # With a token, a DNS-rebinding page cannot authenticate; without one (loopback-only --no-auth),
        # the SDK's Host/Origin check is the protection.
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=token is None,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
        self.manager = StreamableHTTPSessionManager(app=mcp.server, security_settings=security)
        self._app = StreamableHTTPASGIApp(self.manager)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not token_matches(self._token, _bearer(scope)):
            response = JSONResponse(
                {"error": f"unauthorized: present the token from $EXECUTIVE_HOME/token as '{_AUTH_FORM}'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Run the session manager (its task group) for the daemon's lifetime."""
        try:
            async with self.manager.run():
                yield
        finally:
            self.mcp.close()


_AUTH_FORM = "Authorization: Bearer <token>"


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            text = bytes(value).decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None


def mount_mcp_http(app: Any, backend: McpBackend, token: str | None) -> McpHttp:
    """Serve MCP at ``/mcp`` of a Starlette/FastAPI app; the caller enters ``McpHttp.run()`` while serving."""
    http = McpHttp(ExecutiveMcp(backend), token)
    app.router.routes.append(Route("/mcp", endpoint=http, methods=["GET", "POST", "DELETE"]))
    return http
