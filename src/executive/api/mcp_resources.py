"""MCP resources: each task's stdout and stderr, and each pipeline run's report, with subscriptions.

URIs: ``task://{id}/stdout``, ``task://{id}/stderr`` and
``pipeline://{run}/report``.  Reading a task resource returns the log's last
:data:`RESOURCE_BYTES` (the read_output tool reads any range); the pipeline
report is the run's HTML report.

``resources/subscribe`` starts one watcher per (connection, URI) that looks at
the log size (``task.info``) or the run row (``pipeline.info``) every
:data:`WATCH_INTERVAL_S` and sends ``notifications/resources/updated`` when it
changed.  Polling rather than holding an event-bus subscription: one code path
for both backends, a bounded cost per watcher, and no kernel object in the MCP
layer.  A watcher ends on unsubscribe, when its task or run has ended (after a
last update), when the client cannot be reached, or when the daemon forgets
the task; at most :data:`MAX_WATCHERS` run at once.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
import structlog

from executive.api.mcp_backend import BackendError, McpBackend

__all__ = ["MAX_WATCHERS", "RESOURCE_BYTES", "WATCH_INTERVAL_S", "ResourceError", "TaskResources"]

log = structlog.get_logger("executive.mcp")

RESOURCE_BYTES = 1024 * 1024  # a task resource shows the log's last MiB
WATCH_INTERVAL_S = 0.1  # how often a subscription looks for new output
MAX_WATCHERS = 256  # subscriptions across all MCP connections of this server
LISTED_TASKS = 50  # resources/list shows the newest tasks' logs

_TASK_URI = re.compile(r"^task://(?P<task>[A-Za-z0-9_.-]{1,128})/(?P<stream>stdout|stderr)$")
_PIPELINE_URI = re.compile(r"^pipeline://(?P<run>[0-9]{1,18})/report$")

Notify = Callable[[str], Awaitable[None]]


class ResourceError(Exception):
    """A resource request that cannot be served; the message says what to do instead."""


def _task_ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text


class TaskResources:
    def __init__(self, backend: McpBackend, *, interval: float = WATCH_INTERVAL_S) -> None:
        self._backend = backend
        self._interval = interval
        self._watchers: dict[tuple[int, str], asyncio.Task[None]] = {}

    # --- listing --------------------------------------------------------------------
    async def listing(self) -> list[types.Resource]:
        rows = (await self._backend.call("task.list", {"limit": LISTED_TASKS}))["tasks"]
        out: list[types.Resource] = []
        for row in rows:
            sizes = row.get("output_bytes") or {}
            for stream in ("stdout", "stderr"):
                out.append(
                    types.Resource(
                        uri=f"task://{row['id']}/{stream}",
                        name=f"task-{row['id']}-{stream}",
                        title=f"{row.get('name')} {stream} ({row.get('state')})",
                        mime_type="text/plain",
                        size=sizes.get(stream),
                    )
                )
        return out

    @staticmethod
    def templates() -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(
                uri_template="task://{id}/stdout",
                name="task-stdout",
                title="A task's stdout",
                description="The last MiB of a task's stdout log (id or name); subscribe for updates as it grows.",
                mime_type="text/plain",
            ),
            types.ResourceTemplate(
                uri_template="task://{id}/stderr",
                name="task-stderr",
                title="A task's stderr",
                description="The last MiB of a task's stderr log (id or name); subscribe for updates as it grows.",
                mime_type="text/plain",
            ),
            types.ResourceTemplate(
                uri_template="pipeline://{run}/report",
                name="pipeline-report",
                title="A pipeline run's report",
                description="The HTML report of a pipeline run; subscribe for updates while it runs.",
                mime_type="text/html",
            ),
        ]

    # --- reading --------------------------------------------------------------------
    async def read(self, uri: str) -> types.ReadResourceResult:
        m = _TASK_URI.match(uri)
        if m:
            return await self._read_task(uri, _task_ref(m["task"]), m["stream"])
        m = _PIPELINE_URI.match(uri)
        if m:
            rep = await self._call("pipeline.report", {"run": int(m["run"])})
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, mime_type="text/html", text=rep["html"])]
            )
        raise ResourceError(_unknown(uri))

    async def _read_task(self, uri: str, task: int | str, stream: str) -> types.ReadResourceResult:
        info = await self._call("task.info", {"task": task})
        size = int((info.get("output_bytes") or {}).get(stream, 0))
        start = max(0, size - RESOURCE_BYTES)
        raw = b""
        while start + len(raw) < size:
            r = await self._call(
                "task.output",
                {"task": info["id"], "stream": stream, "offset": start + len(raw), "limit": size - start - len(raw)},
            )
            chunk = base64.b64decode(r["data_b64"]) if "data_b64" in r else r["data"].encode("utf-8")
            if not chunk:
                break
            raw += chunk
        try:
            content: types.TextResourceContents | types.BlobResourceContents = types.TextResourceContents(
                uri=uri, mime_type="text/plain", text=raw.decode("utf-8")
            )
        except UnicodeDecodeError:
            content = types.BlobResourceContents(
                uri=uri, mime_type="application/octet-stream", blob=base64.b64encode(raw).decode("ascii")
            )
        return types.ReadResourceResult(contents=[content])

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self._backend.call(method, params)
        except BackendError as exc:
            raise ResourceError(f"{exc.message}; list_tasks (or resources/list) shows what exists") from exc

    # --- subscriptions --------------------------------------------------------------
    async def subscribe(self, connection: int, uri: str, notify: Notify) -> None:
        """Start watching ``uri`` for one connection (a second subscribe to the same URI is a no-op)."""
        key = (connection, uri)
        if key in self._watchers and not self._watchers[key].done():
            return
        if sum(1 for t in self._watchers.values() if not t.done()) >= MAX_WATCHERS:
            raise ResourceError(f"too many resource subscriptions (limit {MAX_WATCHERS}); unsubscribe unused ones")
        m = _TASK_URI.match(uri)
        if m:
            info = await self._call("task.info", {"task": _task_ref(m["task"])})
            probe = self._task_probe(int(info["id"]), m["stream"])
        else:
            p = _PIPELINE_URI.match(uri)
            if p is None:
                raise ResourceError(_unknown(uri))
            await self._call("pipeline.info", {"run": int(p["run"])})
            probe = self._pipeline_probe(int(p["run"]))
        task = asyncio.ensure_future(self._watch(uri, probe, notify))
        self._watchers[key] = task
        task.add_done_callback(lambda t: self._forget(key, t))

    def unsubscribe(self, connection: int, uri: str) -> None:
        task = self._watchers.pop((connection, uri), None)
        if task is not None:
            task.cancel()

    def _forget(self, key: tuple[int, str], task: asyncio.Task[None]) -> None:
        if self._watchers.get(key) is task:
            del self._watchers[key]

    def close(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        self._watchers.clear()

    def _task_probe(self, task: int, stream: str) -> Callable[[], Awaitable[tuple[Any, bool]]]:
        async def probe() -> tuple[Any, bool]:
            info = await self._backend.call("task.info", {"task": task})
            return (info.get("output_bytes") or {}).get(stream, 0), info.get("state") == "ended"

        return probe

    def _pipeline_probe(self, run: int) -> Callable[[], Awaitable[tuple[Any, bool]]]:
        async def probe() -> tuple[Any, bool]:
            info = await self._backend.call("pipeline.info", {"run": run})
            return (info.get("state"), info.get("updated"), info.get("live")), not info.get("active")

        return probe

    async def _watch(self, uri: str, probe: Callable[[], Awaitable[tuple[Any, bool]]], notify: Notify) -> None:
        try:
            last, ended = await probe()
            while not ended:
                await asyncio.sleep(self._interval)
                seen, ended = await probe()
                if seen != last:
                    last = seen
                    await notify(uri)
        except BackendError as exc:  # the task or run is gone (forgotten, daemon stopped)
            log.info("mcp_watch_end", uri=uri, reason=exc.message)
        except (
            ConnectionError,
            OSError,
            RuntimeError,
            anyio.ClosedResourceError,
            anyio.BrokenResourceError,
        ) as exc:  # the client went away
            log.info("mcp_watch_end", uri=uri, reason=str(exc))


def _unknown(uri: str) -> str:
    return f"unknown resource {uri!r}; use task://<id>/stdout, task://<id>/stderr or pipeline://<run>/report"
