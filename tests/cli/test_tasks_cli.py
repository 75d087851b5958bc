"""The `executive` task commands as a user runs them: a real subprocess of the console script
against a real daemon found through $EXECUTIVE_HOME."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from executive.api.client import Client

PY = sys.executable


async def _line(stream: asyncio.StreamReader, timeout: float = 20.0) -> str:
    return (await asyncio.wait_for(stream.readline(), timeout)).decode()


async def test_run_streams_live_and_exits_with_the_task_code(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = f"echo first; echo to-stderr >&2; while [ ! -e {gate} ]; do sleep 0.02; done; echo second; exit 5"
    proc = await e2e.start_cli(daemon.home, "run", "--name", "streamer", "--", "sh", "-c", script)
    assert proc.stdout is not None and proc.stderr is not None
    assert await _line(proc.stdout) == "first\n"  # printed while the task still runs
    [task] = (await client.call("task.list"))["tasks"]
    assert task["name"] == "streamer" and task["state"] == "running"
    gate.touch()
    assert await _line(proc.stdout) == "second\n"
    assert await asyncio.wait_for(proc.wait(), 20) == 5
    assert (await proc.stdout.read()) == b""
    assert b"to-stderr\n" in await proc.stderr.read()
    assert (await client.call("task.info", task="streamer"))["exit_code"] == 5


async def test_run_passes_env_and_cwd(daemon: Any, e2e: Any, tmp_path: Path) -> None:
    r = await e2e.run_cli(
        daemon.home,
        "run",
        "--env",
        "GREETING=hi there",
        "--cwd",
        str(tmp_path),
        "--",
        "sh",
        "-c",
        'echo "$GREETING"; pwd',
    )
    assert r.rc == 0 and r.out == f"hi there\n{tmp_path}\n"


async def test_run_reports_timeouts_failures_and_bad_commands(daemon: Any, e2e: Any) -> None:
    r = await e2e.run_cli(daemon.home, "run", "--timeout", "0.3", "--", "sleep", "1000")
    assert r.rc == 124 and "timed_out" in r.err
    r = await e2e.run_cli(daemon.home, "run", "--idle-timeout", "0.3", "--", "sleep", "1000")
    assert r.rc == 124 and "idle_timeout" in r.err
    r = await e2e.run_cli(daemon.home, "run", "--", "sh", "-c", "kill -TERM $$")
    assert r.rc == 128 + 15
    r = await e2e.run_cli(daemon.home, "run", "--", "no-such-program-e2e")
    assert r.rc == 2 and "not found" in r.err and "Traceback" not in r.err
    r = await e2e.run_cli(daemon.home, "run", "--env", "NOEQUALS", "--", "true")
    assert r.rc == 2 and "K=V" in r.err


async def test_detach_ps_logs_and_control_commands(daemon: Any, client: Client, e2e: Any) -> None:
    counter = "import time\ni = 0\nwhile True:\n    print(i, flush=True)\n    i += 1\n    time.sleep(0.01)"
    r = await e2e.run_cli(daemon.home, "run", "--detach", "--name", "bg", "--", PY, "-c", counter)
    assert r.rc == 0
    tid = int(r.out.strip())
    await e2e.wait_for(lambda: _has_output(client, tid), timeout=20)

    r = await e2e.run_cli(daemon.home, "ps")
    assert r.rc == 0
    [row] = [line for line in r.out.splitlines() if line.split()[:2] == [str(tid), "bg"]]
    assert "running" in row and "process" in row
    r = await e2e.run_cli(daemon.home, "ps", "--json")
    assert [t["id"] for t in json.loads(r.out)] == [tid]

    r = await e2e.run_cli(daemon.home, "pause", "bg")
    assert r.rc == 0 and f"paused task {tid} (bg): paused" in r.out
    assert (await client.call("task.info", task=tid))["state"] == "paused"
    r = await e2e.run_cli(daemon.home, "pause", str(tid))
    assert r.rc == 2 and "only running tasks pause" in r.err  # a daemon error, said plainly
    r = await e2e.run_cli(daemon.home, "resume", str(tid))
    assert r.rc == 0 and (await client.call("task.info", task=tid))["state"] == "running"
    r = await e2e.run_cli(daemon.home, "cancel", str(tid))
    assert r.rc == 0 and "cancelling task" in r.out
    assert (await client.call("task.wait", task=tid, timeout=20))["end_reason"] == "cancelled"

    log = await e2e.read_log(client, tid)
    r = await e2e.run_cli(daemon.home, "logs", str(tid))
    assert r.rc == 0 and r.out.encode() == log
    r = await e2e.run_cli(daemon.home, "logs", "--offset", "10", "bg")
    assert r.out.encode() == log[10:]
    r = await e2e.run_cli(daemon.home, "ps")
    assert "cancelled" in r.out

    r = await e2e.run_cli(daemon.home, "run", "--detach", "--", "sh", "-c", "trap '' TERM; sleep 1000")
    killed = int(r.out)
    r = await e2e.run_cli(daemon.home, "kill", str(killed))
    assert r.rc == 0 and (await client.call("task.wait", task=killed, timeout=20))["end_reason"] == "killed"
    r = await e2e.run_cli(daemon.home, "logs", "99999")
    assert r.rc == 4 and "no task" in r.err  # not found: cli/exit_codes.py


async def _has_output(client: Client, tid: int) -> bool:
    return (await client.call("task.info", task=tid))["output_bytes"]["stdout"] > 0


async def test_logs_follow_prints_everything_until_the_end(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = f"seq 1 20000; while [ ! -e {gate} ]; do sleep 0.02; done; seq 20001 40000"
    t = await client.call("task.run", argv=["sh", "-c", script])
    await e2e.wait_for(lambda: _has_output(client, t["id"]), timeout=20)
    proc = await e2e.start_cli(daemon.home, "logs", "-f", "--from-start", str(t["id"]))
    assert proc.stdout is not None
    assert await _line(proc.stdout) == "1\n"
    gate.touch()
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert b"1\n" + out == b"".join(b"%d\n" % i for i in range(1, 40001))


# Bytes that are not UTF-8 text, on both streams (the CLI follows output as binary frames).
_OUT_TAIL = b"\xff\xfe no newline at the end \xc3"
_NOT_TEXT_OUT = bytes(range(256)) * 4096 + _OUT_TAIL
_NOT_TEXT_ERR = b"\x80\x81 stderr \xe2\x82"


def _writer(gate: Path | None = None) -> list[str]:
    """A task that writes _NOT_TEXT_OUT and _NOT_TEXT_ERR in pieces (after ``gate`` exists, for the second half)."""
    wait = f"while not os.path.exists({str(gate)!r}): time.sleep(0.02)" if gate else "pass"
    script = (
        "import os, sys, time\n"
        f"out, err = bytes(range(256)) * 4096 + {_OUT_TAIL!r}, {_NOT_TEXT_ERR!r}\n"
        "half = len(out) // 2\n"
        "sys.stdout.buffer.write(out[:half]); sys.stdout.flush(); os.write(2, err[:5])\n"
        f"{wait}\n"
        "sys.stdout.buffer.write(out[half:]); sys.stdout.flush(); os.write(2, err[5:])\n"
        "sys.exit(3)\n"
    )
    return [PY, "-c", script]


async def test_run_writes_bytes_that_are_not_text_exactly_to_a_pipe(daemon: Any, e2e: Any) -> None:
    proc = await e2e.start_cli(daemon.home, "run", "--", *_writer())
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3
    assert out == _NOT_TEXT_OUT
    assert err == _NOT_TEXT_ERR


async def test_logs_follow_writes_bytes_that_are_not_text_exactly(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    t = await client.call("task.run", argv=_writer(gate))
    await e2e.wait_for(lambda: _has_output(client, t["id"]), timeout=20)
    proc = await e2e.start_cli(daemon.home, "logs", "-f", "--from-start", str(t["id"]))

    async def subscribed() -> bool:  # `logs -f` has subscribed: what comes next arrives live, as binary frames
        return bool((await client.call("daemon.health"))["subscriptions"])

    await e2e.wait_for(subscribed, timeout=20)
    gate.touch()
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    assert out == _NOT_TEXT_OUT
    assert err == _NOT_TEXT_ERR


async def test_events_filters_by_type(daemon: Any, client: Client, e2e: Any) -> None:
    proc = await e2e.start_cli(daemon.home, "events", "--type", "task_state")
    assert proc.stdout is not None
    # The command subscribes before it prints anything; wait until its subscription exists.
    await e2e.wait_for(lambda: _subscriptions(client), timeout=20)
    t = await client.call("task.run", argv=["sh", "-c", "echo some output"])
    lines = []
    while not lines or json.loads(lines[-1])["data"]["to"] != "ended":
        lines.append(await _line(proc.stdout))
    events = [json.loads(x) for x in lines]
    assert {e["type"] for e in events} == {"task_state"} and {e["pid"] for e in events} == {t["id"]}
    assert [e["data"]["to"] for e in events] == ["queued", "starting", "running", "ended"]
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 20) in (0, 130)


async def _subscriptions(client: Client) -> bool:
    return (await client.call("daemon.health"))["subscriptions"] > 0


async def test_ctrl_c_cancels_the_task(daemon: Any, client: Client, e2e: Any) -> None:
    proc = await e2e.start_cli(daemon.home, "run", "--", "sh", "-c", "echo ready; sleep 1000 & wait")
    assert proc.stdout is not None and proc.stderr is not None
    assert await _line(proc.stdout) == "ready\n"  # the CLI is following: its Ctrl-C handler is in place
    [task] = (await client.call("task.list"))["tasks"]
    proc.send_signal(signal.SIGINT)
    rc = await asyncio.wait_for(proc.wait(), 30)
    done = await client.call("task.wait", task=task["id"], timeout=20)
    assert done["end_reason"] == "cancelled"
    assert rc == 128 + 15
    err = (await proc.stderr.read()).decode()
    assert f"cancelling task {task['id']}" in err and "cancelled" in err
    assert e2e.gone(task["pid"])


async def test_a_second_ctrl_c_kills_a_task_that_ignores_the_first(daemon: Any, client: Client, e2e: Any) -> None:
    proc = await e2e.start_cli(daemon.home, "run", "--", "sh", "-c", "trap '' TERM; echo ready; sleep 1000 & wait")
    assert proc.stdout is not None and proc.stderr is not None
    assert await _line(proc.stdout) == "ready\n"
    [task] = (await client.call("task.list"))["tasks"]
    proc.send_signal(signal.SIGINT)

    async def stopping() -> bool:
        return (await client.call("task.info", task=task["id"]))["state"] == "stopping"

    await e2e.wait_for(stopping, timeout=20)  # it ignores the SIGTERM the cancel sent
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 30) == 128 + 9
    err = (await proc.stderr.read()).decode()
    assert f"cancelling task {task['id']}" in err and f"killing task {task['id']}" in err


async def test_run_cancels_its_task_when_its_reader_goes_away(daemon: Any, client: Client) -> None:
    exe = str(Path(sys.executable).with_name("executive"))
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"{exe} run -- yes | head -n 1; echo rc=${{PIPESTATUS[0]}}",
        env={**os.environ, "EXECUTIVE_HOME": str(daemon.home)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out == b"y\nrc=130\n"  # `| head` went away: the task is cancelled, as Ctrl-C would
    [task] = (await client.call("task.list"))["tasks"]
    done = await client.call("task.wait", task=task["id"], timeout=20)
    assert done["end_reason"] == "cancelled"


async def test_a_clear_message_and_exit_3_without_a_daemon(e2e: Any, tmp_path: Path) -> None:
    home = tmp_path / "nobody-home"
    home.mkdir()
    for args in (["ps"], ["run", "--", "true"], ["logs", "1"], ["events"]):
        r = await e2e.run_cli(home, *args)
        assert r.rc == 3, (args, r)
        assert "no daemon is running" in r.err and "executive serve" in r.err and "Traceback" not in r.err
    # A daemon.json left by a daemon that died.
    (home / "daemon.json").write_text(json.dumps({"pid": 2**22 + 12345, "url": "ws://127.0.0.1:9/rpc", "auth": False}))
    r = await e2e.run_cli(home, "ps")
    assert r.rc == 3 and "is gone" in r.err


async def test_run_output_is_complete_even_when_its_reader_stalls(daemon: Any, client: Client, e2e: Any) -> None:
    """Nobody reads the CLI's stdout until the task has ended: the CLI blocks on its pipe, its
    subscription overflows, and it must fill the gaps from the log so the output is exact."""
    proc = await e2e.start_cli(
        daemon.home, "run", "--name", "bulk", "--", "seq", "1", "10000000"
    )  # 79 MB: more than socket buffers and ring hold
    assert proc.stdout is not None
    await e2e.wait_for(lambda: _ended(client, "bulk"), timeout=60)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    tid = (await client.call("task.info", task="bulk"))["id"]
    log = (daemon.home / "tasks" / str(tid) / "stdout.log").read_bytes()
    assert len(out) == len(log) and out == log


async def _ended(client: Client, name: str) -> bool:
    try:
        return (await client.call("task.info", task=name))["state"] == "ended"
    except Exception:
        return False


async def test_run_stdin_forwards_the_terminal_input(daemon: Any, e2e: Any) -> None:
    data = b"".join(b"line %d\n" % i for i in range(20000))  # 228 KB: several task.input calls
    r = await e2e.run_cli(daemon.home, "run", "--stdin", "--", "sh", "-c", "wc -l; echo done", input=data)
    assert r.rc == 0 and r.out.split() == ["20000", "done"]
    r = await e2e.run_cli(daemon.home, "run", "--stdin", "--", "cat", input=data)
    assert r.rc == 0 and r.out.encode() == data


async def test_run_stdin_forwards_bytes_exactly(daemon: Any, e2e: Any) -> None:
    data = "€".encode() * 100000 + bytes(range(256))  # 3-byte characters across read boundaries, then raw bytes
    proc = await e2e.start_cli(daemon.home, "run", "--stdin", "--", "cat", stdin=True)
    out, _ = await asyncio.wait_for(proc.communicate(data), 60)
    assert proc.returncode == 0 and out == data
