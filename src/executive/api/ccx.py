"""The cc_executor-compatible endpoint: ``/ws/mcp`` on the main port, and ``--ccx-port`` (spec/cc-executor-wire.md).

Theory of operation
-------------------
One WebSocket connection is one :class:`CcxSession`.  Its frames are handled
strictly in order (spec §2.1) by the wire core in ``ccx_wire.py``; each
``execute`` becomes an ordinary process task (``sh -c COMMAND``) through
:meth:`Executive.task_run`, so ``executive ps``, ``logs``, ``cancel`` and the
event bus see it like any other.  The session then *streams the task's logs
by byte offset* (:meth:`Executive.task_output_bytes`), framed into
``process.output`` notifications by ``ccx_output.LineFramer``, and finishes
with ``process.completed`` (the process exited) or ``process.failed`` (it
was cancelled, killed, timed out or could not start).

Two lanes feed the one writer: *control* (replies, ``process.paused`` /
``resumed`` / ``canceled``, the ``ping`` keep-alive) always goes first;
*bulk* (``process.started``, output, the terminal notification — in that
order) holds at most ``_BULK_FRAMES`` frames, and the streamer waits for room.
So a slow reader holds back only our read offset into the log: the producer
runs on at disk speed, the daemon's memory per session stays bounded
(≈ ``_BULK_FRAMES`` × 64 KiB plus one read), every byte arrives in order, and
the link is never cut for being behind (no pong is ever required of the
client; the ``--ccx-port`` server also never times out its protocol pings).

Defects of the reference we do not copy (spec §5–§8, §10): CANCEL ends the
whole tree, paused or not, setsid children included, and a terminal
notification with the real exit status follows; the ``timeout`` param is an
inactivity timeout that *kills* the task and reports it (never a fabricated
exit 0); batches get an array of replies; a disconnect cancels the session's
task unless it was started with ``detach: true`` (our extension: the task
then runs on, and its output stays in ``executive logs``).

Rejected alternative: forwarding the bus's ``output`` events.  A subscription
ring drops the oldest events when the reader lags; a cc_executor client has
no way to fill that gap, while reading the log by offset needs no gap filling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections import deque
from typing import Any

import structlog
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from executive.api.auth import presented_token, token_matches
from executive.api.ccx_output import LineFramer, OutputSignals
from executive.api.ccx_wire import (
    CAPABILITIES,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    NO_PROCESS,
    NOT_ALLOWED,
    PROTOCOL_VERSION,
    SESSION_LIMIT,
    CcxError,
    Request,
    batch_frame,
    error_frame,
    error_obj,
    notification_frame,
    parse_frame,
    process_params,
    reply_obj,
    shell_free_argv,
)
from executive.kernel.errors import (
    ErrorCode,
    ExecutiveError,
    InvalidTransitionError,
    NotAllowedError,
)
from executive.service import Executive
from executive.service.results import TaskRow

__all__ = ["CcxEndpoint", "CcxSession", "serve_ccx_socket"]

log = structlog.get_logger("executive.ccx")

STREAMS = ("stdout", "stderr")
_READ_BYTES = 1024 * 1024  # one log read
_BULK_FRAMES = 8  # bulk frames queued for the writer before the streamer waits
_WAIT_S = 1.0  # the streamer re-checks this often even without a wake-up (a safety net, not the mechanism)
# Environment the reference gives every command (spec §4 step 2), on top of the daemon's base set.
_CHILD_ENV = {"PYTHONUNBUFFERED": "1", "NODE_NO_READLINE": "1"}
_TERMINAL_STATUS = {
    "cancelled": "canceled",
    "killed": "killed",
    "timed_out": "timeout",
    "idle_timeout": "timeout",
    "lost": "failed",
    "failed": "failed",
}
_HOOK_STATUS: dict[str, Any] = {  # no hooks run here: the reference's hook layer is not part of this endpoint
    "enabled": False,
    "config_path": None,
    "hooks_configured": [],
    "timeout": 60,
    "parallel": False,
    "recent_executions": [],
    "statistics": {},
}


class CcxEndpoint:
    """What every cc_executor session of one daemon shares: the service and the session count."""

    def __init__(self, service: Executive) -> None:
        self.service = service
        self.max_sessions = service.limits.ccx_max_sessions
        self.ping_interval_s = service.limits.ccx_ping_interval_s
        self.active = 0  # open sessions on every ccx endpoint (main port and --ccx-port)
        self.started = time.time()

    def health(self) -> dict[str, Any]:
        """The reference's ``GET /health`` body (spec §1)."""
        return {
            "status": "healthy",
            "service": "cc_executor_mcp",
            "version": PROTOCOL_VERSION,
            "active_sessions": self.active,
            "max_sessions": self.max_sessions,
            "uptime_seconds": round(time.time() - self.started, 3),
        }


