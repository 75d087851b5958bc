"""The `executive` command line (typer + rich).  Sub-commands live in sibling modules."""

from __future__ import annotations

from pathlib import Path

import typer

from executive.cli import (
    _common,
    tasks,
)
from executive.cli import (
    agents as agents_cli,
)
from executive.cli import (
    cluster as cluster_cli,
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
    quota as quota_cli,
)
from executive.cli import (
    serve as serve_cmd,
)
from executive.cli import (
    vm as vm_cli,
)

app = typer.Typer(
    name="executive",
    help="Run, supervise, debug and orchestrate long-running work.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    home: Path | None = typer.Option(
        None, "--home", envvar="EXECUTIVE_HOME", help="State directory (default ~/.local/state/executive)."
    ),
) -> None:
    _common.state.home = home


app.command("serve")(serve_cmd.serve)
tasks.register(app)  # run, ps, logs, pause, resume, cancel, kill, events
vm_cli.register(app)  # load
quota_cli.register(app)  # set-quota
cluster_cli.register(app)  # nodes
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
