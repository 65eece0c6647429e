from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus

from executor.signals.auth import InsecureBind
from executor.signals.inbox import Inbox
from executor.signals.websocket import WebSocketIngress
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET, SQLITE_ONLY, counts, signal_body


@pytest.fixture
async def ingress(open_inbox: Inbox) -> AsyncIterator[WebSocketIngress]:
    server = WebSocketIngress(open_inbox, "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def secured(secured_inbox: Inbox) -> AsyncIterator[WebSocketIngress]:
    server = WebSocketIngress(secured_inbox, "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def ask(connection: ClientConnection, message: bytes | str) -> dict[str, Any]:
    await connection.send(message)
    answer = json.loads(await asyncio.wait_for(connection.recv(), 5))
    assert isinstance(answer, dict)
    return answer


async def test_a_signal_is_stored_when_its_queued_answer_arrives(
    ingress: WebSocketIngress, store: Store
) -> None:
    assert ingress.port > 0 and ingress.url == f"ws://127.0.0.1:{ingress.port}/signals"
    async with connect(ingress.url) as ws:
        answer = await ask(ws, signal_body("ws-1").decode())
        assert answer == {"signal_id": "ws-1", "status": "queued", "errors": []}
        async with store.transaction() as tx:
            row = await tx.signals.get(ACCOUNT, "ws-1")
        assert row is not None and row.source == "websocket" and row.received_at == NOW


async def test_one_answer_per_message_in_order_on_one_connection(
    ingress: WebSocketIngress, store: Store
) -> None:
    async with connect(ingress.url) as ws:
        for message in (signal_body("a"), signal_body("b", side="up"), b"\xff", signal_body("a"), "[]"):
            await ws.send(message)
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
    assert [(a["signal_id"], a["status"]) for a in answers] == [
        ("a", "queued"),
        ("b", "invalid"),
        (None, "invalid"),
        ("a", "duplicate"),
        (None, "invalid"),
    ]
    assert answers[1]["errors"] == [{"field": "side", "message": 'must be "long" or "short" (lower case)'}]
    assert "not valid UTF-8" in answers[2]["errors"][0]["message"]
    assert await counts(store) == (1, 3)


@SQLITE_ONLY
async def test_an_oversized_message_is_answered_invalid_and_the_connection_stays_usable(
    ingress: WebSocketIngress, store: Store
) -> None:
    async with connect(ingress.url, max_size=None) as ws:
        answer = await ask(ws, b" " * 100_000)
        assert answer["status"] == "invalid" and "at most 65536 bytes" in answer["errors"][0]["message"]
        assert (await ask(ws, signal_body("after")))["status"] == "queued"


@SQLITE_ONLY
async def test_only_the_signals_path_is_served(ingress: WebSocketIngress) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://127.0.0.1:{ingress.port}/other"):
            pass
    assert caught.value.response.status_code == 404


async def test_with_a_secret_the_handshake_needs_the_bearer_token(
    secured: WebSocketIngress, store: Store
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(secured.url, additional_headers=headers):
                pass
        assert caught.value.response.status_code == 401
    async with connect(secured.url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as ws:
        assert (await ask(ws, signal_body("auth-1")))["status"] == "queued"
    assert await counts(store) == (1, 0)


@SQLITE_ONLY
async def test_without_a_secret_a_public_bind_is_refused(open_inbox: Inbox) -> None:
    with pytest.raises(InsecureBind, match=re.escape("ingress.websocket = '0.0.0.0:0'")):
        await WebSocketIngress(open_inbox, "0.0.0.0", 0).start()


@SQLITE_ONLY
async def test_with_a_secret_a_public_bind_is_allowed(secured_inbox: Inbox) -> None:
    server = WebSocketIngress(secured_inbox, "0.0.0.0", 0)
    await server.start()
    try:
        assert server.port > 0
    finally:
        await server.stop()


async def test_an_inbox_that_cannot_store_closes_with_1011_and_never_says_queued(sqlite_url: str) -> None:
    broken = Store.open(sqlite_url)  # not migrated: every write fails
    server = WebSocketIngress(Inbox(broken, ACCOUNT, lambda: NOW), "127.0.0.1", 0)
    await server.start()
    try:
        async with connect(server.url) as ws:
            await ws.send(signal_body())
            with pytest.raises(ConnectionClosedError) as caught:
                await asyncio.wait_for(ws.recv(), 5)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1011
    finally:
        await server.stop()
        await broken.close()


@SQLITE_ONLY
async def test_stop_closes_client_connections_and_the_port(ingress: WebSocketIngress) -> None:
    url = ingress.url
    async with connect(url) as ws:
        await ingress.stop()
        await asyncio.wait_for(ws.wait_closed(), 5)
    with pytest.raises(ConnectionRefusedError):
        async with connect(url, open_timeout=2):
            pass


@SQLITE_ONLY
async def test_connections_beyond_the_cap_are_closed_at_once_and_a_slow_handshake_is_cut(
    open_inbox: Inbox,
) -> None:
    server = WebSocketIngress(open_inbox, "127.0.0.1", 0, max_connections=3, handshake_timeout=0.5)
    await server.start()
    try:
        held = [await connect(server.url) for _ in range(3)]
        started = asyncio.get_running_loop().time()
        with pytest.raises((ConnectionError, InvalidHandshake, TimeoutError, EOFError)):
            await connect(server.url, open_timeout=3)
        assert asyncio.get_running_loop().time() - started < 1.0
        await held[0].close()
        await asyncio.sleep(0.05)
        async with connect(server.url) as again:
            assert (await ask(again, signal_body("capped-1")))["status"] == "queued"
        for connection in held[1:]:
            await connection.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /signals HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")  # never finished
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert asyncio.get_running_loop().time() - started < 2.0
        writer.close()
    finally:
        await server.stop()
