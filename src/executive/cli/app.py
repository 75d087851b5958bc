"""The `executive` typer app (typer + rich): every command but the quick ones, which it lists and forwards.

Sub-commands live in sibling modules and are registered lazily: :func:`build_app` for
``executive run …`` imports only cli/tasks.py, not the HSX, pipeline, agent or debugger
commands; ``executive --help`` (and shell completion) builds the whole app.  cli/main.py
is the entry point and runs the quick commands (cli/quick.py) without loading this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import typer

from executive import __version__
from executive.cli import _common, quick

__all__ = ["build_app"]


def _command(attr: str, **settings: object) -> Callable[[typer.Typer, str, ModuleType], None]:
    def add(app: typer.Typer, name: str, module: ModuleType) -> None:
        app.command(name, **settings)(getattr(module, attr))  # type: ignore[arg-type]

    return add


def _group(attr: str, help_: str) -> Callable[[typer.Typer, str, ModuleType], None]:
    def add(app: typer.Typer, name: str, module: ModuleType) -> None:
        app.add_typer(getattr(module, attr), name=name, help=help_)

    return add


# name -> (module, how to add it); in the order `executive --help` lists them.
_LAZY: dict[str, tuple[str, Callable[[typer.Typer, str, ModuleType], None]]] = {
    "serve": ("executive.cli.serve", _command("serve")),
    "run": ("executive.cli.tasks", _command("run", context_settings={"allow_interspersed_args": False})),
    "events": ("executive.cli.tasks", _command("events")),
    "load": ("executive.cli.vm", _command("load")),
    "debug": ("executive.cli.debug", _command("debug")),
    "dap": ("executive.cli.dap", _command("dap")),
    "trace": ("executive.cli.debug", _group("trace_app", "HSX trace buffers: set, export, import (hsx.trace/1).")),
    "hsx": ("executive.cli.hsx", _group("app", "HSX VM tools: run, asm, disasm, info.")),
    "pipeline": (
        "executive.cli.pipeline",
        _group("app", "Phased pipelines: gates, rising thresholds, rework, checkpoints and resume."),
    ),
    "agent": (
        "executive.cli.agents",
        _group("app", "Coding agents as tasks: run, check, runs, show, diff, replay, worktrees."),
    ),
    "patch": (
        "executive.cli.patch",
        _group("app", "Patches: apply (validated, verified), list, show, rollback, commit."),
    ),
    "pattern": (
        "executive.cli.pattern",
        _group("app", "Pattern executors: list, schema, example, validate, run (--dry-run)."),
    ),
    "fix": ("executive.cli.fix", _command("fix")),
    "mcp": ("executive.cli.mcp", _command("mcp")),
    "set-quota": ("executive.cli.quota", _command("set_quota")),
    "nodes": ("executive.cli.cluster", _command("nodes")),
    "restart": ("executive.cli.programs", _command("restart")),
    "reload": ("executive.cli.programs", _command("reload")),
    "programs": ("executive.cli.programs", _group("programs_app", "Programs kept running: list, start, stop.")),
    "config": ("executive.cli.programs", _group("config_app", "The programs file: schema, check.")),
}


def _print_version(value: bool) -> None:
    if value:
        print(f"executive {__version__}")
        raise typer.Exit(0)


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


def build_app(command: str | None = None) -> typer.Typer:
    """The typer app with ``command`` alone registered, or every command when it is None or unknown."""
    app = typer.Typer(
        name="executive",
        help="Run, supervise, debug and orchestrate long-running work.",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    names = [command] if command in _LAZY else list(_LAZY)
    for name in names:
        module_name, add = _LAZY[name]
        add(app, name, importlib.import_module(module_name))
    if command not in _LAZY:  # ps, status, logs, top, pause, ...: listed here, run by cli/quick.py
        for name, help_ in quick.COMMANDS.items():
            app.command(
                name,
                help=help_,
                add_help_option=False,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
            )(_forward(name))
    return app
