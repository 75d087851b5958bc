"""`executive serve` as a user starts it, and what the other commands do when it goes away."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import stat
from pathlib import Path
from typing import Any


async def test_serve_announces_itself_and_stops_cleanly(e2e: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = await e2e.start_cli(home, "serve", "--port", "0")
    assert proc.stdout is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert "listening on ws://127.0.0.1:" in first
    info = json.loads((home / "daemon.json").read_text())
    assert info["url"] in first and info["pid"] == proc.pid and info["auth"] is True
    assert stat.S_IMODE((home / "token").stat().st_mode) == 0o600
    r = await e2e.run_cli(home, "run", "--", "echo", "served")
    assert r.rc == 0 and r.out == "served\n"
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert not (home / "daemon.json").exists()


async def test_serve_stops_cleanly_on_sigterm_and_ends_its_live_tasks(e2e: Any, tmp_path: Path) -> None:
    """uvicorn captures SIGTERM while it serves and re-raises it afterwards: the daemon must still
    run its own shutdown (tasks cancelled, daemon.json removed) and exit 0, not die of the signal."""
    home = tmp_path / "home"
    proc = await e2e.start_cli(home, "serve", "--port", "0")
    assert proc.stdout is not None and proc.stderr is not None
    assert "listening on" in (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    r = await e2e.run_cli(home, "run", "--detach", "--", "sleep", "1000")
    assert r.rc == 0, r.err
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert not (home / "daemon.json").exists()
    err = (await proc.stderr.read()).decode()
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "daemon_stopped" in events
    with sqlite3.connect(home / "executive.db") as db:  # the store recorded the live task's end before exit
        rows = db.execute("SELECT state, end_reason FROM tasks WHERE id = ?", (int(r.out.strip()),)).fetchall()
    assert rows == [("ended", "cancelled")]


async def test_serve_refuses_bad_addresses(e2e: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = await e2e.run_cli(home, "serve", "--host", "0.0.0.0", "--no-auth", "--port", "0", timeout=30)
    assert r.rc == 2 and "non-loopback" in r.err and "Traceback" not in r.err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = await e2e.run_cli(home, "serve", "--port", str(port), timeout=30)
    assert r.rc == 2 and f"cannot listen on 127.0.0.1:{port}" in r.err


async def test_serve_refuses_a_ray_address_that_is_not_a_head(e2e: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = await e2e.run_cli(home, "serve", "--port", "0", "--ray", "nowhere", timeout=60)
    assert r.rc == 2 and "Traceback" not in r.err
    assert "HOST:PORT" in r.err or "Ray is not installed" in r.err  # either way it says what to do
    assert not (home / "daemon.json").exists()


async def test_run_says_so_when_the_daemon_dies_under_it(daemon_process: Any, e2e: Any) -> None:
    d = daemon_process()
    d.start()
    proc = await e2e.start_cli(d.home, "run", "--", "sh", "-c", "echo ready; exec sleep 1000")
    assert proc.stdout is not None and proc.stderr is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    d.kill9()
    assert await asyncio.wait_for(proc.wait(), 30) == 3
    err = (await proc.stderr.read()).decode()
    assert "is the daemon still running" in err and "Traceback" not in err
    d.start()  # the orphan is cleaned up by the next start
    c = await d.client()
    [t] = await c.call("task.list")
    assert t["end_reason"] == "lost"
    await e2e.wait_for(lambda: e2e.gone(t["pid"]), timeout=10)
    await c.close()
