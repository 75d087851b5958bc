"""Run the daemon: service + app + uvicorn on one port, and daemon.json for the CLI.

``serve`` binds the socket itself (so port 0 resolves to a real port before
anything is announced), opens the :class:`Executive`, writes
``$EXECUTIVE_HOME/daemon.json`` and serves until SIGINT/SIGTERM, then cancels
live tasks, flushes the store and removes daemon.json.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from executive import __version__
from executive.api.auth import is_loopback, load_or_create_token
from executive.api.ccx import CcxEndpoint
from executive.api.ccx_server import start_ccx_server
from executive.api.daemon_file import DaemonNotRunning, read_daemon_file, remove_daemon_file, write_daemon_file
from executive.api.http import create_app
from executive.api.listen import keep_alive
from executive.api.rpc import Method
from executive.kernel.errors import BadParamsError
from executive.kernel.limits import DEFAULT_LIMITS, Limits
from executive.paths import make_private_dir, private_file
from executive.service import Executive, limit_malloc_arenas, load_allow_list
from executive.service.programs_file import load_programs_file

__all__ = ["ServeOptions", "serve"]

log = structlog.get_logger("executive.server")


class ServeOptions:
    def __init__(
        self,
        home: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        hsx_port: int | None = None,
        ccx_port: int | None = None,
        auth: bool = True,
        allow_list: Path | None = None,
        limits: Limits = DEFAULT_LIMITS,
        extra_methods: list[Method] | None = None,
        ray: str | None = None,
        allow_remote: bool = False,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        programs_file: Path | None = None,
    ) -> None:
        self.home = home
        self.host = host
        self.port = port
        self.hsx_port = hsx_port
        self.ccx_port = ccx_port  # cc_executor wire without a token, loopback only (api/ccx.py)
        self.auth = auth
        self.allow_list = allow_list
        self.limits = limits
        self.extra_methods = extra_methods or []  # embedders (benchmarks, plugins) add their own RPC methods
        self.ray = ray  # a Ray head's HOST:PORT (or "auto"): placed tasks run on that cluster (runtimes/placed.py)
        self.allow_remote = allow_remote  # listen on a non-loopback address (the token is then the only guard)
        self.tls_cert = tls_cert  # with tls_key: serve https:// and wss:// (uvicorn's TLS)
        self.tls_key = tls_key
        self.programs_file = programs_file  # `serve --config`: programs started and kept running


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadParamsError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port (0 = any free port)"
        ) from exc
    keep_alive(sock)
    sock.listen(512)
    sock.setblocking(False)
    return sock


def check_exposure(opts: ServeOptions) -> None:
    """Refuse an address or TLS setup that would expose the daemon by accident.

    Raises:
        BadParamsError: a non-loopback address without ``allow_remote`` or without a token, or
            only one of the two TLS files.
    """
    if opts.allow_remote and not opts.auth:
        raise BadParamsError("--allow-remote needs the token: drop --no-auth")
    if not is_loopback(opts.host):
        if not opts.auth:
            raise BadParamsError(f"refusing to listen on non-loopback {opts.host} without a token; drop --no-auth")
        if not opts.allow_remote:
            raise BadParamsError(
                f"refusing to listen on non-loopback {opts.host}: anyone who can reach it and holds the token can run "
                "commands as this user; pass --allow-remote to mean it (with --tls-cert/--tls-key, or behind a TLS "
                "reverse proxy: plain ws:// sends the token in clear)"
            )
        if tls_files(opts) is None:
            log.warning(
                "token_in_clear",
                host=opts.host,
                detail="listening on a non-loopback address without TLS: the token crosses the network in clear; "
                "use --tls-cert/--tls-key or a TLS reverse proxy",
            )


def tls_files(opts: ServeOptions) -> tuple[Path, Path] | None:
    """The certificate and key to serve TLS with, checked to be readable; None for plain ws://.

    Raises:
        BadParamsError: only one of them given, or one cannot be read.
    """
    if opts.tls_cert is None and opts.tls_key is None:
        return None
    if opts.tls_cert is None or opts.tls_key is None:
        raise BadParamsError("TLS needs both --tls-cert and --tls-key (PEM files)")
    for what, path in (("--tls-cert", opts.tls_cert), ("--tls-key", opts.tls_key)):
        try:
            with open(path, "rb") as f:
                head = f.read(64 * 1024)
        except OSError as exc:
            raise BadParamsError(f"{what} {path}: {exc.strerror}") from None
        if b"-----BEGIN" not in head:
            raise BadParamsError(f"{what} {path} is not a PEM file (no -----BEGIN line)")
    return opts.tls_cert, opts.tls_key


def local_address(host: str) -> str:
    """The address a client on this machine uses for a daemon bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _lock_home(home: Path) -> Any:
    """Take the home's exclusive daemon lock, or refuse to start.

    Two daemons on one home would share its database: the second one's start
    marks the first one's live tasks ``lost`` and kills their process trees.
    """
    import fcntl

    f = open(private_file(home / "daemon.lock"), "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        try:
            where = read_daemon_file(home).get("url", "?")
        except DaemonNotRunning:
            where = "starting up"
        raise BadParamsError(
            f"another daemon already serves {home} ({where}); stop it first, or use another EXECUTIVE_HOME"
        ) from None
    return f


async def serve(
    opts: ServeOptions,
    *,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or until ``stop`` is set, for embedding and tests).

    ``on_ready`` receives the daemon.json content once the port is bound.
    """
    check_exposure(opts)
    limit_malloc_arenas()  # memory the daemon's threads freed can then go back to the OS (runtimes/heap.py)
    home = opts.home
    make_private_dir(home)
    home_lock = _lock_home(home)  # held while serving; the kernel drops it even on kill -9
    try:
        token = load_or_create_token(home) if opts.auth else None
        allow = None
        if opts.allow_list is not None:
            allow = load_allow_list(opts.allow_list)
        elif (home / "allowlist.json").exists():
            allow = load_allow_list(home / "allowlist.json")
        # A bad programs file refuses the start before anything is bound or opened (every problem listed).
        programs = load_programs_file(opts.programs_file, opts.limits) if opts.programs_file is not None else None
        sock = _bind(opts.host, opts.port)
        service = await Executive.open(
            home, limits=opts.limits, allow_list=allow, ray_address=opts.ray, programs=programs
        )
    except BaseException:
        home_lock.close()
        raise
    ccx = CcxEndpoint(service)
    app = create_app(service, token=token, extra_methods=opts.extra_methods, ccx=ccx)
    tls = tls_files(opts)
    config = uvicorn.Config(
        app,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        log_level="warning",
        access_log=False,
        ws_max_size=opts.limits.max_frame_bytes * 4,  # hard cap; frames above max_frame_bytes get an RPC error first
        ws_ping_interval=20.0,
        ws_ping_timeout=None,  # a stalled reader keeps its link; dead peers: keep_alive()
        lifespan="off",
    )
    server = uvicorn.Server(config)
    if stop is None:
        # Signals: uvicorn 0.55's Server.serve() wraps itself in capture_signals(), which swaps in
        # its own SIGINT/SIGTERM handlers with signal.signal() (main thread only), sets should_exit,
        # and re-raises the captured signal after restoring the previous handlers.  The loop's
        # handlers installed here stay effective meanwhile (the loop learns of every signal through
        # its wakeup fd), so a signal sets `stop` and we run our orderly shutdown below; and since
        # they are the handlers uvicorn restores, its re-raised signal lands on `stop.set` again
        # (harmless) instead of the default action, which for SIGTERM would kill the daemon before
        # it flushed the store.  A second Ctrl-C makes uvicorn stop waiting for open connections.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    host, port = sock.getsockname()[:2]
    near = local_address(host)  # where a client on this machine connects (not 0.0.0.0)
    ws, http = ("wss", "https") if tls else ("ws", "http")
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "url": f"{ws}://{near}:{port}/rpc",
        "health": f"{http}://{near}:{port}/health",
        "tls_cert": str(tls[0]) if tls else None,  # local clients trust exactly this certificate
        "hsx_port": None,
        "ccx_port": None,
        "auth": token is not None,
        "home": str(home),
        "version": __version__,
        "started": time.time(),
    }
    mcp_running = app.state.mcp.run()  # the MCP session manager's task group, entered and left in this task
    await mcp_running.__aenter__()
    serve_task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not serve_task.done():
        await asyncio.sleep(0.01)
    if serve_task.done():
        await mcp_running.__aexit__(None, None, None)
        await service.aclose()
        home_lock.close()
        serve_task.result()
        return
    extra_closers: list[Callable[[], Any]] = []
    try:
        if opts.hsx_port is not None:  # the HSX executive line-JSON protocol on its own port (api/hsx_tcp.py)
            from executive.api.hsx_tcp import start_hsx_server

            # No authentication in that protocol (spec §1.1): it stays on loopback even with --allow-remote.
            hsx_host = opts.host if is_loopback(opts.host) else "127.0.0.1"
            hsx = await start_hsx_server(service, host=hsx_host, port=opts.hsx_port)
            info["hsx_port"] = hsx.port
            extra_closers.append(hsx.close)
        if opts.ccx_port is not None:  # cc_executor's wire for unmodified clients: loopback, no token
            ccx_server = await start_ccx_server(ccx, port=opts.ccx_port)
            info["ccx_port"] = ccx_server.port
            info["ccx_url"] = f"ws://127.0.0.1:{ccx_server.port}/ws/mcp"
            extra_closers.append(ccx_server.aclose)
    except BaseException:
        for close in extra_closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        server.should_exit = True
        await mcp_running.__aexit__(None, None, None)
        await service.aclose()
        try:
            await asyncio.wait_for(serve_task, 5.0)
        except (TimeoutError, Exception):
            serve_task.cancel()
        home_lock.close()
        raise
    write_daemon_file(home, info)
    log.info("daemon_ready", **{k: info[k] for k in ("url", "health", "hsx_port", "ccx_port", "home")})
    log.info("containment", active=service.containment)
    if on_ready is not None:
        on_ready(info)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([serve_task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        remove_daemon_file(home, os.getpid())
        for close in extra_closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        server.should_exit = True
        await mcp_running.__aexit__(None, None, None)
        await service.aclose()
        try:
            await asyncio.wait_for(serve_task, 5.0)
        except (TimeoutError, Exception):
            serve_task.cancel()
        home_lock.close()
        log.info("daemon_stopped")
