"""`executive serve`: run the daemon in the foreground."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import typer

from executive.cli._common import EXIT_USAGE, daemon_console, fail, home
from executive.kernel.errors import ExecutiveError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.logs import configure_logging


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8765, help="Port for /rpc and /health; 0 picks a free one."),
    hsx_port: int | None = typer.Option(
        None, "--hsx-port", help="Also serve the HSX executive line-JSON protocol on this TCP port (0 = free port)."
    ),
    ccx_port: int | None = typer.Option(
        None,
        "--ccx-port",
        help="Also serve cc_executor's wire (/ws/mcp) without a token on 127.0.0.1 at this port (0 = free port).",
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="Accept connections without the token (loopback only)."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow a non-loopback --host (the token is then what guards the daemon)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate: serve https:// and wss://."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    allow_list: Path | None = typer.Option(
        None,
        "--allow-list",
        help="JSON allow-list of commands (default: $EXECUTIVE_HOME/allowlist.json if present, else allow all).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Programs file (YAML) to start and keep running; `executive reload` applies its changes.",
    ),
    max_running: int = typer.Option(
        DEFAULT_LIMITS.max_running, help="Tasks running at once; more wait in a FIFO queue."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Join the Ray cluster whose head is at HOST:PORT ('auto': the one on this machine) as its driver; "
        "tasks placed on ray run there (needs the cluster extra: pip install 'executive[cluster]').",
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    log_format: str = typer.Option("json", help="json (one object per line) or console."),
) -> None:
    """Start the daemon in the foreground; Ctrl-C stops it (live tasks are cancelled)."""
    from executive.api.server import ServeOptions
    from executive.api.server import serve as run_server

    configure_logging(level=log_level, json=log_format == "json")
    if max_running < 1:
        raise fail("--max-running must be at least 1", EXIT_USAGE)
    limits = dataclasses.replace(DEFAULT_LIMITS, max_running=max_running)
    opts = ServeOptions(
        home(),
        host=host,
        port=port,
        hsx_port=hsx_port,
        ccx_port=ccx_port,
        auth=not no_auth,
        allow_list=allow_list,
        limits=limits,
        ray=ray,
        allow_remote=allow_remote,
        tls_cert=tls_cert,
        tls_key=tls_key,
        programs_file=config,
    )

    console = daemon_console()  # whoever reads these lines may go away (`serve | head -1`): serve on without them

    def ready(info: dict[str, Any]) -> None:
        console.print(f"executive {info['version']} listening on [bold]{info['url']}[/]")
        web = info["health"].rsplit("/health", 1)[0]
        console.print(f"dashboard: [bold]{web}/[/]  (sign in with the token)")
        if allow_remote and not info.get("tls_cert"):
            console.print(
                f"[yellow]warning:[/] listening on {host} with plain ws://: the token crosses the network in clear; "
                "use --tls-cert/--tls-key or a TLS reverse proxy"
            )
        console.print(f"health: {info['health']}")
        if info.get("hsx_port"):
            console.print(f"HSX executive protocol: tcp://{info['host']}:{info['hsx_port']}")
        if info.get("ccx_port"):
            console.print(f"cc_executor endpoint (no token, loopback): {info['ccx_url']}")
        console.print(f"home: {info['home']}  (token in {info['home']}/token)")

    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
            pass
        asyncio.run(run_server(opts, on_ready=ready))
    except ExecutiveError as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except KeyboardInterrupt:
        pass
