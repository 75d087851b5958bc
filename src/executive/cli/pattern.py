"""`executive pattern …`: list patterns, show schemas and examples, validate and run instances."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from executive.cli._common import (
    EXIT_ERROR,
    EXIT_USAGE,
    console,
    err_console,
    fail,
    run_client,
)

app = typer.Typer(
    help="Pattern executors: scaffold modules and configs, report automation and implementation status.",
    no_args_is_help=True,
)


def _read_instance(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise fail(f"{path} is not JSON: {exc}", EXIT_USAGE) from None


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every pattern: built-ins, then the user directory ($EXECUTIVE_HOME/patterns)."""
    rows = run_client(lambda c: c.call("pattern.list"))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(box=None, header_style="bold")
    for col in ("NAME", "SOURCE", "DESCRIPTION"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.get("error"):
            table.add_row("[red](broken)[/]", escape(r["source"]), f"[red]{escape(r['error'])}[/]")
        else:
            table.add_row(r["name"], escape(r["source"]), escape(r["description"] or ""))
    console.print(table)


@app.command("schema")
def schema(name: str = typer.Argument(..., help="Pattern name.")) -> None:
    """Print a pattern's JSON Schema."""
    print(json.dumps(run_client(lambda c: c.call("pattern.schema", name=name)), indent=2))


@app.command("example")
def example(name: str = typer.Argument(..., help="Pattern name.")) -> None:
    """Print a pattern's shipped example instance (a starting point: save it, edit it, run it)."""
    print(json.dumps(run_client(lambda c: c.call("pattern.example", name=name)), indent=2))


@app.command("validate")
def validate(instance: str = typer.Argument(..., help="INSTANCE.json (or - for stdin).")) -> None:
    """Check an instance against its pattern's schema; every error names its JSON path."""
    out = run_client(lambda c: c.call("pattern.validate", instance=_read_instance(instance)))
    if out["ok"]:
        console.print(f"{escape(instance)}: valid {out['pattern']} instance")
        return
    for e in out["errors"]:
        err_console.print(f"[red]{escape(e['path'])}[/]: {escape(e['message'])}")
    raise typer.Exit(EXIT_ERROR)


@app.command("run")
def run(
    instance: str = typer.Argument(..., help="INSTANCE.json (or - for stdin)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the files it would create or change; write nothing."),
    root: str | None = typer.Option(
        None, "--root", help="Directory the files are written under (default: the current one)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Validate an instance and execute its pattern."""
    params: dict[str, Any] = {
        "instance": _read_instance(instance),
        "root": os.path.abspath(root or os.getcwd()),
        "dry_run": dry_run,
    }
    out = run_client(lambda c: c.call("pattern.run", **params))
    if as_json:
        print(json.dumps(out, indent=2))
        return
    verb = {
        "create": "would create" if dry_run else "created",
        "change": "would change" if dry_run else "changed",
        "unchanged": "unchanged",
    }
    for f in out["files"]:
        colour = {"create": "green", "change": "yellow"}.get(f["action"], "dim")
        console.print(f"[{colour}]{verb[f['action']]:>12}[/] {escape(f['path'])} [dim]({f['bytes']} bytes)[/]")
    if out.get("report") is not None and not any(True for _ in out["files"]):
        print(json.dumps(out["report"], indent=2))
    elif out.get("report") is not None:
        summary = out["report"].get("summary")
        if summary:
            for k, v in summary.items():
                console.print(f"  {k}: {escape(str(v))}")
    if not out["files"] and out.get("report") is None:
        console.print("nothing to do")
