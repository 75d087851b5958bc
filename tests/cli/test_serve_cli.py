"""`executive serve` as a user starts it, and what the other commands do when it goes away."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets

from executive.api.client import Client


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
    proc = await e2e.start_cli(d.home, "run", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
    assert proc.stdout is not None and proc.stderr is not None
    ready, leader = (await asyncio.wait_for(proc.stdout.readline(), 30)).split()
    assert ready == b"ready"
    # (The leader's pid comes from the task itself: the daemon may die before its row names the pid.)
    d.kill9()
    assert await asyncio.wait_for(proc.wait(), 30) == 3
    err = (await proc.stderr.read()).decode()
    assert "is the daemon still running" in err and "Traceback" not in err
    d.start()  # the orphan is cleaned up by the next start
    c = await d.client()
    [t] = (await c.call("task.list"))["tasks"]
    assert t["end_reason"] == "lost"
    await e2e.wait_for(
        lambda: e2e.gone(int(leader)), timeout=30
    )  # the restart kills it; a loaded machine may take a while
    await c.close()


async def test_a_non_loopback_address_needs_allow_remote_and_warns_without_tls(e2e: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = await e2e.run_cli(home, "serve", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert r.rc == 2 and "--allow-remote" in r.err and "in clear" in r.err
    assert not (home / "daemon.json").exists()
    proc = await e2e.start_cli(home, "serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = ""
        while "home:" not in out:
            out += (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "listening on ws://127.0.0.1:" in out  # local clients connect to loopback, not 0.0.0.0
        assert "token crosses the network in clear" in out
        info = json.loads((home / "daemon.json").read_text())
        assert info["host"] == "0.0.0.0" and info["tls_cert"] is None
        r = await e2e.run_cli(home, "run", "--", "echo", "remote-ok")
        assert r.rc == 0 and r.out == "remote-ok\n", r.err
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    err = (await proc.stderr.read()).decode()
    assert "token_in_clear" in err


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None  # keep the 303 and its Set-Cookie header


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=executive-test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
async def test_tls_serves_wss_and_https_and_the_cli_trusts_only_that_certificate(e2e: Any, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    home = tmp_path / "home"
    half = await e2e.run_cli(home, "serve", "--port", "0", "--tls-cert", str(cert), timeout=30)
    assert half.rc == 2 and "both --tls-cert and --tls-key" in half.err
    proc = await e2e.start_cli(home, "serve", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "listening on wss://127.0.0.1:" in first
        info = json.loads((home / "daemon.json").read_text())
        assert info["url"].startswith("wss://") and info["health"].startswith("https://")
        r = await e2e.run_cli(home, "run", "--", "echo", "over-tls")
        assert r.rc == 0 and r.out == "over-tls\n", r.err
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        with urllib.request.urlopen(info["health"], context=ctx, timeout=10) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        login = urllib.request.Request(
            info["health"].replace("/health", "/login"), data=f"token={(home / 'token').read_text().strip()}".encode()
        )
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as answer:  # the 303 to the dashboard, not followed
            opener.open(login, timeout=10)
        signed_in = answer.value
        assert "Secure" in signed_in.headers["set-cookie"]  # the dashboard's cookie never travels in clear
        plain = info["url"].replace("wss://", "ws://")
        with pytest.raises((OSError, websockets.InvalidHandshake, websockets.InvalidMessage)):
            await Client.connect(plain, (home / "token").read_text().strip())
        other_cert, _ = _self_signed(tmp_path / "other")
        with pytest.raises(ssl.SSLCertVerificationError):
            await Client.connect(info["url"], (home / "token").read_text().strip(), tls_cert=str(other_cert))
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_serve_keeps_working_when_the_reader_of_its_output_goes_away(e2e: Any, tmp_path: Path) -> None:
    """`executive serve 2>&1 | head`, or a log pipe whose reader died: its log lines are dropped, its work goes on."""
    home = tmp_path / "home"
    exe = str(Path(sys.executable).with_name("executive"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", "0"],
        env={**os.environ, "EXECUTIVE_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert b"listening on" in first
        proc.stdout.close()  # no reader left on either pipe: every log line now meets EPIPE
        proc.stderr.close()
        for i in range(3):
            r = await e2e.run_cli(home, "run", "--", "sh", "-c", f"echo task {i}", timeout=30)
            assert (r.rc, r.out) == (0, f"task {i}\n"), r.err
        info = json.loads((home / "daemon.json").read_text())
        c = await Client.connect(info["url"], (home / "token").read_text().strip())
        try:  # the operator can see why the daemon's log stopped
            assert (await c.call("daemon.health"))["log_dropped"] == "BrokenPipeError: [Errno 32] Broken pipe"
        finally:
            await c.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
