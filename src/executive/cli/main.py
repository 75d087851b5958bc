"""The `executive` command line (typer). Sub-apps live in sibling modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="executive",
    help="Run, supervise, debug and orchestrate long-running work.",
    no_args_is_help=True,
    add_completion=False,
)


def _mount_subapps() -> None:
    from executive.cli import hsx as hsx_cli

    app.add_typer(hsx_cli.app, name="hsx", help="HSX VM tools: run, asm, disasm, info.")


_mount_subapps()
