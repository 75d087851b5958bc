"""Programs and restarts: ``restart``, ``reload``, ``programs`` (list, start, stop) and ``config`` (schema, check).

A program is a named command the daemon keeps running under a restart policy
(``run --restart``, or the programs file of ``serve --config FILE``); see
service/programs.py.  ``config schema`` and ``config check`` need no daemon.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from executive.cli._common import EXIT_USAGE, console, err_console, fail, fitted_table, run_client, task_ref

__all__ = ["config_app", "programs_app", "reload", "restart"]

programs_app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    help="Programs kept running under a restart policy: list (the default), start, stop.",
)
config_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The programs file: its JSON Schema, and a check of a file."
)


def restart(
    task: str = typer.Argument(..., help="Task id or name, or a program's name."),
    name: str | None = typer.Option(None, "--name", "-n", help="Name of the new task (default: the old one's)."),
) -> None:
    """Run a task again with the same argv, env and cwd (a live one is cancelled first); restart a program."""
    params: dict[str, Any] = {"task": task_ref(task)}
    if name is not None:
        params["name"] = name
    new = run_client(lambda c: c.call("task.restart", **params))
    what = f"program {new['program']['name']}" if new.get("program") else "task"
    old = f" (restart of task {new['restart_of']})" if new.get("restart_of") is not None else ""
    console.print(f"restarted {what}: task {new['id']} ({new['name']}){old}")


def reload(
    path: Path | None = typer.Argument(
        None, help="The programs file (default: the one the daemon runs with, from `serve --config`)."
    ),
) -> None:
    """Re-read the programs file and apply only what changed: added start, removed stop, changed restart."""
    params: dict[str, Any] = {"path": str(path.absolute())} if path is not None else {}
    out = run_client(lambda c: c.call("programs.reload", **params))
    console.print(f"{out['source']}:")
    for label in ("added", "changed", "removed"):
        if out[label]:
            console.print(f"  {label}: {', '.join(out[label])}")
    if not (out["added"] or out["changed"] or out["removed"]):
        console.print("  no changes")
    console.print(f"  unchanged: {len(out['unchanged'])}")
    for e in out["errors"]:
        err_console.print(f"[bold red]error:[/] program {e['program']}: {e['message']}", soft_wrap=True)
    if out["errors"]:
        raise typer.Exit(1)


def _ago(ts: float) -> str:
    secs = max(0.0, time.time() - ts)
    return f"{secs:.0f}s ago" if secs < 120 else f"{secs / 60:.0f}m ago" if secs < 7200 else f"{secs / 3600:.0f}h ago"


def _state(p: dict[str, Any]) -> str:
    st = p["state"]
    if st == "backoff":
        when = f" in {p['next_in_s']:.1f}s" if p.get("next_in_s") is not None else ""
        return f"[yellow]backoff {p['failures']}/{p['max_restarts']}{when}[/]"
    return {"running": "[cyan]running[/]", "fatal": "[bold red]FATAL[/]"}.get(st, str(st))


@programs_app.callback()
def programs(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the programs as JSON."),
) -> None:
    """List the programs: policy, state, restarts and why (a FATAL one says why it gave up)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = run_client(lambda c: c.call("programs.list"))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no programs; `executive run --restart on-failure -- CMD` or `executive serve --config FILE`")
        return
    body = [
        [
            p["name"],
            p["source"],
            p["restart"],
            _state(p),
            str(p["runs"]),
            str(p["task"] or "-"),
            _ago(p["updated"]),
            p.get("reason") or "",
        ]
        for p in rows
    ]
    console.print(fitted_table(["NAME", "SOURCE", "RESTART", "STATE", "RUNS", "TASK", "SINCE", "REASON"], body))


@programs_app.command("start")
def programs_start(name: str = typer.Argument(..., help="The program's name.")) -> None:
    """Start a stopped, exited or fatal program (one in backoff starts now)."""
    p = run_client(lambda c: c.call("programs.start", name=name))
    console.print(f"program {p['name']}: {p['state']} (task {p['task']})")


@programs_app.command("stop")
def programs_stop(name: str = typer.Argument(..., help="The program's name.")) -> None:
    """Stop a program: cancel its run and do not restart it."""
    p = run_client(lambda c: c.call("programs.stop", name=name))
    console.print(f"program {p['name']}: {p['state']}")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the programs file."""
    from executive.service.programs_file import programs_schema

    print(json.dumps(programs_schema(), indent=2))


@config_app.command("check")
def config_check(path: Path = typer.Argument(..., help="The programs file to check.")) -> None:
    """Check a programs file as `serve --config` and `reload` would (here, on this machine); list every problem."""
    from executive.kernel.errors import ExecutiveError
    from executive.service.programs_file import load_programs_file

    try:
        config = load_programs_file(path)
    except ExecutiveError as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    n = len(config.programs)
    console.print(f"{config.source}: ok, {n} program{'s' if n != 1 else ''}")
    for name, d in sorted(config.programs.items()):
        autostart = "" if d.spec["autostart"] else ", autostart off"
        console.print(f"  {name}: restart {d.settings.policy.value}{autostart}: {' '.join(d.spec['argv'])[:100]}")
