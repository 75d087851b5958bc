"""`executive agent …`: run coding agents through the daemon and follow their normalized events."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from executive.api.client import Client
from executive.cli._common import (
    EXIT_USAGE,
    InterruptRequests,
    console,
    err_console,
    fail,
    fitted_table,
    run_client,
    task_ref,
)
from executive.cli.cluster import node_option, on_option, placement_option, resolve_node, resources_option

app = typer.Typer(
    help="Run coding agents (Claude Code, Codex, Aider, any command) as supervised tasks.", no_args_is_help=True
)

AGENT_TYPES = [
    "agent.session",
    "agent.message",
    "agent.tool_call",
    "agent.tool_result",
    "agent.warning",
    "agent.result",
]
_ONE_LINE = 240


def _short(value: Any, limit: int = _ONE_LINE) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_event(e: dict[str, Any]) -> None:
    """One human line (or block) per normalized event."""
    d = e["data"]
    kind = e["type"]
    if kind == "agent.session":
        extra = f" (model {d['model']})" if d.get("model") else ""
        console.print(f"[dim]● session {escape(str(d.get('session_id') or '-'))}{escape(extra)}[/]")
    elif kind == "agent.message":
        role = d.get("role", "assistant")
        text = escape(d.get("text", "")) + (" [dim]…(truncated)[/]" if d.get("truncated") else "")
        console.print(f"[dim]{role}:[/] {text}" if role == "reasoning" else text)
    elif kind == "agent.tool_call":
        console.print(f"[cyan]→ {escape(str(d.get('name')))}[/] {escape(_short(d.get('input')))}")
    elif kind == "agent.tool_result":
        colour = "red" if d.get("is_error") else "green"
        console.print(f"[{colour}]←[/] {escape(_short(d.get('output', '')))}")
    elif kind == "agent.warning":
        if d.get("reason") == "retry":
            err_console.print(f"[yellow]↻ retry {escape(_retry_facts(d))}:[/] {escape(_short(d.get('detail')))}")
        else:
            err_console.print(f"[yellow]! {escape(str(d.get('reason')))}:[/] {escape(_short(d.get('detail')))}")
    elif kind == "agent.result":
        render_result(d)


def _retry_facts(d: dict[str, Any]) -> str:
    """``2/10, HTTP 500, next in 1.1s`` from a retry warning (the parts the CLI reported)."""
    parts = []
    if d.get("attempt") is not None:
        parts.append(f"{d['attempt']}/{d['limit']}" if d.get("limit") is not None else str(d["attempt"]))
    if d.get("status") is not None:
        parts.append(f"HTTP {d['status']}")
    if d.get("delay_s") is not None:
        parts.append(f"next in {d['delay_s']:g}s")
    return ", ".join(parts) or "-"


def render_result(d: dict[str, Any]) -> None:
    tokens = d.get("tokens") or {}
    facts = [f"turns {d.get('turns')}"]
    if d.get("cost_usd") is not None:
        facts.append(f"${d['cost_usd']:.4f}")
    if tokens:
        facts.append(f"tokens in {tokens.get('input', 0)} out {tokens.get('output', 0)}")
    if d.get("session_id"):
        facts.append(f"session {d['session_id']}")
    if d.get("files_changed"):
        facts.append(f"{len(d['files_changed'])} file(s) changed")
    wt = d.get("worktree")
    if wt:
        facts.append(f"worktree {wt['path']} (branch {wt['branch']})")
    if d.get("ok"):
        console.print(f"[bold green]✓ done[/] [dim]{escape(' · '.join(facts))}[/]")
    else:
        console.print(
            f"[bold red]✗ failed: {escape(', '.join(d.get('errors') or []))}[/] [dim]{escape(' · '.join(facts))}[/]"
        )
        why = d.get("idle_detail") or d.get("error")
        if why:
            console.print(f"  [red]{escape(_short(why))}[/]")


def _env(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item or item.startswith("="):
            raise fail(f"--env expects K=V, got {item!r}", EXIT_USAGE)
        k, v = item.split("=", 1)
        out[k] = v
    return out


@app.command("run")
def run(
    prompt: str = typer.Argument(..., help="What the agent should do."),
    agent: str = typer.Option(..., "--agent", "-a", help="claude, codex, aider or command."),
    bin: str | None = typer.Option(
        None, "--bin", help="The agent's executable (default: its name on the daemon's PATH)."
    ),
    cwd: str | None = typer.Option(None, "--cwd", help="Working directory (default: the current one)."),
    worktree: bool = typer.Option(
        False, "--worktree", help="Run in a new git worktree on its own branch (kept afterwards)."
    ),
    resume: str | None = typer.Option(None, "--resume", help="Session id to resume."),
    model: str | None = typer.Option(None, "--model", help="Model name passed to the CLI."),
    max_turns: int | None = typer.Option(None, "--max-turns", help="Claude: turn limit."),
    max_budget_usd: float | None = typer.Option(None, "--max-budget-usd", help="Claude: spending limit."),
    permissions: str | None = typer.Option(
        None,
        "--permissions",
        help="read-only, edit or full; mapped per CLI (claude --permission-mode, codex --sandbox, aider --dry-run). "
        "Default: the CLI's own.",
    ),
    permission_mode: str | None = typer.Option(
        None, "--permission-mode", help="Claude: default, acceptEdits, plan, bypassPermissions, dontAsk."
    ),
    sandbox: str | None = typer.Option(
        None, "--sandbox", help="Codex: read-only, workspace-write, danger-full-access."
    ),
    allowed_tool: list[str] = typer.Option([], "--allowed-tool", help="Claude: allowed tool rule; repeatable."),
    file: list[str] = typer.Option([], "--file", help="Aider: file to add to the chat; repeatable."),
    arg: list[str] = typer.Option(
        [], "--arg", help="Extra argument for the CLI (command: its arguments; {prompt} is replaced); repeatable."
    ),
    env: list[str] = typer.Option([], "--env", "-e", help="K=V for the agent's environment; repeatable."),
    timeout: float | None = typer.Option(None, "--timeout", help="Wall-clock limit in seconds."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="Stop the run after this many seconds without progress (default 600; 0: never)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each normalized event as a JSON line."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Print the task id and return at once."),
    on: str = on_option(),
    resources: str | None = resources_option(),
    node: str | None = node_option(),
) -> None:
    """Run an agent and stream its normalized events; exits 1 when the run failed.  Ctrl-C cancels it."""
    placement = placement_option(on, resources, node)
    params: dict[str, Any] = {
        "agent": agent,
        "prompt": prompt,
        "cwd": os.path.abspath(cwd or os.getcwd()),
        "worktree": worktree,
    }
    for k, v in (
        ("bin", bin),
        ("resume", resume),
        ("model", model),
        ("max_turns", max_turns),
        ("max_budget_usd", max_budget_usd),
        ("permissions", permissions),
        ("permission_mode", permission_mode),
        ("sandbox", sandbox),
        ("timeout", timeout),
        ("idle_timeout", idle_timeout),
    ):
        if v is not None:
            params[k] = os.path.abspath(v) if k == "bin" and isinstance(v, str) and os.sep in v else v
    if allowed_tool:
        params["allowed_tools"] = allowed_tool
    if file:
        params["files"] = file
    if arg:
        params["args"] = arg
    if env:
        params["env"] = _env(env)

    async def go(client: Client) -> int:
        cursor = (await client.call("daemon.health"))["last_seq"]
        if placement is not None:
            params["placement"] = await resolve_node(client, placement)
        task = await client.call("agent.run", **params)
        tid = task["id"]
        if detach:
            console.print(tid)
            return 0
        if not as_json:
            where = f" in worktree {task['worktree']['path']}" if task.get("worktree") else ""
            console.print(f"[dim]agent task {tid} ({agent}){escape(where)}[/]")
        await client.call("events.subscribe", tasks=[tid], types=AGENT_TYPES, since_seq=cursor)
        loop = asyncio.get_running_loop()
        interrupts = 0
        requests = InterruptRequests()

        def on_sigint() -> None:
            nonlocal interrupts
            interrupts += 1
            sys.stderr.write(f"\n[executive] {'cancelling' if interrupts == 1 else 'killing'} agent task {tid}…\n")
            requests.send(client.call("task.cancel" if interrupts == 1 else "task.kill", task=tid))

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            while True:
                e = await client.next_event()
                if e["type"] == "warning":
                    err_console.print(
                        f"[yellow]! {escape(_short(e['data']))}[/] (`executive agent replay {tid}` re-reads the log)"
                    )
                    continue
                if e["pid"] != tid or not e["type"].startswith("agent."):
                    continue
                if as_json:
                    sys.stdout.write(json.dumps(e) + "\n")
                    sys.stdout.flush()
                else:
                    render_event(e)
                if e["type"] == "agent.result":
                    return 0 if e["data"].get("ok") else 1
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            await requests.settle()

    raise typer.Exit(run_client(go))


@app.command("check")
def check(
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this adapter."),
    bin: str | None = typer.Option(None, "--bin", help="Check this executable (with --agent)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Which agent adapters are usable here, and what to do about the ones that are not."""
    params: dict[str, Any] = {}
    if agent:
        params["agent"] = agent
    if bin:
        params["bin"] = os.path.abspath(bin) if os.sep in bin else bin
    rows = run_client(lambda c: c.call("agent.check", **params))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    body = []
    notes: list[str] = []
    for r in rows:
        tested = r.get("tested_range")
        status = {"tested": "yes", "older": "too old", "newer": "newer"}.get(r.get("version_status") or "", "-")
        body.append(
            [
                r["agent"],
                "[green]yes[/]" if r["usable"] else "[red]no[/]",
                escape(r.get("version") or "-"),
                f"{status} ({tested})" if tested else status,
                "missing" if (r.get("auth") or "").startswith("none of") else escape(r.get("auth") or "-"),
            ]
        )
        notes += [f"{r['agent']}: {p}" for p in r["problems"]]
    console.print(fitted_table(["AGENT", "USABLE", "VERSION", "TESTED", "AUTH"], body))
    for note in notes:  # one line each; --json has every word
        # One line each, at most as wide as the terminal (or $COLUMNS, or 80 into a pipe): it is a summary.
        width = shutil.get_terminal_size((80, 24)).columns
        console.print(f"[yellow]![/] {escape(_short(note, max(20, width - 2)))}", soft_wrap=True)
    console.print("[dim]`executive agent check --json`: full problems, binaries, capabilities[/]")


