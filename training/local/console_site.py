"""The web console's static files (training/local/console/) beside the API in `mediarec serve`:
``/console/`` serves them, ``/`` redirects there, everything else goes to the API (and its
door). The files hold no data and no key, so they are public; the page asks for a key and
reads the API with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

CONSOLE_DIR = Path(__file__).parent / "console"
SECURITY_HEADERS = {
    # scripts and styles only from this server; the API may be another origin (a deployed
    # API with the console served from here), so fetches may go anywhere over HTTP(S)
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' https: http:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


class _Headed:
    """``app`` with SECURITY_HEADERS on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_headed(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode().lower() not in SECURITY_HEADERS]  # fmt: skip
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_headed)


class _WithConsole:
    """``/`` redirects to the console, ``/console`` and below are its files, and every other
    path goes to the API untouched (a router's path patterns would not match every path the API
    must answer itself, one with a percent-encoded newline for one)."""

    def __init__(self, api: ASGIApp) -> None:
        self.api = api
        self.files = _Headed(StaticFiles(directory=CONSOLE_DIR, html=True))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else None
        if path == "/" and scope.get("method") in ("GET", "HEAD"):
            await _Headed(RedirectResponse("/console/", status_code=307))(scope, receive, send)
        elif path is not None and (path == "/console" or path.startswith("/console/")):
            if path == "/console":
                await _Headed(RedirectResponse("/console/", status_code=307))(scope, receive, send)
                return
            # StaticFiles serves scope["path"] less scope["root_path"]
            inner = {**scope, "root_path": scope.get("root_path", "") + "/console"}
            try:
                await self.files(inner, receive, send)
            except HTTPException as error:  # no such file, or a method other than GET/HEAD
                code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
                body = {"error": code or "http_error", "message": str(error.detail), "errors": []}
                answer = JSONResponse(body, error.status_code, headers=dict(error.headers or {}))
                await _Headed(answer)(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def with_console(api: ASGIApp) -> ASGIApp:
    """``api`` with the console at /console/."""
    return _WithConsole(api)
