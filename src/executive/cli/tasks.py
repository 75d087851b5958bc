"""Task commands: run, ps, logs, pause, resume, cancel, kill, events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
import time
from typing import Any

import typer

from executive.api.client import Client
from executive.cli._common import (
    EXIT_USAGE,
    InterruptRequests,
    console,
    fail,
    fitted_table,
    run_client,
    task_ref,
    write_out,
)
from executive.cli._follow import OutputFollower
from executive.cli.cluster import node_option, on_option, placement_option, resolve_node, resources_option
from executive.cli.quota import parse_size, print_notice


def _exit_status(info: dict[str, Any]) -> int:
    """Shell-style status: the exit code, 128+signal, 124 for timeouts, 127 if it never started."""
    reason = info.get("reason") or info.get("end_reason")
    if reason in ("timed_out", "idle_timeout"):
        return 124
    if reason == "failed":
        return 127
    if reason == "cancelled" and not info.get("signal") and not info.get("exit_code"):
        return 130  # interrupted, even if the task handled SIGTERM and exited 0
    if info.get("exit_code") is not None:
        return int(info["exit_code"])
    if info.get("signal"):
        return 128 + int(info["signal"])
    return 1


def run(
    cmd: list[str] = typer.Argument(..., help="The command and its arguments (after --)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Task name (made unique with a suffix)."),
    cwd: str | None = typer.Option(None, "--cwd", help="Working directory (default: the current one)."),
    env: list[str] = typer.Option([], "--env", "-e", help="K=V passed to the task; repeatable."),
    timeout: float | None = typer.Option(None, "--timeout", help="Wall-clock limit in seconds."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="End the task after this many seconds without output."
    ),
    detach: bool = typer.Option(False, "--detach", "-d", help="Print the task id and return at once."),
    stdin: bool = typer.Option(False, "--stdin", help="Forward this terminal's stdin to the task."),
    quota: str | None = typer.Option(
        None, "--quota", help="Log quota (stdout+stderr in all), e.g. 4G; default the daemon's (1G)."
    ),
    on: str = on_option(),
    resources: str | None = resources_option(),
    node: str | None = node_option(),
) -> None:
    """Run CMD as a supervised task; stream its output; exit with its exit code.  Ctrl-C cancels it."""
    placement = placement_option(on, resources, node)
    env_map: dict[str, str] = {}
    for item in env:
        if "=" not in item or item.startswith("="):
            raise fail(f"--env expects K=V, got {item!r}", EXIT_USAGE)
        k, v = item.split("=", 1)
        env_map[k] = v
    quota_bytes = None
    if quota is not None:
        try:
            quota_bytes = parse_size(quota)
        except ValueError as exc:
            raise fail(f"--quota: {exc}", EXIT_USAGE) from None

    async def go(client: Client) -> int:
        cursor = (await client.call("daemon.health"))["last_seq"]
        params: dict[str, Any] = {"argv": cmd, "cwd": os.path.abspath(cwd or os.getcwd()), "stdin": stdin}
        for k, v in (("name", name), ("timeout", timeout), ("idle_timeout", idle_timeout), ("quota", quota_bytes)):
            if v is not None:
                params[k] = v
        if env_map:
            params["env"] = env_map
        if placement is not None:
            params["placement"] = await resolve_node(client, placement)
        task = await client.call("task.run", **params)
        tid = task["id"]
        if detach:
            console.print(tid)
            return 0
        await client.call("events.subscribe", tasks=[tid], types=["output", "task_state", "quota"], since_seq=cursor)
        follower = OutputFollower(client, tid, write_out, on_quota=print_notice)
        loop = asyncio.get_running_loop()
        interrupts = 0
        requests = InterruptRequests()

        def on_sigint() -> None:
            nonlocal interrupts
            interrupts += 1
            method = "task.cancel" if interrupts == 1 else "task.kill"
            sys.stderr.write(f"\n[executive] {'cancelling' if interrupts == 1 else 'killing'} task {tid}…\n")
            requests.send(client.call(method, task=tid))

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        pump = None
        if stdin:
            pump = asyncio.ensure_future(_pump_stdin(client, tid))
        try:
            end = await follower.follow()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if pump:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            await requests.settle()
        assert end is not None
        if end.get("reason") not in ("exited",):
            detail = end.get("detail") or ""
            sys.stderr.write(f"[executive] task {tid} {end.get('reason')}{': ' + detail if detail else ''}\n")
        return _exit_status(end)

    raise typer.Exit(run_client(go))


async def _pump_stdin(client: Client, tid: int) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.run_in_executor(None, sys.stdin.buffer.read1, 65536)  # type: ignore[attr-defined]
        if not data:
            await client.call("task.input", task=tid, eof=True)
            return
        await client.call("task.input", task=tid, data_b64=base64.b64encode(data).decode("ascii"))  # exact bytes


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def _fmt_duration(t: dict[str, Any]) -> str:
    if not t.get("started"):
        return "-"
    secs = (t.get("ended") or time.time()) - t["started"]
    return f"{secs:.1f}s" if secs < 120 else f"{secs / 60:.1f}m"


def _fmt_state(t: dict[str, Any]) -> str:
    st = t["state"]
    if st == "ended":
        reason = t.get("end_reason") or "ended"
        if t.get("exit_code") is not None:
            colour = "green" if t["exit_code"] == 0 and reason == "exited" else "red"
            return f"[{colour}]{reason} ({t['exit_code']})[/]"
        if t.get("signal"):
            return f"[red]{reason} (sig {t['signal']})[/]"
        return f"[red]{reason}[/]"
    if st == "paused" and t.get("pause_reason"):
        return f"[yellow]paused ({t['pause_reason']})[/]"
    return {"running": "[cyan]running[/]", "queued": "[dim]queued[/]"}.get(st, st)


def _node(t: dict[str, Any]) -> str:
    """The Ray node of a task (12 hex digits, as `executive nodes` shows it); ``placing`` before it has one."""
    meta = t.get("meta") or {}
    if meta.get("node"):
        return str(meta["node"])[:12]
    return "placing" if (meta.get("placement") or {}).get("on") == "ray" and t["state"] != "ended" else "-"


def ps(
    all_: bool = typer.Option(False, "--all", "-a", help="Include every ended task (default: the last 20)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """List tasks."""
    rows = run_client(lambda c: c.call("task.list"))
    if not all_:
        live = [t for t in rows if t["state"] != "ended"]
        ended = [t for t in rows if t["state"] == "ended"][-20:]
        rows = sorted(live + ended, key=lambda t: t["id"])
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    wide = console.width >= 100  # PID and STARTED only where they fit
    remote = any(_node(t) != "-" for t in rows)  # NODE only when some task runs on a Ray cluster
    cols = ["ID", "NAME", "KIND", "STATE"] + (["NODE"] if remote else []) + (["PID", "STARTED"] if wide else [])
    cols.append("TIME")
    body = []
    for t in rows:
        cells = [str(t["id"]), t["name"], t["kind"], _fmt_state(t)] + ([_node(t)] if remote else [])
        if wide:
            cells += [str(t.get("pid") or "-"), _fmt_time(t.get("started"))]
        cells.append(_fmt_duration(t))
        body.append((cells, (" ".join(t.get("argv") or []) or (t.get("image") or ""))[:200]))
    table = fitted_table(cols + ["COMMAND"], [cells + [command] for cells, command in body])
    if not rows:
        console.print("no tasks; start one with `executive run -- CMD`")
        return
    console.print(table)


def logs(
    task: str = typer.Argument(..., help="Task id or name."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new output until the task ends."),
    offset: int = typer.Option(0, "--offset", help="Start at this byte offset."),
    stream: str = typer.Option("both", "--stream", help="stdout, stderr or both."),
) -> None:
    """Print a task's output from its logs (works for running and ended tasks)."""
    if stream not in ("stdout", "stderr", "both"):
        raise fail("--stream must be stdout, stderr or both", EXIT_USAGE)
    if offset < 0:
        raise fail("--offset must be >= 0", EXIT_USAGE)
    streams = ("stdout", "stderr") if stream == "both" else (stream,)

    async def go(client: Client) -> None:
        ref = task_ref(task)
        cursor = (await client.call("daemon.health"))["last_seq"]  # before task.info: an end in between is replayed
        info = await client.call("task.info", task=ref)
        tid = info["id"]
        if follow and info["state"] != "ended":
            await client.call("events.subscribe", tasks=[tid], types=["output", "task_state"], since_seq=cursor)
        follower = OutputFollower(client, tid, write_out, {s: offset for s in streams}, streams)
        await follower.finish()
        if follow and info["state"] != "ended":
            await follower.follow()

    run_client(go)


