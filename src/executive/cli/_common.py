"""Helpers shared by CLI commands: find the daemon, run a coroutine, report errors."""

from __future__ import annotations

import asyncio
import os
import select
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from executive.api.client import Client, DaemonClosedConnection, DaemonNotRunning, RpcError, connect_home
from executive.paths import resolve_home

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Exit codes of the CLI itself (a task's own exit code passes through `run`).
EXIT_ERROR = 1  # the daemon answered with an error
EXIT_USAGE = 2  # bad input
EXIT_NO_DAEMON = 3  # no daemon running for this home


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
        code = EXIT_USAGE if -32700 <= exc.code <= -32600 or 1000 <= exc.code < 1100 else EXIT_ERROR
        raise fail(exc.message, code) from None
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


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``.

    ``os.write`` (and a raw, unbuffered ``sys.stdout.buffer`` under PYTHONUNBUFFERED) may write
    only part of a large buffer to a pipe when a signal arrives, for instance the SIGCONT after a
    Ctrl-Z; the rest must be written again or it is lost.  A descriptor left non-blocking by
    another process that shares it is waited on instead of failing with EAGAIN.
    """
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def write_out(stream: str, data: bytes) -> None:
    """Write task output to our stdout or stderr, completely, after anything printed before it."""
    target = sys.stdout if stream == "stdout" else sys.stderr
    target.flush()
    try:
        fd = target.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream in tests: no descriptor
        target.buffer.write(data)
        target.buffer.flush()
        return
    write_all(fd, data)


def fitted_table(columns: list[str], rows: list[list[str]]) -> Table:
    """A borderless table whose last column alone gives way on a narrow terminal.

    Rich shrinks every column when a table is too wide; for listings the short
    columns (ids, states, times) matter more than the long last one (a command,
    a prompt), so those keep their natural width and the last is cut with "…".
    """
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
