"""The HTTP surface: liveness, readiness (and, as the daemon grows, metrics, status and the webhook)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from executor.observability.metrics import Metrics
from executor.service.access import OPEN_PATHS, RequireCredentials
from executor.service.connections import DEFAULT_LIMITS, ConnectionLimits, guarded_protocol
from executor.service.dashboard.session import Sessions
from executor.service.state import ServiceState
from executor.signals.auth import Authenticator

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


class Readiness(BaseModel):
    ready: bool
    reason: str | None
    components: dict[str, str]
    """Each watched part (ingress sources, the database): "ok" or what is wrong with it."""
    streams: dict[str, dict[str, Any]] = {}
    """Each market stream: state (connecting | live | down), age_seconds of its last message, reconnects,
    problem. Shown, not judged: prices come from REST while a stream is down."""


def build_app(
    state: ServiceState,
    *,
    routers: Sequence[APIRouter] = (),
    metrics: Metrics | None = None,
    status: StatusProvider | None = None,
    authenticator: Authenticator | None = None,
    open_paths: Sequence[str] = (),
    sessions: Sessions | None = None,
) -> FastAPI:
    """The app; with an `authenticator` holding a secret, every path but /health, /ready and
    `open_paths` (`/path`, or `METHOD /path` for one method: routes that authenticate themselves, like
    `POST /signals`) needs the secret, or a
    dashboard session cookie from `sessions`."""
    app = FastAPI(title="executor", docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    if authenticator is not None:
        app.add_middleware(
            RequireCredentials,
            authenticator=authenticator,
            clock=lambda: datetime.now(UTC),
            open_paths=OPEN_PATHS | set(open_paths),
            sessions=sessions,
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process and its event loop answer."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        responses={
            200: {"model": Readiness, "description": "ready: reconciled with the exchange, taking signals"},
            503: {
                "model": Readiness,
                "description": "not ready: starting, reconciling, standby, stopping, or a part failing",
            },
        },
    )
    async def ready() -> JSONResponse:
        """Readiness: 200 once start-up finished, until shutdown begins, while every watched part works."""
        components = state.components()
        ready, reason = state.ready, state.not_ready_reason
        body = {"ready": ready, "reason": reason, "components": components, "streams": state.streams()}
        return JSONResponse(body, status_code=200 if ready else 503)

    if metrics is not None:
        registry = metrics

        @app.get(
            "/metrics",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
        )
        async def prometheus() -> Response:
            """Prometheus text format: signals, decisions, orders, latency, equity, day loss, breaker."""
            return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)

    if status is not None:
        report = status

        @app.get("/status")
        async def current_status() -> dict[str, Any]:
            """Breaker, the day's loss and limit, equity, positions with their stops, open orders."""
            return await report()

    return app


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        *,
        listener: str = "ingress.http",
    ) -> None:
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.set_inheritable(True)
        self.host, self.port = host, self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=guarded_protocol(limits, listener),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections the server holds now (a refused one is gone once aborted): what tests wait on."""
        return len(self._server.server_state.connections)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()
