"""The daemon's structured log (issue 2, item 7): JSON lines on stderr, one per task state
transition (from, to, reason) and per connection, each carrying the request id that caused it."""

from __future__ import annotations

import json
from typing import Any


async def test_transitions_and_connections_are_logged_with_request_ids(daemon_process: Any) -> None:
    d = daemon_process()
    d.start()
    c = await d.client()
    t = await c.call("task.run", argv=["sleep", "1000"], name="logged")
    await c.call("task.cancel", task=t["id"])
    await c.call("task.wait", task=t["id"], timeout=20)
    await c.close()
    d.stop()
    lines = [json.loads(x) for x in (d.home.parent / "daemon.log").read_text().splitlines() if x.startswith("{")]
    assert lines, "the daemon wrote no JSON log lines"
    moves = [x for x in lines if x["event"] == "task_transition" and x.get("task") == t["id"]]
    assert [(m["from"], m["to"], m["reason"]) for m in moves] == [
        ("queued", "starting", "slot_free"),
        ("starting", "running", "spawned"),
        ("running", "stopping", "cancelled"),
        ("stopping", "ended", "cancelled"),
    ]
    assert moves[0]["method"] == "task.run" and moves[0]["request_id"].startswith("r")
    assert moves[2]["method"] == "task.cancel" and moves[2]["request_id"] != moves[0]["request_id"]
    assert all("ts" in x and "level" in x for x in lines)
    events = [x["event"] for x in lines]
    assert "connection_open" in events and "connection_close" in events and "daemon_ready" in events
