"""Options of the daemon's listening sockets."""

from __future__ import annotations

import socket

__all__ = ["keep_alive"]


def keep_alive(sock: socket.socket) -> None:
    """TCP keep-alive on a listening socket (Linux copies it to every accepted connection).

    The WebSocket servers send pings but never time a connection out on a missing pong: a
    client that stops reading (a cc_executor reader behind by minutes) cannot see the ping
    queued behind its unread data, and must keep its link.  A peer that is gone is found by
    TCP instead: an idle one by these probes (about two minutes), one with unacknowledged
    data by the kernel's retransmission limit.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
