"""`executive run` on the daemon's machine copies the task's log files (cli/local_logs.py).

Through the console script against a daemon on 127.0.0.1: the CLI holds the task's log open
(seen in /proc), the bytes are exactly the task's, a queued task whose logs do not exist yet
is followed once they appear, a destination that refuses sendfile (an O_APPEND file) gets the
same bytes, and a home whose task logs cannot be read here hands over to the connection.
``EXECUTIVE_LOCAL_LOGS=0`` keeps the output on the connection.  Unit tests of LocalLogs and
of when it is used are at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client
from executive.cli.local_logs import LocalLogs, local_logs_allowed
from executive.kernel.limits import Limits

PY = sys.executable
_TAIL = b"\xff\xfe no newline \xc3"
OUT = bytes(range(256)) * 2048 + _TAIL  # not text, not line-ended; the task builds the same bytes
ERR = b"\x80 to stderr \xe2\x82"
_WRITE = (
    "import os, sys, time\n"
    f"out, err = bytes(range(256)) * 2048 + {_TAIL!r}, {ERR!r}\n"
    "os.write(2, err[:3]); sys.stdout.buffer.write(out[:1000]); sys.stdout.flush()\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
    "sys.stdout.buffer.write(out[1000:]); sys.stdout.flush(); os.write(2, err[3:])\n"
    "sys.exit(4)\n"
)


@pytest.fixture
def limits() -> Limits:
    return Limits(max_running=1)  # a second task waits in the queue: its logs do not exist when `run` starts


def _open_logs(pid: int) -> list[str]:
    """The task logs (tasks/<id>/*.log) process ``pid`` has open."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "/tasks/" in target and target.endswith(".log"):
            found.append(target)
    return sorted(found)


@pytest.mark.parametrize("local", [True, False], ids=["log files", "connection"])
async def test_run_writes_the_tasks_bytes_exactly_from_the_log_files_or_the_connection(
    daemon: Any, e2e: Any, tmp_path: Path, local: bool
) -> None:
    gate = tmp_path / "gate"
    env = {} if local else {"EXECUTIVE_LOCAL_LOGS": "0"}
    proc = await e2e.start_cli(daemon.home, "run", "--", PY, "-c", _WRITE, str(gate), env=env)
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readexactly(990), 30)  # streamed while the task runs
    held = _open_logs(proc.pid)
    gate.touch()
    rest, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 4
    assert first + rest == OUT and err == ERR
    if local:
        assert [Path(p).name for p in held] == ["stderr.log", "stdout.log"]
        assert all(Path(p).parent.parent == daemon.home / "tasks" for p in held)
    else:
        assert held == []


async def test_a_queued_task_is_followed_once_its_logs_appear(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    first = await client.call("task.run", argv=["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done"])
    proc = await e2e.start_cli(daemon.home, "run", "--", PY, "-c", _WRITE, str(gate))

    async def queued() -> bool:
        tasks = (await client.call("task.list"))["tasks"]
        return any(t["id"] != first["id"] and t["state"] == "queued" for t in tasks)

    await e2e.wait_for(queued, timeout=20)
    [second] = [t for t in (await client.call("task.list"))["tasks"] if t["id"] != first["id"]]
    assert not (daemon.home / "tasks" / str(second["id"])).exists()
    gate.touch()
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, out, err) == (4, OUT, ERR)


async def test_run_into_a_file_opened_for_appending_gets_every_byte(daemon: Any, e2e: Any, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"before\n")
    exe = str(Path(sys.executable).with_name("executive"))
    gate = tmp_path / "gate"
    gate.touch()
    script = f'{exe} run -- {PY} -c "$WRITER" {gate} >> {target}'
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        script,
        env={**os.environ, "EXECUTIVE_HOME": str(daemon.home), "WRITER": _WRITE},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 4 and err == ERR
    assert target.read_bytes() == b"before\n" + OUT  # sendfile refuses O_APPEND: read and written instead


def _other_home(daemon: Any, tmp_path: Path) -> Path:
    """A home beside the daemon's with its address and token but not its task logs (another mount, a container)."""
    other = tmp_path / "other-home"
    other.mkdir(mode=0o700)
    for name in ("daemon.json", "token"):
        if (daemon.home / name).exists():
            shutil.copy2(daemon.home / name, other / name)
    return other


async def test_logs_that_cannot_be_read_here_come_over_the_connection(daemon: Any, e2e: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    proc = await e2e.start_cli(_other_home(daemon, tmp_path), "run", "--", PY, "-c", _WRITE, str(gate))
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readexactly(990), 30)  # no tasks/ here: handed over at once
    gate.touch()
    rest, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, first + rest, err) == (4, OUT, ERR)


async def test_logs_that_never_appear_here_are_read_over_the_connection_at_the_end(
    daemon: Any, e2e: Any, tmp_path: Path
) -> None:
    """tasks/ exists here but is not the daemon's: the ended event's sizes show what was not seen."""
    other = _other_home(daemon, tmp_path)
    (other / "tasks").mkdir()
    r = await e2e.run_cli(other, "run", "--", "sh", "-c", "printf 'only stdout\\n'; printf 'and more'")
    assert (r.rc, r.out, r.err) == (0, "only stdout\nand more", "")


async def test_a_task_that_prints_on_one_stream_only_ends_promptly_with_its_bytes(daemon: Any, e2e: Any) -> None:
    r = await e2e.run_cli(daemon.home, "run", "--", "sh", "-c", "printf 'out only'", timeout=20)
    assert (r.rc, r.out, r.err) == (0, "out only", "")
    [task_dir] = (daemon.home / "tasks").iterdir()
    assert sorted(p.name for p in task_dir.iterdir()) == ["stdout.log"]  # a stream that printed nothing has no file
    r = await e2e.run_cli(daemon.home, "run", "--", "true", timeout=20)
    assert (r.rc, r.out, r.err) == (0, "", "")
    assert len(list((daemon.home / "tasks").iterdir())) == 1  # nor a task that printed nothing a directory


# --- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "env", "want"),
    [
        ("ws://127.0.0.1:7421/rpc", None, True),
        ("ws://127.8.9.1:7421/rpc", None, True),
        ("ws://[::1]:7421/rpc", None, True),
        ("ws://localhost:7421/rpc", None, True),
        ("ws://10.0.0.5:7421/rpc", None, False),
        ("ws://build-host:7421/rpc", None, False),
        ("ws://127.0.0.1:7421/rpc", "0", False),
        ("ws://127.0.0.1:7421/rpc", "1", True),
    ],
)
def test_local_logs_are_used_only_for_a_daemon_on_a_loopback_address(
    monkeypatch: pytest.MonkeyPatch, url: str, env: str | None, want: bool
) -> None:
    if env is None:
        monkeypatch.delenv("EXECUTIVE_LOCAL_LOGS", raising=False)
    else:
        monkeypatch.setenv("EXECUTIVE_LOCAL_LOGS", env)
    assert local_logs_allowed(url) is want


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 5)[0])


def test_local_logs_wake_on_creation_and_growth_and_copy_from_their_offsets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out_file = (tmp_path / "stdout.copy").open("wb")
    err_file = (tmp_path / "stderr.copy").open("wb")
    monkeypatch.setattr(sys, "stdout", out_file)
    monkeypatch.setattr(sys, "stderr", err_file)
    task_dir = tmp_path / "tasks" / "7"
    (tmp_path / "tasks").mkdir()
    logs = LocalLogs(task_dir)
    try:
        logs.pump()  # a queued task, or one that printed nothing yet: no directory
        assert logs.failed is None and logs.next == {"stdout": 0, "stderr": 0}
        task_dir.mkdir()
        assert _readable(logs.fileno())  # its creation wakes us
        logs.pump()
        (task_dir / "stdout.log").write_bytes(b"one ")  # the daemon creates a log at its first byte
        assert _readable(logs.fileno())
        logs.pump()
        assert logs.next == {"stdout": 4, "stderr": 0}
        with (task_dir / "stdout.log").open("ab") as f:
            f.write(b"two")
        assert _readable(logs.fileno())  # growth wakes us
        (task_dir / "stderr.log").write_bytes(b"\xff err")
        logs.pump()
        assert logs.next == {"stdout": 7, "stderr": 5}
    finally:
        logs.close()
        out_file.close()
        err_file.close()
    assert (tmp_path / "stdout.copy").read_bytes() == b"one two"
    assert (tmp_path / "stderr.copy").read_bytes() == b"\xff err"


def _inotify_watches(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return sum(line.startswith("inotify wd:") for line in f)


def test_an_ended_tasks_logs_are_copied_whole_without_watches_left(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """At the end the watches go first (closing an inotify descriptor that has some waits ~7 ms); the copy is whole."""
    out_file = (tmp_path / "stdout.copy").open("wb")
    monkeypatch.setattr(sys, "stdout", out_file)
    task_dir = tmp_path / "5"
    task_dir.mkdir()
    (task_dir / "stdout.log").write_bytes(b"early ")
    logs = LocalLogs(task_dir)
    try:
        logs.pump()
        assert _inotify_watches(logs.fileno()) == 1
        with (task_dir / "stdout.log").open("ab") as f:
            f.write(b"and last")
        (task_dir / "stderr.log").write_bytes(b"")  # appears after the end was known: opened, not watched
        logs.stop_watching()
        assert _inotify_watches(logs.fileno()) == 0
        logs.pump()
        assert _inotify_watches(logs.fileno()) == 0 and logs.failed is None
        assert logs.next == {"stdout": 14, "stderr": 0}
    finally:
        logs.close()
        out_file.close()
    assert (tmp_path / "stdout.copy").read_bytes() == b"early and last"


def test_a_log_that_cannot_be_read_marks_the_follower_failed_with_its_offsets_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdout", (tmp_path / "copy").open("ab"))  # O_APPEND: the read-and-write path
    task_dir = tmp_path / "3"
    (task_dir / "stdout.log").mkdir(parents=True)  # opens, cannot be read
    (task_dir / "stderr.log").write_bytes(b"")
    logs = LocalLogs(task_dir)
    try:
        logs.pump()
        assert isinstance(logs.failed, OSError)
        assert logs.next == {"stdout": 0, "stderr": 0}
    finally:
        logs.close()
        sys.stdout.close()
