"""A scripted model server on 127.0.0.1 for the real agent CLIs (no API keys, no network).

Three wire protocols, each streaming the way the vendors' APIs do:

* Anthropic Messages (``POST /v1/messages``) for Claude Code: SSE ``message_start``,
  ``content_block_start/delta/stop`` (``text_delta``, ``input_json_delta``), ``message_delta``
  with the stop reason and usage, ``message_stop``.
* OpenAI Responses (``POST /v1/responses``) for Codex: ``response.created``,
  ``response.output_item.added/done`` (messages, ``function_call``, ``custom_tool_call``),
  ``response.output_text.delta``, ``response.completed`` with usage.
* OpenAI Chat Completions (``POST /v1/chat/completions``) for Aider, streaming or not.

A test hands the server a :class:`Script`: the *turns* the "model" takes, one per model request,
in order — a tool call that edits a file, a final text, an HTTP error status, a hang, a malformed
stream — and what to do once they are used up.  The server records every request so a test can
assert what the CLI sent.  It is plain asyncio streams (HTTP/1.1, one request per connection is
enough for these clients, keep-alive is honoured) running in its own thread, so synchronous and
async tests can both use it.

Requests that are not model turns (Claude Code's side calls with no tools, e.g. a title or a
quota probe) are answered with a short text and never consume a turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ModelServer", "Script", "Turn", "edit", "hang", "malformed", "status", "text", "tool"]


@dataclasses.dataclass(frozen=True)
class Turn:
    """One model response.  ``kind``: text | edit | read | status | hang | malformed | shell | tool | tool_search."""

    kind: str
    text: str = ""
    path: str = ""
    old: str = ""
    new: str = ""
    status: int = 200
    body: str = ""
    command: str = ""
    tool: str = ""  # kind "tool": the name of the tool called, as the CLI listed it to the model
    arguments: str = ""  # kind "tool": its input, JSON
    namespace: str = ""  # kind "tool", Responses API: the namespace a tool_search put it in (``mcp__executive``)


def text(value: str) -> Turn:
    return Turn("text", text=value)


def edit(path: str, old: str, new: str, note: str = "") -> Turn:
    """A tool call replacing ``old`` with ``new`` in ``path`` (relative to the CLI's cwd)."""
    return Turn("edit", path=path, old=old, new=new, text=note)


def read(path: str) -> Turn:
    """Claude Code only edits files it has read: a Read tool call first."""
    return Turn("read", path=path)


def shell(command: str) -> Turn:
    return Turn("shell", command=command)


def tool(name: str, arguments: dict[str, Any], *, namespace: str = "", note: str = "") -> Turn:
    """A call of any tool the CLI offers by name: Claude names an MCP tool ``mcp__executive__run_command``;
    Codex offers it as ``run_command`` in the namespace ``mcp__executive`` once a tool_search found it."""
    return Turn("tool", tool=name, arguments=json.dumps(arguments), namespace=namespace, text=note)


def tool_search(query: str) -> Turn:
    """Codex offers MCP tools only after the model searches for them (its client-side ``tool_search``)."""
    return Turn("tool_search", text="", arguments=json.dumps({"query": query}))


def status(code: int, message: str = "") -> Turn:
    return Turn("status", status=code, body=message)


def hang() -> Turn:
    return Turn("hang")


def malformed() -> Turn:
    return Turn("malformed")


@dataclasses.dataclass
class Script:
    turns: list[Turn]
    then: Turn | None = None  # answer once ``turns`` are used up (None: a plain "done" text)


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class ModelServer:
    """``with ModelServer(script) as srv: srv.url``; ``srv.requests`` lists what arrived."""

    def __init__(self, script: Script | None = None, *, cwd: str = "") -> None:
        self.script = script or Script([])
        self.cwd = cwd  # Claude's tools want absolute paths
        self.requests: list[Request] = []
        self.model_requests = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="model-server")
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> ModelServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        assert self._closing is not None
        self._closing.set()  # ends every hang
        for w in list(self._writers):
            w.transport.abort()
        await asyncio.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_turn(self) -> Turn:
        with self._lock:
            i = self.model_requests
            self.model_requests += 1
        if i < len(self.script.turns):
            return self.script.turns[i]
        return self.script.then or text("done")

    # --- HTTP ----------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    raw = await _read_chunked(reader)
                else:
                    raw = await reader.readexactly(int(headers.get("content-length", "0")))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                req = Request(method, path, headers, body)
                self.requests.append(req)
                if not await self._route(req, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _route(self, req: Request, w: asyncio.StreamWriter) -> bool:
        path = req.path.split("?", 1)[0]
        body = req.body if isinstance(req.body, dict) else {}
        if req.method == "GET" and path.endswith("/models"):
            await _json(w, 200, {"object": "list", "data": [{"id": "test-model", "object": "model"}], "models": []})
            return True
        if req.method != "POST":
            await _json(w, 404, {"error": {"message": f"no route {req.method} {path}"}})
            return True
        if path.endswith("/messages/count_tokens"):
            await _json(w, 200, {"input_tokens": 10})
            return True
        if path.endswith("/messages"):
            if not body.get("tools"):  # a side call (title, quota probe): never a scripted turn
                await self._anthropic(w, body, text("ok"))
                return True
            return await self._answer(w, body, self._anthropic)
        if path.endswith("/responses"):
            return await self._answer(w, body, self._responses)
        if path.endswith("/chat/completions"):
            return await self._answer(w, body, self._chat)
        await _json(w, 404, {"error": {"message": f"no route POST {path}"}})
        return True

    async def _answer(self, w: asyncio.StreamWriter, body: dict[str, Any], proto: Callable[..., Any]) -> bool:
        turn = self.next_turn()
        if turn.kind == "hang":  # headers never come; the connection stays open until the server stops
            assert self._closing is not None
            await self._closing.wait()
            return False
        if turn.kind == "status":
            await _error(w, turn.status, turn.body)
            return True
        await proto(w, body, turn)
        return True

    # --- Anthropic Messages ----------------------------------------------------------------
    async def _anthropic(self, w: asyncio.StreamWriter, body: dict[str, Any], turn: Turn) -> None:
        blocks: list[dict[str, Any]] = []
        if turn.text:
            blocks.append({"type": "text", "text": turn.text})
        if turn.kind == "edit":
            blocks.append(
                _tool_use(
                    next(self._ids),
                    "Edit",
                    {"file_path": self._abs(turn.path, body), "old_string": turn.old, "new_string": turn.new},
                )
            )
        elif turn.kind == "read":
            blocks.append(_tool_use(next(self._ids), "Read", {"file_path": self._abs(turn.path, body)}))
        elif turn.kind == "shell":
            blocks.append(_tool_use(next(self._ids), "Bash", {"command": turn.command}))
        elif turn.kind == "tool":
            blocks.append(_tool_use(next(self._ids), turn.tool, json.loads(turn.arguments)))
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": f"msg_{next(self._ids)}",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", "test-model"),
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 12, "output_tokens": 1},
                    },
                },
            )
        ]
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                events.append(
                    ("content_block_start", {"type": "content_block_start", "index": i, "content_block": _empty_text()})
                )
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}},
                    )
                )
            else:
                start = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
                events.append(
                    ("content_block_start", {"type": "content_block_start", "index": i, "content_block": start})
                )
                raw = json.dumps(b["input"])
                for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "input_json_delta", "partial_json": part},
                            },
                        )
                    )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 7},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        await _sse(w, events, malformed=turn.kind == "malformed")

    def _abs(self, path: str, body: dict[str, Any]) -> str:
        """Claude's tools take absolute paths: relative to the working directory its system prompt names."""
        if path.startswith("/"):
            return path
        m = _CWD.search(json.dumps(body.get("system", "")))
        cwd = m.group(1) if m else self.cwd
        return f"{cwd}/{path}" if cwd else path

    # --- OpenAI Responses --------------------------------------------------------------------
    async def _responses(self, w: asyncio.StreamWriter, body: dict[str, Any], turn: Turn) -> None:
        rid = f"resp_{next(self._ids)}"
        items: list[dict[str, Any]] = []
        if turn.text or turn.kind in ("text", "malformed"):
            items.append(
                {
                    "type": "message",
                    "id": f"msg_{next(self._ids)}",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": turn.text or "done", "annotations": []}],
                }
            )
        if turn.kind == "edit":
            patch = _codex_patch(turn.path, turn.old, turn.new)
            if _has_tool(body, "apply_patch", "custom"):
                items.append(
                    {
                        "type": "custom_tool_call",
                        "id": f"ctc_{next(self._ids)}",
                        "status": "completed",
                        "call_id": f"call_{next(self._ids)}",
                        "name": "apply_patch",
                        "input": patch,
                    }
                )
            else:
                items.append(_function_call(next(self._ids), "shell", {"command": ["apply_patch", patch]}))
        elif turn.kind == "shell":
            items.append(_function_call(next(self._ids), "shell", {"command": ["bash", "-lc", turn.command]}))
        elif turn.kind == "tool":
            call = _function_call(next(self._ids), turn.tool, json.loads(turn.arguments))
            items.append({**call, "namespace": turn.namespace} if turn.namespace else call)
        elif turn.kind == "tool_search":
            n = next(self._ids)
            items.append(
                {
                    "type": "tool_search_call",
                    "id": f"tsc_{n}",
                    "call_id": f"call_{n}",
                    "status": "completed",
                    "execution": "client",
                    "arguments": json.loads(turn.arguments),
                }
            )
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"type": "response.created", "response": {"id": rid, "status": "in_progress"}})
        ]
        for i, item in enumerate(items):
            added = dict(item, content=[]) if item["type"] == "message" else item
            events.append(
                ("response.output_item.added", {"type": "response.output_item.added", "output_index": i, "item": added})
            )
            if item["type"] == "message":
                events.append(
                    (
                        "response.output_text.delta",
                        {
                            "type": "response.output_text.delta",
                            "item_id": item["id"],
                            "output_index": i,
                            "content_index": 0,
                            "delta": item["content"][0]["text"],
                        },
                    )
                )
            events.append(
                ("response.output_item.done", {"type": "response.output_item.done", "output_index": i, "item": item})
            )
        usage = {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 29,
        }
        events.append(
            (
                "response.completed",
                {
                    "type": "response.completed",
                    "response": {"id": rid, "status": "completed", "output": items, "usage": usage},
                },
            )
        )
        await _sse(w, events, malformed=turn.kind == "malformed")

    # --- OpenAI Chat Completions ---------------------------------------------------------------
    async def _chat(self, w: asyncio.StreamWriter, body: dict[str, Any], turn: Turn) -> None:
        content = turn.text
        if turn.kind == "edit":
            block = f"{turn.path}\n<<<<<<< SEARCH\n{turn.old}=======\n{turn.new}>>>>>>> REPLACE\n"
            content = (turn.text + "\n\n" if turn.text else "") + block
        cid = f"chatcmpl-{next(self._ids)}"
        model = body.get("model", "test-model")
        usage = {"prompt_tokens": 30, "completion_tokens": 11, "total_tokens": 41}
        if not body.get("stream"):
            if turn.kind == "malformed":  # a JSON body cut in the middle
                w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 30\r\n\r\n")
                w.write(b'{"id": "x", "choices": [{"ind')
                await w.drain()
                return
            msg = {"role": "assistant", "content": content}
            await _json(
                w,
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                    "usage": usage,
                },
            )
            return
        chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model}
        events = [
            (
                "",
                dict(
                    chunk,
                    choices=[{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}],
                ),
            ),
            ("", dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=usage)),
        ]
        await _sse(w, events, malformed=turn.kind == "malformed", done_marker=True)


