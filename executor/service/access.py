"""Who may read the HTTP port: with `ingress.secret` set, everything but liveness and readiness needs it.

`/status`, `/metrics` and `/openapi.json` tell a stranger the positions, the equity and the schema, so
they take the same header credentials as signals (`Authorization: Bearer`, `X-Token`, or a signature
over the empty body). `/health` and `/ready` stay open for orchestrators' probes; `POST /signals` is
authenticated by the inbox, which also reads a body `token`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.observability.logging import get_logger
from executor.signals.auth import Authenticator, Credentials, Unauthorized

log = get_logger("executor.service.access")

OPEN_PATHS: Final = frozenset({"/health", "/ready"})


class RequireCredentials:
    """ASGI middleware answering 401 before the route runs when a request does not prove the secret."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        clock: Callable[[], datetime],
        open_paths: Collection[str] = OPEN_PATHS,
    ) -> None:
        self._app = app
        self._authenticator = authenticator
        self._clock = clock
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._authenticator.required or scope["path"] in self._open:
            await self._app(scope, receive, send)
            return
        try:
            self._authenticator.check_request(Credentials.from_headers(Headers(scope=scope)), self._clock())
        except Unauthorized as refused:
            log.warning("http refused: unauthorized", path=scope["path"], reason=str(refused))
            body = {"status": "unauthorized", "errors": [{"field": "auth", "message": str(refused)}]}
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)
