"""A process task's whole life seen through the wire: events, rows, logs on disk.

Every test drives a real daemon on 127.0.0.1 with real child processes; the
assertions are on what a client sees (replies, `events` notifications,
task.output) and on the log files the daemon promises to keep.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from executive.api.client import Client

PY = sys.executable


def _states(events: list[dict[str, Any]], tid: int) -> list[tuple[str | None, str]]:
    return [(e["data"]["from"], e["data"]["to"]) for e in events if e["type"] == "task_state" and e["pid"] == tid]


def _output(events: list[dict[str, Any]], tid: int, stream: str = "stdout") -> bytes:
    """Reassemble output events by offset; fail on any gap or overlap."""
    out = bytearray()
    for e in events:
        if e["type"] != "output" or e["pid"] != tid or e["data"]["stream"] != stream:
            continue
        d = e["data"]
        assert d["offset"] == len(out), f"output event at offset {d['offset']}, expected {len(out)}"
        out += d["data"].encode() if "data" in d else base64.b64decode(d["data_b64"])
    return bytes(out)


async def test_lifecycle_events_rows_and_logs(daemon: Any, client: Client, e2e: Any, tmp_path: Path) -> None:
    await client.call("events.subscribe", types=["task_state", "output"])
    work = tmp_path / "work"
    work.mkdir()
    t = await client.call(
        "task.run",
        argv=["sh", "-c", 'pwd; echo "FOO=$FOO"; echo "LEAK=${E2E_LEAK-unset}"; echo oops >&2; exit 3'],
        name="life",
        cwd=str(work),
        env={"FOO": "bar"},
    )
    tid = t["id"]
    assert t["name"] == "life" and t["kind"] == "process" and t["argv"][0] == "sh"
    assert t["pid"] is None or t["pid"] > 0
    events = await e2e.until_ended(client, tid)

    # queued -> starting -> running -> ended, in seq order, each edge continuing the last.
    assert _states(events, tid) == [
        (None, "queued"),
        ("queued", "starting"),
        ("starting", "running"),
        ("running", "ended"),
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    running = next(e for e in events if e["type"] == "task_state" and e["data"]["to"] == "running")
    ended = events[-1]["data"]
    assert running["data"]["pid"] > 0
    assert ended["reason"] == "exited" and ended["exit_code"] == 3 and ended["signal"] is None

    expected_out = f"{work}\nFOO=bar\nLEAK=unset\n".encode()
    assert _output(events, tid) == expected_out
    assert _output(events, tid, "stderr") == b"oops\n"
    assert ended["stdout_bytes"] == len(expected_out) and ended["stderr_bytes"] == 5

    # Logs on disk are the truth the events were a view of.
    task_dir = daemon.home / "tasks" / str(tid)
    assert (task_dir / "stdout.log").read_bytes() == expected_out
    assert (task_dir / "stderr.log").read_bytes() == b"oops\n"

    info = await client.call("task.info", task=tid)
    assert info["state"] == "ended" and info["exit_code"] == 3 and info["end_reason"] == "exited"
    assert info["pid"] == running["data"]["pid"] and info["cwd"] == str(work)
    assert info["created"] <= info["started"] <= info["ended"]
    assert info["output_bytes"] == {"stdout": len(expected_out), "stderr": 5}
    assert await client.call("task.info", task="life") == info  # by name too

    rows = (await client.call("task.list", after_id=0))["tasks"]
    assert [r["id"] for r in rows] == [tid]
    assert (await client.call("task.list", state="running"))["tasks"] == []
    assert [r["id"] for r in (await client.call("task.list", state="ended", after_id=0))["tasks"]] == [tid]

    out = await client.call("task.output", task=tid, stream="stderr")
    assert out == {
        "task": tid,
        "stream": "stderr",
        "offset": 0,
        "data": "oops\n",
        "next_offset": 5,
        "size": 5,
        "eof": True,
    }
    part = await client.call("task.output", task=tid, offset=len(str(work)) + 1, limit=4)
    assert part["data"] == "FOO=" and part["next_offset"] == len(str(work)) + 5 and part["eof"] is False


async def test_child_env_is_explicit(client: Client, e2e: Any, monkeypatch: Any) -> None:
    """Only a few base variables are inherited from the daemon; the rest must be passed."""
    monkeypatch.setenv("E2E_SECRET", "daemon-only")
    t = await client.call("task.run", argv=["sh", "-c", 'echo "${E2E_SECRET-unset} $EXECUTIVE_TASK"'])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["exit_code"] == 0
    text = (await e2e.read_log(client, t["id"])).decode()
    secret, marker = text.split()
    assert secret == "unset"
    assert marker.endswith(f":{t['id']}")  # every child carries its task's marker


async def test_signal_death_is_reported_as_exit_by_signal(client: Client) -> None:
    t = await client.call("task.run", argv=["sh", "-c", "kill -KILL $$"])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["end_reason"] == "exited" and done["signal"] == 9 and done["exit_code"] is None


async def test_wait_times_out_and_reports_it(client: Client) -> None:
    t = await client.call("task.run", argv=["sleep", "1000"])
    r = await client.call("task.wait", task=t["id"], timeout=0.2)
    assert r["timed_out"] is True and r["state"] == "running"
    await client.call("task.kill", task=t["id"])
    r = await client.call("task.wait", task=t["id"], timeout=20)
    assert r["timed_out"] is False and r["end_reason"] == "killed" and r["signal"] == 9


async def test_spawn_failure_ends_the_task_as_failed(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-program"
    bad.write_bytes(b"\x7fELF garbage, no interpreter\n")
    bad.chmod(0o755)
    t = await client.call("task.run", argv=[str(bad)])
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["state"] == "ended" and done["end_reason"] == "failed"
    assert "not-a-program" in (done["end_detail"] or "")
    assert (await client.call("daemon.health"))["tasks_live"] == 0


async def test_stdin_input_and_eof(client: Client, e2e: Any) -> None:
    t = await client.call("task.run", argv=["cat"], stdin=True)
    await client.call("task.input", task=t["id"], data="hello ")
    await client.call("task.input", task=t["id"], data_b64=base64.b64encode(b"\xffworld").decode(), eof=True)
    done = await client.call("task.wait", task=t["id"], timeout=20)
    assert done["exit_code"] == 0
    assert await e2e.read_log(client, t["id"]) == b"hello \xffworld"


async def test_long_lines_are_split_never_dropped(client: Client, e2e: Any) -> None:
    """One 300 KB line without a newline, multi-byte characters across chunk edges, then raw bytes."""
    script = (
        "import sys; w = sys.stdout.buffer\n"
        "w.write(('é' * 150000).encode()); w.flush()\n"  # 300000 bytes, 2 per char
        "w.write(bytes(range(256)))\n"
    )
    await client.call("events.subscribe", types=["output", "task_state"])
    t = await client.call("task.run", argv=[PY, "-c", script])
    events = await e2e.until_ended(client, t["id"])
    outs = [e["data"] for e in events if e["type"] == "output"]
    text_events = [d for d in outs if "data" in d]
    assert all(len(d["data"].encode()) <= 64 * 1024 for d in text_events)
    # The text travels as text: chunks are cut on character boundaries, never inside a 2-byte 'é'.
    assert sum(len(d["data"].encode()) for d in text_events) >= 200000
    assert any("data_b64" in d for d in outs)
    body = _output(events, t["id"])
    assert body == ("é" * 150000).encode() + bytes(range(256))
    assert body == await e2e.read_log(client, t["id"])


async def test_names_are_unique_among_live_tasks(client: Client) -> None:
    a = await client.call("task.run", argv=["sleep", "1000"], name="twin")
    b = await client.call("task.run", argv=["sleep", "1000"], name="twin")
    assert (a["name"], b["name"]) == ("twin", "twin-2")
    assert (await client.call("task.info", task="twin-2"))["id"] == b["id"]
    for t in (a, b):
        await client.call("task.kill", task=t["id"])
    assert (await client.call("task.wait", task=b["id"], timeout=20))["end_reason"] == "killed"
