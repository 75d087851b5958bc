"""`executive mcp`: serve the Model Context Protocol on stdin/stdout for a coding agent."""

from __future__ import annotations

import asyncio

import typer

from executive.cli._common import EXIT_NO_DAEMON, EXIT_USAGE, fail, home
from executive.kernel.errors import ExecutiveError
from executive.logs import configure_logging


def mcp(
    start: bool = typer.Option(
        True,
        "--start/--no-start",
        help="Start a daemon inside this process when none runs (it stops with the session); "
        "--no-start fails instead (exit 3).",
    ),
) -> None:
    """Serve MCP over stdio (for `claude mcp add executive -- executive mcp`); starts a daemon if none runs."""
    from executive.api.client import DaemonNotRunning
    from executive.api.mcp_stdio import serve_stdio

    configure_logging(level="warning")  # stdout carries the protocol: logs go to stderr, and only what matters
    try:
        asyncio.run(serve_stdio(home(), embed=start))
    except DaemonNotRunning as exc:
        raise fail(str(exc), EXIT_NO_DAEMON) from None
    except ExecutiveError as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except KeyboardInterrupt:
        pass
