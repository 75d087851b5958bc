"""Shared fixtures: a real daemon on 127.0.0.1 (in-process or as a subprocess) and clients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

# CPython 3.11 before 3.11.8 keeps ast.parse's recursion counter in per-interpreter state
# (gh-106905): a finalizer that formats a traceback while pytest's assertion rewriter parses a
# module (GC runs __del__ of a leaked asyncio subprocess transport, whose error pytest's
# unraisable-exception hook formats) nests a second ast.parse, and the outer one fails with
# "SystemError: AST constructor recursion depth mismatch", an INTERNALERROR that ends the run.
# traceback's caret anchors are the only ast.parse in that path; without them the carets are
# simply not drawn.
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client, RpcError

if sys.version_info[:3] < (3, 11, 8) and hasattr(traceback, "_extract_caret_anchors_from_line_segment"):
    traceback._extract_caret_anchors_from_line_segment = lambda segment: None
from executive.api.server import ServeOptions, serve
from executive.kernel.limits import DEFAULT_LIMITS, Limits


@dataclasses.dataclass
class Daemon:
    home: Path
    info: dict[str, Any]
    token: str | None
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return self.info["url"]

    async def client(self, *, token: str | bool | None = True) -> Client:
        """A connected client; token=False connects without one, a string uses that one."""
        tok = self.token if token is True else (None if token is False else token)
        return await Client.connect(self.url, tok)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


async def start_daemon(
    home: Path, *, limits: Limits = DEFAULT_LIMITS, allow_list: Path | None = None, auth: bool = True
) -> Daemon:
    ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    opts = ServeOptions(home, host="127.0.0.1", port=0, auth=auth, allow_list=allow_list, limits=limits)
    task = asyncio.ensure_future(serve(opts, on_ready=lambda info: ready.set_result(info), stop=stop))
    done, _ = await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED, timeout=20)
    if task in done:
        task.result()
    info = ready.result()
    token = (home / "token").read_text().strip() if auth else None
    return Daemon(home=home, info=info, token=token, stop=stop, task=task)


@pytest.fixture
def limits() -> Limits:
    """Override in a test module to run the daemon with other limits."""
    return DEFAULT_LIMITS


@pytest.fixture
async def daemon(tmp_path: Path, limits: Limits) -> AsyncIterator[Daemon]:
    d = await start_daemon(tmp_path / "home", limits=limits)
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[Client]:
    c = await daemon.client()
    try:
        yield c
    finally:
        await c.close()


class DaemonProcess:
    """`executive serve` as a real subprocess (for kill -9 and restart tests)."""

    def __init__(self, home: Path, extra: list[str] | None = None) -> None:
        self.home = home
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 20.0) -> dict[str, Any]:
        daemon_json = self.home / "daemon.json"
        daemon_json.unlink(missing_ok=True)
        env = dict(os.environ, EXECUTIVE_HOME=str(self.home))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "executive", "serve", "--port", "0", *self.extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.home.parent / "daemon.log", "ab"),
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if daemon_json.exists():
                try:
                    self.info = json.loads(daemon_json.read_text())
                    if self.info.get("pid") == self.proc.pid:
                        return self.info
                except ValueError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("daemon did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    async def client(self) -> Client:
        token = (self.home / "token").read_text().strip()
        return await Client.connect(self.info["url"], token)


@pytest.fixture
def daemon_process(tmp_path: Path) -> Callable[..., DaemonProcess]:
    made: list[DaemonProcess] = []

    def factory(home: Path | None = None, extra: list[str] | None = None) -> DaemonProcess:
        h = home or tmp_path / "home"
        h.mkdir(parents=True, exist_ok=True)
        d = DaemonProcess(h, extra)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy (async predicates allowed); fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# ----------------------------------------------------------------------------------------------
# End-to-end helpers (tests/api, tests/runtimes, tests/store, tests/cli).  Test modules cannot
# import this file by name (tests/hsx has its own conftest), so they reach these through the
# `e2e` fixture: `e2e.wait_for(...)`, `await e2e.until_ended(client, tid)`, `e2e.gone(pid)`, ...

import types  # noqa: E402

import psutil  # noqa: E402

EXECUTIVE_BIN = str(Path(sys.executable).with_name("executive"))


def pid_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs.  A zombie counts as gone: PID 1 here may never reap it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pid_file(path: Path) -> int | None:
    """The integer a task wrote to ``path``, or None while it is not (completely) written."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") and text.strip().isdigit() else None


