"""`executive patch …`: validate, apply, verify, commit and roll back unified diffs through the ledger."""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from executive.cli._common import EXIT_ERROR, EXIT_USAGE, console, fail, run_client

app = typer.Typer(
    help="Apply patches safely: validated in a mirror, recorded in a ledger, rolled back exactly.", no_args_is_help=True
)

_GOOD = {"validated", "applied", "verified", "committed", "rolled_back"}
_COLOUR = {"applied": "cyan", "verified": "green", "committed": "green", "validated": "cyan", "rolled_back": "yellow"}


def _state(s: str) -> str:
    return f"[{_COLOUR.get(s, 'red')}]{s}[/]"


def _print_record(rec: dict[str, Any]) -> None:
    console.print(f"patch {rec['id']}: {_state(rec['state'])} — {escape(rec.get('reason') or '')}")
    for f in rec.get("files") or []:
        path = f["new_path"] or f["old_path"]
        if f["old_path"] and f["new_path"] and f["old_path"] != f["new_path"]:
            path = f"{f['old_path']} → {f['new_path']}"
        console.print(
            f"  {f['status']:<9} {escape(path)}  [green]+{f['added']}[/] [red]-{f['removed']}[/]"
            + (" (binary)" if f["binary"] else "")
        )


@app.command("apply")
def apply(
    file: str = typer.Argument(..., help="The unified diff (FILE.diff, or - for stdin)."),
    cwd: str | None = typer.Option(
        None, "--cwd", help="The workspace (a directory in a git work tree; default: the current one)."
    ),
    verify: str | None = typer.Option(
        None, "--verify", help="Command run with the patch applied in a mirror before the real tree is touched."
    ),
    allow_binary: bool = typer.Option(False, "--allow-binary", help="Accept binary changes."),
    check: bool = typer.Option(False, "--check", help="Validate (and verify) only; do not touch the tree."),
    commit: bool = typer.Option(False, "--commit", help="Commit the patch's paths (and only those) after applying."),
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Validate, optionally verify, and apply a patch; exits 1 unless it ends validated/applied/verified/committed."""
    try:
        if file == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(file, "rb") as fh:
                raw = fh.read()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", EXIT_USAGE) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(
            f"{file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); patches are sent as UTF-8. "
            "For files in another encoding, make the diff with `git diff --binary` (binary hunks are ASCII) "
            "and apply it with --allow-binary",
            EXIT_USAGE,
        ) from None
    params: dict[str, Any] = {
        "diff": text,
        "cwd": os.path.abspath(cwd or os.getcwd()),
        "allow_binary": allow_binary,
        "apply": not check,
        "commit": commit,
    }
    if verify:
        params["verify"] = verify
    if message:
        params["message"] = message
    if file != "-":
        params["title"] = os.path.basename(file)
    rec = run_client(lambda c: c.call("patch.apply", **params))
    if as_json:
        print(json.dumps(rec, indent=2))
    else:
        _print_record(rec)
        if rec.get("verify_task"):
            console.print(
                f"  verification: task {rec['verify_task']} exit {rec.get('verify_exit')} "
                f"(`executive logs {rec['verify_task']}`)"
            )
    raise typer.Exit(0 if rec["state"] in _GOOD else EXIT_ERROR)


@app.command("list")
def list_(
    state: str | None = typer.Option(None, "--state", help="Only patches in this state."),
    cwd: str | None = typer.Option(None, "--cwd", help="Only patches for this workspace."),
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Patches in the ledger."""
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    if cwd:
        params["cwd"] = os.path.abspath(cwd)
    rows = run_client(lambda c: c.call("patch.list", **params))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("the ledger is empty; `executive patch apply FILE.diff` adds one")
        return
    table = Table(box=None, header_style="bold")
    for col in ("ID", "STATE", "FILES", "SOURCE", "UPDATED", "TITLE", "WORKSPACE"):
        table.add_column(col, overflow="ellipsis", no_wrap=col not in ("TITLE",))
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["updated"]).strftime("%m-%d %H:%M:%S")
        table.add_row(
            str(r["id"]),
            _state(r["state"]),
            str(len(r["files"])),
            r["source"],
            when,
            escape(r.get("title") or ""),
            escape(r["workspace"]),
        )
    console.print(table)


@app.command("show")
def show(
    patch: int = typer.Argument(..., help="Patch id."),
    diff: bool = typer.Option(False, "--diff", help="Print the patch text too."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One patch: files, state and every transition with its time and reason."""
    rec = run_client(lambda c: c.call("patch.show", patch=patch, text=diff or as_json))
    if as_json:
        print(json.dumps(rec, indent=2))
        return
    _print_record(rec)
    console.print(
        f"  workspace {escape(rec['workspace'])}  source {rec['source']}"
        + (f"  commit {rec['commit_id']}" if rec.get("commit_id") else "")
    )
    for t in rec["transitions"]:
        when = datetime.datetime.fromtimestamp(t["at"]).strftime("%Y-%m-%d %H:%M:%S")
        console.print(f"  {when}  {t['from'] or '-':>12} → {_state(t['to'])}  {escape(t['reason'])}")
    if diff:
        sys.stdout.write(rec["text"])


@app.command("rollback")
def rollback(
    patch: int = typer.Argument(..., help="Patch id."),
    force: bool = typer.Option(
        False, "--force", help="Roll back even if the files changed after the apply (those edits are lost)."
    ),
) -> None:
    """Restore the exact pre-apply tree of an applied or verified patch."""
    rec = run_client(lambda c: c.call("patch.rollback", patch=patch, force=force))
    _print_record(rec)


@app.command("commit")
def commit(
    patch: int = typer.Argument(..., help="Patch id."),
    message: str | None = typer.Option(None, "--message", "-m"),
    force: bool = typer.Option(
        False, "--force", help="Commit even if the files changed after the apply (those edits are committed too)."
    ),
) -> None:
    """Commit exactly the paths an applied patch touched (nothing else that is staged or modified)."""
    params: dict[str, Any] = {"patch": patch, "force": force}
    if message:
        params["message"] = message
    rec = run_client(lambda c: c.call("patch.commit", **params))
    console.print(f"patch {rec['id']}: {_state(rec['state'])} as {rec.get('commit_id')}")
