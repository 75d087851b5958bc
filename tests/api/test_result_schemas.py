"""Every JSON-RPC method publishes the JSON Schema of its params and of its result in
``rpc.discover``, and a real reply of every method validates against the published result
schema: this module calls each method once over the wire (fails if one was never called).

(tests/conftest.py also checks every reply of every other wire test against its schema.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import jsonschema

from executive.api.client import Client
from executive.hsx.asm import assemble_text
from executive.kernel.tasks import EndReason, TaskKind, TaskState
from executive.service.results.core import EndReasonName, TaskKindName, TaskStateName

AGENT_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agents"

PROGRAM = """
.entry main
.export main
main:
    LDI R3, 0
    LDI R4, 1
    LDI R5, 0
loop:
    ADD R3, R3, R4
    CALL step
    CMP R4, R5
    JNZ loop
    RET
step:
    RET
.data
counter:
    .word 7
"""


class Checked:
    """A client wrapper that validates every reply against its method's published result schema."""

    def __init__(self, client: Client, discovered: list[dict[str, Any]]) -> None:
        self.client = client
        self.validators = {m["name"]: jsonschema.Draft202012Validator(m["result"]) for m in discovered}
        self.called: set[str] = set()

    async def __call__(self, method: str, **params: Any) -> Any:
        reply = await self.client.call(method, **params)
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in self.validators[method].iter_errors(reply)
        ]
        assert not errors, f"{method} replied outside its result schema:\n" + "\n".join(errors)
        self.called.add(method)
        return reply


def _git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path


