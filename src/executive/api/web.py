"""The dashboard's HTTP side: sign-in, the page, its static assets and log downloads.

The dashboard is one more JSON-RPC client: everything it shows and every action it takes goes
over ``/rpc``.  HTTP only gets it there.  A person types the token once into the login form; the
daemon answers with an HttpOnly, SameSite=Strict cookie holding it, which the browser then sends
with the ``/rpc`` handshake (``ws.py`` accepts it when the Origin is this host).  Only the login
page and the static assets (``web/static``: CSS, JS modules, no secrets) answer without it; the
page itself and log downloads redirect to the login page or answer 401.

Rejected: a session table of random cookie ids.  The token is already the daemon's one secret;
a replaced token file (daemon restarted on a new home, token rotated) must sign every browser out,
which comparing the cookie with the current token does for free.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from executive.api.auth import COOKIE_NAME, token_matches
from executive.kernel.errors import ExecutiveError
from executive.service import Executive
from executive.service.results import TaskInfo

__all__ = ["WEB_DIR", "mount_dashboard"]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_LOGIN_BODY = 4096  # bytes of the login form; a token is 43 characters
_LOGIN_MESSAGES = {
    "wrong": "That is not this daemon's token. Copy it from $EXECUTIVE_HOME/token and try again.",
    "missing": "Enter the token from $EXECUTIVE_HOME/token to sign in.",
    "expired": "Your sign-in is no longer valid (the daemon's token was replaced). Sign in with the new token.",
    "signed_out": "Signed out.",
}
# The page loads only its own files; WebSocket to this host only; no framing by other sites.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _signed_in(request: Request, token: str | None) -> bool:
    return token is None or token_matches(token, request.cookies.get(COOKIE_NAME))


def _login_page(message_key: str | None, status: int = 200) -> HTMLResponse:
    text = (WEB_DIR / "login.html").read_text(encoding="utf-8")
    message = _LOGIN_MESSAGES.get(message_key or "", "")
    kind = "info" if message_key in (None, "missing", "signed_out") else "error"
    body = text.replace("{{message}}", html.escape(message)).replace("{{kind}}", kind if message else "none")
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def mount_dashboard(app: FastAPI, service: Executive, token: str | None) -> None:
    """Add ``/``, ``/login``, ``/logout``, ``/auth/check``, ``/download/...`` and ``/static`` to ``app``."""
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        if not _signed_in(request, token):
            reason = "expired" if request.cookies.get(COOKIE_NAME) else None
            return RedirectResponse("/login" + (f"?error={reason}" if reason else ""), status_code=303)
        return HTMLResponse((WEB_DIR / "index.html").read_text(encoding="utf-8"), headers=_HEADERS)

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        if token is None:
            return RedirectResponse("/", status_code=303)
        return _login_page(request.query_params.get("error"))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = await _read_limited(request, MAX_LOGIN_BODY)
        if body is None:
            return _login_page("wrong", status=413)
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        presented = (fields.get("token") or [""])[0].strip()
        if not presented:
            return _login_page("missing", status=401)
        if not token_matches(token, presented):
            return _login_page("wrong", status=401)
        resp = RedirectResponse("/", status_code=303)
        secure = request.url.scheme == "https"  # served with --tls-cert: the browser never sends it in clear
        resp.set_cookie(COOKIE_NAME, presented, httponly=True, samesite="strict", path="/", secure=secure)
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout() -> Response:
        resp = RedirectResponse("/login?error=signed_out", status_code=303)
        resp.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return resp

    @app.get("/auth/check", include_in_schema=False)
    async def auth_check(request: Request) -> Response:
        """200 while the cookie is valid; the page asks before each reconnect whether to sign in again."""
        if _signed_in(request, token):
            return JSONResponse({"signed_in": True}, headers={"Cache-Control": "no-store"})
        return JSONResponse({"signed_in": False}, status_code=401, headers={"Cache-Control": "no-store"})

    @app.get("/download/{task}/{stream}", include_in_schema=False)
    async def download(request: Request, task: str, stream: str) -> Response:
        """A task's whole log as a file (the page shows windows of it; this saves all of it)."""
        if not _signed_in(request, token):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if stream not in ("stdout", "stderr"):
            return JSONResponse({"error": "stream must be stdout or stderr"}, status_code=400)
        try:
            row = await service.task_lookup(int(task) if task.isdigit() else task)
        except ExecutiveError as exc:
            return JSONResponse({"error": exc.message}, status_code=404)
        path = service.task_log_path(row["id"], stream)
        if not path.exists():
            return Response(b"", media_type="text/plain", headers={"Content-Disposition": _attachment(row, stream)})
        return FileResponse(
            path,
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": _attachment(row, stream), "Cache-Control": "no-store"},
        )


def _attachment(row: TaskInfo, stream: str) -> str:
    return f'attachment; filename="task-{row["id"]}-{stream}.log"'


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` bytes."""
    out = bytearray()
    async for chunk in request.stream():
        out += chunk
        if len(out) > limit:
            return None
    return bytes(out)