@dataclasses.dataclass
class _Execution:
    """The one execute of a session (spec §6: one process per session)."""

    task: int
    detach: bool
    started_at: float  # monotonic; for execution_time
    pid: int | None = None
    finished: bool = False  # the terminal notification is queued; a new execute may start
    streamer: asyncio.Task[None] | None = None


class CcxSession:
    """One connection's state; the shell feeds :meth:`receive` and sends :meth:`next_frame`."""

    def __init__(self, endpoint: CcxEndpoint, peer: str = "") -> None:
        self.endpoint = endpoint
        self.ex = endpoint.service
        self.id = str(uuid.uuid4())
        self.peer = peer
        self.control: deque[str] = deque()  # replies, control notifications, pings: always sent first
        self.control_bytes = 0  # invariant: sum(len(f) for f in control)
        self.close_requested = asyncio.Event()  # set (with close_reason) when the daemon drops this client
        self.close_reason = ""
        self.bulk: deque[str] = deque()  # process.started, output, the terminal notification, in order
        self.wake = asyncio.Event()  # set when a frame is queued
        self.room = asyncio.Event()  # set while bulk has room
        self.room.set()
        self.run: _Execution | None = None
        self.last_pong: float | None = None
        self.closed = False
        self._deferred: list[str] | None = None  # notifications held back until a batch's reply is queued
        self.push_control(
            notification_frame(
                "connected", {"session_id": self.id, "version": PROTOCOL_VERSION, "capabilities": CAPABILITIES}
            )
        )

    # --- the writer's side ------------------------------------------------------------
    def push_control(self, frame: str) -> None:
        limit = self.ex.limits.max_queued_reply_bytes
        if self.close_requested.is_set():
            return
        if self.control_bytes + len(frame) > limit:
            # A client that sends requests but never reads: drop it rather than hold its replies forever.
            log.warning("ccx_session_dropped", session=self.id, reason="unread_replies", limit=limit)
            self.close_reason = f"more than {limit // (1024 * 1024)} MiB of replies unread; read before sending more"
            self.control.clear()
            self.control_bytes = 0
            self.close_requested.set()
            return
        self.control.append(frame)
        self.control_bytes += len(frame)
        self.wake.set()

    def next_frame(self) -> str | None:
        """The next frame to send: control first, then bulk; None when both are empty."""
        if self.control:
            frame = self.control.popleft()
            self.control_bytes -= len(frame)
            return frame
        if self.bulk:
            frame = self.bulk.popleft()
            if len(self.bulk) < _BULK_FRAMES // 2:
                self.room.set()
            return frame
        return None

    def has_frames(self) -> bool:
        return bool(self.control or self.bulk)

    async def _push_bulk(self, frame: str) -> None:
        self.bulk.append(frame)
        self.wake.set()
        if len(self.bulk) >= _BULK_FRAMES:
            self.room.clear()
            await self.room.wait()

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        frame = notification_frame(method, params)
        if self._deferred is not None:
            self._deferred.append(frame)
        else:
            self.push_control(frame)

    # --- requests -------------------------------------------------------------------------
    async def receive(self, frame: str | bytes) -> None:
        """Handle one incoming frame completely (requests of a session run in order, spec §2.1)."""
        limit = self.ex.limits.max_frame_bytes
        if len(frame) > limit:
            self.push_control(
                error_frame(None, INVALID_PARAMS, f"frame of {len(frame)} bytes exceeds the limit of {limit}")
            )
            return
        parsed = parse_frame(frame, max_batch=self.ex.limits.max_batch)
        if isinstance(parsed, str):
            self.push_control(parsed)
            return
        items, is_batch = parsed
        # Requests run in order; the reply (one array for a batch, JSON-RPC 2.0 §6) goes out
        # first, then the notifications the requests caused (process.paused after its reply).
        self._deferred = []
        replies: list[dict[str, Any]] = []
        try:
            for item in items:
                if isinstance(item, CcxError):
                    replies.append(error_obj(None, item.code, item.message))
                    continue
                outcome = await self._outcome(item)
                if item.has_id and item.method != "pong":
                    replies.append(reply_obj(item, outcome))
        finally:
            deferred, self._deferred = self._deferred, None
        if is_batch and replies:
            self.push_control(batch_frame(replies))
        elif replies:
            self.push_control(batch_frame(replies[0]))
        for f in deferred:
            self.push_control(f)

    async def _outcome(self, req: Request) -> Any:
        try:
            return await self._dispatch(req)
        except CcxError as exc:
            return exc
        except Exception:
            log.exception("ccx_request_failed", session=self.id, method=req.method)
            return CcxError(INTERNAL_ERROR, f"Internal error while handling {req.method}")

    async def _dispatch(self, req: Request) -> Any:
        if req.method == "execute":
            return await self._execute(req.params)
        if req.method == "control":
            return self._control(req.params)
        if req.method == "hook_status":
            return dict(_HOOK_STATUS)
        if req.method == "pong":
            self.last_pong = time.time()
            return None
        raise CcxError(METHOD_NOT_FOUND, f"Unknown method: {req.method}")

    async def _execute(self, params: dict[str, Any]) -> dict[str, Any]:
        command = params.get("command")
        if not isinstance(command, str) or not command.strip():
            raise CcxError(INVALID_PARAMS, "execute needs 'command': a non-empty shell command string")
        timeout = params.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            raise CcxError(INVALID_PARAMS, f"'timeout' must be a positive number of seconds, got {timeout!r}")
        detach = params.get("detach", False)
        if not isinstance(detach, bool):
            raise CcxError(INVALID_PARAMS, f"'detach' must be true or false, got {detach!r}")
        if self.run is not None and not self.run.finished:
            raise CcxError(
                INVALID_PARAMS,
                f"A process is already running (task {self.run.task}); wait for process.completed or send CANCEL",
            )
        row = await self._start(command, timeout, detach)
        run = _Execution(task=row["id"], detach=detach, started_at=time.monotonic(), pid=row["pid"])
        self.run = run
        run.streamer = asyncio.ensure_future(self._stream(run))
        log.info("ccx_execute", session=self.id, task=run.task, detach=detach)
        if run.pid is None:  # waiting for a running slot (Limits.max_running): process.started follows
            return {"status": "queued", "pid": None, "pgid": None, "task": run.task}
        return {"status": "started", "pid": run.pid, "pgid": run.pid, "task": run.task}

    async def _start(self, command: str, timeout: float | None, detach: bool) -> TaskRow:
        """Run ``sh -c COMMAND``; under an allow-list without the shell, a command free of shell syntax runs as argv."""
        kw: dict[str, Any] = {
            "name": "ccx",
            "env": dict(_CHILD_ENV),
            "idle_timeout": float(timeout) if timeout is not None else None,
            "meta": {"via": "ccx", "ccx_session": self.id, "command": command[:1024], "detach": detach},
        }
        try:
            try:
                return await self.ex.task_run(["sh", "-c", command], **kw)
            except NotAllowedError:
                argv = shell_free_argv(command)
                if argv is None:
                    raise CcxError(
                        NOT_ALLOWED,
                        f"Command {command[:200]!r} is not allowed: the allow-list does not permit the shell, "
                        "and the command uses shell syntax (operators, expansions, redirections, globs or quotes "
                        "the shell would interpret); send a single allowed command without them",
                    ) from None
                try:
                    return await self.ex.task_run(argv, **kw)
                except NotAllowedError:
                    raise CcxError(NOT_ALLOWED, f"Command {command[:200]!r} is not allowed") from None
        except ExecutiveError as exc:
            raise CcxError(INVALID_PARAMS, exc.message) from None

    def _control(self, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("type")
        if kind not in ("PAUSE", "RESUME", "CANCEL"):
            raise CcxError(INVALID_PARAMS, f"control 'type' must be PAUSE, RESUME or CANCEL, got {kind!r}")
        run = self.run
        if run is None:
            raise CcxError(NO_PROCESS, "No process is running")
        state = self.ex.task_info(run.task)["state"]
        if state == "ended":
            raise CcxError(NO_PROCESS, f"No process is running (task {run.task} has ended)")
        try:
            if kind == "PAUSE":
                if state != "paused":
                    self.ex.task_pause(run.task)
                status = "paused"
            elif kind == "RESUME":
                if state == "paused":
                    self.ex.task_resume(run.task)
                status = "resumed"
            else:
                self.ex.task_cancel(run.task)
                status = "canceled"
        except InvalidTransitionError as exc:
            raise CcxError(NO_PROCESS, exc.message) from None
        self._notify(f"process.{status}", process_params(status, run.pid))
        return {"status": status}

    # --- streaming ----------------------------------------------------------------------
    async def _stream(self, run: _Execution) -> None:
        """Send process.started, the task's output from its logs, then the terminal notification."""
        watch = self.ex.open_output_watch(run.task)
        try:
            row = self.ex.task_info(run.task)
            while row["state"] in ("queued", "starting"):
                await watch.wait(_WAIT_S)
                row = self.ex.task_info(run.task)
            if row["pid"] is not None:
                run.pid = row["pid"]
                run.started_at = time.monotonic()
                await self._push_bulk(notification_frame("process.started", process_params("started", run.pid)))
            signals = OutputSignals(self.id)
            await self._pump_logs(run, watch, signals)
            await self._push_bulk(self._terminal(run, signals))
        except ExecutiveError as exc:  # the task left memory (or similar): say so rather than hang
            await self._push_bulk(notification_frame("process.error", {"error": exc.message}))
        finally:
            watch.close()
            run.finished = True

    async def _pump_logs(self, run: _Execution, watch: Any, signals: OutputSignals) -> None:
        offsets = dict.fromkeys(STREAMS, 0)
        framers = {s: LineFramer(s) for s in STREAMS}
        done = dict.fromkeys(STREAMS, False)
        while not all(done.values()):
            progressed = False
            for stream in STREAMS:
                if done[stream]:
                    continue
                r = await self.ex.task_output_bytes(run.task, stream=stream, offset=offsets[stream], limit=_READ_BYTES)
                final = bool(r["eof"])
                pieces, used = framers[stream].feed(r["data"], final=final)
                offsets[stream] += used
                progressed = progressed or used > 0
                for params in pieces:
                    if stream == "stdout":
                        for method, extra in signals.scan(params["data"], time.monotonic() - run.started_at):
                            await self._push_bulk(notification_frame(method, extra))
                    await self._push_bulk(notification_frame("process.output", params))
                if final and offsets[stream] >= r["size"]:
                    done[stream] = True
            if not progressed and not all(done.values()):
                await watch.wait(_WAIT_S)

    def _terminal(self, run: _Execution, signals: OutputSignals) -> str:
        row = self.ex.task_info(run.task)
        started, ended = row["started"], row["ended"]
        elapsed = (ended - started) if started and ended else time.monotonic() - run.started_at
        early = signals.early_completion_time
        params: dict[str, Any] = process_params("completed", run.pid)
        params.update(
            execution_time=elapsed,
            early_completion_detected=early is not None,
            early_completion_time=early,
            time_saved=max(0.0, elapsed - early) if early is not None else 0,
            completion_marker=signals.completion_marker,
            task=run.task,
            end_reason=row["end_reason"],
            signal=row["signal"],
        )
        code = row["exit_code"] if row["exit_code"] is not None else (-row["signal"] if row["signal"] else None)
        params["exit_code"] = code
        reason = row["end_reason"]
        if reason == "exited":
            params["status"] = "completed" if code == 0 else "failed"
            return notification_frame("process.completed", params)
        params["status"] = _TERMINAL_STATUS.get(reason or "failed", "failed")
        if row["signal"]:
            how = f"ended by signal {row['signal']}"
        elif row["exit_code"] is not None:
            how = f"ended with exit code {row['exit_code']}"
        else:
            how = "it never ran"
        detail = f" ({row['end_detail']})" if row.get("end_detail") else ""
        params["error"] = f"task {run.task} {reason}: {how}{detail}"
        return notification_frame("process.failed", params)

    # --- end ----------------------------------------------------------------------------
    async def close(self) -> None:
        """The connection is gone: stop streaming; cancel the task unless it was detached."""
        self.closed = True
        run = self.run
        if run is None:
            return
        if run.streamer is not None:
            run.streamer.cancel()
        if not run.detach:
            try:
                if self.ex.task_info(run.task)["state"] != "ended":
                    self.ex.task_cancel(run.task)
                    log.info("ccx_disconnect_cancel", session=self.id, task=run.task)
            except ExecutiveError:
                pass


# ---------------------------------------------------------------------------------------- shell
async def serve_ccx_socket(ws: WebSocket, endpoint: CcxEndpoint, *, token: str | None) -> None:
    """Run one cc_executor connection until the client goes away."""
    await ws.accept()
    if not token_matches(token, presented_token(ws.headers.get("authorization"), ws.query_params.get("token"))):
        await ws.send_text(
            error_frame(
                None,
                int(ErrorCode.UNAUTHORIZED),
                "this endpoint needs the daemon's token: send 'Authorization: Bearer TOKEN' or ?token=TOKEN "
                "(the token is in $EXECUTIVE_HOME/token); clients that cannot, use `executive serve --ccx-port`",
            )
        )
        await ws.close(code=1008, reason="token required")
        return
    if endpoint.active >= endpoint.max_sessions:
        await ws.send_text(
            error_frame(None, SESSION_LIMIT, f"Session limit exceeded ({endpoint.max_sessions} sessions); retry later")
        )
        await ws.close(code=1008, reason="Session limit exceeded")
        return
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    session = CcxSession(endpoint, peer)
    endpoint.active += 1
    log.info("ccx_session_open", session=session.id, peer=peer)
    reader = asyncio.ensure_future(_read_loop(ws, session))
    writer = asyncio.ensure_future(_write_loop(ws, session))
    pinger = asyncio.ensure_future(_ping_loop(session, endpoint.ping_interval_s))
    dropped = asyncio.ensure_future(session.close_requested.wait())
    try:
        await asyncio.wait([reader, writer, dropped], return_when=asyncio.FIRST_COMPLETED)
        if session.close_requested.is_set():
            reader.cancel()
            writer.cancel()
            with contextlib.suppress(Exception):  # the peer may be gone, or never read the close frame
                await asyncio.wait_for(ws.close(code=1008, reason=session.close_reason[:120]), 5.0)
    finally:
        endpoint.active -= 1
        for t in (reader, writer, pinger, dropped):
            t.cancel()
        await session.close()
        log.info("ccx_session_close", session=session.id)


async def _read_loop(ws: WebSocket, session: CcxSession) -> None:
    """Frames in, strictly in order (spec §2.1); returns when the client goes away."""
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            frame = msg.get("text")
            if frame is None:
                frame = msg.get("bytes") or b""
            await session.receive(frame)
    except (WebSocketDisconnect, RuntimeError):
        return


async def _write_loop(ws: WebSocket, session: CcxSession) -> None:
    try:
        while True:
            frame = session.next_frame()
            if frame is None:
                session.wake.clear()
                if session.has_frames():
                    continue
                await session.wake.wait()
                continue
            if ws.application_state != WebSocketState.CONNECTED:
                return
            await ws.send_text(frame)  # awaits the transport draining: our back-pressure
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return


async def _ping_loop(session: CcxSession, interval: float) -> None:
    """The reference's app-level heartbeat (spec §6), minus its defect: a client that never pongs is not cut."""
    while True:
        await asyncio.sleep(interval)
        session.push_control(notification_frame("ping", {"timestamp": time.time()}))