_CWD = re.compile(r"Primary working directory: ([^\s\"\\]+)")


# --- wire helpers ------------------------------------------------------------------------------
def _empty_text() -> dict[str, Any]:
    return {"type": "text", "text": ""}


def _tool_use(n: int, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{n:04d}", "name": name, "input": tool_input}


def _function_call(n: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{n}",
        "status": "completed",
        "call_id": f"call_{n}",
        "name": name,
        "arguments": json.dumps(args),
    }


def _has_tool(body: dict[str, Any], name: str, kind: str) -> bool:
    return any(t.get("name") == name and t.get("type") == kind for t in body.get("tools") or [] if isinstance(t, dict))


def _codex_patch(path: str, old: str, new: str) -> str:
    minus = "".join(f"-{ln}\n" for ln in old.splitlines())
    plus = "".join(f"+{ln}\n" for ln in new.splitlines())
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n{minus}{plus}*** End Patch\n"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readline()).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return out
        out += await reader.readexactly(size)
        await reader.readline()


async def _json(w: asyncio.StreamWriter, code: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
    w.write(
        f"HTTP/1.1 {code} {reason.get(code, 'Error')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await w.drain()


async def _error(w: asyncio.StreamWriter, code: int, message: str) -> None:
    """An error body both API families accept: Anthropic's ``type``/``error.type`` and OpenAI's ``error.message``."""
    kinds = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
    kind = kinds.get(code, "api_error")
    msg = message or {401: "invalid x-api-key", 500: "Internal server error"}.get(code, f"HTTP {code}")
    await _json(w, code, {"type": "error", "error": {"type": kind, "message": msg, "code": kind}})


async def _sse(
    w: asyncio.StreamWriter, events: list[tuple[str, dict[str, Any]]], *, malformed: bool, done_marker: bool = False
) -> None:
    w.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    parts: list[bytes] = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        parts.append(f"{head}data: {json.dumps(data)}\n\n".encode())
    if malformed:  # the first event intact, then a cut JSON payload, then the connection closes
        parts = [*parts[:1], b'event: content_block_delta\ndata: {"type": "content_blo\n\n']
    elif done_marker:
        parts.append(b"data: [DONE]\n\n")
    for p in parts:
        w.write(f"{len(p):x}\r\n".encode() + p + b"\r\n")
        await w.drain()
    if not malformed:
        w.write(b"0\r\n\r\n")
    await w.drain()
    if malformed:
        w.close()
