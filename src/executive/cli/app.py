"""The `executive` typer app (typer + rich): every command but the quick ones, which it lists and forwards.

Sub-commands live in sibling modules; cli/main.py is the entry point and runs the quick
commands (cli/quick.py) without loading this module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from executive import __version__
from executive.cli import (
    _common,
    quick,
    tasks,
)
from executive.cli import (
    agents as agents_cli,
)
from executive.cli import (
    dap as dap_cli,
)
from executive.cli import (
    debug as debug_cli,
)
from executive.cli import (
    fix as fix_cli,
)
from executive.cli import (
    hsx as hsx_cli,
)
from executive.cli import (
    mcp as mcp_cli,
)
from executive.cli import (
    patch as patch_cli,
)
from executive.cli import (
    pattern as pattern_cli,
)
from executive.cli import (
    pipeline as pipeline_cli,
)
from executive.cli import (
    serve as serve_cmd,
)
from executive.cli import (
    vm as vm_cli,
)

typer_app = app = typer.Typer(
    name="executive",
    help="Run, supervise, debug and orchestrate long-running work.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        print(f"executive {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    home: Path | None = typer.Option(
        None, "--home", envvar="EXECUTIVE_HOME", help="State directory (default ~/.local/state/executive)."
    ),
    version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    _common.state.home = home


def _forward(name: str) -> Callable[[typer.Context], None]:
    def command(ctx: typer.Context) -> None:
        home = str(_common.state.home) if _common.state.home else None
        raise typer.Exit(quick.main([name, *ctx.args], home=home))

    return command


app.command("serve")(serve_cmd.serve)
tasks.register(app)  # run, events
for _name, _help in quick.COMMANDS.items():  # ps, status, logs, top, pause, ...: listed here, run by cli/quick.py
    app.command(
        _name,
        help=_help,
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    )(_forward(_name))
vm_cli.register(app)  # load
app.command("debug")(debug_cli.debug)
app.command("dap")(dap_cli.dap)
app.add_typer(debug_cli.trace_app, name="trace", help="HSX trace buffers: set, export, import (hsx.trace/1).")
app.add_typer(hsx_cli.app, name="hsx", help="HSX VM tools: run, asm, disasm, info.")
app.add_typer(
    pipeline_cli.app,
    name="pipeline",
    help="Phased pipelines: gates, rising thresholds, rework, checkpoints and resume.",
)
app.add_typer(
    agents_cli.app, name="agent", help="Coding agents as tasks: run, check, runs, show, diff, replay, worktrees."
)
app.add_typer(patch_cli.app, name="patch", help="Patches: apply (validated, verified), list, show, rollback, commit.")
app.add_typer(
    pattern_cli.app, name="pattern", help="Pattern executors: list, schema, example, validate, run (--dry-run)."
)
app.command("fix")(fix_cli.fix)
app.command("mcp")(mcp_cli.mcp)
