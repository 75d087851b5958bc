"""Helpers shared by CLI commands: find the daemon, run a coroutine, report errors."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from executive.api.client import Client, DaemonClosedConnection, DaemonNotRunning, RpcError, connect_home
from executive.cli import exit_codes
from executive.cli._output import write_all as write_all  # re-exported: commands import them from here
from executive.cli._output import write_out as write_out
from executive.paths import resolve_home

T = TypeVar("T")


class QuietOnBrokenPipe(Console):
    """A console for a process that outlives its reader (`executive serve | head -1`).

    rich's default answer to EPIPE is ``SystemExit(1)``: right for a listing, fatal for a daemon.
    This one goes quiet instead, and points its stream at /dev/null so that the interpreter's last
    flush at exit finds no unsent bytes to fail on.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.file.fileno())
        finally:
            os.close(devnull)


def _console(stream: Any, cls: type[Console] = Console) -> Console:
    """A console that wraps and cuts only on a terminal: into a pipe or a file every line stays whole."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return cls(highlight=False, stderr=stream is sys.stderr, width=None if tty else 100_000, soft_wrap=not tty)


def daemon_console() -> Console:
    """Standard output of a long-lived command: goes quiet when its reader goes away (QuietOnBrokenPipe)."""
    return _console(sys.stdout, QuietOnBrokenPipe)


console = _console(sys.stdout)
err_console = _console(sys.stderr)

# Exit codes of the CLI itself (a task's own exit code passes through `run`): the table in cli/exit_codes.py.
EXIT_ERROR = exit_codes.ERROR
EXIT_USAGE = exit_codes.USAGE
EXIT_NO_DAEMON = exit_codes.NO_DAEMON
EXIT_NOT_FOUND = exit_codes.NOT_FOUND


class State:
    home: Path | None = None


state = State()


def home() -> Path:
    return resolve_home(state.home)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def run_client(fn: Callable[[Client], Awaitable[T]]) -> T:
    """Connect to the daemon, run ``fn(client)``, and turn failures into clear messages."""

    async def main() -> T:
        client = await connect_home(home())
        try:
            return await fn(client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except DaemonNotRunning as exc:
        raise fail(str(exc), EXIT_NO_DAEMON) from None
    except RpcError as exc:
        raise fail(exc.message, exit_codes.for_rpc_error(exc.code)) from None
    except BrokenPipeError:
        raise  # our own stdout closed (`| head`); the caller decides
    except DaemonClosedConnection as exc:
        raise fail(str(exc), EXIT_ERROR) from None
    except ConnectionError as exc:
        raise fail(f"{exc}; is the daemon still running? (`executive serve`)", EXIT_NO_DAEMON) from None


class InterruptRequests:
    """Requests a Ctrl-C handler sends (cancel, then kill): referenced until done, settled before exit.

    A signal handler cannot await, so it starts each request as a task; keeping the
    task here stops it from being garbage-collected mid-flight, and :meth:`settle`
    lets it finish (a "task already ended" reply is not this command's error).
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def send(self, request: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(request)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, timeout: float = 5.0) -> None:
        if not self._tasks:
            return
        _, late = await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*self._tasks, *late, return_exceptions=True)


def task_ref(ref: str) -> Any:
    return int(ref) if ref.isdigit() else ref


def fitted_table(columns: list[str], rows: list[list[str]]) -> Table:
    """A borderless table whose last column alone gives way on a narrow terminal.

    Rich shrinks every column when a table is too wide; for listings the short
    columns (ids, states, times) matter more than the long last one (a command,
    a prompt), so those keep their natural width and the last is cut with "…".
    A newline inside a cell is shown as "⏎": a row is always one line.  Into a pipe the
    console is as wide as the longest row, so nothing is cut.
    """
    rows = [[cell.replace("\r\n", "⏎").replace("\n", "⏎") for cell in r] for r in rows]
    fixed = columns[:-1]
    natural = [max([len(c)] + [len(Text.from_markup(r[i]).plain) for r in rows]) for i, c in enumerate(fixed)]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col, width in zip(fixed, natural, strict=True):
        table.add_column(col, no_wrap=True, min_width=width)
    table.add_column(
        columns[-1], no_wrap=True, overflow="ellipsis", max_width=max(10, console.width - sum(natural) - 2 * len(fixed))
    )
    for r in rows:
        table.add_row(*r)
    return table
