"""A first end-to-end check through the wire: run, wait, read output, events."""

from __future__ import annotations

from executive.api.client import Client


async def test_run_wait_output(client: Client) -> None:
    sub = await client.call("events.subscribe", types=["task_state", "output"])
    assert sub["subscription"] >= 1
    t = await client.call("task.run", argv=["sh", "-c", "echo hello; exit 7"])
    done = await client.call("task.wait", task=t["id"], timeout=10)
    assert done["state"] == "ended" and done["exit_code"] == 7 and done["end_reason"] == "exited"
    out = await client.call("task.output", task=t["id"])
    assert out["data"] == "hello\n" and out["eof"] is True
    seen = []
    while not any(e["type"] == "task_state" and e["data"]["to"] == "ended" for e in seen):
        seen.append(await client.next_event(timeout=5))
    assert [e["data"]["to"] for e in seen if e["type"] == "task_state"] == ["queued", "starting", "running", "ended"]
    assert any(e["type"] == "output" and e["data"]["data"] == "hello\n" and e["data"]["offset"] == 0 for e in seen)
