"""`executor signal send` against the real WebSocket ingress and the real webhook, each on a real inbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from executor.cli.send import BadInput, split_messages
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.signals.auth import Authenticator
from executor.signals.inbox import Inbox
from executor.signals.webhook import signals_router
from executor.signals.websocket import WebSocketIngress
from executor.store.store import Store
from harness.ports import free_port
from tests.support.cli import ACCOUNT, cli_env, invoke, run_executor

SECRET = "ops-secret-0123456789"
SQLITE_ONLY = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
"""The transport is under test here, not the database."""


def signal_text(signal_id: str, stop: str = "74.10", **extra: Any) -> str:
    """A signal as a user writes it: prices as JSON numbers, with their trailing zeros."""
    fields = "".join(f', "{key}": {json.dumps(value)}' for key, value in extra.items())
    return (
        f'{{"id": "{signal_id}", "symbol": "SOL/USDT:USDT", "side": "long", '
        f'"entry": {{"type": "market"}}, "stop": {stop}{fields}}}'
    )


def inbox(store: Store, secret: str | None = None) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: datetime.now(UTC), Authenticator(secret))


@pytest.fixture
async def websocket(store: Store) -> AsyncIterator[WebSocketIngress]:
    server = WebSocketIngress(inbox(store), "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def secured_websocket(store: Store) -> AsyncIterator[WebSocketIngress]:
    server = WebSocketIngress(inbox(store, SECRET), "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def webhook(store: Store) -> AsyncIterator[HttpServer]:
    server = HttpServer(
        build_app(ServiceState(), routers=[signals_router(inbox(store, SECRET))]), "127.0.0.1", 0
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def answers(out: str) -> list[tuple[str | None, str]]:
    return [(answer["signal_id"], answer["status"]) for answer in map(json.loads, out.splitlines())]


async def stored_payload(store: Store, signal_id: str) -> dict[str, Any] | None:
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, signal_id)
    return None if row is None else row.payload


def test_one_object_an_array_or_json_lines_are_split_into_their_exact_texts() -> None:
    pretty = '{\n  "id": "a",\n  "stop": 74.10\n}\n'
    assert split_messages(pretty) == [pretty.strip()]
    assert split_messages('[ {"id": "a", "stop": 74.10} ,\n{"id": "b"}]') == [
        '{"id": "a", "stop": 74.10}',
        '{"id": "b"}',
    ]
    assert split_messages('{"id": "a"}\n\n{"id": "b"}\r\n{"id": "c"}\n') == [
        '{"id": "a"}',
        '{"id": "b"}',
        '{"id": "c"}',
    ]
    assert split_messages('\ufeff{"id": "a"}') == ['{"id": "a"}']


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a"}\n{"id": ', "signals.json: not JSON at line 2 column 8"),
        ('[{"id": "a"}, 3]', "signals.json: signal 2 is int; each signal is a JSON object"),
        ('"id"', "signals.json: signal 1 is str; each signal is a JSON object"),
        (" \n", "signals.json: holds no signal"),
        ("[]", "signals.json: holds no signal"),
    ],
)
def test_what_is_not_signals_is_named_with_where(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        split_messages(text, "signals.json")


@SQLITE_ONLY
async def test_signals_are_queued_over_the_websocket_exactly_as_written_and_a_resend_is_duplicate(
    websocket: WebSocketIngress, store: Store, migrated_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "signals.jsonl"
    path.write_text(signal_text("ws-a") + "\n" + signal_text("ws-b", stop="70.50") + "\n")
    env = cli_env(migrated_database_url, EXECUTOR__INGRESS__WEBSOCKET=f"127.0.0.1:{websocket.port}")

    code, out, err = await run_executor("signal", "send", str(path), env=env)

    assert code == 0, err
    assert answers(out) == [("ws-a", "queued"), ("ws-b", "queued")]
    first = await stored_payload(store, "ws-a")
    assert first is not None and first["stop"] == "74.10"

    again = await run_executor(
        "signal", "send", "-", "--url", websocket.url, env=env, stdin=path.read_bytes()
    )

    assert again[0] == 0, again[2]
    assert answers(again[1]) == [("ws-a", "duplicate"), ("ws-b", "duplicate")]


@SQLITE_ONLY
async def test_an_invalid_signal_gets_its_errors_and_the_exit_status_is_1(
    websocket: WebSocketIngress, store: Store, migrated_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "signals.json"
    path.write_text(f"[{signal_text('good-1')}, {signal_text('bad-1', strength=2)}]")

    code, out, _ = await run_executor(
        "signal", "send", str(path), "--url", websocket.url, env=cli_env(migrated_database_url)
    )

    assert code == 1
    good, bad = map(json.loads, out.splitlines())
    assert good["status"] == "queued"
    assert bad == {
        "signal_id": "bad-1",
        "status": "invalid",
        "errors": [{"field": "strength", "message": "must be from 0 to 1, e.g. 0.7"}],
    }
    assert await stored_payload(store, "bad-1") is None


@SQLITE_ONLY
async def test_the_websocket_secret_goes_as_a_bearer_token(
    secured_websocket: WebSocketIngress, store: Store, migrated_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "signal.json"
    path.write_text(signal_text("secure-1"))
    args = ("signal", "send", str(path), "--url", secured_websocket.url)

    code, out, err = await run_executor(
        *args, env=cli_env(migrated_database_url, EXECUTOR__INGRESS__SECRET=SECRET)
    )
    refused = await run_executor(*args, env=cli_env(migrated_database_url))

    assert code == 0, err
    assert answers(out) == [("secure-1", "queued")]
    assert refused[0] == 1 and refused[1] == ""
    assert "refused the connection: HTTP 401" in refused[2] and "EXECUTOR__INGRESS__SECRET" in refused[2]


@SQLITE_ONLY
async def test_the_webhook_gets_hmac_signed_bodies(
    webhook: HttpServer, store: Store, migrated_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "signal.json"
    path.write_text(signal_text("hook-1", take_profit=80.25))
    signed = cli_env(
        migrated_database_url,
        EXECUTOR__INGRESS__SECRET=SECRET,
        EXECUTOR__INGRESS__HTTP=f"127.0.0.1:{webhook.port}",
    )

    # --http is a flag: the file name after it is the signal, not a URL (the README's walk-through form)
    code, out, err = await run_executor("signal", "send", "--http", str(path), env=signed)
    again = await run_executor("signal", "send", str(path), "--url", f"{webhook.url}/signals", env=signed)
    wrong = await run_executor(
        "signal",
        "send",
        str(path),
        "--http",
        "--url",
        webhook.url,
        env=signed | {"EXECUTOR__INGRESS__SECRET": "wrong-secret"},
    )

    assert code == 0, err
    assert answers(out) == [("hook-1", "queued")]
    payload = await stored_payload(store, "hook-1")
    assert payload is not None and payload["take_profit"] == "80.25"
    assert again[0] == 0 and answers(again[1]) == [("hook-1", "duplicate")]
    assert wrong[0] == 1 and answers(wrong[1]) == [(None, "unauthorized")]


@SQLITE_ONLY
async def test_nothing_listening_is_a_failure_to_reach(migrated_database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "signal.json"
    path.write_text(signal_text("lost-1"))

    result = await invoke(
        ["signal", "send", str(path), "--url", f"ws://127.0.0.1:{free_port()}"],
        cli_env(migrated_database_url),
    )

    assert result.exit_code == 1 and result.stdout == ""
    assert "cannot reach ws://127.0.0.1:" in result.stderr and "/signals" in result.stderr


@SQLITE_ONLY
async def test_input_that_is_not_signals_or_a_url_of_the_wrong_kind_is_bad_input(
    migrated_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "signals.json"
    path.write_text("not json")
    env = cli_env(migrated_database_url)

    garbage = await invoke(["signal", "send", str(path)], env)
    path.write_text(signal_text("x-1"))
    clash = await invoke(["signal", "send", "--http", str(path), "--url", "ws://127.0.0.1:1"], env)
    scheme = await invoke(["signal", "send", str(path), "--url", "ftp://127.0.0.1:1/signals"], env)

    assert garbage.exit_code == 2 and "not JSON at line 1 column 1" in garbage.stderr
    assert clash.exit_code == 2
    assert clash.stderr.strip() == (
        "--http sends to the webhook: give --url an http:// or https:// URL, got 'ws://127.0.0.1:1'"
    )
    assert scheme.exit_code == 2 and "--url must be a ws://, wss://, http:// or https:// URL" in scheme.stderr
