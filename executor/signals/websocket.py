"""WebSocket ingress at ws://HOST:PORT/signals: one JSON signal per message, one JSON answer per message.

The Bearer token is checked at the handshake (401 before any message is read), which must be done
within `handshake_timeout`; at most `max_connections` are open at once (more are closed as soon as
they are accepted). Messages on one connection are handled in order, so answers come back in the
order the signals were sent. When the inbox cannot store, the connection is closed with 1011 instead
of answering, so the sender knows the signal was not received and resends it (a resend that did land
is answered as a duplicate).

With `outcomes`, a `queued` or `duplicate` answer is followed later, on the same connection, by the
signal's outcome (`{"id", "status", "accepted", "reason", …}`) once the daemon has settled it, found
by the same lookup as the webhook's `?wait=`. Each push is its own task, so the connection goes on
reading signals meanwhile; it gives up after `OutcomePush.give_up_seconds` (then the outcome as it
stands, `queued`, with a message), and the connection's pending pushes are cancelled when it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from asyncio import BaseTransport
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from executor.domain.enums import SignalSource
from executor.observability.logging import get_logger
from executor.signals.auth import Credentials, Unauthorized, ensure_safe_bind
from executor.signals.inbox import Inbox, InboxUnavailable
from executor.signals.result import IngressResult, IngressStatus, OutcomeWaiter
from executor.signals.schema import MAX_BODY_BYTES

log = get_logger("executor.signals.websocket")

PATH: Final = "/signals"
MAX_FRAME_BYTES: Final = 16 * MAX_BODY_BYTES
"""Messages up to this size get an `invalid` answer; beyond it the connection is closed (1009)."""
INTERNAL_ERROR: Final = 1011
MAX_OUTCOME_LOOKUPS: Final = 16
"""Outcome lookups one connection runs at once (each polls the database); more wait their turn, within
the same give-up time."""
_UNSETTLED: Final = ("queued", "unknown")


@dataclass(frozen=True, slots=True)
class OutcomePush:
    """How outcomes go back to a WebSocket sender: the daemon's lookup, and how long to wait for one."""

    wait_for_outcome: OutcomeWaiter
    give_up_seconds: float


class _Pushes:
    """One connection's outcome pushes in flight: a task each, all cancelled when the connection ends."""

    def __init__(self, connection: ServerConnection, push: OutcomePush) -> None:
        self._connection = connection
        self._push = push
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns = asyncio.Semaphore(MAX_OUTCOME_LOOKUPS)

    def follow(self, result: IngressResult) -> None:
        if result.signal_id is None or result.status not in (IngressStatus.QUEUED, IngressStatus.DUPLICATE):
            return
        task = asyncio.create_task(
            self._deliver(result.signal_id), name=f"websocket-outcome:{result.signal_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, signal_id: str) -> None:
        clock = asyncio.get_running_loop().time
        deadline = clock() + self._push.give_up_seconds
        try:
            async with self._turns:
                outcome = await self._push.wait_for_outcome(signal_id, max(0.0, deadline - clock()))
        except Exception as exc:  # the database, mostly: the answer stands, GET /signals/{id} has it later
            log.warning("websocket outcome lookup failed", signal_id=signal_id, error=str(exc))
            outcome = {"id": signal_id, "status": "unknown"}
        if outcome["status"] in _UNSETTLED:
            outcome["message"] = (
                f"no outcome within {self._push.give_up_seconds:g} s; "
                f"GET /signals/{signal_id} answers it once it is settled"
            )
        with contextlib.suppress(ConnectionClosed):
            await self._connection.send(json.dumps(outcome))

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class WebSocketIngress:
    def __init__(
        self,
        inbox: Inbox,
        host: str,
        port: int,
        *,
        setting: str = "ingress.websocket",
        max_connections: int = 256,
        handshake_timeout: float = 10.0,
        outcomes: OutcomePush | None = None,
    ) -> None:
        self._inbox = inbox
        self._outcomes = outcomes
        self.host = host
        self._requested_port = port
        self._setting = setting
        self._server: Server | None = None
        self._max_connections = max_connections
        self._handshake_timeout = handshake_timeout
        self._open = 0

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); only valid after start()."""
        if self._server is None:
            raise RuntimeError("the WebSocket ingress is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def problem(self) -> str | None:
        """None while listening (for /ready and /metrics)."""
        return None if self._server is not None and self._server.is_serving() else "not listening"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{PATH}"

    @property
    def open_connections(self) -> int:
        """Connections open now, a refused one until it is gone: what tests wait on."""
        return self._open

    async def start(self) -> None:
        """Refuses (InsecureBind) to listen beyond loopback without a secret."""
        secured = self._inbox.authenticator.required
        ensure_safe_bind(f"{self.host}:{self._requested_port}", secured, self._setting)
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._handshake,
            max_size=MAX_FRAME_BYTES,
            server_header=None,
            open_timeout=self._handshake_timeout,
            create_connection=self._capped(),
        )
        log.info(
            "websocket ingress listening",
            url=self.url,
            authentication="bearer" if secured else "none (loopback only)",
        )

    async def stop(self) -> None:
        """Stop accepting, close connections, and wait for messages in flight to be stored."""
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None
        log.info("websocket ingress stopped")

    def _capped(self) -> type[ServerConnection]:
        """Connections that close themselves at once when `max_connections` are already open, so
        idle or slow clients cannot take every file descriptor (the handshake has `open_timeout`)."""
        ingress = self

        class Capped(ServerConnection):
            def connection_made(self, transport: BaseTransport) -> None:
                super().connection_made(transport)
                ingress._open += 1
                if ingress._open > ingress._max_connections:
                    log.warning(
                        "connection refused: too many open",
                        listener=ingress._setting,
                        limit=ingress._max_connections,
                    )
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                ingress._open -= 1
                super().connection_lost(exc)

        return Capped

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"signals are accepted at {PATH}\n")
        try:
            self._inbox.authenticator.check_bearer(_credentials(request.headers).bearer)
        except Unauthorized as refused:
            log.warning("websocket refused: unauthorized", remote=_remote(connection), reason=str(refused))
            return connection.respond(HTTPStatus.UNAUTHORIZED, f"{refused}\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        credentials = _credentials(connection.request.headers if connection.request else Headers())
        remote = _remote(connection)
        log.info("websocket client connected", remote=remote)
        pushes = _Pushes(connection, self._outcomes) if self._outcomes is not None else None
        try:
            async for message in connection:
                try:
                    result = await self._inbox.submit(message, SignalSource.WEBSOCKET, credentials)
                except InboxUnavailable:
                    await connection.close(INTERNAL_ERROR, "the inbox cannot store signals; resend later")
                    return
                await connection.send(json.dumps(result.as_dict()))
                if pushes is not None:
                    pushes.follow(result)
        except ConnectionClosed:
            pass
        finally:
            if pushes is not None:
                await pushes.cancel()
            log.info("websocket client disconnected", remote=remote)


def _credentials(headers: Headers) -> Credentials:
    """Only the Bearer header counts on the WebSocket; signing headers are an HTTP matter."""
    return Credentials(bearer=Credentials.from_headers(headers).bearer)


def _remote(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "unknown"
