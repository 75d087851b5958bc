"""Task history across daemon restarts, with `executive serve` as a real subprocess.

A clean stop (SIGTERM) keeps every task row and log; a crash (SIGKILL of the
daemon) leaves live tasks that the next start marks ``lost``, keeping their
logs and killing their orphaned process trees.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psutil


def _pid_start_recorded(db: Path, tid: int) -> bool:
    """Whether the daemon has recorded the leader's start time (read-only peek at the WAL database)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            row = c.execute("SELECT pid_start FROM tasks WHERE id = ?", (tid,)).fetchone()
    except sqlite3.OperationalError:
        return False
    return bool(row and row[0])


async def test_history_survives_a_clean_restart(daemon_process: Any, e2e: Any) -> None:
    d = daemon_process()
    d.start()
    c = await d.client()
    done = await c.call("task.run", argv=["sh", "-c", "echo out; printf 'err\\377' >&2; exit 3"], name="done")
    await c.call("task.wait", task=done["id"], timeout=20)
    live = await c.call("task.run", argv=["sleep", "1000"], name="live")
    before = {t["id"]: t for t in (await c.call("task.list", after_id=0))["tasks"]}
    await c.close()
    d.stop()
    assert d.proc.returncode == 0
    assert not (d.home / "daemon.json").exists()
    assert e2e.gone(live["pid"])  # a clean stop cancels live tasks

    d.start()
    c = await d.client()
    after = {t["id"]: t for t in (await c.call("task.list", after_id=0))["tasks"]}
    assert after.keys() == before.keys()
    a = after[done["id"]]
    for key in ("name", "argv", "cwd", "created", "started", "ended", "exit_code", "end_reason", "pid"):
        assert a[key] == before[done["id"]][key], key
    assert a["exit_code"] == 3 and a["end_reason"] == "exited"
    b = after[live["id"]]
    assert b["state"] == "ended" and b["end_reason"] == "cancelled" and b["signal"] == 15
    assert await e2e.read_log(c, done["id"]) == b"out\n"
    assert await e2e.read_log(c, done["id"], "stderr") == b"err\xff"
    info = await c.call("task.info", task="done")
    assert info["id"] == done["id"] and info["output_bytes"] == {"stdout": 4, "stderr": 4}
    new = await c.call("task.run", argv=["true"])
    assert new["id"] > max(before)  # ids are never reused
    await c.close()


async def test_a_task_running_at_a_crash_is_lost_with_its_log_kept(
    daemon_process: Any, e2e: Any, tmp_path: Path
) -> None:
    d = daemon_process(extra=["--max-running", "1"])
    d.start()
    c = await d.client()
    pidfile = tmp_path / "stray.pid"
    stray = f'setsid sh -c "echo \\$\\$ > {pidfile}; exec sleep 1000" >/dev/null 2>&1'
    t = await c.call("task.run", argv=["sh", "-c", f"echo started; ( {stray} & ); exec sleep 1000"], name="victim")
    queued = await c.call("task.run", argv=["true"], name="waiting")
    assert queued["state"] == "queued"
    stray_pid = await e2e.wait_for(lambda: e2e.read_pid_file(pidfile), timeout=20)
    await e2e.wait_for(lambda: c.call("task.output", task=t["id"]), timeout=20)
    await e2e.wait_for(lambda: _pid_start_recorded(d.home / "executive.db", t["id"]), timeout=20)
    await c.close()

    d.kill9()
    # The crash leaves the task's processes behind, unsupervised.
    assert not e2e.gone(t["pid"]) and not e2e.gone(stray_pid)
    leader_start = psutil.Process(t["pid"]).create_time()

    d.start()
    c = await d.client()
    info = await c.call("task.info", task=t["id"])
    assert info["state"] == "ended" and info["end_reason"] == "lost"
    assert "orphaned process tree was killed" in info["end_detail"]
    assert await e2e.read_log(c, t["id"]) == b"started\n"  # the log is kept
    q = await c.call("task.info", task=queued["id"])
    assert q["state"] == "ended" and q["end_reason"] == "lost" and q["pid"] is None
    await e2e.wait_for(lambda: e2e.gone(stray_pid), timeout=10)
    await e2e.wait_for(lambda: e2e.gone(t["pid"]) or psutil.Process(t["pid"]).create_time() != leader_start, timeout=10)
    # The restarted daemon runs new work normally.
    again = await c.call("task.run", argv=["sh", "-c", "echo fine"])
    assert (await c.call("task.wait", task=again["id"], timeout=20))["exit_code"] == 0
    assert again["id"] > queued["id"]
    await c.close()


async def test_a_lost_task_whose_process_already_died_kills_nothing(daemon_process: Any, e2e: Any) -> None:
    """The leader died after the daemon: the restart marks the task lost and signals no one."""
    d = daemon_process()
    d.start()
    c = await d.client()
    t = await c.call("task.run", argv=["sleep", "1000"])
    await e2e.wait_for(lambda: _pid_start_recorded(d.home / "executive.db", t["id"]), timeout=20)
    await c.close()
    d.kill9()
    psutil.Process(t["pid"]).kill()  # the task's process dies with the daemon...
    await e2e.wait_for(lambda: e2e.gone(t["pid"]), timeout=10)
    d.start()
    c = await d.client()
    info = await c.call("task.info", task=t["id"])
    assert info["end_reason"] == "lost" and "killed" not in info["end_detail"]
    await c.close()


async def test_a_second_daemon_on_the_same_home_is_refused(daemon_process: Any, e2e: Any) -> None:
    """It would share the database, mark the first daemon's live tasks lost and kill them."""
    d = daemon_process()
    d.start()
    c = await d.client()
    t = await c.call("task.run", argv=["sleep", "1000"])
    await e2e.wait_for(lambda: _pid_start_recorded(d.home / "executive.db", t["id"]), timeout=20)
    r = await e2e.run_cli(d.home, "serve", "--port", "0", timeout=20)
    assert r.rc == 2 and "another daemon already serves" in r.err and d.info["url"] in r.err
    assert not e2e.gone(t["pid"])
    assert (await c.call("task.info", task=t["id"]))["state"] == "running"
    await c.close()
    d.stop()
    d.start()  # once the first one is gone, the home is free again
    c = await d.client()
    assert (await c.call("task.info", task=t["id"]))["end_reason"] == "cancelled"
    await c.close()