def _control(method: str, verb: str, doc: str):  # type: ignore[no-untyped-def]
    def command(task: str = typer.Argument(..., help="Task id or name.")) -> None:
        t = run_client(lambda c: c.call(method, task=task_ref(task)))
        console.print(f"{verb} task {t['id']} ({t['name']}): {t['state']}")

    command.__doc__ = doc
    return command


def events(
    type_: list[str] = typer.Option([], "--type", "-t", help="Only these event types; repeatable."),
    task: list[int] = typer.Option([], "--task", help="Only events of these task ids; repeatable."),
    since: int | None = typer.Option(None, "--since", help="Replay from this seq (exclusive)."),
) -> None:
    """Print events as JSON lines until Ctrl-C."""

    async def go(client: Client) -> None:
        params: dict[str, Any] = {}
        if type_:
            params["types"] = type_
        if task:
            params["tasks"] = task
        if since is not None:
            params["since_seq"] = since
        await client.call("events.subscribe", **params)
        async for ev in client.events():
            sys.stdout.write(json.dumps(ev) + "\n")
            sys.stdout.flush()

    try:
        run_client(go)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reader went away (e.g. `| head`): that is the end, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def register(app: typer.Typer) -> None:
    app.command("run", context_settings={"allow_interspersed_args": False})(run)
    app.command("ps")(ps)
    app.command("logs")(logs)
    app.command("pause")(
        _control(
            "task.pause",
            "paused",
            "Pause a task: SIGSTOP to its whole process tree, or stop an HSX program between instructions.",
        )
    )
    app.command("resume")(
        _control(
            "task.resume", "resumed", "Resume a paused task (SIGCONT to the whole tree, or reschedule the HSX program)."
        )
    )
    app.command("cancel")(
        _control(
            "task.cancel", "cancelling", "Cancel a task: SIGTERM to every process of it, a grace period, then SIGKILL."
        )
    )
    app.command("kill")(_control("task.kill", "killed", "Kill a task at once (SIGKILL to the whole tree)."))
    app.command("events")(events)
