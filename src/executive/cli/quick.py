"""The quick commands (ps, status, logs, top, pause, resume, cancel, stop, kill, completion).

These are typed dozens of times a minute, so they load only the standard library,
the small blocking client (api/sync_client.py) and the plain table writer
(cli/_term.py): no typer, rich, asyncio or pydantic, and nothing of the HSX,
pipeline or agent layers.  `executive --help` lists them with the other commands
(cli/app.py forwards to :func:`main`); this module is their one definition.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from executive.cli import exit_codes

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["COMMANDS", "QuickError", "home_dir", "main", "parser", "say_error", "with_client"]

# name -> one-line help (also shown by `executive --help`)
COMMANDS: dict[str, str] = {
    "ps": "List tasks (filters: --state, --kind, --name GLOB), with CPU and memory of live ones.",
    "status": "One task in detail (by id or name); with no task, a one-line summary of every live task.",
    "logs": "A task's output: whole, the last N lines (-n), followed live (-f), or every task's (--all).",
    "top": "A live table of tasks with CPU and memory (q or Ctrl-C quits; repeated plain tables into a pipe).",
    "pause": "Pause a task: SIGSTOP to its whole process tree, or stop an HSX program between instructions.",
    "resume": "Resume a paused task (SIGCONT to the whole tree, or reschedule the HSX program).",
    "cancel": "Cancel a task: SIGTERM to every process of it, a grace period, then SIGKILL (--all: every live task).",
    "stop": "The same as cancel (supervisorctl's word).",
    "kill": "Kill a task at once (SIGKILL to the whole tree).",
    "completion": "Print the shell completion script for bash, zsh or fish (task names included).",
}


class QuickError(Exception):
    """A failure said plainly on stderr, with its exit code from cli/exit_codes.py."""

    def __init__(self, message: str, code: int = exit_codes.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def home_dir(home: str | None) -> Path:
    """The home directory: ``--home``, else $EXECUTIVE_HOME, else the default."""
    from executive.paths import resolve_home

    return resolve_home(home or os.environ.get("EXECUTIVE_HOME") or None)


def with_client(home: str | None, fn: Callable[[Any], int | None]) -> int:
    """Connect to the daemon of ``home``, run ``fn(client)``, turn failures into messages and exit codes."""
    from executive.api.daemon_file import DaemonNotRunning
    from executive.api.rpc_errors import DaemonClosedConnection, RpcError
    from executive.api.sync_client import connect_home_sync

    try:
        client = connect_home_sync(home_dir(home))
    except DaemonNotRunning as exc:
        raise QuickError(str(exc), exit_codes.NO_DAEMON) from None
    except ConnectionError as exc:
        raise QuickError(f"{exc}; is the daemon still running? (`executive serve`)", exit_codes.NO_DAEMON) from None
    try:
        return fn(client) or 0
    except RpcError as exc:
        raise QuickError(exc.message, exit_codes.for_rpc_error(exc.code)) from None
    except BrokenPipeError:
        raise  # our own stdout closed (`| head`): main() ends quietly
    except DaemonClosedConnection as exc:
        raise QuickError(str(exc), exit_codes.ERROR) from None
    except ConnectionError as exc:
        raise QuickError(f"{exc}; is the daemon still running? (`executive serve`)", exit_codes.NO_DAEMON) from None
    finally:
        client.close()


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout at a width we pass: its own default imports shutil (and bz2, lzma) for it."""

    def __init__(self, prog: str) -> None:
        from executive.cli._term import terminal_width

        super().__init__(prog, width=min(terminal_width() or 80, 120) - 2)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well; say it our way
        raise QuickError(f"{message} (see `{self.prog} --help`)", exit_codes.USAGE)


def _adder(name: str) -> Callable[[argparse.ArgumentParser], None]:
    """The function that adds ``name``'s arguments (importing only that command's module)."""
    if name == "completion":
        return _add_completion
    if name == "logs":
        from executive.cli import quick_logs

        return quick_logs.add_logs
    from executive.cli import quick_tasks

    return {
        "ps": quick_tasks.add_ps,
        "status": quick_tasks.add_status,
        "top": quick_tasks.add_top,
        "cancel": quick_tasks.add_cancel,
        "stop": quick_tasks.add_cancel,
    }.get(name, quick_tasks.add_control)


def parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the quick commands ``names`` (default: all of them)."""
    ap = _Parser(prog="executive", add_help=False)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in names or list(COMMANDS):
        help_ = COMMANDS[name]
        _adder(name)(sub.add_parser(name, help=help_, description=help_))
    return ap


def _add_completion(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="Your shell.")

    def run(args: argparse.Namespace) -> int:
        from executive.cli.completion import script

        sys.stdout.write(script(args.shell))
        return 0

    p.set_defaults(run=run)


def main(argv: list[str], *, home: str | None = None) -> int:
    """Run one quick command (``argv[0]`` is its name); returns the exit code."""
    try:
        args = parser([argv[0]] if argv and argv[0] in COMMANDS else None).parse_args(argv)
        args.home = home
        return int(args.run(args))
    except QuickError as exc:
        say_error(exc.message)
        return exc.code
    except KeyboardInterrupt:
        return exit_codes.TASK_CANCELLED
    except BrokenPipeError:  # the reader went away (`| head`): that is the end, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def say_error(message: str) -> None:
    """``error: MESSAGE`` on stderr (red on a terminal)."""
    from executive.cli._term import colour, use_colour

    sys.stderr.write(f"{colour('error:', 'red', use_colour(sys.stderr))} {message}\n")
    sys.stderr.flush()