def _diff(repo: Path, rel: str, text: str) -> str:
    """The diff that writes ``text`` to ``rel``, taken and then undone."""
    (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    out = _git(repo, "diff", "--cached", "--binary")
    _git(repo, "reset", "-q", "--hard")
    return out


def _fake_claude(tmp_path: Path) -> str:
    exe = tmp_path / "bin" / "claude"
    exe.parent.mkdir()
    script = AGENT_FIXTURES / "fake_claude.py"
    exe.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')\n")
    exe.chmod(0o755)
    return str(exe)


async def test_every_method_publishes_both_schemas_and_its_replies_match(client: Client, tmp_path: Path) -> None:
    discovered = await client.call("rpc.discover")
    assert discovered, "rpc.discover lists no methods"
    for m in discovered:
        assert m["params"].get("type") == "object", f"{m['name']}: no params schema"
        assert m["result"], f"{m['name']}: no result schema"
        jsonschema.Draft202012Validator.check_schema(m["result"])
    call = Checked(client, discovered)
    await call("rpc.discover")

    await _core(call)
    await _vm_and_debugger(call, tmp_path)
    await _agents_patches_patterns(call, tmp_path)
    await _pipelines(call, tmp_path)
    await _programs(call, tmp_path)
    await call("session.close")

    never = sorted({m["name"] for m in discovered} - call.called)
    assert not never, f"methods whose reply was never validated here: {never}"


async def _core(call: Checked) -> None:
    session = await call("session.open", client="schemas")
    await call("session.keepalive")
    await call("session.list")
    other = await call("session.open", client="evicted", resumable=True)
    await call("session.evict", session=other["id"], reason="schemas")
    session = await call("session.open", client="schemas")
    await call("daemon.health")
    off = await call("cluster.nodes")  # this daemon is not on a Ray cluster: no nodes, and how to join one
    assert off["address"] is None and off["nodes"] == [] and "--ray" in off["detail"]
    sub = await call("events.subscribe", types=["task_state"])
    await call("events.ack", subscription=sub["subscription"], seq=0)
    reader = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    task = await call("task.run", argv=reader, stdin=True, name="reader")
    await call("task.lock", task=task["id"])
    await call("task.input", task=task["id"], data="hello\n")
    await call("task.set_quota", task=task["id"], quota=1 << 30)
    await call("task.pause", task=task["id"])
    await call("task.resume", task=task["id"])
    await call("task.unlock", task=task["id"])
    await call("task.list")
    await call("task.info", task=task["id"])
    stats = await call("task.stats", processes=True)
    assert str(task["id"]) in stats["tasks"]
    await call("daemon.limits")
    await call("task.cancel", task=task["id"])
    await call("task.wait", task=task["id"], timeout=30)
    await call("task.output", task=task["id"])
    sleeper = await call("task.run", argv=["sleep", "30"])
    await call("task.stats", processes=True)
    await call("task.kill", task=sleeper["id"])
    again = await call("task.restart", task=sleeper["id"])
    assert again["restart_of"] == sleeper["id"]
    await call("task.kill", task=again["id"])
    again = await call("task.restart", task=task["id"])
    await call("task.wait", task=again["id"], timeout=30)  # no stdin this time: it reads EOF and exits
    await call("events.unsubscribe", subscription=sub["subscription"])
    assert session["id"]


async def _programs(call: Checked, tmp_path: Path) -> None:
    run = await call("task.run", argv=["sleep", "30"], name="kept", restart="always", backoff_base=0.05)
    assert run["program"]["state"] == "running"
    await call("programs.stop", name="kept")
    started = await call("programs.start", name="kept")
    assert started["state"] == "running" and started["task"] != run["id"]
    again = await call("task.restart", task="kept")
    assert again["program"]["name"] == "kept" and again["restart_of"] == started["task"]
    listed = await call("programs.list")
    assert [p["name"] for p in listed] == ["kept"]
    assert (await call("programs.stop", name="kept"))["state"] == "stopped"
    (tmp_path / "programs.yaml").write_text(
        f"programs:\n  filed:\n    argv: [sleep, '30']\n    cwd: {tmp_path}\n    autostart: false\n"
    )
    reloaded = await call("programs.reload", path=str(tmp_path / "programs.yaml"))
    assert reloaded["added"] == ["filed"]


async def _vm_and_debugger(call: Checked, tmp_path: Path) -> None:
    res = assemble_text(PROGRAM, "count.mvasm")
    (tmp_path / "count.hxe").write_bytes(res.hxe)
    (tmp_path / "count.sym").write_text(json.dumps(res.sym))
    loaded = await call("vm.load", path=str(tmp_path / "count.hxe"), paused=True)
    pid = loaded["pid"]
    await call("vm.ps")
    await call("vm.info", task=pid)
    await call("vm.clock")
    await call("vm.sched", task=pid, priority=3, quantum=50)
    await call("vm.stdio_fanout", scope="pid", task=pid, streams=["out", "err"], mode="fanout")
    await call("vm.stdio_fanout")
    await call("vm.regs", task=pid)
    await call("vm.set_reg", task=pid, name="R6", value=3)
    await call("vm.mem_read", task=pid, addr="0x4000", length=4)
    await call("vm.mem_write", task=pid, addr="0x4000", data="08000000")
    await call("vm.regions", task=pid)
    await call("vm.step", task=pid, steps=1)
    await call("mailbox.snapshot")
    await call("mailbox.send", task=pid, data="hi")
    await call("debug.attach", task=pid)
    await call("debug.state", task=pid)
    await call("debug.bp.add", task=pid, where="loop")
    await call("debug.bp.list", task=pid)
    await call("debug.bp.remove", task=pid, where="loop")
    await call("debug.bp.clear", task=pid)
    await call("debug.step", task=pid, steps=2)
    await call("debug.next", task=pid)
    for _ in range(8):  # step into the called function, so that finish has a frame to leave
        if (await call("debug.state", task=pid))["depth"] > 0:
            break
        await call("debug.step", task=pid, steps=1)
    await call("debug.finish", task=pid)
    await call("debug.eval", task=pid, expr="R3")
    await call("debug.disasm", task=pid, addr="main", count=4)
    await call("debug.stack", task=pid)
    await call("debug.sym.info", task=pid)
    await call("debug.sym.load", task=pid)
    await call("debug.sym.lookup", task=pid, name="main")
    await call("debug.sym.at", task=pid, address=4)
    await call("debug.sym.line", task=pid, address=0)
    await call("debug.sym.addresses", task=pid, file="count.mvasm", line=5)
    await call("debug.sym.list", task=pid)
    await call("debug.sym.lines", task=pid)
    await call("debug.sym.lines", task=pid, file="count.mvasm")
    await call("debug.locals", task=pid)
    watch = await call("debug.watch.add", task=pid, expr="counter")
    await call("debug.watch.list", task=pid)
    await call("debug.watch.remove", task=pid, id=watch["id"])
    await call("trace.set", task=pid, enabled=True)
    await call("trace.config", task=pid, buffer_size=64)
    await call("debug.step", task=pid, steps=3)
    await call("trace.records", task=pid)
    exported = await call("trace.export", task=pid)
    await call("trace.import", task=pid, records=exported["records"])
    await call("debug.detach", task=pid)
    await call("vm.resume", task=pid)
    await call("vm.pause", task=pid)
    await call("vm.kill", task=pid)


async def _agents_patches_patterns(call: Checked, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    claude = _fake_claude(tmp_path)
    await call("agent.check", agent="claude", bin=claude)
    edits = json.dumps([{"path": "notes.txt", "content": "hi\n"}])
    run = await call("agent.run", agent="claude", bin=claude, cwd=str(repo), prompt="add notes", worktree=True,
                     env={"FAKE_EDITS": edits})  # fmt: skip
    await call("agent.wait", task=run["id"], timeout=60)
    await call("agent.result", task=run["id"])
    await call("agent.runs")
    await call("agent.diff", task=run["id"])
    await call("agent.replay", task=run["id"])
    worktrees = await call("agent.worktrees")
    await call("agent.worktree_remove", worktree=worktrees[0]["id"])
    await call("agent.worktree_prune")

    applied = await call(
        "patch.apply", diff=_diff(repo, "calc.py", "def add(a, b):\n    return b + a\n"), cwd=str(repo)
    )
    await call("patch.list", cwd=str(repo))
    await call("patch.show", patch=applied["id"])
    await call("patch.commit", patch=applied["id"], message="swap")
    other = await call("patch.apply", diff=_diff(repo, "extra.py", "X = 1\n"), cwd=str(repo))
    await call("patch.rollback", patch=other["id"])

    fix = await call("agent.fix", cwd=str(repo), test_cmd=[sys.executable, "-c", "pass"], agent="claude", bin=claude)
    await call("agent.fix_wait", run=fix["id"], timeout=60)
    await call("agent.fix_show", run=fix["id"])
    await call("agent.fix_cancel", run=fix["id"])
    await call("agent.fix_list")
    await call("agent.fix_stats")

    patterns = await call("pattern.list")
    assert any(p["name"] == "module_creation" for p in patterns)
    await call("pattern.schema", name="module_creation")
    instance = await call("pattern.example", name="module_creation")
    await call("pattern.validate", instance=instance)
    root = tmp_path / "proj"
    (root / "src" / "textkit").mkdir(parents=True)
    (root / "src" / "textkit" / "__init__.py").write_text('"""textkit."""\n')
    (root / "README.md").write_text("# proj\n")
    await call("pattern.run", instance=instance, root=str(root), dry_run=True)


async def _pipelines(call: Checked, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "pipeline.yaml").write_text(
        textwrap.dedent("""
        name: schemas
        phases:
          - name: build
            steps:
              - {name: a, command: [sh, -c, "echo a >> side.txt"]}
            checks:
              - {name: side, kind: files_exist, paths: [side.txt], owners: [a]}
          - name: deploy
            entry: {approval: true}
            steps:
              - {name: b, command: [sh, -c, "echo b >> side.txt"]}
            checks:
              - {name: side, kind: files_exist, paths: [side.txt], owners: [b]}
        """).lstrip()
    )
    run = await call("pipeline.run", path=str(work / "pipeline.yaml"), requirement="schemas", session="schemas-run")
    await call("pipeline.progress", run="schemas-run")
    waiting = await call("pipeline.wait", run=run["id"], timeout=60)
    assert waiting["state"] == "waiting_approval", waiting
    await call("pipeline.info", run=run["id"])
    await call("pipeline.cancel", run=run["id"])
    await call("pipeline.resume", run=run["id"])
    await call("pipeline.approve", run=run["id"], phase="deploy", note="ok")
    done = await call("pipeline.wait", run=run["id"], timeout=60)
    assert done["state"] == "passed", done
    await call("pipeline.status", run=run["id"])
    await call("pipeline.metrics", run="schemas-run")
    await call("pipeline.progress", run=run["id"])
    await call("pipeline.list")
    await call("pipeline.report", run=run["id"])
    await call("pipeline.schema")
    scored = await call("pipeline.validate", dir=str(work))
    await call("pipeline.wait", run=scored["id"], timeout=60)


def test_the_published_task_vocabulary_is_the_kernels() -> None:
    """TaskRow's literals (service/results/core.py) name every state, kind and end reason of kernel/tasks.py."""
    assert set(get_args(EndReasonName)) == {r.value for r in EndReason}
    assert set(get_args(TaskStateName)) == {s.value for s in TaskState}
    assert set(get_args(TaskKindName)) == {k.value for k in TaskKind}
