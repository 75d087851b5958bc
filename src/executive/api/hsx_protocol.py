"""The HSX executive's line-JSON protocol, sans-I/O (spec hsx-executive §1.2, §2, §12).

Theory of operation
-------------------
Bytes go in, bytes come out; nothing here touches a socket or awaits the
loop.  The asyncio shell (hsx_tcp.py) feeds what it reads to
:meth:`HsxConnection.receive_data`, runs each complete line with
:meth:`HsxConnection.handle_line` (which returns an awaitable only for the few
commands that read a log file), and writes what
:meth:`HsxConnection.data_to_send` returns whenever ``notify`` fires.

* **Framing** (§1.2): one UTF-8 JSON object per ``\\n``-terminated line, replies
  compact.  A line longer than ``Limits.hsx_max_line_bytes`` is discarded up to
  its newline and answered with an error; the connection stays open, as it
  does after ``invalid_json``.
* **Envelope** (§2.1–2.3): ``cmd`` is lower-cased; ``version`` must be 1 (or
  ``"1"``); a non-empty ``session`` must name a live session (else
  ``session_required``) and refreshes it; unknown commands answer
  ``unknown_cmd:<cmd>``.  Every reply is ``{"version":1,"status":"ok"|"error",...}``.
* **Multiplexing** (§12.3 superset): after ``events.subscribe`` the connection
  keeps reading requests; each reply is a complete line carrying ``status``,
  written between event lines.  Replies go first, then at most one batch of
  events per :meth:`data_to_send` call, so a reply never waits behind a burst.
* **Back-pressure**: events stay in the subscription's bounded ring (kernel
  EventBus) until the shell has room to write them; a slow reader loses the
  oldest events (with an ``event_dropped`` warning), never blocks the daemon.

Rejected alternative: a handler per connection that writes replies itself —
it would put socket writes inside command code and make the ordering of
replies and events depend on await points.

Command tables live beside this file: hsx_events.py (sessions, events),
hsx_commands.py (tasks, clock, memory, values, diagnostics), hsx_mailbox.py
(mailboxes, stdio), hsx_debug.py
(debugger commands over ``Executive.debug``).
"""

from __future__ import annotations

import collections
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from executive.api.hsx_args import Call, HsxError
from executive.kernel.errors import ErrorCode, ExecutiveError

if TYPE_CHECKING:  # pragma: no cover
    from executive.api.hsx_events import HsxStream
    from executive.service import Executive

__all__ = ["OVERSIZE", "Handler", "HsxConnection", "HsxCore", "LineFramer", "encode_line", "error_text"]

log = structlog.get_logger("executive.hsx_tcp")

Handler = Callable[[Call], "dict[str, Any] | Awaitable[dict[str, Any]]"]
OVERSIZE = object()  # marker a framer yields for a discarded over-long line
_EVENT_BATCH = 256  # events per data_to_send call (a reply never waits behind more)
_EVENT_BATCH_BYTES = 256 * 1024
_ECHO_CHARS = 80  # characters of a client's command name or version an error reply quotes
_ERROR_CHARS = 512  # characters of one error text, whatever arguments a command quoted in it


def encode_line(obj: Any) -> bytes:
    """One compact JSON line (spec §1.2); integer dict keys become strings."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


def error_text(exc: ExecutiveError) -> str:
    """The §2.6 error string for a service error (translated once, here)."""
    data = exc.data if isinstance(exc.data, dict) else {}
    code = exc.code
    if code == ErrorCode.TASK_LOCKED:
        return f"pid_locked:{data.get('task')}"
    if code == ErrorCode.SESSION_NOT_FOUND:
        return "session_required"
    if code == ErrorCode.TASK_NOT_FOUND and "task" in data:
        return f"unknown pid {data['task']}"
    if code == ErrorCode.NOT_A_VM_TASK:
        return f"unknown pid {data.get('task')}: {exc.message}"
    return exc.message


class LineFramer:
    """Splits a byte stream into lines of at most ``max_line`` bytes (without the newline)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop bytes up to the next newline

    def feed(self, data: bytes) -> list[Any]:
        """Accept bytes; return complete lines (``bytes``) and :data:`OVERSIZE` markers, in order."""
        out: list[Any] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            piece = data[start:nl]
            if self._discarding:
                self._discarding = False
            elif len(self._buf) + len(piece) > self.max_line:
                out.append(OVERSIZE)
                self._buf.clear()
            else:
                self._buf += piece
                line = bytes(self._buf).rstrip(b"\r")
                self._buf.clear()
                if line.strip():
                    out.append(line)
            start = nl + 1
        rest = data[start:]
        if self._discarding:
            return out
        if len(self._buf) + len(rest) > self.max_line:
            self._buf.clear()
            self._discarding = True
            out.append(OVERSIZE)
        else:
            self._buf += rest
        return out


