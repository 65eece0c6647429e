"""`executor signal send FILE|-`: deliver signals to the running daemon and print each answer.

Each signal goes over the wire as the exact text it had in the file (numbers are never re-encoded
through a float), so what the daemon stores is what the user wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import click
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from executor.cli.access import EXIT_FAILURE, Unreachable, fail, quiet_http_client
from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit
from executor.cli.status import local_url
from executor.config.settings import Settings
from executor.signals.auth import AUTHORIZATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from executor.signals.result import IngressStatus

PATH: Final = "/signals"
ANSWER_TIMEOUT_SECONDS: Final = 10.0
OUTCOME_WAIT_SECONDS: Final = 5.0
OUTCOME_POLL_SECONDS: Final = 0.2
WEBHOOK_SCHEMES: Final = ("http", "https")
WEBSOCKET_SCHEMES: Final = ("ws", "wss")
ACCEPTED: Final = frozenset({IngressStatus.QUEUED.value, IngressStatus.DUPLICATE.value})

Answer = dict[str, Any]
OnAnswer = Callable[[Answer], None]


class BadInput(ValueError):
    """The file does not hold signals; the message says where and what to fix."""


_DECODER = json.JSONDecoder()
_BLANK = " \t\r\n"


def _skip_blank(text: str, index: int) -> int:
    while index < len(text) and text[index] in _BLANK:
        index += 1
    return index


def _decode(text: str, index: int, name: str) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{name}: not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def split_messages(text: str, name: str = "input") -> list[str]:
    """The signals in a text, each as its own exact JSON text.

    The text holds one object, a JSON array of objects, or objects one after another (one per
    line, as JSON Lines).
    """
    text = text.removeprefix("\ufeff")
    values: list[tuple[Any, str]] = []
    index = _skip_blank(text, 0)
    while index < len(text):
        value, end = _decode(text, index, name)
        values.append((value, text[index:end]))
        index = _skip_blank(text, end)
    if len(values) == 1 and isinstance(values[0][0], list):
        values = _array_items(values[0][1], name)
    if not values:
        raise BadInput(f"{name}: holds no signal; give a JSON object, an array of them, or one per line")
    for number, (value, _) in enumerate(values, start=1):
        if not isinstance(value, dict):
            kind = "an array" if isinstance(value, list) else type(value).__name__
            raise BadInput(f"{name}: signal {number} is {kind}; each signal is a JSON object")
    return [raw for _, raw in values]


def _array_items(array: str, name: str) -> list[tuple[Any, str]]:
    items: list[tuple[Any, str]] = []
    index = _skip_blank(array, 1)
    while array[index] != "]":
        value, end = _decode(array, index, name)
        items.append((value, array[index:end]))
        index = _skip_blank(array, end)
        if array[index] == ",":
            index = _skip_blank(array, index + 1)
    return items


def target_url(url: str | None, webhook: bool, settings: Settings) -> tuple[str, bool]:
    """Where to send and whether that is the webhook: `--url`'s scheme decides, else `--http`."""
    if url is None:
        if webhook:
            return local_url("http", settings.ingress.http, PATH), True
        return local_url("ws", settings.ingress.websocket, PATH), False
    parts = urlsplit(url)
    if parts.scheme not in (*WEBSOCKET_SCHEMES, *WEBHOOK_SCHEMES) or not parts.netloc:
        raise BadInput(f"--url must be a ws://, wss://, http:// or https:// URL, got {url!r}")
    if webhook and parts.scheme in WEBSOCKET_SCHEMES:
        raise BadInput(f"--http sends to the webhook: give --url an http:// or https:// URL, got {url!r}")
    full = url.rstrip("/") + PATH if parts.path in ("", "/") else url
    return full, parts.scheme in WEBHOOK_SCHEMES


async def send_websocket(
    url: str, messages: Sequence[str], secret: str | None, on_answer: OnAnswer, wait_seconds: float
) -> None:
    """One message, then its answer, in order on one connection; Unreachable when that breaks off."""
    headers = {AUTHORIZATION_HEADER: f"Bearer {secret}"} if secret else None
    answered = 0
    try:
        async with connect(url, additional_headers=headers, open_timeout=wait_seconds) as connection:
            for message in messages:
                await connection.send(message)
                async with asyncio.timeout(wait_seconds):
                    answer = json.loads(await connection.recv())
                while "signal_id" not in answer:  # an earlier signal's outcome, pushed by the daemon
                    async with asyncio.timeout(wait_seconds):
                        answer = json.loads(await connection.recv())
                answered += 1
                on_answer(answer)
    except InvalidStatus as exc:
        response = exc.response
        reason = response.body.decode("utf-8", "replace").strip() if response.body else ""
        hint = (
            " (set EXECUTOR__INGRESS__SECRET to the daemon's secret)" if response.status_code == 401 else ""
        )
        raise Unreachable(
            f"{url} refused the connection: HTTP {response.status_code} {reason}{hint}"
        ) from exc
    except ConnectionClosed as exc:
        closed = exc.rcvd
        why = f"{closed.code} {closed.reason}" if closed is not None else "without a close frame"
        raise Unreachable(
            f"{url} closed the connection ({why}) after {answered} of {len(messages)} answers; "
            "send the unanswered signals again (a resent one that did arrive is answered duplicate)"
        ) from exc
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise Unreachable(f"cannot reach {url}: {exc or type(exc).__name__}") from exc


