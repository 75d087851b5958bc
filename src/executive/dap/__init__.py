"""``executive dap``: a Debug Adapter Protocol server for HSX programs, a client of the daemon.

codec.py frames messages, session.py is the sans-I/O core (requests and daemon events in,
DAP messages out), threads.py / breakpoints.py / variables.py / sources.py / output.py
hold its parts (one HSX task is one DAP thread; a session debugs up to 16), daemon.py
finds or starts the daemon, server.py is the stdio and TCP shells.
"""

from executive.dap.codec import DapCodec, FramingError, encode
from executive.dap.protocol import CAPABILITIES
from executive.dap.server import run_session, serve_stdio, serve_tcp
from executive.dap.session import HANDLED, DapSession

__all__ = [
    "CAPABILITIES",
    "HANDLED",
    "DapCodec",
    "DapSession",
    "FramingError",
    "encode",
    "run_session",
    "serve_stdio",
    "serve_tcp",
]
