"""The HTTP listener's guard against slow and piled-up clients: a connection cap and read deadlines.

uvicorn reads request headers for as long as a client cares to send them and accepts every
connection it is offered, so a few hundred clients trickling partial headers hold a file descriptor
each until the process runs out and nothing else can connect (the exchange included). Here:

- at most `max_connections` are open on the listener; one more is closed as soon as it is accepted;
- a request's headers must be complete `header_timeout` seconds after the connection opened (or
  after the previous response on a kept-alive connection), else 408 and closed;
- its body must be complete `body_timeout` seconds after its headers, else the connection is closed
  (the route sees the client disconnect).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from executor.observability.logging import get_logger

log = get_logger("executor.service.connections")

REQUEST_TIMEOUT: Final = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 10.0


DEFAULT_LIMITS: Final = ConnectionLimits()


def guarded_protocol(limits: ConnectionLimits, listener: str) -> type[H11Protocol]:  # noqa: C901 - counts the methods of the class it defines, each of them small
    """uvicorn's h11 protocol with `limits` applied; `listener` names it in log lines."""

    class Guarded(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _reading_body = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                log.warning(
                    "connection refused: too many open",
                    listener=listener,
                    limit=limits.max_connections,
                )
                transport.abort()
                return
            self._arm(limits.header_timeout, headers=True)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._deadline is None:
                    self._arm(limits.header_timeout, headers=True)
            elif state is h11.SEND_BODY:
                if not self._reading_body:
                    self._arm(limits.body_timeout, headers=False)
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            self._disarm()
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm(limits.header_timeout, headers=True)  # the next request, if any, starts now

        def _arm(self, seconds: float, *, headers: bool) -> None:
            self._disarm()
            self._reading_body = not headers
            self._deadline = self.loop.call_later(seconds, self._expired, headers)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._reading_body = False

        def _expired(self, headers: bool) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if headers:
                log.warning(
                    "request headers too slow: closed", listener=listener, within_s=limits.header_timeout
                )
                self.transport.write(REQUEST_TIMEOUT)
            else:
                log.warning("request body too slow: closed", listener=listener, within_s=limits.body_timeout)
            self.transport.close()

    return Guarded
