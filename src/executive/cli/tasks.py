"""Task commands that stream through the async client: run, events (the quick ones are in cli/quick*.py)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import sys
from typing import Any, cast

import typer

from executive.api.client import Client
from executive.cli import exit_codes
from executive.cli._common import (
    EXIT_USAGE,
    InterruptRequests,
    console,
    fail,
    run_client,
    write_out,
)
from executive.cli._follow import OutputFollower, subscribe_output
from executive.cli._quota_text import parse_size, print_notice
from executive.cli.cluster import node_option, on_option, placement_option, resolve_node, resources_option


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
    restart: str | None = typer.Option(
        None,
        "--restart",
        help="never, on-failure or always: keep it running as a program (prints the task id and returns).",
    ),
    max_restarts: int | None = typer.Option(None, "--max-restarts", help="Failures in a row before it is FATAL."),
    backoff_base: float | None = typer.Option(None, "--backoff-base", help="Seconds before the first restart."),
    backoff_max: float | None = typer.Option(None, "--backoff-max", help="Longest delay between restarts."),
    on: str = on_option(),
    resources: str | None = resources_option(),
    node: str | None = node_option(),
) -> None:
    """Run CMD as a supervised task; stream its output; exit with its exit code.  Ctrl-C cancels it."""
    supervised = restart not in (None, "never")  # a program outlives this command: no output is followed
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
        policy = {"restart": restart, "max_restarts": max_restarts, "backoff_base": backoff_base}
        params.update({k: v for k, v in {**policy, "backoff_max": backoff_max}.items() if v is not None})
        if placement is not None:
            params["placement"] = await resolve_node(client, placement)
        task = await client.call("task.run", **params)
        tid = task["id"]
        if detach or supervised:
            console.print(tid)
            return 0
        binary = await subscribe_output(client, tasks=[tid], types=["output", "task_state", "quota"], since_seq=cursor)
        follower = OutputFollower(client, tid, write_out, on_quota=print_notice, binary=binary)
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
        except BrokenPipeError:  # our reader went away (`| head`): nothing takes the task's output any more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            requests.send(client.call("task.cancel", task=tid))
            return exit_codes.TASK_CANCELLED
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
        return exit_codes.for_task_end(end)

    raise typer.Exit(run_client(go))


async def _pump_stdin(client: Client, tid: int) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.run_in_executor(None, cast(io.BufferedReader, sys.stdin.buffer).read1, 65536)
        if not data:
            await client.call("task.input", task=tid, eof=True)
            return
        await client.call("task.input", task=tid, data_b64=base64.b64encode(data).decode("ascii"))  # exact bytes


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
