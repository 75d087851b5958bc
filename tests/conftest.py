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
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from executive.api.client import Client
from executive.api.server import ServeOptions, serve
from executive.kernel.limits import DEFAULT_LIMITS, Limits


@dataclasses.dataclass
class Daemon:
    home: Path
    info: dict[str, Any]
    token: str | None
    stop: asyncio.Event
    task: "asyncio.Task[None]"

    @property
    def url(self) -> str:
        return self.info["url"]

    async def client(self, *, token: str | None | bool = True) -> Client:
        """A connected client; token=False connects without one, a string uses that one."""
        tok = self.token if token is True else (None if token is False else token)
        return await Client.connect(self.url, tok)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


async def start_daemon(home: Path, *, limits: Limits = DEFAULT_LIMITS, allow_list: Path | None = None, auth: bool = True) -> Daemon:
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
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.home.parent / "daemon.log", "ab"),
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