class HsxConnection:
    """One client connection's protocol state: framing, reply queue, its event stream."""

    def __init__(self, core: HsxCore, *, peer: str = "") -> None:
        self.core = core
        self.peer = peer
        self.framer = LineFramer(core.ex.limits.hsx_max_line_bytes)
        self.notify: Callable[[], None] | None = None  # the shell's "something to write" wake-up
        self.stream: HsxStream | None = None  # the event stream this connection carries
        self.stream_only = False  # opened only to subscribe, no request since (an ExecutiveSession stream socket)
        self.want_close = False  # close once everything queued is written (the stream ended)
        self.closed = False
        self.requests = 0
        self._replies: collections.deque[bytes] = collections.deque()
        self._reply_bytes = 0

    # --- inbound ------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Any]:
        """Feed bytes read from the socket; returns the complete lines to pass to :meth:`handle_line`."""
        return self.framer.feed(data)

    def handle_line(self, line: Any) -> Awaitable[None] | None:
        """Serve one line; the reply is queued (an awaitable is returned only for async commands)."""
        if line is OVERSIZE:
            limit = self.framer.max_line
            self.send_reply(_error(f"line_too_long: a request line exceeds {limit} bytes (limit hsx_max_line_bytes)"))
            return None
        result = self.core.handle_line(self, line)
        if inspect.isawaitable(result):
            return self._finish(result)
        self.send_reply(result)
        return None

    async def _finish(self, pending: Awaitable[dict[str, Any]]) -> None:
        self.send_reply(await pending)

    # --- outbound -----------------------------------------------------------------------------
    def send_reply(self, reply: dict[str, Any]) -> None:
        data = encode_line(reply)
        self._replies.append(data)
        self._reply_bytes += len(data)
        self.wake()

    def wake(self) -> None:
        """Tell the shell there may be something to write (replies, or events in the stream's ring)."""
        if self.notify is not None:
            self.notify()

    def take_replies(self) -> bytes:
        """Every queued reply (not events), for a last write before the socket closes."""
        out = b"".join(self._replies)
        self._replies.clear()
        self._reply_bytes = 0
        return out

    @property
    def reply_backlog(self) -> int:
        """Bytes of replies queued but not yet handed to the shell."""
        return self._reply_bytes

    def data_to_send(self) -> bytes:
        """What to write next: every queued reply, then at most one batch of event lines; b"" when idle."""
        out = bytearray()
        while self._replies:
            out += self._replies.popleft()
        self._reply_bytes = 0
        stream = self.stream
        if stream is not None:
            out += stream.next_lines(_EVENT_BATCH, _EVENT_BATCH_BYTES)
            if stream.finished():
                self.stream = None
                if self.stream_only:
                    self.want_close = True  # ExecutiveSession reads its stream until EOF (spec §5.4)
                else:
                    out += stream.end_notice()
        return bytes(out)

    def connection_lost(self) -> None:
        """The socket closed: end this connection's stream."""
        self.closed = True
        if self.stream is not None:
            self.core.streams.end(self.stream, "disconnected")
            self.stream = None


