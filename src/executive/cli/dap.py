"""`executive dap`: the Debug Adapter Protocol server for HSX programs (VS Code and others).

Over stdio by default, as an editor starts it (`"program": "executive", "args": ["dap"]`);
with ``--port`` a TCP server on 127.0.0.1 for editors that connect to a running adapter
(VS Code's ``debugServer``).  It talks to this home's daemon, starting one if none runs.
"""

from __future__ import annotations

import asyncio
import sys

import typer

from executive.api.client import DaemonNotRunning
from executive.cli._common import EXIT_NO_DAEMON, fail, home


def dap(
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Serve DAP over TCP on 127.0.0.1:PORT (0 picks one) instead of stdio."
    ),
) -> None:
    """Debug HSX programs from an editor: a Debug Adapter Protocol server (stdio, or TCP with --port)."""
    from executive.dap.server import serve_stdio, serve_tcp

    def ready(bound: int) -> None:
        print(f"executive dap listening on 127.0.0.1:{bound}", flush=True)

    try:
        if port is None:
            asyncio.run(serve_stdio(home()))
        else:
            asyncio.run(serve_tcp(home(), port, on_ready=ready))
    except DaemonNotRunning as exc:
        raise fail(str(exc), EXIT_NO_DAEMON) from None
    except KeyboardInterrupt:
        sys.exit(130)
