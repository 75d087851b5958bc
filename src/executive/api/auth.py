"""The connection token: created once per home, stored 0600, compared in constant time."""

from __future__ import annotations

import os
from pathlib import Path

from executive.paths import make_private_dir

__all__ = [
    "COOKIE_NAME",
    "is_loopback",
    "load_or_create_token",
    "presented_token",
    "read_token",
    "same_origin",
    "token_matches",
]

_TOKEN_FILE = "token"
# The dashboard keeps the token in this HttpOnly, SameSite=Strict cookie after the login form.
COOKIE_NAME = "executive_token"


def load_or_create_token(home: Path) -> str:
    """Return the home's token, creating it (mode 0600, atomically) on first start."""
    import secrets  # here, not at the top: every quick CLI command imports this module for read_token

    path = home / _TOKEN_FILE
    try:
        return read_token(home)
    except FileNotFoundError:
        pass
    make_private_dir(home)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".token.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another daemon created it meanwhile: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_token(home)


def read_token(home: Path) -> str:
    path = home / _TOKEN_FILE
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # never leave the token readable by others
    return path.read_text().strip()


def presented_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token a WebSocket client presents: ``Authorization: Bearer T`` first, else ``?token=T``."""
    auth = authorization or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return query_token


def token_matches(expected: str | None, presented: str | None) -> bool:
    if expected is None:
        return True
    if not presented:
        return False
    import hmac

    return hmac.compare_digest(expected.encode(), presented.encode())


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a browser request's ``Origin`` names the daemon's own ``Host``.

    A cookie travels with every request the browser makes to this host, also a WebSocket
    handshake started by another site's page; only a request whose Origin is this host itself
    may use the cookie (cross-site WebSocket hijacking).  A missing Origin is refused: browsers
    always send it on WebSocket handshakes.
    """
    if not origin or not host:
        return False
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
