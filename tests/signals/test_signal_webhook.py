from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from executor.domain.enums import SignalSource
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.signals.auth import sign
from executor.signals.inbox import Inbox
from executor.signals.webhook import signals_router
from executor.signals.websocket import WebSocketIngress
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET, SQLITE_ONLY, counts, signal_body

TS = int(NOW.timestamp())


async def serve(inbox: Inbox, answer_within: float = 2.5) -> HttpServer:
    app = build_app(ServiceState())
    app.include_router(signals_router(inbox, answer_within=answer_within))
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    return server


@pytest.fixture
async def client(open_inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    server = await serve(open_inbox)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            yield http
    finally:
        await server.stop()


@pytest.fixture
async def secured_client(secured_inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    server = await serve(secured_inbox)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            yield http
    finally:
        await server.stop()


async def test_queued_is_202_and_the_row_is_stored_when_the_answer_arrives(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await client.post("/signals", content=signal_body("wh-1"))
    assert response.status_code == 202
    assert response.json() == {"signal_id": "wh-1", "status": "queued", "errors": []}
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, "wh-1")
    assert row is not None and row.source is SignalSource.WEBHOOK


async def test_a_duplicate_is_200_and_stored_once_even_when_first_sent_over_the_websocket(
    open_inbox: Inbox, client: httpx.AsyncClient, store: Store
) -> None:
    ws = WebSocketIngress(open_inbox, "127.0.0.1", 0)
    await ws.start()
    try:
        async with connect(ws.url) as connection:
            await connection.send(signal_body("both-1"))
            async with asyncio.timeout(5):
                assert '"queued"' in str(await connection.recv())
    finally:
        await ws.stop()
    response = await client.post("/signals", content=signal_body("both-1"))
    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    assert await counts(store) == (1, 0)
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, "both-1")
    assert row is not None and row.source is SignalSource.WEBSOCKET


async def test_invalid_is_400_with_the_errors_and_a_rejected_row(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await client.post("/signals", content=signal_body("bad-1", stop="abc", leverage=5))
    assert response.status_code == 400
    assert response.json()["signal_id"] == "bad-1"
    assert {e["field"] for e in response.json()["errors"]} == {"stop", "leverage"}
    assert await counts(store) == (0, 1)


@SQLITE_ONLY
async def test_a_flood_is_refused_after_the_limit_without_reading_it_all(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await client.post("/signals", content=b"{" + b" " * 2_000_000)
    assert response.status_code == 400
    assert "at most 65536 bytes" in response.json()["errors"][0]["message"]
    assert await counts(store) == (0, 1)


@SQLITE_ONLY
async def test_tradingview_text_plain_with_a_token_field_is_accepted(
    secured_client: httpx.AsyncClient, store: Store
) -> None:
    body = signal_body("tv-1", token=SECRET)
    response = await secured_client.post("/signals", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 202
    assert await counts(store) == (1, 0)


@SQLITE_ONLY
async def test_a_signed_body_is_accepted(secured_client: httpx.AsyncClient, store: Store) -> None:
    body = signal_body("signed-1")
    headers = {"X-Signature": sign(SECRET, body, TS), "X-Timestamp": str(TS)}
    response = await secured_client.post("/signals", content=body, headers=headers)
    assert (response.status_code, response.json()["status"]) == (202, "queued")


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Signature": sign("not-the-secret", signal_body(), TS), "X-Timestamp": str(TS)}, signal_body()),
        (
            {"X-Signature": sign(SECRET, signal_body(), TS - 3600), "X-Timestamp": str(TS - 3600)},
            signal_body(),
        ),
        ({}, signal_body(token="wrong")),
        ({}, signal_body()),
        ({"Authorization": "Bearer wrong"}, signal_body()),
    ],
    ids=["bad-hmac", "stale-timestamp", "wrong-token", "no-credentials", "wrong-bearer"],
)
async def test_unauthorized_is_401_and_writes_nothing(
    secured_client: httpx.AsyncClient, store: Store, headers: dict[str, str], body: bytes
) -> None:
    response = await secured_client.post("/signals", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "unauthorized" and response.json()["errors"][0]["field"] == "auth"
    assert await counts(store) == (0, 0)


@SQLITE_ONLY
async def test_a_locked_store_is_answered_503_in_time_and_the_resend_is_a_duplicate(
    migrated_sqlite_url: str, store: Store
) -> None:
    inbox = Inbox(store, ACCOUNT, lambda: NOW)
    server = await serve(inbox, answer_within=0.3)
    path = migrated_sqlite_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            started = time.monotonic()
            response = await http.post("/signals", content=signal_body("slow-1"))
            assert time.monotonic() - started < 2
            assert (response.status_code, response.json()["status"]) == (503, "unavailable")
            blocker.execute("COMMIT")
            for _ in range(100):
                if (await counts(store))[0] == 1:
                    break
                await asyncio.sleep(0.05)
            resend = await http.post("/signals", content=signal_body("slow-1"))
            assert (resend.status_code, resend.json()["status"]) == (200, "duplicate")
    finally:
        blocker.close()
        await server.stop()
    assert await counts(store) == (1, 0)
