"""The session core against a fake daemon (the Rpc seam): run state follows the event stream."""

from __future__ import annotations

from typing import Any

from executive.dap import DapSession


class FakeDaemon:
    """Answers the calls a launch and a breakpoint stop make; records every call."""

    def __init__(self, condition_value: int = 1) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.condition_value = condition_value

    async def call(self, method: str, **params: Any) -> Any:
        self.calls.append((method, params))
        replies: dict[str, Any] = {
            "vm.load": {"pid": 7, "name": "prog", "warnings": []},
            "debug.sym.lines": {"files": ["/src/prog.mvasm"], "generated": []}
            if "file" not in params
            else {"lines": [{"line": 4, "addresses": [8]}]},
            "debug.bp.add": {},
            "debug.state": {"pc": 0, "depth": 0, "state": "paused", "line": None},
            "debug.eval": {"value": self.condition_value},
        }
        return replies.get(method, {})

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)


async def _launched(daemon: FakeDaemon, condition: str | None = None) -> tuple[DapSession, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []
    s = DapSession(daemon, sent.append)
    line_bp = {"line": 3, "condition": condition}
    for i, (command, args) in enumerate([
        ("initialize", {"adapterID": "hsx"}),
        ("launch", {"program": "/bin/prog.hxe"}),
        ("setBreakpoints", {"source": {"path": "/src/prog.mvasm"}, "breakpoints": [line_bp]}),
        ("configurationDone", {}),
    ]):  # fmt: skip
        await s.handle({"seq": i + 1, "type": "request", "command": command, "arguments": args})
    assert all(m["success"] for m in sent if m["type"] == "response"), sent
    return s, sent


def _ev(seq: int, type_: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "pid": 7, "data": data}


async def test_a_breakpoint_moves_to_code_and_a_stale_break_is_ignored() -> None:
    daemon = FakeDaemon()
    s, sent = await _launched(daemon)
    [bp_reply] = [m for m in sent if m.get("command") == "setBreakpoints"]
    [bp] = bp_reply["body"]["breakpoints"]
    assert (
        bp["line"] == 4
        and "moved to line 4" in bp["message"]
        and ("debug.bp.add", {"task": 7, "where": 8}) in daemon.calls
    )
    await s.on_event(_ev(1, "debug_break", reason="breakpoint", pc=8))  # before "running": a step's, already answered
    assert not [m for m in sent if m.get("event") == "stopped"]
    await s.on_event(_ev(2, "task_state", to="running", reason="resume"))
    await s.on_event(_ev(3, "debug_break", reason="breakpoint", pc=8))
    [stopped] = [m for m in sent if m.get("event") == "stopped"]
    assert stopped["body"]["reason"] == "breakpoint" and stopped["body"]["hitBreakpointIds"] == [bp["id"]]


async def test_a_false_condition_resumes_without_telling_the_editor() -> None:
    daemon = FakeDaemon(condition_value=0)
    s, sent = await _launched(daemon, condition="R1 == 5")
    resumes = daemon.count("vm.resume")
    await s.on_event(_ev(2, "task_state", to="running", reason="resume"))
    await s.on_event(_ev(3, "debug_break", reason="breakpoint", pc=8))
    assert daemon.count("vm.resume") == resumes + 1 and not [m for m in sent if m.get("event") == "stopped"]
    await s.on_event(_ev(4, "task_state", to="ended", reason="exited", exit_code=5))
    assert [(m["event"], m.get("body")) for m in sent if m.get("event") in ("exited", "terminated")] == [
        ("exited", {"exitCode": 5}), ("terminated", None),
    ]  # fmt: skip
