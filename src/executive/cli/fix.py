"""`executive fix`: let an agent make a failing test command pass, one validated patch at a time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from executive.api.client import Client
from executive.cli._common import EXIT_ERROR, EXIT_USAGE, InterruptRequests, console, fail, run_client
from executive.cli.cluster import node_option, on_option, placement_option, resolve_node, resources_option

_OUTCOME_COLOUR = {"kept": "green", "rolled_back": "yellow", "not_reproduced": "yellow"}


def _print_stats(st: dict[str, Any]) -> None:
    rate = "-" if st["success_rate"] is None else f"{st['success_rate'] * 100:.0f}%"
    arate = "-" if st["attempt_success_rate"] is None else f"{st['attempt_success_rate'] * 100:.0f}%"
    console.print(
        f"fix runs: {st['runs']} ({', '.join(f'{k} {v}' for k, v in sorted(st['runs_by_state'].items())) or 'none'}); "
        f"success rate {rate}"
    )
    console.print(
        f"attempts: {st['attempts']} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(st['attempts_by_outcome'].items())) or 'none'}); "
        f"fix attempts kept {st['fix_attempts_kept']}/{st['fix_attempts']} ({arate})"
    )
    avg = "-" if st["avg_attempt_s"] is None else f"{st['avg_attempt_s']:.1f}s"
    console.print(f"average attempt {avg}; total cost ${st['cost_usd']:.4f}")
    if st["recent"]:
        table = Table(box=None, header_style="bold")
        for col in ("RUN", "AGENT", "STATE", "FAILURES", "ATTEMPTS", "COST"):
            table.add_column(col)
        for r in st["recent"]:
            table.add_row(
                str(r["id"]),
                r["agent"],
                r["state"],
                f"{r['failures_before']} → {r['failures_after']}",
                str(r["iterations"]),
                f"${r['cost_usd']:.4f}",
            )
        console.print(table)


def _print_event(d: dict[str, Any]) -> None:
    phase = d["phase"]
    if phase == "baseline":
        console.print(
            f"baseline: {d['failures']} failure(s) (task {d['task']})" if d["failures"] else "baseline: the tests pass"
        )
    elif phase == "attempt":
        colour = _OUTCOME_COLOUR.get(d["outcome"], "red")
        patch = f" patch {d['patch_id']}" if d.get("patch_id") else ""
        console.print(
            f"attempt {d['iteration']} ({d['kind']}): [{colour}]{d['outcome']}[/]{patch} "
            f"— {escape(d.get('detail') or '')}"
        )
    elif phase == "done":
        colour = "green" if d["state"] == "green" else "yellow" if d["state"] == "improved" else "red"
        console.print(f"[bold {colour}]{d['state']}[/]: {escape(d.get('detail') or '')}")


def fix(
    test_cmd: str | None = typer.Option(
        None, "--test-cmd", help="The test command, e.g. 'pytest -q' (split like a shell; no shell runs it)."
    ),
    agent: str | None = typer.Option(None, "--agent", "-a", help="claude, codex, aider or command."),
    max_iterations: int = typer.Option(5, "--max-iterations", "-n", help="Attempts before giving up."),
    regression_test: bool = typer.Option(
        False,
        "--regression-test",
        help="First have the agent write a test reproducing the failure; keep fixes only if it passes.",
    ),
    cwd: str | None = typer.Option(
        None, "--cwd", help="Where the tests run (in a git work tree; default: the current directory)."
    ),
    bin: str | None = typer.Option(None, "--bin", help="The agent's executable."),
    model: str | None = typer.Option(None, "--model"),
    env: list[str] = typer.Option([], "--env", "-e", help="K=V for the agent; repeatable."),
    arg: list[str] = typer.Option([], "--arg", help="Extra argument for the agent CLI; repeatable."),
    permissions: str = typer.Option(
        "edit", "--permissions", help="read-only, edit or full: what the agent may do in its mirror of the workspace."
    ),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="Stop an attempt's agent after this many seconds without progress (0: never)."
    ),
    commit: bool = typer.Option(False, "--commit", help="Commit the fix that makes the tests pass (only its paths)."),
    stats: bool = typer.Option(False, "--stats", help="Summarise every fix run: attempts, outcomes, success rate."),
    as_json: bool = typer.Option(False, "--json"),
    on: str = on_option(),
    resources: str | None = resources_option(),
    node: str | None = node_option(),
) -> None:
    """Run the tests; on failure hand the output to an agent; apply its patch; keep it if failures went down,
    else roll back."""
    if stats:
        st = run_client(lambda c: c.call("agent.fix_stats"))
        if as_json:
            print(json.dumps(st, indent=2))
        else:
            _print_stats(st)
        return
    if not test_cmd or not agent:
        raise fail("--test-cmd and --agent are required (or use --stats)", EXIT_USAGE)
    placement = placement_option(on, resources, node)  # the agent runs go there; the tests run here
    env_map = {}
    for item in env:
        if "=" not in item:
            raise fail(f"--env expects K=V, got {item!r}", EXIT_USAGE)
        k, v = item.split("=", 1)
        env_map[k] = v
    params: dict[str, Any] = {
        "cwd": os.path.abspath(cwd or os.getcwd()),
        "test_cmd": test_cmd,
        "agent": agent,
        "max_iterations": max_iterations,
        "regression_test": regression_test,
        "env": env_map,
        "args": arg,
        "commit": commit,
        "permissions": permissions,
    }
    if idle_timeout is not None:
        params["agent_idle_timeout"] = idle_timeout
    if bin:
        params["bin"] = os.path.abspath(bin) if os.sep in bin else bin
    if model:
        params["model"] = model

    async def go(client: Client) -> int:
        cursor = (await client.call("daemon.health"))["last_seq"]
        if placement is not None:
            params["placement"] = await resolve_node(client, placement)
        run = await client.call("agent.fix", **params)
        rid = run["id"]
        if not as_json:
            console.print(
                f"[dim]fix run {rid}: `{escape(' '.join(run['test_argv']))}` with {agent}, "
                f"at most {max_iterations} attempt(s)[/]"
            )
        await client.call("events.subscribe", types=["fix"], since_seq=cursor)
        loop = asyncio.get_running_loop()
        requests = InterruptRequests()
        loop.add_signal_handler(signal.SIGINT, lambda: requests.send(client.call("agent.fix_cancel", run=rid)))
        try:
            while True:
                e = await client.next_event()
                if e["type"] != "fix" or e["data"].get("run") != rid:
                    continue
                if as_json:
                    sys.stdout.write(json.dumps(e["data"]) + "\n")
                    sys.stdout.flush()
                else:
                    _print_event(e["data"])
                if e["data"]["phase"] == "done":
                    return 0 if e["data"]["state"] == "green" else EXIT_ERROR
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            await requests.settle()

    raise typer.Exit(run_client(go))
