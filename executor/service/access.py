"""Who may read the HTTP port: with `ingress.secret` set, everything but liveness and readiness needs it.

`/status`, `/metrics` and `/openapi.json` tell a stranger the positions, the equity and the schema, so
they take the same header credentials as signals (`Authorization: Bearer`, `X-Token`, or a signature
over the empty body). `/health` and `/ready` stay open for orchestrators' probes; `POST /signals` is
authenticated by the inbox, which also reads a body `token`. A browser signs in once at `/login` and
then holds a session cookie (executor/service/dashboard/session.py); a page it asks for without one
is redirected there instead of answered 401.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Final
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.observability.logging import get_logger
from executor.service.dashboard.session import Sessions
from executor.signals.auth import Authenticator, Credentials, Unauthorized

log = get_logger("executor.service.access")

OPEN_PATHS: Final = frozenset({"/health", "/ready"})
LOGIN_PATH: Final = "/login"


class RequireCredentials:
    """ASGI middleware answering 401 before the route runs when a request does not prove the secret."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        clock: Callable[[], datetime],
        open_paths: Collection[str] = OPEN_PATHS,
        sessions: Sessions | None = None,
    ) -> None:
        self._app = app
        self._authenticator = authenticator
        self._clock = clock
        self._open = frozenset(open_paths)
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._authenticator.required or self._is_open(scope):
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        credentials = Credentials.from_headers(headers)
        try:
            self._authenticator.check_request(credentials, self._clock())
        except Unauthorized as refused:
            if credentials == Credentials() and self._by_session(scope, headers):
                await self._app(scope, receive, send)
                return
            if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                # A browser without a session: to the login form rather than a JSON 401.
                target = f"{LOGIN_PATH}?next={quote(scope['path'])}"
                await RedirectResponse(target, status_code=303)(scope, receive, send)
                return
            log.warning("http refused: unauthorized", path=scope["path"], reason=str(refused))
            body = {"status": "unauthorized", "errors": [{"field": "auth", "message": str(refused)}]}
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _is_open(self, scope: Scope) -> bool:
        """An open path, or an open `METHOD /path` (`POST /signals` is open, `GET /signals` is not)."""
        return scope["path"] in self._open or f"{scope['method']} {scope['path']}" in self._open

    def _by_session(self, scope: Scope, headers: Headers) -> bool:
        """A request with no header credential that the dashboard's session cookie authenticates."""
        if self._sessions is None:
            return False
        cookies = HTTPConnection(scope).cookies
        return self._sessions.admits(scope["method"], cookies, headers, self._clock())