async def until_ended(client: Client, task_id: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Events of ``client``'s subscriptions up to and including ``task_id``'s ``ended`` event."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"task {task_id} did not end within {timeout}s; saw {[e['type'] for e in seen][-20:]}")
        ev = await client.next_event(timeout=left)
        seen.append(ev)
        if ev["type"] == "task_state" and ev["pid"] == task_id and ev["data"]["to"] == "ended":
            return seen


async def read_log(client: Client, task_id: int, stream: str = "stdout") -> bytes:
    """A task's whole log through task.output (by offset, to eof)."""
    import base64

    out = bytearray()
    while True:
        r = await client.call("task.output", task=task_id, stream=stream, offset=len(out))
        out += r["data"].encode() if "data" in r else base64.b64decode(r["data_b64"])
        if r["next_offset"] >= r["size"]:
            return bytes(out)


@dataclasses.dataclass
class CliResult:
    rc: int
    out: str
    err: str


async def run_cli(
    home: Path, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None, input: bytes | None = None
) -> CliResult:
    """Run `executive ARGS` against ``home`` without blocking the event loop (an in-process daemon keeps serving)."""
    proc = await start_cli(home, *args, env=env, stdin=input is not None)
    out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


async def start_cli(
    home: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: bool = False
) -> asyncio.subprocess.Process:
    """Start `executive ARGS` with stdout/stderr (and stdin if asked) piped; the caller reads, signals and waits."""
    full_env = dict(os.environ, EXECUTIVE_HOME=str(home), COLUMNS="200", NO_COLOR="1", **(env or {}))
    return await asyncio.create_subprocess_exec(
        EXECUTIVE_BIN,
        *args,
        env=full_env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.fixture
async def daemon_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start extra in-process daemons with their own options: ``await daemon_factory(limits=..., allow_list=...)``."""
    made: list[Daemon] = []

    async def factory(name: str = "home2", **kw: Any) -> Daemon:
        d = await start_daemon(tmp_path / name, **kw)
        made.append(d)
        return d

    try:
        yield factory
    finally:
        for d in made:
            await d.close()


class LimitedDaemonProcess(DaemonProcess):
    """`serve()` in a subprocess with custom Limits (there are no CLI flags for most limits)."""

    def __init__(self, home: Path, limits: dict[str, Any]) -> None:
        super().__init__(home)
        self.limits = limits

    def start(self, timeout: float = 20.0) -> dict[str, Any]:
        code = (
            "import asyncio, sys, pathlib\n"
            "from executive.api.server import ServeOptions, serve\n"
            "from executive.kernel.limits import Limits\n"
            f"opts = ServeOptions(pathlib.Path({str(self.home)!r}), port=0, limits=Limits(**{self.limits!r}))\n"
            "asyncio.run(serve(opts))\n"
        )
        daemon_json = self.home / "daemon.json"
        daemon_json.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=dict(os.environ, EXECUTIVE_HOME=str(self.home)),
            stdout=subprocess.DEVNULL,
            stderr=open(self.home.parent / "daemon.log", "ab"),
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.info = json.loads(daemon_json.read_text())
                if self.info.get("pid") == self.proc.pid:
                    return self.info
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("daemon did not start")


@pytest.fixture
def limited_daemon_process(tmp_path: Path) -> Any:
    """Factory of :class:`LimitedDaemonProcess`; every one is stopped at teardown."""
    made: list[LimitedDaemonProcess] = []

    def factory(limits: dict[str, Any], home: Path | None = None) -> LimitedDaemonProcess:
        h = home or tmp_path / "home"
        h.mkdir(parents=True, exist_ok=True)
        d = LimitedDaemonProcess(h, limits)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


class RawWs:
    """A bare /rpc websocket that reads only when told to: for raw frames and for clients that
    "stop reading".  No compression (a compressible stream would fit in the socket buffers) and
    a one-frame receive queue, so the daemon meets backpressure as soon as this stops reading."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = 1000
        self.events: list[dict[str, Any]] = []  # from `events` notifications and binary frames, in arrival order
        self.kinds: list[str] = []  # "text" or "binary", one per events notification or binary frame

    def _take_event_frame(self, frame: str | bytes) -> Any:
        """Keep the events of an `events` notification or a binary output frame; return any other message."""
        import orjson

        from executive.api.output_frames import decode_frame

        if isinstance(frame, bytes):
            sub, chunks = decode_frame(frame)
            self.kinds.append("binary")
            self.events.extend(
                {
                    "seq": c.seq,
                    "type": "output",
                    "pid": c.task,
                    "subscription": sub,
                    "data": {"stream": c.stream, "offset": c.offset, "raw": bytes(c.data)},
                }
                for c in chunks
            )
            return None
        msg = orjson.loads(frame)
        if isinstance(msg, dict) and msg.get("method") == "events":
            self.kinds.append("text")
            self.events.extend(msg["params"]["events"])
            return None
        return msg

    @classmethod
    async def connect(cls, url: str, token: str | None) -> RawWs:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {token}"} if token else None
        return cls(await connect(url, additional_headers=headers, compression=None, max_queue=1, max_size=None))

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def read_one(self, timeout: float = 30.0) -> Any:
        """Read one message: None if it was an `events` notification or output frame (kept in .events)."""
        return self._take_event_frame(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv(self, timeout: float = 30.0) -> Any:
        """The next message that is not an `events` notification or output frame (those are kept in .events)."""
        while True:
            msg = self._take_event_frame(await asyncio.wait_for(self.ws.recv(), timeout))
            if msg is not None:
                return msg

    async def request(self, method: str, params: Any = None, **extra: Any) -> dict[str, Any]:
        """Send one request and return the whole reply object (result or error)."""
        import orjson

        self.ids += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.ids, "method": method, **extra}
        if params is not None:
            msg["params"] = params
        await self.send(orjson.dumps(msg).decode())
        reply = await self.recv()
        assert reply.get("id") == self.ids, f"reply {reply} is not for request {self.ids}"
        return reply

    async def call(self, method: str, **params: Any) -> Any:
        reply = await self.request(method, params)
        if "error" in reply:
            e = reply["error"]
            raise RpcError(e["code"], e["message"], e.get("data"))
        return reply["result"]

    async def read_until_ended(self, task_id: int, timeout: float = 30.0) -> None:
        """Read `events` notifications (and output frames) until ``task_id``'s ended event has arrived."""

        def ended() -> bool:
            return any(
                e["type"] == "task_state" and e["pid"] == task_id and e["data"]["to"] == "ended" for e in self.events
            )

        while not ended():
            self._take_event_frame(await asyncio.wait_for(self.ws.recv(), timeout))

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
def e2e() -> types.SimpleNamespace:
    """The end-to-end helpers above, reachable from any test module."""
    return types.SimpleNamespace(
        wait_for=wait_for,
        gone=pid_gone,
        read_pid_file=read_pid_file,
        until_ended=until_ended,
        read_log=read_log,
        run_cli=run_cli,
        start_cli=start_cli,
        start_daemon=start_daemon,
        raw=RawWs.connect,
    )


# ----------------------------------------------------------------------------------------------
# Every JSON-RPC reply a test causes in this process is checked against the result schema its
# method publishes in rpc.discover (api/rpc.py Method.result).  A reply that does not match
# fails the test that caused it; tests/api/test_result_schemas.py also calls every method once.

import jsonschema  # noqa: E402
import orjson  # noqa: E402

from executive.api import rpc as _rpc  # noqa: E402

_schema_failures: list[str] = []
_LARGEST_CHECKED_REPLY = 1 << 20  # bytes of JSON
_validators: dict[tuple[str, str], jsonschema.Draft202012Validator] = {}


def result_validator(method: _rpc.Method) -> jsonschema.Draft202012Validator:
    """The JSON Schema validator of a method's published result schema (cached per method name)."""
    key = (method.name, repr(method.result))  # a test's stub of a method may declare another result
    v = _validators.get(key)
    if v is None:
        v = _validators[key] = jsonschema.Draft202012Validator(method.result_schema())
    return v


def result_errors(method: _rpc.Method, result: Any) -> list[str]:
    """Why ``result`` (as it goes on the wire) does not match the method's result schema."""
    try:
        encoded = orjson.dumps(result)
    except TypeError:
        return []  # never reaches the wire: the dispatcher answers -32603 instead (tests/fuzz checks that)
    if len(encoded) > _LARGEST_CHECKED_REPLY:
        return []  # a bulk read: the same method's small replies are checked; decoding this one again would
        # double the memory a test of the daemon's own memory bounds measures
    wire = orjson.loads(encoded)
    return [
        f"{method.name}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
        for e in result_validator(method).iter_errors(wire)
    ]


_original_handle_message = _rpc.Dispatcher.handle_message


async def _checked_handle_message(self: _rpc.Dispatcher, msg: Any, ctx: Any) -> dict[str, Any] | None:
    reply = await _original_handle_message(self, msg, ctx)
    if reply is not None and "result" in reply and isinstance(msg, dict):
        method = self.methods.get(msg.get("method"))
        if method is not None:
            _schema_failures.extend(result_errors(method, reply["result"]))
    return reply


_rpc.Dispatcher.handle_message = _checked_handle_message  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _replies_match_their_result_schemas() -> Any:
    _schema_failures.clear()
    yield
    failures, _schema_failures[:] = list(_schema_failures), []
    assert not failures, "replies that do not match their method's result schema:\n" + "\n".join(failures[:20])
