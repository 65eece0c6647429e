"""The HTTP listener against slow and piled-up clients, over real sockets to the real uvicorn stack."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from executor.service.connections import ConnectionLimits
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.signals.inbox import Inbox
from executor.signals.webhook import signals_router
from executor.store.store import Store
from tests.support.adapter_sim import eventually

LIMITS = ConnectionLimits(max_connections=20, header_timeout=0.5, body_timeout=0.5)


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    http = HttpServer(build_app(ServiceState()), "127.0.0.1", 0, LIMITS)
    await http.start()
    try:
        yield http
    finally:
        await http.stop()


async def connect(server: HttpServer, sent: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    if sent:
        writer.write(sent)
        await writer.drain()
    return reader, writer


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[float, bytes]:
    """How long until the server closed the connection, and what it sent before."""
    started = time.monotonic()
    received = b""
    try:
        while True:
            async with asyncio.timeout(seconds):
                chunk = await reader.read(4096)
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


async def health(server: HttpServer) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
        return (await client.get("/health")).status_code


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /heal"],
    ids=["nothing", "partial headers", "keep-alive then partial headers"],
)
async def test_headers_not_complete_in_time_get_408_and_the_connection_closed(
    server: HttpServer, sent: bytes
) -> None:
    reader, writer = await connect(server, sent)
    elapsed, received = await closed_within(reader, 5)
    writer.close()
    assert 0.4 < elapsed < 2.0
    assert received.endswith(
        b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    )
    if b"\r\n\r\n" in sent:
        assert received.startswith(b"HTTP/1.1 200 OK")


async def test_a_body_that_does_not_arrive_in_time_closes_the_connection_and_nothing_is_stored(
    migrated_sqlite_url: str,
) -> None:
    store = Store.open(migrated_sqlite_url)
    inbox = Inbox(store, "main", lambda: datetime.now(UTC))
    http = HttpServer(build_app(ServiceState(), routers=[signals_router(inbox)]), "127.0.0.1", 0, LIMITS)
    await http.start()
    try:
        head = b"POST /signals HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n"
        reader, writer = await connect(http, head + b'{"id": "slow-1", ')
        elapsed, received = await closed_within(reader, 5)
        writer.close()
        async with store.transaction() as tx:
            assert await tx.signals.get("main", "slow-1") is None
            assert await tx.rejected.count("main") == 0
    finally:
        await http.stop()
        await store.close()
    assert 0.4 < elapsed < 2.0 and received == b""


async def test_connections_beyond_the_cap_are_closed_at_once_and_others_still_get_in_later(
    server: HttpServer,
) -> None:
    held = [await connect(server) for _ in range(LIMITS.max_connections)]
    await eventually(lambda: server.open_connections == LIMITS.max_connections)
    reader, writer = await connect(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    elapsed, received = await closed_within(reader, 5)
    writer.close()
    assert elapsed < 0.3 and received == b""
    for _, held_writer in held:
        held_writer.close()
    await eventually(lambda: server.open_connections == 0)
    assert await health(server) == 200


async def test_a_thousand_slow_clients_hold_no_more_than_the_cap_and_are_all_let_go(
    server: HttpServer,
) -> None:
    """The attack that exhausted file descriptors: 1,100 connections trickling partial headers."""

    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_descriptors()
    clients = await asyncio.gather(*(connect(server, b"GET / HTTP/1.1\r\nX-Slow: ") for _ in range(1100)))
    refused = 1100 - LIMITS.max_connections

    def dealt_with_all() -> bool:
        """The server refused all but its cap (closed at once) and holds the cap, before their deadline."""
        gone = sum(reader.at_eof() or reader.exception() is not None for reader, _ in clients)
        return gone >= refused and server.open_connections == LIMITS.max_connections

    await eventually(dealt_with_all)
    # The clients hold 1,100 sockets in this process; the server may hold at most its cap of the other ends.
    assert open_descriptors() - before <= 1100 + LIMITS.max_connections + 5
    for reader, writer in clients:  # raises TimeoutError for a connection the server still holds
        await closed_within(reader, LIMITS.header_timeout + 1)
        writer.close()
    assert await health(server) == 200