@app.command("runs")
def runs(limit: int = typer.Option(20, "--limit", "-n"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Recent agent runs."""
    rows = run_client(lambda c: c.call("agent.runs", limit=limit))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print('no agent runs yet; start one with `executive agent run --agent claude "…"`')
        return
    body = []
    for r in rows:
        errors = ",".join(r.get("errors") or [])
        ok = "-" if r["ok"] is None else ("[green]yes[/]" if r["ok"] else f"[red]no[/] {escape(_short(errors, 24))}")
        cost = f"${r['cost_usd']:.4f}" if r.get("cost_usd") is not None else "-"
        session = (r.get("session_id") or "-")[:8]  # `agent show ID --json` has the full id
        body.append(
            [
                str(r["task_id"]),
                r["agent"],
                r["state"],
                ok,
                cost,
                str(r.get("turns") or "-"),
                escape(session),
                escape(_short(r.get("prompt") or "", 80)),
            ]
        )
    console.print(fitted_table(["TASK", "AGENT", "STATE", "OK", "COST", "TURNS", "SESSION", "PROMPT"], body))


@app.command("show")
def show(
    task: str = typer.Argument(..., help="Agent task id or name."), as_json: bool = typer.Option(False, "--json")
) -> None:
    """The result of one agent run (waits for nothing; null while it runs)."""
    out = run_client(lambda c: c.call("agent.result", task=task_ref(task)))
    if as_json or out["result"] is None:
        print(json.dumps(out, indent=2))
        return
    if out["result"].get("text"):
        console.print(escape(out["result"]["text"]))
    render_result(out["result"])


@app.command("diff")
def diff(task: str = typer.Argument(..., help="Agent task id or name.")) -> None:
    """The diff an agent run left in its work tree."""
    out = run_client(lambda c: c.call("agent.diff", task=task_ref(task)))
    if out["diff"] is None:
        raise fail(f"task {out['task']} has no stored diff (not a git work tree, or larger than the patch limit)")
    sys.stdout.write(out["diff"])


@app.command("replay")
def replay(
    task: str = typer.Argument(..., help="Agent task id or name."), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Re-derive a finished run's normalized events from its stdout log."""
    out = run_client(lambda c: c.call("agent.replay", task=task_ref(task)))
    for e in out["events"]:
        if as_json:
            sys.stdout.write(json.dumps(e) + "\n")
        else:
            render_event(e)
    if out["truncated"]:
        err_console.print("[yellow]! more events than the replay limit; the middle was left out[/]")


@app.command("worktrees")
def worktrees(
    stale: bool = typer.Option(False, "--stale", help="Only worktrees nothing uses any more."),
    prune: bool = typer.Option(False, "--prune", help="Remove the stale ones (their branches and commits stay)."),
    older_than: float = typer.Option(
        0.0, "--older-than", help="With --prune: only those created more than this many seconds ago."
    ),
    remove: int | None = typer.Option(None, "--rm", help="Remove this worktree (refused while a task uses it)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The daemon's git worktrees."""
    if remove is not None:
        r = run_client(lambda c: c.call("agent.worktree_remove", worktree=remove))
        console.print(f"removed worktree {r['id']} ({escape(r['path'])})")
        return
    if prune:
        rows = run_client(lambda c: c.call("agent.worktree_prune", older_than=older_than))
        console.print(f"pruned {len(rows)} worktree(s)" + "".join(f"\n  {r['id']} {escape(r['path'])}" for r in rows))
        return
    rows = run_client(lambda c: c.call("agent.worktrees", stale=stale))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no worktrees")
        return
    table = Table(box=None, header_style="bold")
    for col in ("ID", "PURPOSE", "BRANCH", "TASK", "IN USE", "PATH", "REPO"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["purpose"],
            escape(r.get("branch") or "(detached)"),
            str(r.get("task_id") or "-"),
            escape(r.get("in_use") or r.get("stale_reason") or "no"),
            escape(r["path"]),
            escape(r["repo"]),
        )
    console.print(table)