async def send_webhook(
    url: str, messages: Sequence[str], secret: str | None, on_answer: OnAnswer, wait_seconds: float
) -> None:
    """One POST per signal, HMAC-signed when a secret is configured."""
    async with httpx.AsyncClient(timeout=wait_seconds) as client:
        for message in messages:
            body = message.encode()
            headers = {"Content-Type": "application/json"}
            if secret:
                stamp = int(time.time())
                headers |= {SIGNATURE_HEADER: sign(secret, body, stamp), TIMESTAMP_HEADER: str(stamp)}
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise Unreachable(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
            on_answer(_answer(response))


def _answer(response: httpx.Response) -> Answer:
    """The webhook's JSON answer, or one of the same shape for anything else that came back."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "status" in answer:
        return answer
    return {
        "signal_id": None,
        "status": f"http_{response.status_code}",
        "errors": [{"field": "body", "message": response.text[:200] or response.reason_phrase}],
    }


def outcome_base(target: str, to_webhook: bool, settings: Settings) -> str:
    """Where `GET /signals/{id}` is: the webhook's own host, else the configured HTTP listener."""
    if to_webhook:
        parts = urlsplit(target)
        return f"{parts.scheme}://{parts.netloc}"
    return local_url("http", settings.ingress.http, "")


async def add_outcomes(base: str, answers: Sequence[Answer], secret: str | None, wait_seconds: float) -> None:
    """Add to each delivered signal's answer its `outcome` from `GET /signals/{id}`, waiting up to
    `wait_seconds` in all for the decisions; one the daemon cannot tell is `unknown` with the reason."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    waiting = [a for a in answers if a.get("status") in ACCEPTED and isinstance(a.get("signal_id"), str)]
    headers = {AUTHORIZATION_HEADER: f"Bearer {secret}"} if secret else {}
    async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT_SECONDS, headers=headers) as client:
        while waiting:
            for answer in list(waiting):
                answer["outcome"] = await _outcome(client, base, answer["signal_id"])
                if answer["outcome"]["status"] != "queued":
                    waiting.remove(answer)
            if not waiting or loop.time() >= deadline:
                return
            await asyncio.sleep(OUTCOME_POLL_SECONDS)


async def _outcome(client: httpx.AsyncClient, base: str, signal_id: str) -> dict[str, Any]:
    url = f"{base}/signals/{signal_id}"
    try:
        response = await client.get(url)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return {"id": signal_id, "status": "unknown", "note": f"no answer at {url} ({type(exc).__name__})"}
    if not isinstance(body, dict) or not isinstance(body.get("outcome"), dict):
        return {"id": signal_id, "status": "unknown", "note": f"{url} answered HTTP {response.status_code}"}
    outcome: dict[str, Any] = body["outcome"]
    return outcome


@click.group(name="signal")
def signal_group() -> None:
    """Send signals to the running daemon."""


@signal_group.command()
@click.argument("source", type=click.File("rb"))
@click.option("--http", "webhook", is_flag=True, help="Send to the HTTP webhook instead of the WebSocket.")
@click.option(
    "--url",
    default=None,
    help="Send there instead: ws:// or wss:// for the WebSocket, http:// or https:// for the webhook "
    "(a URL without a path gets /signals) [default: ws://<ingress.websocket>/signals, with --http "
    "http://<ingress.http>/signals].",
)
@click.option(
    "--timeout", default=ANSWER_TIMEOUT_SECONDS, show_default=True, help="Seconds to wait per answer."
)
@click.option(
    "--wait",
    default=OUTCOME_WAIT_SECONDS,
    show_default=True,
    type=click.FloatRange(0, 30),
    help="Seconds to wait in all for the daemon's decisions (each answer's `outcome`); 0 skips them.",
)
@config_option
def send(
    source: IO[bytes], webhook: bool, url: str | None, timeout: float, wait: float, config_path: Path | None
) -> None:
    """Send the signal(s) in FILE (- for standard input): one JSON object, an array, or one per line.

    Prints each answer as a JSON line, with the signal's `outcome` (decided, done, failed, or still
    queued after --wait) read from the daemon's `GET /signals/{id}`; exits 0 when every signal was
    queued or a duplicate (whatever the decision), 1 otherwise, 2 when the input is not signals. With
    EXECUTOR__INGRESS__SECRET set, the WebSocket sends it as a Bearer token, the webhook signs each
    body with it, and the outcome is asked for with it.
    """
    try:
        raw = source.read()
        text = raw.decode("utf-8")
        messages = split_messages(text, source.name if isinstance(source.name, str) else "input")
    except UnicodeDecodeError as exc:
        fail(f"{source.name}: not UTF-8 text (byte {exc.start})", EXIT_BAD_INPUT)
    except BadInput as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    settings = settings_or_exit(config_path)
    quiet_http_client()
    secret = None if settings.ingress.secret is None else settings.ingress.secret.get_secret_value()
    try:
        target, to_webhook = target_url(url, webhook, settings)
    except BadInput as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    transport = send_webhook if to_webhook else send_websocket
    answers: list[Answer] = []

    async def deliver() -> None:
        try:
            await transport(target, messages, secret, answers.append, timeout)
        finally:
            if wait > 0:
                await add_outcomes(outcome_base(target, to_webhook, settings), answers, secret, wait)
            for answer in answers:
                click.echo(json.dumps(answer, ensure_ascii=False))

    try:
        asyncio.run(deliver())
    except Unreachable as exc:
        fail(str(exc))
    if len(answers) < len(messages) or any(answer.get("status") not in ACCEPTED for answer in answers):
        sys.exit(EXIT_FAILURE)
