from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus

from executor.domain.enums import SignalSource, SignalStatus
from executor.service import explanation as explanation_module
from executor.service.explanation import Finished, explanation, wait_for_outcome
from executor.signals.auth import InsecureBind
from executor.signals.inbox import Inbox
from executor.signals.websocket import OutcomePush, WebSocketIngress
from executor.store.store import Store
from tests.support.adapter_sim import eventually
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
    async with asyncio.timeout(5):
        answer = json.loads(await connection.recv())
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
        assert row is not None and row.source is SignalSource.WEBSOCKET and row.received_at == NOW


async def test_one_answer_per_message_in_order_on_one_connection(
    ingress: WebSocketIngress, store: Store
) -> None:
    async with connect(ingress.url) as ws:
        for message in (signal_body("a"), signal_body("b", side="up"), b"\xff", signal_body("a"), "[]"):
            await ws.send(message)
        answers = []
        for _ in range(5):
            async with asyncio.timeout(5):
                answers.append(json.loads(await ws.recv()))
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
                async with asyncio.timeout(5):
                    await ws.recv()
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1011
    finally:
        await server.stop()
        await broken.close()


@SQLITE_ONLY
async def test_stop_closes_client_connections_and_the_port(ingress: WebSocketIngress) -> None:
    url = ingress.url
    async with connect(url) as ws:
        await ingress.stop()
        async with asyncio.timeout(5):
            await ws.wait_closed()
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
        await eventually(lambda: server.open_connections < 3)
        async with connect(server.url) as again:
            assert (await ask(again, signal_body("capped-1")))["status"] == "queued"
        for connection in held[1:]:
            await connection.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /signals HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")  # never finished
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        assert asyncio.get_running_loop().time() - started < 2.0
        writer.close()
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def pushing(
    inbox: Inbox, store: Store, give_up_seconds: float, finished: Finished | None = None
) -> AsyncIterator[WebSocketIngress]:
    """The daemon's wiring: outcomes found by the same lookup as the webhook's `?wait=`, looked up again when
    the consumer tells `finished` it is done with the signal."""
    waiter = OutcomePush(
        lambda signal_id, seconds: wait_for_outcome(store, ACCOUNT, signal_id, seconds, finished),
        give_up_seconds,
    )
    server = WebSocketIngress(inbox, "127.0.0.1", 0, outcomes=waiter)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def fail_signal(store: Store, signal_id: str, error: str) -> None:
    """What the consumer does with a signal it cannot carry out."""
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, signal_id)
        assert row is not None
        assert await tx.signals.settle(row.id, SignalStatus.FAILED, NOW, error)


def outcome_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("websocket-outcome:")]


@SQLITE_ONLY
async def test_the_outcome_follows_its_answer_on_the_same_connection_and_later_signals_are_not_held_up(
    open_inbox: Inbox, store: Store
) -> None:
    async with pushing(open_inbox, store, give_up_seconds=20) as server, connect(server.url) as ws:
        assert (await ask(ws, signal_body("ws-out-1")))["status"] == "queued"
        assert (await ask(ws, signal_body("ws-out-2")))["status"] == "queued"  # while 1 is waited for
        await fail_signal(store, "ws-out-1", "no open position on SOL/USDT:USDT")
        async with asyncio.timeout(5):
            pushed = json.loads(await ws.recv())
        assert pushed == {
            "id": "ws-out-1",
            "status": "failed",
            "accepted": False,
            "message": "no open position on SOL/USDT:USDT",
        }
        assert (await ask(ws, signal_body("ws-out-1")))["status"] == "duplicate"
        async with asyncio.timeout(5):
            assert json.loads(await ws.recv())["status"] == "failed"  # a resend's too


@SQLITE_ONLY
async def test_a_pushed_outcome_is_looked_up_when_the_consumer_is_done_not_polled_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling every 100 ms ran its reads on the loop the decision runs on (~4 ms on each signal's path)."""
    lookups: list[str] = []

    async def counted(store: Store, account: str, signal_id: str) -> dict[str, object] | None:
        lookups.append(signal_id)
        return await explanation(store, account, signal_id)

    monkeypatch.setattr(explanation_module, "explanation", counted)
    finished = Finished()
    inbox = Inbox(store, ACCOUNT, lambda: NOW, on_queued=lambda row: finished.queued(row.signal_id))
    async with pushing(inbox, store, 20, finished) as server, connect(server.url) as ws:
        assert (await ask(ws, signal_body("ws-told-1")))["status"] == "queued"
        await asyncio.sleep(0.5)  # what is asserted is an absence: no lookup while the consumer works
        assert lookups == []
        await fail_signal(store, "ws-told-1", "no open position on SOL/USDT:USDT")
        finished.done("ws-told-1")
        async with asyncio.timeout(5):
            pushed = json.loads(await ws.recv())
        assert (pushed["id"], pushed["status"]) == ("ws-told-1", "failed")
        assert lookups == ["ws-told-1"]
        assert (await ask(ws, signal_body("ws-told-1")))["status"] == "duplicate"
        async with asyncio.timeout(5):
            assert json.loads(await ws.recv())["status"] == "failed"  # a resend's, looked up at once
    assert lookups == ["ws-told-1", "ws-told-1"]


@SQLITE_ONLY
async def test_an_outcome_not_settled_within_the_give_up_time_is_sent_as_it_stands(
    open_inbox: Inbox, store: Store
) -> None:
    async with pushing(open_inbox, store, give_up_seconds=0.3) as server, connect(server.url) as ws:
        assert (await ask(ws, signal_body("ws-slow-1")))["status"] == "queued"
        async with asyncio.timeout(5):
            pushed = json.loads(await ws.recv())
    assert (pushed["id"], pushed["status"]) == ("ws-slow-1", "queued")
    assert "no outcome within 0.3 s; GET /signals/ws-slow-1" in pushed["message"]


@SQLITE_ONLY
async def test_a_client_that_disconnects_leaves_no_outcome_waiting_behind(
    open_inbox: Inbox, store: Store
) -> None:
    async with pushing(open_inbox, store, give_up_seconds=60) as server:
        async with connect(server.url) as ws:
            for signal_id in ("gone-1", "gone-2", "gone-3"):
                assert (await ask(ws, signal_body(signal_id)))["status"] == "queued"
            waiting = outcome_tasks()
            assert len(waiting) == 3
        _, still_waiting = await asyncio.wait(waiting, timeout=5)
        assert not still_waiting and all(task.cancelled() for task in waiting)


async def test_a_cancelled_outcome_lookup_lets_its_read_hand_the_connection_back_cleanly(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender's disconnect cancels its pushes; one cancelled while its read's session hands the
    connection back interrupted the pool's rollback ('Exception during reset or similar', an error line
    in the e2e duplicate test at load 10) and the connection was thrown away."""
    lookup = asyncio.create_task(wait_for_outcome(store, ACCOUNT, "gone-1", 60))
    resets: list[bool] = []

    def cancel_the_push(*_: object) -> None:
        if not resets:
            lookup.cancel()
        resets.append(True)

    handed_back = asyncio.Event()
    event.listen(store.engine.sync_engine.pool, "reset", cancel_the_push)
    event.listen(store.engine.sync_engine.pool, "checkin", lambda *_: handed_back.set())
    with caplog.at_level("ERROR", logger="sqlalchemy.pool"), pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await lookup
    async with asyncio.timeout(5):
        await handed_back.wait()
    assert resets
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.pool")] == []