class HsxCore:
    """The daemon-wide protocol state: sessions, streams, the dispatch table, the dmesg ring.

    Args:
        ex: the service every command maps onto.
        clock: wall-clock seconds (injected: the core reads no clock of its own).
        allow_shutdown: whether ``shutdown`` may stop the daemon (off unless the daemon was
            started for a single HSX user).
        on_shutdown: called by an allowed ``shutdown`` while it is served; it should only
            schedule the stop (on the loop), so the reply is written first.
    """

    def __init__(
        self,
        ex: Executive,
        *,
        clock: Callable[[], float] = time.time,
        allow_shutdown: bool = False,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        from executive.api import (  # the tables import this module's helpers
            hsx_commands,
            hsx_debug,
            hsx_events,
            hsx_mailbox,
        )

        self.ex = ex
        self.clock = clock
        self.allow_shutdown = allow_shutdown
        self.on_shutdown = on_shutdown
        self.sessions = hsx_events.HsxSessions(self)
        self.streams = hsx_events.HsxStreams(self)
        self.dmesg: collections.deque[dict[str, Any]] = collections.deque(maxlen=ex.limits.hsx_dmesg_entries)
        self._dmesg_seq = 0
        self.state: dict[str, Any] = {}  # per-daemon command state (listen cursors, rate clock), owned by hsx_commands
        self.on_rate_clock: Callable[[bool], None] | None = None  # the shell starts/stops its `clock rate` ticker
        self.commands: dict[str, Handler] = {}
        self.commands.update(hsx_events.COMMANDS)
        self.commands.update(hsx_commands.COMMANDS)
        self.commands.update(hsx_mailbox.COMMANDS)
        self.commands.update(hsx_debug.COMMANDS)
        self.session_commands = frozenset(hsx_events.SESSION_COMMANDS)

    # --- dmesg ---------------------------------------------------------------------------------
    def log(self, level: str, message: str, **fields: Any) -> None:
        """Append to the dmesg ring (spec §3.1 ``dmesg``)."""
        self._dmesg_seq += 1
        entry = {
            "seq": self._dmesg_seq,
            "ts": self.clock(),
            "level": level,
            "message": message,
            "clock_steps": self.ex.vm.total_steps,
        }
        entry.update(fields)
        self.dmesg.append(entry)

    # --- requests ------------------------------------------------------------------------------
    def handle_line(self, conn: HsxConnection | None, line: bytes) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Parse and serve one request line; returns the reply (or an awaitable of it)."""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            return _error("invalid_json")
        if not isinstance(msg, dict):
            return _error('invalid_request: expected a JSON object like {"cmd":"ping"}')
        return self.handle(conn, msg)

    def handle(self, conn: HsxConnection | None, msg: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Serve one decoded request in the order of spec §2.3."""
        version = msg.get("version")
        if version is None:
            version = 1
        if isinstance(version, str) and version.strip().lstrip("-").isdigit():
            version = int(version)
        if version != 1 or isinstance(version, bool):
            shown = version if isinstance(version, (int, float, str)) else type(version).__name__
            return _error(f"unsupported_version:{_clip(str(shown))}")
        cmd_raw = msg.get("cmd")
        cmd = _clip(cmd_raw.strip().lower()) if isinstance(cmd_raw, str) else ""  # no command name is longer
        session = msg.get("session")
        session = session.strip() if isinstance(session, str) and session.strip() else None
        if conn is not None:
            conn.requests += 1
            if cmd != "events.subscribe":
                conn.stream_only = False
        self.sessions.prune()
        self.log("debug", "shell request", command=cmd, session=session)
        if cmd not in self.session_commands and session is not None and not self.sessions.touch(session):
            return self._failed(cmd, session, "session_required")
        handler = self.commands.get(cmd)
        if handler is None:
            return self._failed(cmd, session, f"unknown_cmd:{cmd}")
        call = Call(self, conn, cmd, msg, session)
        try:
            result = handler(call)
        except Exception as exc:
            return self._failed(cmd, session, self._text(cmd, exc))
        if inspect.isawaitable(result):
            return self._finish(cmd, session, result)
        return _ok(result)

    async def _finish(self, cmd: str, session: str | None, pending: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        try:
            return _ok(await pending)
        except Exception as exc:
            return self._failed(cmd, session, self._text(cmd, exc))

    def _text(self, cmd: str, exc: Exception) -> str:
        if isinstance(exc, HsxError):
            return exc.text
        if isinstance(exc, ExecutiveError):
            return error_text(exc)
        log.exception("hsx_command_failed", command=cmd)
        return f"internal error in {cmd}; see the daemon log"

    def _failed(self, cmd: str, session: str | None, text: str) -> dict[str, Any]:
        if len(text) > _ERROR_CHARS:  # a command quoted a client's argument whole (`unknown memory op '<op>'`)
            text = f"{text[:_ERROR_CHARS]}…"
        self.log("warning", "command failed", command=cmd, session_id=session, error=text)
        return _error(text)

    # --- housekeeping --------------------------------------------------------------------------
    def tick(self) -> None:
        """Periodic work the shell calls about once a second: end streams of expired sessions."""
        self.sessions.prune()

    def rate_tick(self, elapsed_s: float) -> int:
        """Run the instructions a paced clock (``clock rate``) owes for ``elapsed_s``; returns how many ran."""
        rc = self.state.get("rate")
        return rc.tick(self.ex.vm.clock, elapsed_s, self.ex.limits.max_step) if rc is not None else 0

    def close(self) -> None:
        """The server stops: end every stream (connections are closed by the shell)."""
        self.streams.end_all("server_closed")


def _clip(text: str) -> str:
    """Client text as an error reply or dmesg entry quotes it: at most :data:`_ECHO_CHARS` characters."""
    return text if len(text) <= _ECHO_CHARS else f"{text[:_ECHO_CHARS]}…"


def _ok(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 1, "status": "ok"}
    for key, value in fields.items():
        if key not in out:  # a handler never overrides the envelope
            out[key] = value
    return out


def _error(text: str) -> dict[str, Any]:
    return {"version": 1, "status": "error", "error": text}
