"""Who may talk to the service, and how much they may send: one ASGI middleware.

In order, for every HTTP request:

1. On a loopback address, the ``Host`` header must name this machine (a web page elsewhere
   cannot reach the service through DNS rebinding).
2. Requests that change something (POST, PUT, PATCH, DELETE) sent by a browser must come from
   the service's own page: an ``Origin`` header, when present, must match ``Host``.
3. With a token set, every request but ``GET /health`` must carry it: ``Authorization: Bearer
   <token>``, or the cookie set by opening ``/?token=<token>`` once in a browser.
4. A request body larger than the upload limit is refused with 413 before the app sees it;
   a body within it is kept in a temporary file (not memory) while the app reads it.
"""

from __future__ import annotations

import hmac
import tempfile
from typing import IO
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nestmix.service.settings import ServiceSettings, is_loopback

__all__ = ["COOKIE", "Guard"]

COOKIE = "nestmix_token"
OPEN_PATHS = ("/health",)
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
_DRAIN_LIMIT = 64 * 2**20  # past the limit, read at most this much more before answering
SPOOL_BYTES = 2**20  # a request body beyond this goes to a temporary file, not memory


class Guard:
    """The middleware (see the module docstring).

    Parameters
    ----------
    app : ASGI app
    settings : ServiceSettings
    """

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        self.loopback = is_loopback(settings.host)
        self.token = settings.token.encode() if settings.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        host = headers.get("host", "")
        if self.loopback and not is_loopback(_hostname(host)):
            await _refuse(403, f"Host {host!r} is not this machine; the service is bound to "
                          "loopback", scope, receive, send)
            return
        origin = headers.get("origin")
        if method in _UNSAFE and origin is not None \
                and urlsplit(origin).netloc.lower() != host.lower():
            await _refuse(403, f"cross-origin request from {origin!r} refused", scope, receive,
                          send)
            return
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            offered = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
            if scope["path"] == "/" and method == "GET" and offered:
                if not self._matches(offered):
                    await _refuse(401, "wrong token", scope, receive, send)
                    return
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(COOKIE, offered, httponly=True, samesite="strict")
                await response(scope, receive, send)
                return
            if not self._matches(_bearer(headers) or _cookie(headers)):
                await _refuse(401, "this service needs a token: send 'Authorization: Bearer "
                              "<token>' (or open /?token=<token> in a browser)", scope,
                              receive, send)
                return
        if method in _UNSAFE:
            limit = self.settings.max_upload_bytes
            declared = headers.get("content-length")
            body, size = await _read_body(receive, limit)
            if body is None or (declared and declared.isdigit() and int(declared) > limit):
                if body is not None:
                    body.close()
                await _refuse(413, f"request too large ({size:,} bytes or more); the limit is "
                              f"{limit:,} bytes (nestmix serve --max-upload-mb)", scope,
                              receive, send)
                return
            try:
                await self.app(scope, _replay(body, receive), send)
            finally:
                body.close()
            return
        await self.app(scope, receive, send)

    def _matches(self, offered: str | None) -> bool:
        return offered is not None and bool(offered) and hmac.compare_digest(offered.encode(),
                                                                           self.token or b"")


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[IO[bytes] | None, int]:
    """The whole body in a temporary file (in memory up to :data:`SPOOL_BYTES`, on disk
    beyond), or (None, bytes seen) past ``limit`` (the rest is drained, up to a bound, so the
    client reads the answer instead of a reset connection)."""
    body: IO[bytes] | None = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if body is not None and size <= limit:
            body.write(chunk)
        elif body is not None:
            body.close()
            body = None
        if size > limit + _DRAIN_LIMIT:
            return None, size
        more = message.get("more_body", False)
    if body is None or size > limit:
        return None, size
    body.seek(0)
    return body, size


def _replay(body: IO[bytes], receive: Receive) -> Receive:
    """The body again, from its file, in chunks."""
    done = False

    async def replay() -> Message:
        nonlocal done
        if not done:
            chunk = body.read(SPOOL_BYTES)
            done = len(chunk) < SPOOL_BYTES
            return {"type": "http.request", "body": chunk, "more_body": not done}
        return await receive()

    return replay


async def _refuse(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
        scope, receive, send)
