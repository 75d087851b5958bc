"""The daemon's state is private: its home 0700, every file in it 0600, whatever the umask.

Task logs and the store hold whatever the tasks printed (secrets included), so other users of
the machine must not read them, even when the daemon runs under a permissive umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


async def test_home_dirs_are_0700_and_files_0600(permissive_umask: None, daemon_factory: Any) -> None:
    d = await daemon_factory("private-home")
    c = await d.client()
    t = await c.call("task.run", argv=["sh", "-c", "echo secret; echo also >&2"])
    await c.call("task.wait", task=t["id"], timeout=20)
    await c.close()
    home = d.home
    dirs = [home, *[p for p in home.rglob("*") if p.is_dir()]]
    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"executive.db", "token", "daemon.json", "stdout.log", "stderr.log"} <= names
    assert {str(p): oct(_mode(p)) for p in dirs if _mode(p) != 0o700} == {}
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}


async def test_an_old_world_readable_store_is_made_private(daemon_factory: Any, tmp_path: Path) -> None:
    home = tmp_path / "old-home"
    home.mkdir()
    d = await daemon_factory("old-home")
    await d.close()
    for p in home.rglob("executive.db*"):
        os.chmod(p, 0o644)
    d2 = await daemon_factory("old-home")
    c = await d2.client()
    await c.call("daemon.health")
    await c.close()
    assert {p.name: oct(_mode(p)) for p in home.rglob("executive.db*") if _mode(p) != 0o600} == {}


async def test_nothing_but_health_answers_over_http_without_the_token(daemon: Any) -> None:
    import asyncio
    import urllib.error
    import urllib.request

    def status(url: str) -> int:  # in a thread: the daemon answers on this test's event loop
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    base = daemon.url.replace("ws://", "http://").replace("/rpc", "")
    assert await asyncio.to_thread(status, base + "/health") == 200
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert await asyncio.to_thread(status, base + path) == 404
